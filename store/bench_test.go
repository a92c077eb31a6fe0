package store

import (
	"encoding/json"
	"fmt"
	"testing"

	bolt "go.etcd.io/bbolt"

	"tandem"
)

// bigPlaylist stores n tracks and a playlist holding each once.
func bigPlaylist(tb testing.TB, d *DB, n int) tandem.Playlist {
	tb.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%064x", i+1)
	}
	if err := d.update(func(tx *bolt.Tx) error {
		for i, id := range ids {
			v, err := json.Marshal(tandem.Track{ID: id, Title: fmt.Sprint("Track ", i), Artist: "Bench", Format: "flac"})
			if err != nil {
				return err
			}
			if err := bucket(tx, bucketTracks).Put([]byte(id), v); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	p, err := d.CreatePlaylist("Big", "ann")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := d.AppendEntries(p.ID, "ann", ids); err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkPlaylistLoad10k reads a playlist of 10,000 entries, in order.
// Target (issue 4): 50 ms or less, with the hub's encoding on top.
func BenchmarkPlaylistLoad10k(b *testing.B) {
	d := openTest(b, b.TempDir())
	p := bigPlaylist(b, d, 10_000)
	for b.Loop() {
		got, err := d.Playlist(p.ID)
		if err != nil || len(got.Entries) != 10_000 {
			b.Fatalf("%d entries, %v", len(got.Entries), err)
		}
	}
}

func TestAppendEntries(t *testing.T) {
	d := openTest(t, t.TempDir())
	p := bigPlaylist(t, d, 300)
	got, err := d.Playlist(p.ID)
	if err != nil || len(got.Entries) != 300 || got.Version != 1 {
		t.Fatalf("%d entries at version %d, %v", len(got.Entries), got.Version, err)
	}
	for i, e := range got.Entries {
		if want := fmt.Sprintf("%064x", i+1); e.TrackID != want {
			t.Fatalf("entry %d has track %s, want %s", i, e.TrackID, want)
		}
	}
	if _, err := d.AppendEntries(p.ID, "ann", []string{"nope"}); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Fatalf("append of an unknown track: %v", err)
	}
	if again, _ := d.Playlist(p.ID); len(again.Entries) != 300 {
		t.Fatalf("a failed append left %d entries", len(again.Entries))
	}
}
