package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"tandem"
	"tandem/internal/testhub"
)

func TestSpoolNoSpace(t *testing.T) {
	dir := filepath.Join(t.TempDir(), BlobDir)
	disk := testhub.NewFakeDisk(1000)
	b, err := OpenBlobs(dir, nil, WithFileWriter(disk.Wrap))
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
	disk := testhub.NewFakeDisk(1000)
	b, err := OpenBlobs(filepath.Join(dir, BlobDir), nil, WithFileWriter(disk.Wrap))
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
	disk.Set(0, syscall.EIO)
	if _, err := u.Append(up.ID, 0, bytes.NewReader(data), 1<<20); tandem.ErrorCode(err) != tandem.EINTERNAL {
		t.Fatalf("Append with an I/O error = %v, want EINTERNAL", err)
	}
	// Once there is room, the upload goes on from where it was.
	disk.Set(1<<20, syscall.ENOSPC)
	if got, err = u.Append(up.ID, 0, bytes.NewReader(data), 1<<20); err != nil || got.Offset != int64(len(data)) {
		t.Fatalf("Append with room = %+v, %v", got, err)
	}
}
