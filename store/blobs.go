package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"tandem"
)

// BlobDir is the name of the blob directory inside the data directory.
const BlobDir = "blobs"

// Blobs keeps the files of tracks, content-addressed: the blob whose bytes
// have the lowercase hex sha256 X is the file DIR/X[:2]/X, and its artwork,
// if any, DIR/X[:2]/X.art. Files arrive through a Spool, a temporary file
// in DIR/tmp that is fsynced, then renamed into place (and the directory
// fsynced), so a blob is either whole or absent. Blobs never change once
// written; a Blobs is safe for concurrent use and holds no mutable state.
type Blobs struct {
	dir  string
	log  *slog.Logger
	wrap func(f *os.File) io.Writer // see WithFileWriter; nil: none
}

// A BlobOption changes how the Blobs of OpenBlobs work.
type BlobOption func(*Blobs)

// WithFileWriter makes the Blobs write the bytes of new blobs, and of
// upload sessions, through wrap(f) rather than to the file f itself.
// Tests use it to make writes fail as they do on a full disk.
func WithFileWriter(wrap func(f *os.File) io.Writer) BlobOption {
	return func(b *Blobs) { b.wrap = wrap }
}

// OpenBlobs opens the blob directory dir (usually DATA/blobs), creating it
// if needed (mode 0700), and removes the temporary files left by uploads
// that an earlier run did not finish.
func OpenBlobs(dir string, log *slog.Logger, opts ...BlobOption) (*Blobs, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Blobs{dir: dir, log: log}
	for _, o := range opts {
		o(b)
	}
	if err := os.MkdirAll(b.tmpDir(), 0o700); err != nil {
		return nil, fmt.Errorf("store: open blobs: %w", err)
	}
	stale, err := os.ReadDir(b.tmpDir())
	if err != nil {
		return nil, fmt.Errorf("store: open blobs: %w", err)
	}
	for _, e := range stale {
		if err := os.RemoveAll(filepath.Join(b.tmpDir(), e.Name())); err != nil {
			return nil, fmt.Errorf("store: remove stale upload: %w", err)
		}
		log.Info("store: removed an unfinished upload", "file", e.Name())
	}
	return b, nil
}

// Dir returns the blob directory.
func (b *Blobs) Dir() string { return b.dir }

func (b *Blobs) tmpDir() string { return filepath.Join(b.dir, "tmp") }

// writer returns what writes to f: f, or what WithFileWriter made of it.
func (b *Blobs) writer(f *os.File) io.Writer {
	if b.wrap == nil {
		return f
	}
	return b.wrap(f)
}

// path returns the file of blob id, which must be valid.
func (b *Blobs) path(id string) string { return filepath.Join(b.dir, id[:2], id) }

// checkID returns an EINVALID error unless id is a lowercase hex sha256.
func checkID(id string) error {
	if !validTrackID(id) {
		return tandem.Errorf(tandem.EINVALID, "%q is not a lowercase hex sha256", id)
	}
	return nil
}

// Open opens the blob id for reading. A blob that does not exist gives an
// ENOTFOUND error, an id that is not a lowercase hex sha256 EINVALID.
func (b *Blobs) Open(id string) (*os.File, error) { return b.open(id, "") }

// OpenArt opens the artwork of blob id, like Open.
func (b *Blobs) OpenArt(id string) (*os.File, error) { return b.open(id, ".art") }

func (b *Blobs) open(id, ext string) (*os.File, error) {
	if err := checkID(id); err != nil {
		return nil, fmt.Errorf("store: open blob: %w", err)
	}
	f, err := os.Open(b.path(id) + ext)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("store: open blob: %w", tandem.Errorf(tandem.ENOTFOUND, "no file %s%s", id, ext))
	}
	if err != nil {
		return nil, fmt.Errorf("store: open blob: %w", err)
	}
	return f, nil
}

// Has reports whether blob id exists.
func (b *Blobs) Has(id string) bool {
	if checkID(id) != nil {
		return false
	}
	_, err := os.Stat(b.path(id))
	return err == nil
}

