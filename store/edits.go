package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"tandem"
)

// EditPlaylist applies one edit to the playlist playlistID on behalf of
// op.User, in one transaction that it shares with concurrent edits (one
// fsync for many). A retried op returns its first result with Duplicate
// set and changes nothing. Adding a track records a feed item.
//
// Errors: ENOTFOUND for a missing playlist, track or entry; EFORBIDDEN
// when op.User may not make the edit (only the owner edits a playlist that
// is not collaborative, and only the owner renames or shares one);
// EINVALID for a malformed edit; ECONFLICT for a name in use.
func (d *DB) EditPlaylist(op tandem.Op, playlistID string, e tandem.Edit) (tandem.EditResult, error) {
	if err := e.Position.Valid(); err != nil {
		return tandem.EditResult{}, fmt.Errorf("store: edit playlist %q: %w", playlistID, err)
	}
	if e.Kind == tandem.EditRename {
		n, err := NormalizeName(e.Name)
		if err != nil {
			return tandem.EditResult{}, fmt.Errorf("store: rename playlist %q: %w", playlistID, err)
		}
		e.Name = n
	}
	var res tandem.EditResult
	err := d.batch(func(tx *bolt.Tx) error {
		res = tandem.EditResult{} // Batch may run this function twice
		dup, err := loadOp(tx, op, &res)
		if dup || err != nil {
			res.Duplicate = dup
			return err
		}
		pl, err := openPlaylist(tx, playlistID)
		if err != nil {
			return err
		}
		if err := pl.allowed(op.User, e.Kind); err != nil {
			return err
		}
		switch e.Kind {
		case tandem.EditAdd:
			if res.Entry, err = pl.add(e.TrackID, op.User, d.now(), e.Position); err != nil {
				return err
			}
			if res.Activity, err = d.addedActivity(tx, op.User, pl, e.TrackID); err != nil {
				return err
			}
		case tandem.EditMove:
			res.Entry, err = pl.move(e.EntryID, e.Position)
		case tandem.EditRemove:
			res.Entry, err = pl.remove(e.EntryID)
		case tandem.EditRename:
			err = pl.rename(e.Name)
		case tandem.EditShare:
			pl.rec.Collaborative = e.Collaborative
		default:
			err = tandem.Errorf(tandem.EINVALID, "unknown playlist edit %q", e.Kind)
		}
		if err != nil {
			return err
		}
		if pl.renumbered {
			if res.Renumbered, err = readEntries(pl); err != nil {
				return err
			}
		}
		pl.rec.Version++
		if err := putPlaylist(tx, pl.key, pl.rec); err != nil {
			return err
		}
		res.Playlist = pl.rec
		return d.saveOp(tx, op, res)
	})
	if err != nil {
		return tandem.EditResult{}, fmt.Errorf("store: %s on playlist %q: %w", e.Kind, playlistID, err)
	}
	return res, nil
}

// openPL is a playlist opened for editing inside a write transaction.
type openPL struct {
	tx         *bolt.Tx
	key        []byte
	rec        tandem.Playlist // without entries
	entries    *bolt.Bucket    // entry seq -> Entry
	order      *bolt.Bucket    // order index
	renumbered bool
}

func openPlaylist(tx *bolt.Tx, id string) (*openPL, error) {
	key, ok := parseID(playlistPrefix, id)
	if !ok {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no playlist %q", id)
	}
	rec, err := playlistRecord(tx, key)
	if err != nil {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no playlist %q", id)
	}
	entries, err := bucket(tx, bucketEntries).CreateBucketIfNotExists(key)
	if err != nil {
		return nil, err
	}
	order, err := bucket(tx, bucketEntryOrder).CreateBucketIfNotExists(key)
	if err != nil {
		return nil, err
	}
	return &openPL{tx: tx, key: key, rec: rec, entries: entries, order: order}, nil
}

// allowed checks that user may make an edit of kind k.
func (pl *openPL) allowed(user string, k tandem.EditKind) error {
	if user == pl.rec.Owner {
		return nil
	}
	switch {
	case k == tandem.EditRename || k == tandem.EditShare:
		return tandem.Errorf(tandem.EFORBIDDEN, "only %s, the owner, may rename or share playlist %q", pl.rec.Owner, pl.rec.Name)
	case !pl.rec.Collaborative:
		return tandem.Errorf(tandem.EFORBIDDEN, "playlist %q is not collaborative: only %s, its owner, may change it", pl.rec.Name, pl.rec.Owner)
	}
	return nil
}

