package store

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"tandem"
)

// validTrackID reports whether id is a lowercase hex sha256: 64 characters
// of 0-9a-f.
func validTrackID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// PutTrack stores t, replacing any track with the same ID. The ID must be a
// lowercase hex sha256, else the error has code EINVALID.
func (d *DB) PutTrack(t tandem.Track) error {
	if !validTrackID(t.ID) {
		return fmt.Errorf("store: put track %q: %w", t.ID,
			tandem.Errorf(tandem.EINVALID, "track ID is not a lowercase hex sha256"))
	}
	v, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("store: put track %s: %w", t.ID, err)
	}
	err = d.update(func(tx *bolt.Tx) error {
		return bucket(tx, bucketTracks).Put([]byte(t.ID), v)
	})
	if err != nil {
		return fmt.Errorf("store: put track %s: %w", t.ID, err)
	}
	return nil
}

// AddTrack stores t unless a track with its ID exists, in one transaction.
// It returns the stored track (t, or the one that was there) and whether t
// was added. The ID must be a lowercase hex sha256, else the error has
// code EINVALID.
func (d *DB) AddTrack(t tandem.Track) (tandem.Track, bool, error) {
	if !validTrackID(t.ID) {
		return tandem.Track{}, false, fmt.Errorf("store: add track %q: %w", t.ID,
			tandem.Errorf(tandem.EINVALID, "track ID is not a lowercase hex sha256"))
	}
	v, err := json.Marshal(t)
	if err != nil {
		return tandem.Track{}, false, fmt.Errorf("store: add track %s: %w", t.ID, err)
	}
	var old tandem.Track
	exists := false
	err = d.update(func(tx *bolt.Tx) error {
		b := bucket(tx, bucketTracks)
		if cur := b.Get([]byte(t.ID)); cur != nil {
			exists = true
			return json.Unmarshal(cur, &old)
		}
		return b.Put([]byte(t.ID), v)
	})
	if err != nil {
		return tandem.Track{}, false, fmt.Errorf("store: add track %s: %w", t.ID, err)
	}
	if exists {
		return old, false, nil
	}
	return t, true, nil
}

// Track returns the track with the given ID, or an ENOTFOUND error.
func (d *DB) Track(id string) (tandem.Track, error) {
	var t tandem.Track
	err := d.db.View(func(tx *bolt.Tx) error {
		v := bucket(tx, bucketTracks).Get([]byte(id))
		if v == nil {
			return tandem.Errorf(tandem.ENOTFOUND, "no track %q", id)
		}
		return json.Unmarshal(v, &t) // copies out of the transaction
	})
	if err != nil {
		return tandem.Track{}, fmt.Errorf("store: track %q: %w", id, err)
	}
	return t, nil
}

// Tracks returns every track, sorted by title, then by ID.
func (d *DB) Tracks() ([]tandem.Track, error) {
	tracks := []tandem.Track{}
	err := d.db.View(func(tx *bolt.Tx) error {
		return bucket(tx, bucketTracks).ForEach(func(_, v []byte) error {
			var t tandem.Track
			if err := json.Unmarshal(v, &t); err != nil {
				return err
			}
			tracks = append(tracks, t)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: tracks: %w", err)
	}
	slices.SortFunc(tracks, func(a, b tandem.Track) int {
		return cmp.Or(cmp.Compare(a.Title, b.Title), cmp.Compare(a.ID, b.ID))
	})
	return tracks, nil
}
