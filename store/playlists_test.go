package store

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem"
)

func TestPlaylistRoundTrip(t *testing.T) {
	d := openTest(t, t.TempDir())
	tr1, tr2 := testTrack(1, "So What"), testTrack(2, "All Blues")
	for _, tr := range []tandem.Track{tr1, tr2} {
		if err := d.PutTrack(tr); err != nil {
			t.Fatal(err)
		}
	}

	jazz, err := d.CreatePlaylist("Jazz", "ann")
	if err != nil {
		t.Fatal(err)
	}
	want := tandem.Playlist{ID: "p1", Name: "Jazz", Owner: "ann", CreatedAt: testNow, Entries: []tandem.Entry{}}
	if got := fmt.Sprintf("%+v", jazz); got != fmt.Sprintf("%+v", want) {
		t.Errorf("CreatePlaylist = %s, want %+v", got, want)
	}
	misc, err := d.CreatePlaylist("Misc", "bob")
	if err != nil {
		t.Fatal(err)
	}

	at := time.Date(2025, 6, 1, 20, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	var added []tandem.Entry
	for i, c := range []struct{ playlist, track, by string }{
		{jazz.ID, tr1.ID, "ann"},
		{misc.ID, tr1.ID, "bob"},
		{jazz.ID, tr2.ID, "bob"},
		{jazz.ID, tr1.ID, "cat"}, // a track may appear twice
	} {
		e, err := d.AddEntry(c.playlist, c.track, c.by, at.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := e.ID, fmt.Sprintf("e%d", i+1); got != want {
			t.Errorf("entry %d ID = %q, want %q", i, got, want)
		}
		if got, want := e.AddedAt, at.Add(time.Duration(i)*time.Minute).UTC(); got != want {
			t.Errorf("entry %d AddedAt = %v, want %v", i, got, want)
		}
		if e.TrackID != c.track || e.AddedBy != c.by {
			t.Errorf("entry %d = %+v, want track %s by %s", i, e, c.track, c.by)
		}
		if got, want := len(e.Order), 20; got != want {
			t.Errorf("entry %d Order %q has %d bytes, want %d", i, e.Order, got, want)
		}
		added = append(added, e)

		got, pid, err := d.Entry(e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got != e || pid != c.playlist {
			t.Errorf("Entry(%s) = %+v, %s; want %+v, %s", e.ID, got, pid, e, c.playlist)
		}
	}
	if !(added[0].Order < added[2].Order && added[2].Order < added[3].Order) {
		t.Errorf("orders do not increase: %q %q %q", added[0].Order, added[2].Order, added[3].Order)
	}

	wantJazz := []tandem.Entry{added[0], added[2], added[3]}
	for _, get := range []struct {
		name string
		f    func() (tandem.Playlist, error)
	}{
		{"Playlist", func() (tandem.Playlist, error) { return d.Playlist(jazz.ID) }},
		{"PlaylistByName", func() (tandem.Playlist, error) { return d.PlaylistByName("Jazz") }},
	} {
		p, err := get.f()
		if err != nil {
			t.Fatalf("%s: %v", get.name, err)
		}
		if p.ID != jazz.ID || p.Name != "Jazz" || p.Owner != "ann" || !p.CreatedAt.Equal(testNow) {
			t.Errorf("%s = %+v", get.name, p)
		}
		if !slices.Equal(p.Entries, wantJazz) {
			t.Errorf("%s entries = %+v\nwant %+v", get.name, p.Entries, wantJazz)
		}
	}

	all, err := d.Playlists()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(all), 2; got != want {
		t.Fatalf("Playlists() has %d playlists, want %d", got, want)
	}
	if all[0].ID != jazz.ID || !slices.Equal(all[0].Entries, wantJazz) {
		t.Errorf("Playlists()[0] = %+v", all[0])
	}
	if all[1].ID != misc.ID || !slices.Equal(all[1].Entries, []tandem.Entry{added[1]}) {
		t.Errorf("Playlists()[1] = %+v", all[1])
	}
}

func TestAddEntryZeroTimeUsesClock(t *testing.T) {
	d := openTest(t, t.TempDir())
	tr := testTrack(1, "x")
	if err := d.PutTrack(tr); err != nil {
		t.Fatal(err)
	}
	p, err := d.CreatePlaylist("p", "ann")
	if err != nil {
		t.Fatal(err)
	}
	e, err := d.AddEntry(p.ID, tr.ID, "ann", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.AddedAt, testNow; got != want {
		t.Errorf("AddedAt = %v, want %v", got, want)
	}
}

func TestAddEntryErrors(t *testing.T) {
	d := openTest(t, t.TempDir())
	tr := testTrack(1, "x")
	if err := d.PutTrack(tr); err != nil {
		t.Fatal(err)
	}
	p, err := d.CreatePlaylist("p", "ann")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, playlist, track, by, code string
	}{
		{"no playlist", "p2", tr.ID, "ann", tandem.ENOTFOUND},
		{"bad playlist ID", "x", tr.ID, "ann", tandem.ENOTFOUND},
		{"no track", p.ID, testTrack(2, "").ID, "ann", tandem.ENOTFOUND},
		{"empty track", p.ID, "", "ann", tandem.ENOTFOUND},
		{"empty user", p.ID, tr.ID, "", tandem.EINVALID},
		{"bad user", p.ID, tr.ID, "a\nb", tandem.EINVALID},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := d.AddEntry(c.playlist, c.track, c.by, testNow)
			wantCode(t, err, c.code)
		})
	}
	got, err := d.Playlist(p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(got.Entries), 0; got != want {
		t.Errorf("playlist has %d entries after failed adds, want %d", got, want)
	}
}

func TestCreatePlaylistErrors(t *testing.T) {
	d := openTest(t, t.TempDir())
	if _, err := d.CreatePlaylist("Jazz", "ann"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, playlist, owner, code string
	}{
		{"duplicate", "Jazz", "bob", tandem.ECONFLICT},
		{"empty name", "", "ann", tandem.EINVALID},
		{"untrimmed name", "Jazz ", "ann", tandem.EINVALID},
		{"control", "Ja\x1bzz", "ann", tandem.EINVALID},
		{"long", strings.Repeat("j", MaxNameLen+1), "ann", tandem.EINVALID},
		{"bad owner", "Rock", "", tandem.EINVALID},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := d.CreatePlaylist(c.playlist, c.owner)
			wantCode(t, err, c.code)
		})
	}
	all, err := d.Playlists()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(all), 1; got != want {
		t.Errorf("Playlists() = %+v, want %d", all, want)
	}
}

