package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"tandem"
)

// testTrack returns a track whose ID is the sha256 of n.
func testTrack(n int, title string) tandem.Track {
	sum := sha256.Sum256(fmt.Appendf(nil, "track %d", n))
	return tandem.Track{
		ID:         hex.EncodeToString(sum[:]),
		Title:      title,
		Artist:     "Miles Davis",
		Album:      "Kind of Blue",
		Duration:   5*time.Minute + 37*time.Second,
		Format:     "flac",
		Size:       int64(1000 + n),
		Uploader:   "ann",
		UploadedAt: testNow,
	}
}

func TestTrackRoundTrip(t *testing.T) {
	d := openTest(t, t.TempDir())
	tracks := []tandem.Track{
		testTrack(1, "So What"),
		testTrack(2, "Freddie Freeloader"),
		testTrack(3, "Blue in Green"),
		testTrack(4, "All Blues"),
	}
	for _, tr := range tracks {
		if err := d.PutTrack(tr); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range tracks {
		got, err := d.Track(want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Track(%s) = %+v, want %+v", want.ID, got, want)
		}
	}

	// PutTrack replaces.
	tracks[0].Title = "So What (take 2)"
	if err := d.PutTrack(tracks[0]); err != nil {
		t.Fatal(err)
	}

	all, err := d.Tracks()
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, tr := range all {
		titles = append(titles, tr.Title)
	}
	if got, want := strings.Join(titles, "|"), "All Blues|Blue in Green|Freddie Freeloader|So What (take 2)"; got != want {
		t.Errorf("Tracks() titles = %s, want %s", got, want)
	}
}

func TestTracksEmpty(t *testing.T) {
	d := openTest(t, t.TempDir())
	all, err := d.Tracks()
	if err != nil {
		t.Fatal(err)
	}
	if all == nil || len(all) != 0 {
		t.Errorf("Tracks() = %#v, want an empty, non-nil slice", all)
	}
}

func TestTrackNotFound(t *testing.T) {
	d := openTest(t, t.TempDir())
	for _, id := range []string{testTrack(9, "").ID, "", "nope"} {
		_, err := d.Track(id)
		wantCode(t, err, tandem.ENOTFOUND)
	}
}

func TestPutTrackInvalidID(t *testing.T) {
	d := openTest(t, t.TempDir())
	good := testTrack(1, "x").ID
	for _, c := range []struct{ name, id string }{
		{"empty", ""},
		{"short", good[:63]},
		{"long", good + "0"},
		{"uppercase", strings.ToUpper(good)},
		{"not hex", "g" + good[1:]},
		{"path", "../" + good[3:]},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := testTrack(1, "x")
			tr.ID = c.id
			wantCode(t, d.PutTrack(tr), tandem.EINVALID)
		})
	}
	all, err := d.Tracks()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(all), 0; got != want {
		t.Errorf("Tracks() = %+v, want none", all)
	}
}
