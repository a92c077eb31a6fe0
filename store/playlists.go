package store

import (
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

// orderKey returns the Order key of the seq-th entry appended to a playlist:
// seq zero-padded to 20 digits, the width of the largest uint64, so that keys
// sort as strings in the order they were appended.
//
// Appending is the only way to insert for now. Inserting between two entries,
// and concurrent inserts that converge, will need fractional keys (strings
// that sort between two given ones); they will sort against these keys as
// plain strings, and a key from a later append still sorts after them all.
func orderKey(seq uint64) string { return fmt.Sprintf("%020d", seq) }

// CreatePlaylist creates an empty playlist called name, owned by owner.
// Names are unique: a name already in use gives an ECONFLICT error, and an
// invalid name or owner an EINVALID error.
func (d *DB) CreatePlaylist(name, owner string) (tandem.Playlist, error) {
	if err := ValidateName(name); err != nil {
		return tandem.Playlist{}, fmt.Errorf("store: create playlist %q: %w", name, err)
	}
	if err := ValidateName(owner); err != nil {
		return tandem.Playlist{}, fmt.Errorf("store: create playlist %q: owner: %w", name, err)
	}
	var p tandem.Playlist
	err := d.db.Update(func(tx *bolt.Tx) error {
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
			ID:        formatID(playlistPrefix, seq),
			Name:      name,
			Owner:     owner,
			CreatedAt: stamp(d.now()),
		}
		v, err := json.Marshal(p) // entries live in their own bucket
		if err != nil {
			return err
		}
		if err := playlists.Put(key, v); err != nil {
			return err
		}
		if err := names.Put([]byte(name), key); err != nil {
			return err
		}
		_, err = bucket(tx, bucketEntries).CreateBucket(key)
		return err
	})
	if err != nil {
		return tandem.Playlist{}, fmt.Errorf("store: create playlist %s: %w", name, err)
	}
	p.Entries = []tandem.Entry{}
	return p, nil
}

// readPlaylist returns the playlist stored under key, with its entries
// sorted by Order, or an ENOTFOUND error. The result holds no bytes of tx.
func readPlaylist(tx *bolt.Tx, key []byte) (tandem.Playlist, error) {
	v := bucket(tx, bucketPlaylists).Get(key)
	if v == nil {
		return tandem.Playlist{}, tandem.Errorf(tandem.ENOTFOUND, "no such playlist")
	}
	var p tandem.Playlist
	if err := json.Unmarshal(v, &p); err != nil {
		return tandem.Playlist{}, err
	}
	p.Entries = []tandem.Entry{}
	if b := bucket(tx, bucketEntries).Bucket(key); b != nil {
		err := b.ForEach(func(_, v []byte) error {
			var e tandem.Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			p.Entries = append(p.Entries, e)
			return nil
		})
		if err != nil {
			return tandem.Playlist{}, err
		}
	}
	// Stable: entries with equal keys stay in the order they were added.
	slices.SortStableFunc(p.Entries, func(a, b tandem.Entry) int {
		return strings.Compare(a.Order, b.Order)
	})
	return p, nil
}

// Playlist returns the playlist with the given ID, with its entries sorted
// by Order, or an ENOTFOUND error.
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

// PlaylistByName returns the playlist called name, with its entries sorted
// by Order, or an ENOTFOUND error.
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
	playlists := []tandem.Playlist{}
	err := d.db.View(func(tx *bolt.Tx) error {
		return bucket(tx, bucketPlaylists).ForEach(func(k, _ []byte) error {
			p, err := readPlaylist(tx, k)
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
// entry. Its ID is unique in the database and its Order sorts after every
// entry of the playlist. A missing playlist or track gives an ENOTFOUND
// error, an invalid addedBy an EINVALID error.
func (d *DB) AddEntry(playlistID, trackID, addedBy string, at time.Time) (tandem.Entry, error) {
	if err := ValidateName(addedBy); err != nil {
		return tandem.Entry{}, fmt.Errorf("store: add entry to playlist %q: added by: %w", playlistID, err)
	}
	if at.IsZero() {
		at = d.now()
	}
	var e tandem.Entry
	err := d.db.Update(func(tx *bolt.Tx) error {
		pkey, ok := parseID(playlistPrefix, playlistID)
		if !ok || bucket(tx, bucketPlaylists).Get(pkey) == nil {
			return tandem.Errorf(tandem.ENOTFOUND, "no playlist %q", playlistID)
		}
		if bucket(tx, bucketTracks).Get([]byte(trackID)) == nil {
			return tandem.Errorf(tandem.ENOTFOUND, "no track %q", trackID)
		}
		entries := bucket(tx, bucketEntries)
		eseq, err := entries.NextSequence() // unique across playlists
		if err != nil {
			return err
		}
		list, err := entries.CreateBucketIfNotExists(pkey)
		if err != nil {
			return err
		}
		oseq, err := list.NextSequence() // counts appends to this playlist
		if err != nil {
			return err
		}
		e = tandem.Entry{
			ID:      formatID(entryPrefix, eseq),
			TrackID: trackID,
			AddedBy: addedBy,
			AddedAt: stamp(at),
			Order:   orderKey(oseq),
		}
		v, err := json.Marshal(e)
		if err != nil {
			return err
		}
		ekey := itob(eseq)
		if err := list.Put(ekey, v); err != nil {
			return err
		}
		return bucket(tx, bucketEntryIndex).Put(ekey, pkey)
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
		return json.Unmarshal(v, &e)
	})
	if err != nil {
		return tandem.Entry{}, "", fmt.Errorf("store: entry %q: %w", entryID, err)
	}
	return e, playlistID, nil
}