func TestPlaylistNotFound(t *testing.T) {
	d := openTest(t, t.TempDir())
	if _, err := d.CreatePlaylist("Jazz", "ann"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"p2", "p0", "p01", "1", "", "e1"} {
		_, err := d.Playlist(id)
		wantCode(t, err, tandem.ENOTFOUND)
	}
	for _, name := range []string{"jazz", "Rock", ""} {
		_, err := d.PlaylistByName(name)
		wantCode(t, err, tandem.ENOTFOUND)
	}
	for _, id := range []string{"e1", "e0", "p1", ""} {
		_, _, err := d.Entry(id)
		wantCode(t, err, tandem.ENOTFOUND)
	}
}

// TestAddEntryConcurrent adds entries from several goroutines; every entry
// gets its own ID and Order, and the playlist holds them all.
func TestAddEntryConcurrent(t *testing.T) {
	d := openTest(t, t.TempDir())
	tr := testTrack(1, "x")
	if err := d.PutTrack(tr); err != nil {
		t.Fatal(err)
	}
	p, err := d.CreatePlaylist("party", "ann")
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for range each {
				if _, err := d.AddEntry(p.ID, tr.ID, fmt.Sprintf("user%d", w), testNow); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := d.Playlist(p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(got.Entries), workers*each; got != want {
		t.Fatalf("playlist has %d entries, want %d", got, want)
	}
	ids, orders := map[string]bool{}, map[string]bool{}
	for _, e := range got.Entries {
		ids[e.ID], orders[e.Order] = true, true
	}
	if len(ids) != workers*each || len(orders) != workers*each {
		t.Errorf("%d distinct IDs and %d distinct orders, want %d", len(ids), len(orders), workers*each)
	}
}
