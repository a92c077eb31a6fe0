package store

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"tandem"
)

// fakeDisk is a disk with room for a number of bytes: writes through it
// fail as os.File's do when a disk is full.
type fakeDisk struct {
	mu   sync.Mutex
	room int64
	err  syscall.Errno // the failure; ENOSPC by default
}

func (d *fakeDisk) setRoom(n int64) {
	d.mu.Lock()
	d.room = n
	d.mu.Unlock()
}

func (d *fakeDisk) wrap(f *os.File) io.Writer { return &fakeDiskFile{d: d, f: f} }

type fakeDiskFile struct {
	d *fakeDisk
	f *os.File
}

func (w *fakeDiskFile) Write(p []byte) (int, error) {
	w.d.mu.Lock()
	fits := min(int64(len(p)), w.d.room)
	w.d.room -= fits
	errno := w.d.err
	w.d.mu.Unlock()
	n, err := w.f.Write(p[:fits])
	if err == nil && n < len(p) {
		if errno == 0 {
			errno = syscall.ENOSPC
		}
		err = &fs.PathError{Op: "write", Path: w.f.Name(), Err: errno}
	}
	return n, err
}

func TestSpoolNoSpace(t *testing.T) {
	dir := filepath.Join(t.TempDir(), BlobDir)
	disk := &fakeDisk{room: 1000}
	b, err := OpenBlobs(dir, nil, WithFileWriter(disk.wrap))
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.Create()
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Write(bytes.Repeat([]byte("x"), 4000))
	if tandem.ErrorCode(err) != tandem.ENOSPACE || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Write on a full disk = %v, want ENOSPACE with the cause", err)
	}
	if msg := tandem.ErrorMessage(err); strings.Contains(msg, dir) || strings.Contains(msg, "/") {
		t.Errorf("message %q shows a path", msg)
	}
	if err := s.Abort(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	// Artwork too.
	if err := b.PutArt(hexSum([]byte("a")), bytes.Repeat([]byte("x"), 4000)); tandem.ErrorCode(err) != tandem.ENOSPACE {
		t.Errorf("PutArt on a full disk = %v, want ENOSPACE", err)
	}
}

func TestAppendNoSpace(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir, Options{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	disk := &fakeDisk{room: 1000}
	b, err := OpenBlobs(filepath.Join(dir, BlobDir), nil, WithFileWriter(disk.wrap))
	if err != nil {
		t.Fatal(err)
	}
	u, err := NewUploads(d, b)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789"), 300)
	up, err := u.Create("ann", "song.mp3", int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	// The disk fills up: the hub's fault, not a body cut short, and
	// nothing of the body is kept.
	got, err := u.Append(up.ID, 0, bytes.NewReader(data), 1<<20)
	if tandem.ErrorCode(err) != tandem.ENOSPACE || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Append on a full disk = %v, want ENOSPACE with the cause", err)
	}
	if got.Offset != 0 {
		t.Errorf("offset %d after a failed write, want 0", got.Offset)
	}
	if fi, err := os.Stat(u.file(up.ID)); err != nil || fi.Size() != 0 {
		t.Errorf("session file after a failed write: %v, %v; want it empty", fi, err)
	}
	// Another storage fault is internal.
	disk.mu.Lock()
	disk.err = syscall.EIO
	disk.mu.Unlock()
	if _, err := u.Append(up.ID, 0, bytes.NewReader(data), 1<<20); tandem.ErrorCode(err) != tandem.EINTERNAL {
		t.Fatalf("Append with an I/O error = %v, want EINTERNAL", err)
	}
	// Once there is room, the upload goes on from where it was.
	disk.setRoom(1 << 20)
	if got, err = u.Append(up.ID, 0, bytes.NewReader(data), 1<<20); err != nil || got.Offset != int64(len(data)) {
		t.Fatalf("Append with room = %+v, %v", got, err)
	}
}
