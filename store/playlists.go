package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"tandem"
)

// ID prefixes: a playlist ID is "p" followed by a decimal sequence number,
// an entry ID is "e" followed by one.
const (
	playlistPrefix = "p"
	entryPrefix    = "e"
)

// Playlist storage:
//   - playlists:  playlist seq -> the Playlist without its entries
//   - entries:    playlist seq -> bucket{entry seq -> Entry}; the inner
//     bucket's sequence counts the playlist's appends (orderKey)
//   - entryIndex: entry seq -> playlist seq
//   - entryOrder: playlist seq -> bucket{order key 0x00 entry seq -> ""},
//     the entries in playlist order, so that an insert finds its
//     neighbours with a cursor rather than by reading the playlist.

// orderIndexKey is an entry's key in its playlist's entryOrder bucket. The
// 0x00 separator sorts below every key digit, so index keys sort as their
// order keys do.
func orderIndexKey(order string, ekey []byte) []byte {
	k := make([]byte, 0, len(order)+1+len(ekey))
	k = append(k, order...)
	k = append(k, 0)
	return append(k, ekey...)
}

// splitOrderIndexKey returns the order key and entry key of an index key.
func splitOrderIndexKey(k []byte) (order string, ekey []byte, ok bool) {
	if len(k) < 9 || k[len(k)-9] != 0 {
		return "", nil, false
	}
	return string(k[:len(k)-9]), k[len(k)-8:], true
}

// migrateEntryOrder is migration 3: it creates the entryOrder bucket and
// indexes every existing entry.
func migrateEntryOrder(tx *bolt.Tx) error {
	order, err := tx.CreateBucketIfNotExists([]byte(bucketEntryOrder))
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketEntryOrder, err)
	}
	return bucket(tx, bucketEntries).ForEachBucket(func(pkey []byte) error {
		idx, err := order.CreateBucketIfNotExists(pkey)
		if err != nil {
			return err
		}
		return bucket(tx, bucketEntries).Bucket(pkey).ForEach(func(ekey, v []byte) error {
			e, err := decodeEntry(v)
			if err != nil {
				return fmt.Errorf("entry %x: %w", ekey, err)
			}
			return idx.Put(orderIndexKey(e.Order, ekey), nil)
		})
	})
}

// CreatePlaylist creates an empty playlist called name, owned by owner and
// editable only by the owner. Names are unique: a name already in use gives
// an ECONFLICT error, and an invalid name or owner an EINVALID error.
func (d *DB) CreatePlaylist(name, owner string) (tandem.Playlist, error) {
	p, _, err := d.NewPlaylist(tandem.Op{}, name, owner, false)
	return p, err
}

// opTTL is how long an op id is remembered.
const opTTL = 24 * time.Hour

// MaxOpIDLen bounds a client's op id, in bytes.
const MaxOpIDLen = 64

// opKey is an op's key in the ops bucket.
func opKey(op tandem.Op) []byte { return []byte(op.User + "\x00" + op.ID) }

// loadOp reports whether op was applied before, and if so decodes its
// result into v. A stored op is 8 bytes of Unix nanoseconds, then JSON.
func loadOp(tx *bolt.Tx, op tandem.Op, v any) (bool, error) {
	if op.ID == "" {
		return false, nil
	}
	raw := bucket(tx, bucketOps).Get(opKey(op))
	if len(raw) < 8 {
		return false, nil
	}
	if err := json.Unmarshal(raw[8:], v); err != nil {
		return false, fmt.Errorf("op %q of %s: %w", op.ID, op.User, err)
	}
	return true, nil
}

// saveOp records op's result.
func (d *DB) saveOp(tx *bolt.Tx, op tandem.Op, v any) error {
	if op.ID == "" {
		return nil
	}
	js, err := json.Marshal(v)
	if err != nil {
		return err
	}
	raw := make([]byte, 8, 8+len(js))
	binary.BigEndian.PutUint64(raw, uint64(d.now().UnixNano()))
	return bucket(tx, bucketOps).Put(opKey(op), append(raw, js...))
}

