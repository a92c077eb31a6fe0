package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// WriteBackup writes a consistent copy of the whole database to w while
// the database stays in use: it is the state of one read transaction, so
// writers are not held up and the copy never holds half a change. It
// returns the number of bytes written. The copy is a complete bbolt file:
// put it in a data directory as tandem.db to restore it.
func (d *DB) WriteBackup(w io.Writer) (int64, error) {
	var n int64
	err := d.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("store: backup: %w", err)
	}
	return n, nil
}

// Backup writes a consistent copy of the database to the file path (see
// WriteBackup), atomically: into a temporary file beside it, fsynced, then
// renamed over path. It returns the size of the copy.
func (d *DB) Backup(path string) (int64, error) {
	n, err := WriteFileAtomic(path, 0o600, func(w io.Writer) (int64, error) { return d.WriteBackup(w) })
	if err != nil {
		return n, err
	}
	d.logger.Info("store backup written", "path", path, "bytes", n)
	return n, nil
}

// WriteFileAtomic creates or replaces the file path with what write
// writes, so that path holds either its old content or all of the new:
// write fills a temporary file in path's directory, which is fsynced,
// given mode perm and renamed over path, and the directory is fsynced. On
// any error the temporary file is removed and path is untouched.
func WriteFileAtomic(path string, perm os.FileMode, write func(io.Writer) (int64, error)) (n int64, err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("store: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if n, err = write(f); err != nil {
		return n, fmt.Errorf("store: write %s: %w", path, err)
	}
	if err = f.Chmod(perm); err != nil {
		return n, fmt.Errorf("store: write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return n, fmt.Errorf("store: write %s: fsync: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return n, fmt.Errorf("store: write %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return n, fmt.Errorf("store: write %s: %w", path, err)
	}
	// The rename is durable once the directory is synced. Some systems
	// cannot sync a directory; the file itself is complete either way.
	if d, derr := os.Open(dir); derr == nil {
		serr := d.Sync()
		d.Close()
		if serr != nil && !errors.Is(serr, os.ErrInvalid) {
			return n, fmt.Errorf("store: write %s: fsync directory: %w", path, serr)
		}
	}
	return n, nil
}

// CheckFile checks that the file at path is a whole, consistent Tandem
// database, such as a backup: bbolt's consistency check passes and the
// schema version is one this program knows. It opens the file read-only.
func CheckFile(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: defaultTimeout})
	if err != nil {
		return fmt.Errorf("store: check %s: %w", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		meta := tx.Bucket([]byte(bucketMeta))
		if meta == nil {
			return errors.New("not a Tandem database: no meta bucket")
		}
		v := meta.Get([]byte(keyVersion))
		if len(v) != 8 {
			return errors.New("no schema version")
		}
		if ver := binary.BigEndian.Uint64(v); ver == 0 || ver > SchemaVersion {
			return fmt.Errorf("schema version %d, this program knows 1 to %d", ver, SchemaVersion)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: check %s: %w", path, err)
	}
	return nil
}
