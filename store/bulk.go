package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"tandem"
)

// Bulk writes, for imports, seeding and benchmarks: many records in one
// transaction.

// PutTracks stores tracks, replacing any with the same IDs, in one
// transaction. An ID that is not a lowercase hex sha256 fails the whole
// call with EINVALID.
func (d *DB) PutTracks(tracks []tandem.Track) error {
	vals := make([][]byte, len(tracks))
	for i, t := range tracks {
		if !validTrackID(t.ID) {
			return fmt.Errorf("store: put tracks: %q: %w", t.ID,
				tandem.Errorf(tandem.EINVALID, "track ID is not a lowercase hex sha256"))
		}
		v, err := json.Marshal(t)
		if err != nil {
			return fmt.Errorf("store: put tracks: %s: %w", t.ID, err)
		}
		vals[i] = v
	}
	err := d.update(func(tx *bolt.Tx) error {
		b := bucket(tx, bucketTracks)
		for i, t := range tracks {
			if err := b.Put([]byte(t.ID), vals[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: put tracks: %w", err)
	}
	return nil
}

// AppendEntries appends one entry per track to the playlist, in order, in
// one transaction, added by addedBy now, checking no permission: for
// imports and seeding. It returns the new entries.
func (d *DB) AppendEntries(playlistID, addedBy string, trackIDs []string) ([]tandem.Entry, error) {
	if err := checkStoredName(addedBy); err != nil {
		return nil, fmt.Errorf("store: append to playlist %q: added by: %w", playlistID, err)
	}
	var out []tandem.Entry
	err := d.update(func(tx *bolt.Tx) error {
		out = out[:0]
		pl, err := openPlaylist(tx, playlistID)
		if err != nil {
			return err
		}
		now := d.now()
		for _, id := range trackIDs {
			e, err := pl.add(id, addedBy, now, tandem.Position{})
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		pl.rec.Version++
		return putPlaylist(tx, pl.key, pl.rec)
	})
	if err != nil {
		return nil, fmt.Errorf("store: append to playlist %q: %w", playlistID, err)
	}
	return out, nil
}
