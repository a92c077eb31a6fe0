package store

import (
	"encoding/json"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"tandem"
)

func TestEntryCodec(t *testing.T) {
	for _, e := range []tandem.Entry{
		{ID: "e1", TrackID: "ab", AddedBy: "ann", AddedAt: time.Date(2026, 11, 25, 1, 2, 3, 456, time.UTC), Order: "00000000000000000001"},
		{ID: "e18446744073709551615", TrackID: "", AddedBy: "Zoë 🎧", AddedAt: time.Unix(0, 0).UTC(), Order: "0V"},
		{AddedAt: time.Unix(0, -5).UTC()},
	} {
		got, err := decodeEntry(encodeEntry(e))
		if err != nil || got != e {
			t.Errorf("round trip of %+v = %+v, %v", e, got, err)
		}
		js, _ := json.Marshal(e)
		if got, err := decodeEntry(js); err != nil || !got.AddedAt.Equal(e.AddedAt) || got.ID != e.ID {
			t.Errorf("JSON %s = %+v, %v", js, got, err)
		}
	}
	good := encodeEntry(tandem.Entry{ID: "e1", TrackID: "t", AddedBy: "a", Order: "1"})
	for i := range good {
		if _, err := decodeEntry(good[:i]); err == nil {
			t.Errorf("truncated to %d bytes: no error", i)
		}
	}
	if _, err := decodeEntry(append(good, 0)); err == nil {
		t.Error("trailing byte: no error")
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry(tandem.Entry{ID: "e1", TrackID: "t", AddedBy: "a", Order: "1"}))
	f.Add([]byte(`{"id":"e1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err != nil || (len(b) > 0 && b[0] == '{') {
			return
		}
		again, err := decodeEntry(encodeEntry(e))
		if err != nil || again != e {
			t.Fatalf("re-encoding %+v: %+v, %v", e, again, err)
		}
	})
}

// TestMigrationBinaryEntries opens a schema-3 database whose entries are
// JSON, as hubs before schema 4 wrote them.
func TestMigrationBinaryEntries(t *testing.T) {
	dir := t.TempDir()
	d := openTest(t, dir)
	tr := testTrack(1, "x")
	if err := d.PutTrack(tr); err != nil {
		t.Fatal(err)
	}
	p, err := d.CreatePlaylist("old", "ann")
	if err != nil {
		t.Fatal(err)
	}
	e, err := d.AddEntry(p.ID, tr.ID, "ann", testNow)
	if err != nil {
		t.Fatal(err)
	}
	err = d.db.Update(func(tx *bolt.Tx) error {
		key, _ := parseID(playlistPrefix, p.ID)
		ekey, _ := parseID(entryPrefix, e.ID)
		js, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if err := bucket(tx, bucketEntries).Bucket(key).Put(ekey, js); err != nil {
			return err
		}
		return bucket(tx, bucketMeta).Put([]byte(keyVersion), itob(3))
	})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	d = openTest(t, dir)
	got, err := d.Playlist(p.ID)
	if err != nil || len(got.Entries) != 1 || got.Entries[0] != e {
		t.Fatalf("after migration: %+v, %v; want %+v", got.Entries, err, e)
	}
	err = d.db.View(func(tx *bolt.Tx) error {
		key, _ := parseID(playlistPrefix, p.ID)
		ekey, _ := parseID(entryPrefix, e.ID)
		if v := bucket(tx, bucketEntries).Bucket(key).Get(ekey); len(v) == 0 || v[0] != entryFormat {
			t.Errorf("entry still stored as %q", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
