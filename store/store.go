// Package store keeps Tandem's durable state in a single bbolt file: users and
// the hashes of their tokens, tracks, playlists with their entries, and rooms.
//
// Every write is one bbolt read-write transaction, and a method returns only
// after that transaction has committed, so a caller may acknowledge a change
// as soon as the method returns. Values are JSON; keys for generated IDs come
// from bucket sequences, encoded big-endian so that they sort numerically.
//
// The schema is versioned in the meta bucket and migrated at Open, inside one
// transaction.
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// FileName is the name of the database file inside the data directory.
const FileName = "tandem.db"

// SchemaVersion is the schema version that Open migrates a database to.
const SchemaVersion = 6

// defaultTimeout is how long Open waits for the file lock by default.
const defaultTimeout = 1 * time.Second

// MaxNameLen is the maximum length, in runes, of user, playlist and room names.
const MaxNameLen = 64

// Sentinel errors, for errors.Is.
var (
	// ErrLocked means another process, or another DB in this process, holds
	// the database file open.
	ErrLocked = errors.New("database is locked by another process (is a hub or player already running with this data directory?)")

	// ErrNewerSchema means the database was written by a newer program whose
	// schema this one does not know.
	ErrNewerSchema = errors.New("database schema is newer than this program supports")
)

// Bucket names. Every bucket is created by a migration. They are constants,
// not []byte variables, so that no package state can be changed.
const (
	bucketMeta          = "meta"          // "version" -> big-endian uint64
	bucketUsers         = "users"         // name -> User JSON
	bucketTokens        = "tokens"        // sha256(token) -> user name
	bucketTracks        = "tracks"        // track ID (hex) -> Track JSON
	bucketPlaylists     = "playlists"     // seq -> Playlist JSON, without entries
	bucketPlaylistNames = "playlistNames" // name -> playlist seq
	bucketEntries       = "entries"       // playlist seq -> bucket{entry seq -> Entry (entrycodec.go)}; its sequence counts appends
	bucketEntryIndex    = "entryIndex"    // entry seq -> playlist seq
	bucketRooms         = "rooms"         // name -> Room JSON

	// Created by migration 2.
	bucketInvites   = "invites"   // sha256(code) -> Invite JSON
	bucketUploads   = "uploads"   // upload id -> resumable upload session JSON
	bucketActivity  = "activity"  // seq -> Activity JSON; the last 500 are kept
	bucketOps       = "ops"       // user + "\x00" + client op id -> the op's result JSON
	bucketRoomCodes = "roomCodes" // room invite code -> room name

	// Created by migration 3.
	bucketEntryOrder = "entryOrder" // playlist seq -> bucket{order key + 0x00 + entry seq -> ""}

	// Created by migration 5.
	bucketLocalFiles = "localFiles" // file path -> LocalFile JSON (library.go)

	// Created by migration 6: bucketUserSkeletons (names.go).

	keyVersion = "version"
)

// Options configure Open. The zero value is ready to use.
type Options struct {
	// Timeout is how long Open waits for the file lock held by another
	// process before it fails with ErrLocked. Zero means 1s.
	Timeout time.Duration

	// Logger receives the store's logs. Nil means discard.
	Logger *slog.Logger

	// Now returns the current time, for CreatedAt fields. Nil means time.Now.
	Now func() time.Time

	// ObserveTx, when set, is called after every read-write transaction
	// with its kind ("update" or "batch") and how long it took, commit and
	// fsync included (the hub's metrics). It must be fast and must not use
	// the DB.
	ObserveTx func(kind string, d time.Duration)
}

// DB is a Tandem database. It is safe for concurrent use by multiple
// goroutines: bbolt serializes write transactions and lets read transactions
// run concurrently, so DB itself needs no mutex. Its fields are set by Open
// and never change.
type DB struct {
	db     *bolt.DB
	path   string
	logger *slog.Logger
	now    func() time.Time
	// observeTx is Options.ObserveTx, or a no-op.
	observeTx func(kind string, d time.Duration)
	group     groupCommit // the batched writes' commits
}

// Open opens the database in dir, creating dir (mode 0700) and the file
// dir/tandem.db (mode 0600) if they are missing, and migrates the schema to
// SchemaVersion. If another process holds the database, Open fails after
// opts.Timeout with an error wrapping ErrLocked.
func Open(dir string, opts Options) (*DB, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	path := filepath.Join(dir, FileName)
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("store: open %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	d := &DB{db: bdb, path: path, logger: opts.Logger, now: opts.Now, observeTx: opts.ObserveTx}
	d.group.db = bdb
	if d.observeTx == nil {
		d.observeTx = func(string, time.Duration) {}
	}
	if err := d.migrate(); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := d.pruneOps(); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("store: open %s: forget old op ids: %w", path, err)
	}
	d.logger.Debug("store opened", "path", path, "schema", SchemaVersion)
	return d, nil
}