// PutArt stores the artwork of blob id, durably, replacing any.
func (b *Blobs) PutArt(id string, data []byte) error {
	if err := checkID(id); err != nil {
		return fmt.Errorf("store: put art: %w", err)
	}
	s, err := b.Create()
	if err != nil {
		return fmt.Errorf("store: put art: %w", err)
	}
	defer s.Abort()
	if _, err := s.Write(data); err != nil {
		return fmt.Errorf("store: put art: %w", err)
	}
	if err := s.commitAs(b.path(id) + ".art"); err != nil {
		return fmt.Errorf("store: put art: %w", err)
	}
	return nil
}

// Create starts a new blob: a temporary file that hashes what is written
// to it. Commit it to keep it, or Abort it.
func (b *Blobs) Create() (*Spool, error) {
	f, err := os.CreateTemp(b.tmpDir(), "spool-*")
	if err != nil {
		return nil, tandem.NoSpace(fmt.Errorf("store: create blob: %w", err))
	}
	return &Spool{b: b, f: f, w: b.writer(f), h: sha256.New()}, nil
}

// Spool is a file on its way to becoming a blob. It is used by one
// goroutine at a time.
type Spool struct {
	b    *Blobs
	f    *os.File
	w    io.Writer // writes to f
	h    hash.Hash // nil: the file was written elsewhere, and Sum reads it
	size int64
	sum  string
	done bool
	// onDone runs once, after a Commit (committed true) or an Abort.
	onDone func(committed bool) error
}

// Write appends p to the file. On a full disk the error has code
// ENOSPACE, as have those of Commit.
func (s *Spool) Write(p []byte) (int, error) {
	if s.done {
		return 0, errors.New("store: write to a finished spool")
	}
	if s.h == nil {
		return 0, errors.New("store: write to a spool of an upload")
	}
	n, err := s.w.Write(p)
	s.h.Write(p[:n])
	s.size += int64(n)
	if err != nil {
		return n, tandem.NoSpace(fmt.Errorf("store: write blob: %w", err))
	}
	return n, nil
}

// Size returns the number of bytes in the file.
func (s *Spool) Size() int64 { return s.size }

// Sum returns the lowercase hex sha256 of the file: the blob's id.
func (s *Spool) Sum() (string, error) {
	if s.sum != "" {
		return s.sum, nil
	}
	h := s.h
	if h == nil {
		h = sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(s.f, 0, s.size)); err != nil {
			return "", fmt.Errorf("store: hash blob: %w", err)
		}
	}
	s.sum = hex.EncodeToString(h.Sum(nil))
	return s.sum, nil
}

// Reader returns a reader of the file's bytes, independent of writes.
func (s *Spool) Reader() io.ReadSeeker { return io.NewSectionReader(s.f, 0, s.size) }

// Commit makes the file the blob named by its Sum. If that blob exists
// already, the file is dropped: blobs are content-addressed, so the two
// are the same.
func (s *Spool) Commit() error {
	sum, err := s.Sum()
	if err != nil {
		return err
	}
	return s.commitAs(s.b.path(sum))
}

func (s *Spool) commitAs(path string) error {
	if s.done {
		return errors.New("store: commit of a finished spool")
	}
	if err := s.f.Sync(); err != nil {
		return tandem.NoSpace(fmt.Errorf("store: sync blob: %w", err))
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tandem.NoSpace(fmt.Errorf("store: commit blob: %w", err))
	}
	if err := os.Rename(s.f.Name(), path); err != nil {
		return tandem.NoSpace(fmt.Errorf("store: commit blob: %w", err))
	}
	// The rename is durable once the directories are: the blob's, and the
	// blob directory, which holds the shard directory that may be new.
	if err := errors.Join(syncDir(dir), syncDir(s.b.dir)); err != nil {
		return tandem.NoSpace(fmt.Errorf("store: commit blob: %w", err))
	}
	s.done = true
	err := s.f.Close()
	if s.onDone != nil {
		err = errors.Join(err, s.onDone(true))
	}
	if err != nil {
		return fmt.Errorf("store: commit blob: %w", err)
	}
	return nil
}

// Abort removes the file. It does nothing after Commit or Abort, so it
// may be deferred.
func (s *Spool) Abort() error {
	if s.done {
		return nil
	}
	s.done = true
	err := errors.Join(s.f.Close(), os.Remove(s.f.Name()))
	if s.onDone != nil {
		err = errors.Join(err, s.onDone(false))
	}
	if err != nil {
		return fmt.Errorf("store: abort blob: %w", err)
	}
	return nil
}

// syncDir fsyncs a directory, making the renames into it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