// entry reads an entry of this playlist.
func (pl *openPL) entry(id string) (tandem.Entry, []byte, error) {
	ekey, ok := parseID(entryPrefix, id)
	if !ok {
		return tandem.Entry{}, nil, tandem.Errorf(tandem.ENOTFOUND, "no entry %q in playlist %q", id, pl.rec.Name)
	}
	v := pl.entries.Get(ekey)
	if v == nil {
		return tandem.Entry{}, nil, tandem.Errorf(tandem.ENOTFOUND, "no entry %q in playlist %q", id, pl.rec.Name)
	}
	e, err := decodeEntry(v)
	if err != nil {
		return tandem.Entry{}, nil, err
	}
	return e, ekey, nil
}

func (pl *openPL) putEntry(ekey []byte, e tandem.Entry) error {
	return pl.entries.Put(ekey, encodeEntry(e))
}

// orderAt returns the order key for an entry placed at pos. self is the
// entry being moved (nil when adding), which does not count as a
// neighbour.
func (pl *openPL) orderAt(pos tandem.Position, self []byte) (string, error) {
	for attempt := 0; attempt < 2; attempt++ {
		var lo, hi string
		switch {
		case pos.After != "" || pos.Before != "":
			ref := pos.After + pos.Before
			e, ekey, err := pl.entry(ref)
			if err != nil {
				return "", err
			}
			if self != nil && string(ekey) == string(self) {
				return "", tandem.Errorf(tandem.EINVALID, "cannot place entry %q relative to itself", ref)
			}
			c := pl.order.Cursor()
			if k, _ := c.Seek(orderIndexKey(e.Order, ekey)); k == nil {
				return "", fmt.Errorf("playlist %s: entry %s missing from the order index", pl.rec.ID, ref)
			}
			step := c.Next
			if pos.Before != "" {
				hi = e.Order
				step = c.Prev
			} else {
				lo = e.Order
			}
			k, _ := step()
			if k != nil && self != nil {
				if _, ek, _ := splitOrderIndexKey(k); string(ek) == string(self) {
					k, _ = step() // skip the entry being moved
				}
			}
			if k != nil {
				o, _, ok := splitOrderIndexKey(k)
				if !ok {
					return "", fmt.Errorf("playlist %s: corrupt order index key %x", pl.rec.ID, k)
				}
				if pos.Before != "" {
					lo = o
				} else {
					hi = o
				}
			} else if pos.After != "" {
				return pl.appendKey() // after the last entry
			}
		case pos.Start:
			c := pl.order.Cursor()
			k, _ := c.First()
			if k != nil && self != nil {
				if _, ek, _ := splitOrderIndexKey(k); string(ek) == string(self) {
					k, _ = c.Next()
				}
			}
			if k == nil {
				return pl.appendKey()
			}
			hi, _, _ = splitOrderIndexKey(k)
		default:
			return pl.appendKey()
		}
		if key, ok := keyBetween(lo, hi); ok {
			return key, nil
		}
		// No room between the neighbours, or the key would be too long:
		// give every entry a fresh key and try once more.
		if err := pl.renumber(); err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("playlist %s: no order key after renumbering", pl.rec.ID)
}

// appendKey returns the key of a new last entry.
func (pl *openPL) appendKey() (string, error) {
	seq, err := pl.entries.NextSequence()
	if err != nil {
		return "", err
	}
	return orderKey(seq), nil
}

// renumber gives the playlist's entries the append keys 1..n in their
// current order, and moves the append counter past n.
func (pl *openPL) renumber() error {
	type item struct {
		old  []byte
		ekey []byte
	}
	var items []item
	err := pl.order.ForEach(func(k, _ []byte) error {
		_, ekey, ok := splitOrderIndexKey(k)
		if !ok {
			return fmt.Errorf("playlist %s: corrupt order index key %x", pl.rec.ID, k)
		}
		items = append(items, item{old: append([]byte(nil), k...), ekey: append([]byte(nil), ekey...)})
		return nil
	})
	if err != nil {
		return err
	}
	for _, it := range items {
		if err := pl.order.Delete(it.old); err != nil {
			return err
		}
	}
	for i, it := range items {
		v := pl.entries.Get(it.ekey)
		e, err := decodeEntry(v)
		if err != nil {
			return err
		}
		e.Order = orderKey(uint64(i) + 1)
		if err := pl.putEntry(it.ekey, e); err != nil {
			return err
		}
		if err := pl.order.Put(orderIndexKey(e.Order, it.ekey), nil); err != nil {
			return err
		}
	}
	if seq := uint64(len(items)); pl.entries.Sequence() < seq {
		if err := pl.entries.SetSequence(seq); err != nil {
			return err
		}
	}
	pl.renumbered = true
	return nil
}

// add inserts a new entry for trackID at pos.
func (pl *openPL) add(trackID, by string, at time.Time, pos tandem.Position) (tandem.Entry, error) {
	if err := pos.Valid(); err != nil {
		return tandem.Entry{}, err
	}
	if bucket(pl.tx, bucketTracks).Get([]byte(trackID)) == nil {
		return tandem.Entry{}, tandem.Errorf(tandem.ENOTFOUND, "no track %q", trackID)
	}
	order, err := pl.orderAt(pos, nil)
	if err != nil {
		return tandem.Entry{}, err
	}
	eseq, err := bucket(pl.tx, bucketEntries).NextSequence() // unique across playlists
	if err != nil {
		return tandem.Entry{}, err
	}
	ekey := itob(eseq)
	e := tandem.Entry{ID: formatID(entryPrefix, eseq), TrackID: trackID, AddedBy: by, AddedAt: stamp(at), Order: order}
	if err := pl.putEntry(ekey, e); err != nil {
		return tandem.Entry{}, err
	}
	if err := pl.order.Put(orderIndexKey(order, ekey), nil); err != nil {
		return tandem.Entry{}, err
	}
	if err := bucket(pl.tx, bucketEntryIndex).Put(ekey, pl.key); err != nil {
		return tandem.Entry{}, err
	}
	return e, nil
}

// move gives an entry a new place.
func (pl *openPL) move(id string, pos tandem.Position) (tandem.Entry, error) {
	e, ekey, err := pl.entry(id)
	if err != nil {
		return tandem.Entry{}, err
	}
	order, err := pl.orderAt(pos, ekey)
	if err != nil {
		return tandem.Entry{}, err
	}
	if pl.renumbered { // the entry's own key changed too
		if e, _, err = pl.entry(id); err != nil {
			return tandem.Entry{}, err
		}
	}
	if err := pl.order.Delete(orderIndexKey(e.Order, ekey)); err != nil {
		return tandem.Entry{}, err
	}
	e.Order = order
	if err := pl.putEntry(ekey, e); err != nil {
		return tandem.Entry{}, err
	}
	return e, pl.order.Put(orderIndexKey(order, ekey), nil)
}

// remove deletes an entry.
func (pl *openPL) remove(id string) (tandem.Entry, error) {
	e, ekey, err := pl.entry(id)
	if err != nil {
		return tandem.Entry{}, err
	}
	if err := pl.order.Delete(orderIndexKey(e.Order, ekey)); err != nil {
		return tandem.Entry{}, err
	}
	if err := pl.entries.Delete(ekey); err != nil {
		return tandem.Entry{}, err
	}
	return e, bucket(pl.tx, bucketEntryIndex).Delete(ekey)
}

// rename gives the playlist a new, unused name.
func (pl *openPL) rename(name string) error {
	if name == pl.rec.Name {
		return nil
	}
	names := bucket(pl.tx, bucketPlaylistNames)
	if names.Get([]byte(name)) != nil {
		return tandem.Errorf(tandem.ECONFLICT, "a playlist called %q exists", name)
	}
	if err := names.Delete([]byte(pl.rec.Name)); err != nil {
		return err
	}
	pl.rec.Name = name
	return names.Put([]byte(name), pl.key)
}

// readEntries lists an open playlist's entries in order.
func readEntries(pl *openPL) ([]tandem.Entry, error) {
	p, err := readPlaylist(pl.tx, pl.key)
	if err != nil {
		return nil, err
	}
	return p.Entries, nil
}
