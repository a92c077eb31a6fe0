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
	err = d.db.Update(func(tx *bolt.Tx) error {
		return bucket(tx, bucketTracks).Put([]byte(t.ID), v)
	})
	if err != nil {
		return fmt.Errorf("store: put track %s: %w", t.ID, err)
	}
	return nil
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
