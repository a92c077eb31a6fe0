package store

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"tandem"
)

// newUploads opens a store and its uploads with a clock that tests move.
func newUploads(t *testing.T, dir string, clock *atomic.Int64) (*DB, *Uploads, *Blobs) {
	t.Helper()
	d, err := Open(dir, Options{Timeout: testTimeout, Now: func() time.Time { return testNow.Add(time.Duration(clock.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	b, err := OpenBlobs(filepath.Join(dir, BlobDir), nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := NewUploads(d, b)
	if err != nil {
		t.Fatal(err)
	}
	return d, u, b
}

func TestUploads(t *testing.T) {
	dir := t.TempDir()
	var clock atomic.Int64
	_, u, b := newUploads(t, dir, &clock)
	data := bytes.Repeat([]byte("0123456789"), 1000)
	up, err := u.Create("ann", "song.mp3", int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if up.Offset != 0 || up.Length != int64(len(data)) || up.User != "ann" || up.Name != "song.mp3" ||
		!up.ExpiresAt.Equal(stamp(testNow).Add(UploadTTL)) {
		t.Fatalf("session %+v", up)
	}
	// A body cut short: what arrived is kept.
	cut := io.MultiReader(bytes.NewReader(data[:3000]), iotest.ErrReader(io.ErrUnexpectedEOF))
	up, err = u.Append(up.ID, 0, cut, 1<<20)
	if !errors.Is(err, io.ErrUnexpectedEOF) || up.Offset != 3000 {
		t.Fatalf("Append cut short = %+v, %v", up, err)
	}
	if _, err := u.Append(up.ID, 0, bytes.NewReader(data), 1<<20); tandem.ErrorCode(err) != tandem.ECONFLICT {
		t.Fatalf("Append at a stale offset = %v, want ECONFLICT", err)
	}
	// Past the declared length: refused, nothing appended.
	if _, err := u.Append(up.ID, 3000, bytes.NewReader(append(bytes.Clone(data[3000:]), 'x')), 1<<20); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatalf("Append past the length = %v, want EINVALID", err)
	}
	// Past the size limit: ELIMIT.
	if _, err := u.Append(up.ID, 3000, bytes.NewReader(data[3000:]), 5000); tandem.ErrorCode(err) != tandem.ELIMIT {
		t.Fatalf("Append past the limit = %v, want ELIMIT", err)
	}
	clock.Store(int64(time.Hour))
	up, err = u.Append(up.ID, 3000, bytes.NewReader(data[3000:]), 1<<20)
	if err != nil || up.Offset != int64(len(data)) || !up.ExpiresAt.Equal(stamp(testNow).Add(time.Hour+UploadTTL)) {
		t.Fatalf("Append = %+v, %v", up, err)
	}
	// The session survives a restart.
	if got, err := u.Get(up.ID); err != nil || got != up {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, up)
	}
	s, err := u.Finish(up.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Append(up.ID, up.Offset, strings.NewReader(""), 1<<20); tandem.ErrorCode(err) != tandem.ECONFLICT {
		t.Errorf("Append while finishing = %v, want ECONFLICT", err)
	}
	if sum, err := s.Sum(); err != nil || sum != hexSum(data) {
		t.Fatalf("Sum = %q, %v", sum, err)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Get(up.ID); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("session after Commit: %v, want ENOTFOUND", err)
	}
	f, err := b.Open(hexSum(data))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, data) {
		t.Error("the blob differs from the uploaded bytes")
	}
	if files, _ := os.ReadDir(filepath.Join(b.Dir(), "uploads")); len(files) != 0 {
		t.Errorf("upload files left: %v", files)
	}
}

func TestUploadsAbortAndExpire(t *testing.T) {
	dir := t.TempDir()
	var clock atomic.Int64
	d, u, b := newUploads(t, dir, &clock)
	updir := filepath.Join(b.Dir(), "uploads")

	bad, _ := u.Create("ann", "", -1)
	if _, err := u.Append(bad.ID, 0, strings.NewReader("not music"), 100); err != nil {
		t.Fatal(err)
	}
	s, err := u.Finish(bad.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Get(bad.ID); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("aborted session: %v", err)
	}

	old, _ := u.Create("ann", "", 10)
	clock.Store(int64(UploadTTL / 2))
	fresh, _ := u.Create("ann", "", 10)
	clock.Store(int64(UploadTTL + time.Minute))
	if _, err := u.Get(old.ID); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("expired session: %v, want ENOTFOUND", err)
	}
	if _, err := u.Get(fresh.ID); err != nil {
		t.Errorf("fresh session: %v", err)
	}
	// A file with no session (a crash between file and session) goes at
	// the next start, with expired sessions.
	if err := os.WriteFile(filepath.Join(updir, "orphan"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	clock.Store(int64(2 * UploadTTL))
	if _, err := NewUploads(d, b); err != nil {
		t.Fatal(err)
	}
	if files, _ := os.ReadDir(updir); len(files) != 0 {
		t.Errorf("files left after the sweep: %v", files)
	}
	if _, err := u.Get(fresh.ID); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("session after expiry: %v", err)
	}
	for _, id := range []string{"../../tandem.db", strings.Repeat("A", 32), ""} {
		if _, err := u.Get(id); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("Get(%q) = %v, want EINVALID", id, err)
		}
	}
}