// pruneOps forgets op ids older than opTTL. Open runs it.
func (d *DB) pruneOps() error {
	cutoff := uint64(d.now().Add(-opTTL).UnixNano())
	var old [][]byte
	err := d.db.View(func(tx *bolt.Tx) error {
		return bucket(tx, bucketOps).ForEach(func(k, v []byte) error {
			if len(v) < 8 || binary.BigEndian.Uint64(v) < cutoff {
				old = append(old, bytes.Clone(k))
			}
			return nil
		})
	})
	if err != nil || len(old) == 0 {
		return err
	}
	return d.update(func(tx *bolt.Tx) error {
		b := bucket(tx, bucketOps)
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// NewPlaylist creates an empty playlist called name, owned by owner;
// collaborative says whether every friend may edit it. It reports whether
// op had created it already, in which case it returns that playlist as it
// was then. The name is stored in its NFC form (NormalizeName). Names are
// unique: a name in use gives ECONFLICT; an invalid name or owner gives
// EINVALID.
func (d *DB) NewPlaylist(op tandem.Op, name, owner string, collaborative bool) (tandem.Playlist, bool, error) {
	n, err := NormalizeName(name)
	if err != nil {
		return tandem.Playlist{}, false, fmt.Errorf("store: create playlist %q: %w", name, err)
	}
	name = n
	if err := checkStoredName(owner); err != nil {
		return tandem.Playlist{}, false, fmt.Errorf("store: create playlist %q: owner: %w", name, err)
	}
	var (
		p   tandem.Playlist
		dup bool
	)
	err = d.batch(func(tx *bolt.Tx) error {
		var err error
		if dup, err = loadOp(tx, op, &p); dup || err != nil {
			return err
		}
		names := bucket(tx, bucketPlaylistNames)
		if names.Get([]byte(name)) != nil {
			return tandem.Errorf(tandem.ECONFLICT, "a playlist called %q exists", name)
		}
		playlists := bucket(tx, bucketPlaylists)
		seq, err := playlists.NextSequence()
		if err != nil {
			return err
		}
		key := itob(seq)
		p = tandem.Playlist{
			ID:            formatID(playlistPrefix, seq),
			Name:          name,
			Owner:         owner,
			Collaborative: collaborative,
			CreatedAt:     stamp(d.now()),
		}
		if err := putPlaylist(tx, key, p); err != nil {
			return err
		}
		if err := names.Put([]byte(name), key); err != nil {
			return err
		}
		if _, err := bucket(tx, bucketEntries).CreateBucket(key); err != nil {
			return err
		}
		if _, err := bucket(tx, bucketEntryOrder).CreateBucket(key); err != nil {
			return err
		}
		return d.saveOp(tx, op, p)
	})
	if err != nil {
		return tandem.Playlist{}, false, fmt.Errorf("store: create playlist %s: %w", name, err)
	}
	p.Entries = []tandem.Entry{}
	return p, dup, nil
}

// putPlaylist stores a playlist's record, without its entries.
func putPlaylist(tx *bolt.Tx, key []byte, p tandem.Playlist) error {
	p.Entries = nil
	v, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return bucket(tx, bucketPlaylists).Put(key, v)
}

// playlistRecord reads a playlist's record, without its entries.
func playlistRecord(tx *bolt.Tx, key []byte) (tandem.Playlist, error) {
	v := bucket(tx, bucketPlaylists).Get(key)
	if v == nil {
		return tandem.Playlist{}, tandem.Errorf(tandem.ENOTFOUND, "no such playlist")
	}
	var p tandem.Playlist
	if err := json.Unmarshal(v, &p); err != nil {
		return tandem.Playlist{}, err
	}
	p.Entries = nil
	return p, nil
}

// readPlaylist returns the playlist stored under key with its entries in
// order, or an ENOTFOUND error. The result holds no bytes of tx.
func readPlaylist(tx *bolt.Tx, key []byte) (tandem.Playlist, error) {
	p, err := playlistRecord(tx, key)
	if err != nil {
		return tandem.Playlist{}, err
	}
	p.Entries = []tandem.Entry{}
	entries := bucket(tx, bucketEntries).Bucket(key)
	if entries == nil {
		return p, nil
	}
	// Reading the entries in key order and sorting them is several times
	// faster than following the order index with a lookup per entry.
	p.Entries = make([]tandem.Entry, 0, min(entries.Sequence(), 1<<16))
	err = entries.ForEach(func(k, v []byte) error {
		e, err := decodeEntry(v)
		if err != nil {
			return fmt.Errorf("playlist %s: entry %x: %w", p.ID, k, err)
		}
		p.Entries = append(p.Entries, e)
		return nil
	})
	if err != nil {
		return tandem.Playlist{}, err
	}
	slices.SortStableFunc(p.Entries, func(a, b tandem.Entry) int { return strings.Compare(a.Order, b.Order) })
	return p, nil
}

// Playlist returns the playlist with the given ID, with its entries in
// order, or an ENOTFOUND error.
func (d *DB) Playlist(id string) (tandem.Playlist, error) {
	var p tandem.Playlist
	err := d.db.View(func(tx *bolt.Tx) error {
		key, ok := parseID(playlistPrefix, id)
		if !ok {
			return tandem.Errorf(tandem.ENOTFOUND, "no playlist %q", id)
		}
		var err error
		p, err = readPlaylist(tx, key)
		return err
	})
	if err != nil {
		return tandem.Playlist{}, fmt.Errorf("store: playlist %q: %w", id, err)
	}
	return p, nil
}

// PlaylistByName returns the playlist called name, with its entries in
// order, or an ENOTFOUND error.
func (d *DB) PlaylistByName(name string) (tandem.Playlist, error) {
	var p tandem.Playlist
	err := d.db.View(func(tx *bolt.Tx) error {
		key := bucket(tx, bucketPlaylistNames).Get([]byte(name))
		if key == nil {
			return tandem.Errorf(tandem.ENOTFOUND, "no playlist called %q", name)
		}
		var err error
		p, err = readPlaylist(tx, key)
		return err
	})
	if err != nil {
		return tandem.Playlist{}, fmt.Errorf("store: playlist called %q: %w", name, err)
	}
	return p, nil
}

// Playlists returns every playlist with its entries, in the order the
// playlists were created.
func (d *DB) Playlists() ([]tandem.Playlist, error) {
	return d.listPlaylists(true)
}

// PlaylistSummaries returns every playlist without its entries, in the
// order the playlists were created; Entries is nil.
func (d *DB) PlaylistSummaries() ([]tandem.Playlist, error) {
	return d.listPlaylists(false)
}

func (d *DB) listPlaylists(withEntries bool) ([]tandem.Playlist, error) {
	playlists := []tandem.Playlist{}
	err := d.db.View(func(tx *bolt.Tx) error {
		return bucket(tx, bucketPlaylists).ForEach(func(k, _ []byte) error {
			read := playlistRecord
			if withEntries {
				read = readPlaylist
			}
			p, err := read(tx, k)
			if err != nil {
				return err
			}
			playlists = append(playlists, p)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: playlists: %w", err)
	}
	return playlists, nil
}

// AddEntry appends the track trackID to the playlist playlistID, added by
// addedBy at time at (the current time if at is zero), and returns the new
// entry. It checks no permission; the hub's edits go through EditPlaylist.
// A missing playlist or track gives an ENOTFOUND error, an invalid addedBy
// an EINVALID error.
func (d *DB) AddEntry(playlistID, trackID, addedBy string, at time.Time) (tandem.Entry, error) {
	if err := checkStoredName(addedBy); err != nil {
		return tandem.Entry{}, fmt.Errorf("store: add entry to playlist %q: added by: %w", playlistID, err)
	}
	if at.IsZero() {
		at = d.now()
	}
	var e tandem.Entry
	err := d.update(func(tx *bolt.Tx) error {
		pl, err := openPlaylist(tx, playlistID)
		if err != nil {
			return err
		}
		if e, err = pl.add(trackID, addedBy, at, tandem.Position{}); err != nil {
			return err
		}
		pl.rec.Version++
		return putPlaylist(tx, pl.key, pl.rec)
	})
	if err != nil {
		return tandem.Entry{}, fmt.Errorf("store: add entry to playlist %q: %w", playlistID, err)
	}
	return e, nil
}

// Entry returns the entry with the given ID and the ID of its playlist, or
// an ENOTFOUND error.
func (d *DB) Entry(entryID string) (tandem.Entry, string, error) {
	var (
		e          tandem.Entry
		playlistID string
	)
	err := d.db.View(func(tx *bolt.Tx) error {
		notFound := tandem.Errorf(tandem.ENOTFOUND, "no entry %q", entryID)
		ekey, ok := parseID(entryPrefix, entryID)
		if !ok {
			return notFound
		}
		pkey := bucket(tx, bucketEntryIndex).Get(ekey)
		if len(pkey) != 8 {
			return notFound
		}
		list := bucket(tx, bucketEntries).Bucket(pkey)
		if list == nil {
			return notFound
		}
		v := list.Get(ekey)
		if v == nil {
			return notFound
		}
		playlistID = formatID(playlistPrefix, binary.BigEndian.Uint64(pkey))
		var err error
		e, err = decodeEntry(v)
		return err
	})
	if err != nil {
		return tandem.Entry{}, "", fmt.Errorf("store: entry %q: %w", entryID, err)
	}
	return e, playlistID, nil
}