// Close closes the database and releases its file lock. It waits for open
// transactions to finish. Calling Close more than once is harmless.
func (d *DB) Close() error {
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", d.path, err)
	}
	return nil
}

// Path returns the path of the database file.
func (d *DB) Path() string { return d.path }

// update runs fn in a read-write transaction, timed for Options.ObserveTx.
func (d *DB) update(fn func(tx *bolt.Tx) error) error {
	start := time.Now()
	err := d.db.Update(fn)
	d.observeTx("update", time.Since(start))
	return err
}

// batch runs fn in a read-write transaction shared with the other batched
// writes of the moment (groupCommit: fn may run more than once), timed for
// Options.ObserveTx.
func (d *DB) batch(fn func(tx *bolt.Tx) error) error {
	start := time.Now()
	err := d.group.run(fn)
	d.observeTx("batch", time.Since(start))
	return err
}

// A migration moves the schema up by one version inside a write transaction.
type migration func(tx *bolt.Tx) error

// migrations returns the schema's migrations; migrations(log)[i] moves the
// schema from version i to version i+1. They log to log.
func migrations(log *slog.Logger) []migration {
	return []migration{
		// 1: create the buckets.
		func(tx *bolt.Tx) error {
			for _, name := range []string{
				bucketUsers, bucketTokens, bucketTracks, bucketPlaylists,
				bucketPlaylistNames, bucketEntries, bucketEntryIndex, bucketRooms,
			} {
				if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
					return fmt.Errorf("create bucket %s: %w", name, err)
				}
			}
			return nil
		},
		// 2: the hub service's buckets: invites, upload sessions, the
		// activity feed, client op ids and room invite codes.
		func(tx *bolt.Tx) error {
			for _, name := range []string{
				bucketInvites, bucketUploads, bucketActivity, bucketOps, bucketRoomCodes,
			} {
				if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
					return fmt.Errorf("create bucket %s: %w", name, err)
				}
			}
			return nil
		},
		// 3: index each playlist's entries by order key, so that an
		// insert finds its neighbours without reading the playlist.
		migrateEntryOrder,
		// 4: entries in a compact binary form instead of JSON.
		migrateEntryFormat,
		// 5: the player's local library, by file path.
		migrateLocalFiles,
		// 6: the user name skeleton index, against lookalike names.
		migrateUserSkeletons(log),
	}
}

// migrate runs the pending migrations in one transaction.
func (d *DB) migrate() error {
	return d.update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists([]byte(bucketMeta))
		if err != nil {
			return err
		}
		var version uint64
		if v := meta.Get([]byte(keyVersion)); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("corrupt schema version %x", v)
			}
			version = binary.BigEndian.Uint64(v)
		}
		ms := migrations(d.logger)
		if version > uint64(len(ms)) {
			return fmt.Errorf("version %d, supported %d: %w", version, len(ms), ErrNewerSchema)
		}
		for i := version; i < uint64(len(ms)); i++ {
			if err := ms[i](tx); err != nil {
				return fmt.Errorf("migrate schema to version %d: %w", i+1, err)
			}
			d.logger.Info("store schema migrated", "path", d.path, "version", i+1)
		}
		return meta.Put([]byte(keyVersion), itob(uint64(len(ms))))
	})
}

// bucket returns the top-level bucket name, which migration 1 created.
func bucket(tx *bolt.Tx, name string) *bolt.Bucket { return tx.Bucket([]byte(name)) }

// itob encodes v as an 8-byte big-endian key.
func itob(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

// formatID returns the exposed ID for a sequence number: prefix + decimal.
func formatID(prefix string, seq uint64) string {
	return prefix + strconv.FormatUint(seq, 10)
}

// parseID returns the key for an ID made by formatID, and false if id is not
// in canonical form.
func parseID(prefix, id string) ([]byte, bool) {
	s, ok := strings.CutPrefix(id, prefix)
	if !ok || s == "" || (s[0] == '0') {
		return nil, false
	}
	seq, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return nil, false
	}
	return itob(seq), true
}

// stamp returns t in UTC without its monotonic reading, as it reads back
// after a JSON round trip.
func stamp(t time.Time) time.Time { return t.UTC().Round(0) }
