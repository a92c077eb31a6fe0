package testhub

import (
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"
)

// FakeDisk is a disk with room for a number of bytes, for the store's
// WithFileWriter: writes through it fail, once the room is used up, as
// os.File's do on a full disk (a *fs.PathError naming the file).
type FakeDisk struct {
	mu   sync.Mutex
	room int64
	err  syscall.Errno
}

// NewFakeDisk returns a disk with room bytes free whose full writes fail
// with ENOSPC.
func NewFakeDisk(room int64) *FakeDisk { return &FakeDisk{room: room, err: syscall.ENOSPC} }

// Set changes the room left and the error of writes that do not fit.
func (d *FakeDisk) Set(room int64, err syscall.Errno) {
	d.mu.Lock()
	d.room, d.err = room, err
	d.mu.Unlock()
}

// Wrap returns a writer to f on the disk.
func (d *FakeDisk) Wrap(f *os.File) io.Writer { return &fakeDiskFile{d: d, f: f} }

type fakeDiskFile struct {
	d *FakeDisk
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
		err = &fs.PathError{Op: "write", Path: w.f.Name(), Err: errno}
	}
	return n, err
}
