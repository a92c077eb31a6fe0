package store

import (
	"reflect"
	"testing"
	"time"

	"tandem"
)

func TestRoomRoundTrip(t *testing.T) {
	d := openTest(t, t.TempDir())
	tr := testTrack(1, "So What")
	queue := []tandem.Entry{{ID: "e7", TrackID: tr.ID, AddedBy: "ann", AddedAt: testNow, Order: orderKey(1)}}
	rooms := []tandem.Room{
		{
			Name:     "lounge",
			Host:     "ann",
			Queue:    queue,
			Fallback: "p1",
			Playback: tandem.Playback{
				EntryID:  "e7",
				TrackID:  tr.ID,
				State:    tandem.Playing,
				Position: 42 * time.Second,
				StartAt:  testNow.Add(time.Second),
			},
			Version:   9,
			CreatedAt: testNow,
		},
		{Name: "attic", Queue: []tandem.Entry{}, Playback: tandem.Playback{State: tandem.Stopped}, CreatedAt: testNow},
	}
	for _, r := range rooms {
		if err := d.PutRoom(r); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range rooms {
		got, err := d.Room(want.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Room(%s) = %+v\nwant %+v", want.Name, got, want)
		}
	}

	// PutRoom replaces.
	rooms[0].Version++
	rooms[0].Playback.State = tandem.Paused
	if err := d.PutRoom(rooms[0]); err != nil {
		t.Fatal(err)
	}
	all, err := d.Rooms()
	if err != nil {
		t.Fatal(err)
	}
	if want := []tandem.Room{rooms[1], rooms[0]}; !reflect.DeepEqual(all, want) {
		t.Errorf("Rooms() = %+v\nwant %+v", all, want)
	}
}

func TestRoomNilQueueReadsEmpty(t *testing.T) {
	d := openTest(t, t.TempDir())
	if err := d.PutRoom(tandem.Room{Name: "lounge"}); err != nil {
		t.Fatal(err)
	}
	r, err := d.Room("lounge")
	if err != nil {
		t.Fatal(err)
	}
	if r.Queue == nil {
		t.Error("Queue is nil, want an empty slice")
	}
}

func TestRoomErrors(t *testing.T) {
	d := openTest(t, t.TempDir())
	_, err := d.Room("lounge")
	wantCode(t, err, tandem.ENOTFOUND)
	for _, name := range []string{"", " lounge", "a\x00"} {
		wantCode(t, d.PutRoom(tandem.Room{Name: name}), tandem.EINVALID)
	}
	all, err := d.Rooms()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(all), 0; got != want {
		t.Errorf("Rooms() = %+v, want none", all)
	}
}

func TestRoomByCode(t *testing.T) {
	d := openTest(t, t.TempDir())
	r := tandem.Room{Name: "lounge", Host: "ann", Code: "CODE1", Queue: []tandem.Entry{}}
	if err := d.PutRoom(r); err != nil {
		t.Fatal(err)
	}
	if got, err := d.RoomByCode("CODE1"); err != nil || got.Name != "lounge" {
		t.Fatalf("RoomByCode = %+v, %v", got, err)
	}
	r.Code = "CODE2" // a rotated code: the old one stops working
	if err := d.PutRoom(r); err != nil {
		t.Fatal(err)
	}
	if _, err := d.RoomByCode("CODE1"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("old code: %v, want ENOTFOUND", err)
	}
	if got, err := d.RoomByCode("CODE2"); err != nil || got.Name != "lounge" {
		t.Errorf("new code: %+v, %v", got, err)
	}
	if err := d.PutRoom(tandem.Room{Name: "other", Code: "CODE2"}); tandem.ErrorCode(err) != tandem.ECONFLICT {
		t.Errorf("a second room with the same code: %v, want ECONFLICT", err)
	}
}
