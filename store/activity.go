package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"tandem"
)

// MaxActivity is how many feed items the store keeps; older ones are
// dropped as new ones come.
const MaxActivity = 500

// activityPrefix starts an activity ID.
const activityPrefix = "a"

// appendActivity stores a feed item, giving it its ID, and drops the items
// beyond the newest MaxActivity.
func appendActivity(tx *bolt.Tx, a *tandem.Activity) error {
	b := bucket(tx, bucketActivity)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	a.ID = formatID(activityPrefix, seq)
	a.At = stamp(a.At)
	v, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if err := b.Put(itob(seq), v); err != nil {
		return err
	}
	if seq <= MaxActivity {
		return nil
	}
	keep := itob(seq - MaxActivity + 1) // the oldest key kept
	c := b.Cursor()
	for k, _ := c.First(); k != nil && string(k) < string(keep); k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// addedActivity records "<user> added <track> to <playlist>".
func (d *DB) addedActivity(tx *bolt.Tx, user string, pl *openPL, trackID string) (*tandem.Activity, error) {
	title := trackID
	if v := bucket(tx, bucketTracks).Get([]byte(trackID)); v != nil {
		var t tandem.Track
		if err := json.Unmarshal(v, &t); err != nil {
			return nil, err
		}
		if t.Title != "" {
			title = t.Title
		}
	}
	a := &tandem.Activity{
		User: user, Kind: tandem.ActivityAdded, At: d.now(),
		Text:    fmt.Sprintf("%s added %s to %s", user, title, pl.rec.Name),
		TrackID: trackID, PlaylistID: pl.rec.ID,
	}
	return a, appendActivity(tx, a)
}

// AddActivity stores a feed item and returns it with its ID; At zero means
// now. It shares its commit with concurrent writes.
func (d *DB) AddActivity(a tandem.Activity) (tandem.Activity, error) {
	if a.At.IsZero() {
		a.At = d.now()
	}
	err := d.batch(func(tx *bolt.Tx) error {
		b := a
		if err := appendActivity(tx, &b); err != nil {
			return err
		}
		a.ID, a.At = b.ID, b.At
		return nil
	})
	if err != nil {
		return tandem.Activity{}, fmt.Errorf("store: add activity: %w", err)
	}
	return a, nil
}

// Activities returns the newest n feed items (at most MaxActivity), oldest
// first.
func (d *DB) Activities(n int) ([]tandem.Activity, error) {
	n = min(max(n, 0), MaxActivity)
	out := make([]tandem.Activity, 0, n)
	err := d.db.View(func(tx *bolt.Tx) error {
		c := bucket(tx, bucketActivity).Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			var a tandem.Activity
			if err := json.Unmarshal(v, &a); err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: activities: %w", err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}
