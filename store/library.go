package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"tandem"
)

// LocalFile is a music file in the player's local library, as the library
// scan (audio/scan) last saw it. The library is keyed by path: a file's
// identity is where it is, and Size and ModTime tell a rescan whether it
// must be read again. Hash, the sha256 that names a track on the hub, is
// filled in lazily (SetLocalFileHash), when the file is first shared,
// since hashing means reading the whole file.
type LocalFile struct {
	Path    string    `json:"path"`    // absolute, cleaned; the key
	Size    int64     `json:"size"`    // bytes
	ModTime time.Time `json:"modTime"` // as the file system reported it, UTC

	Title    string        `json:"title,omitempty"`
	Artist   string        `json:"artist,omitempty"`
	Album    string        `json:"album,omitempty"`
	Track    int           `json:"track,omitempty"` // number on the album; 0 if unknown
	Duration time.Duration `json:"duration,omitempty"`
	Format   string        `json:"format"` // audio.FormatMP3 etc., sniffed from the content

	// ArtType is the MIME type of the embedded artwork, "" without any.
	// The artwork itself stays in the file.
	ArtType string `json:"artType,omitempty"`

	// Hash is the file's lowercase hex sha256, or "" until it is computed.
	Hash string `json:"hash,omitempty"`
}

// HasArt reports whether the file embeds artwork.
func (f LocalFile) HasArt() bool { return f.ArtType != "" }

// migrateLocalFiles is migration 5: the player's local library.
func migrateLocalFiles(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists([]byte(bucketLocalFiles)); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketLocalFiles, err)
	}
	return nil
}

// LocalFile returns the library record of the file at path, or an
// ENOTFOUND error.
func (d *DB) LocalFile(path string) (LocalFile, error) {
	var f LocalFile
	err := d.db.View(func(tx *bolt.Tx) error {
		v := bucket(tx, bucketLocalFiles).Get([]byte(path))
		if v == nil {
			return tandem.Errorf(tandem.ENOTFOUND, "no local file %q", path)
		}
		return json.Unmarshal(v, &f)
	})
	if err != nil {
		return LocalFile{}, fmt.Errorf("store: local file %q: %w", path, err)
	}
	return f, nil
}

// PutLocalFiles stores files, replacing the records with the same paths,
// in one transaction (one commit for a whole batch of a scan). A record
// with an empty path fails the batch with code EINVALID.
func (d *DB) PutLocalFiles(files []LocalFile) error {
	if len(files) == 0 {
		return nil
	}
	vals := make([][]byte, len(files))
	for i, f := range files {
		if f.Path == "" {
			return fmt.Errorf("store: put local files: %w",
				tandem.Errorf(tandem.EINVALID, "local file with an empty path"))
		}
		f.ModTime = stamp(f.ModTime)
		v, err := json.Marshal(f)
		if err != nil {
			return fmt.Errorf("store: put local file %q: %w", f.Path, err)
		}
		vals[i] = v
	}
	err := d.update(func(tx *bolt.Tx) error {
		b := bucket(tx, bucketLocalFiles)
		for i, f := range files {
			if err := b.Put([]byte(f.Path), vals[i]); err != nil {
				return fmt.Errorf("%q: %w", f.Path, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: put %d local files: %w", len(files), err)
	}
	return nil
}

// DeleteLocalFiles removes the records of paths, in one transaction.
// Paths with no record are ignored.
func (d *DB) DeleteLocalFiles(paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	err := d.update(func(tx *bolt.Tx) error {
		b := bucket(tx, bucketLocalFiles)
		for _, p := range paths {
			if err := b.Delete([]byte(p)); err != nil {
				return fmt.Errorf("%q: %w", p, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete %d local files: %w", len(paths), err)
	}
	return nil
}

// EachLocalFile calls fn for every record, in path order (byte-wise),
// inside one read transaction; an error from fn stops the walk and is
// returned, wrapped. fn must not use the DB.
func (d *DB) EachLocalFile(fn func(LocalFile) error) error {
	err := d.db.View(func(tx *bolt.Tx) error {
		return bucket(tx, bucketLocalFiles).ForEach(func(_, v []byte) error {
			var f LocalFile
			if err := json.Unmarshal(v, &f); err != nil {
				return err
			}
			return fn(f)
		})
	})
	if err != nil {
		return fmt.Errorf("store: local files: %w", err)
	}
	return nil
}

// LocalFiles returns every record, in path order (byte-wise).
func (d *DB) LocalFiles() ([]LocalFile, error) {
	files := []LocalFile{}
	err := d.EachLocalFile(func(f LocalFile) error {
		files = append(files, f)
		return nil
	})
	return files, err
}

// SetLocalFileHash records the sha256 of the file at path, computed from
// the file as it was at size and modTime. If the record is missing the
// error has code ENOTFOUND; if the record says the file has changed since
// (another size or time), code ECONFLICT, and nothing is stored. The hash
// must be a lowercase hex sha256, else the error has code EINVALID.
func (d *DB) SetLocalFileHash(path string, size int64, modTime time.Time, hash string) error {
	if !validTrackID(hash) {
		return fmt.Errorf("store: hash local file %q: %w", path,
			tandem.Errorf(tandem.EINVALID, "hash is not a lowercase hex sha256"))
	}
	err := d.update(func(tx *bolt.Tx) error {
		b := bucket(tx, bucketLocalFiles)
		v := b.Get([]byte(path))
		if v == nil {
			return tandem.Errorf(tandem.ENOTFOUND, "no local file %q", path)
		}
		var f LocalFile
		if err := json.Unmarshal(v, &f); err != nil {
			return err
		}
		if f.Size != size || !f.ModTime.Equal(modTime) {
			return tandem.Errorf(tandem.ECONFLICT, "local file %q changed since it was hashed", path)
		}
		f.Hash = hash
		nv, err := json.Marshal(f)
		if err != nil {
			return err
		}
		return b.Put([]byte(path), nv)
	})
	if err != nil {
		return fmt.Errorf("store: hash local file %q: %w", path, err)
	}
	return nil
}
