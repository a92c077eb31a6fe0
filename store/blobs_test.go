package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"tandem"
)

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestBlobs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), BlobDir)
	b, err := OpenBlobs(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("tandem "), 10000)
	s, err := b.Create()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(data); i += 999 {
		if _, err := s.Write(data[i:min(i+999, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := s.Sum()
	if err != nil || sum != hexSum(data) || s.Size() != int64(len(data)) {
		t.Fatalf("Sum %q, %v, size %d", sum, err, s.Size())
	}
	if got, _ := io.ReadAll(s.Reader()); !bytes.Equal(got, data) {
		t.Fatal("Reader does not give what was written")
	}
	if b.Has(sum) {
		t.Fatal("blob exists before Commit")
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.Abort(); err != nil { // after Commit: nothing
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, sum[:2], sum)); err != nil {
		t.Fatalf("blob not at DIR/ab/<sum>: %v", err)
	}
	f, err := b.Open(sum)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("blob content differs")
	}

	// The same bytes again: one blob.
	s2, _ := b.Create()
	s2.Write(data)
	if err := s2.Commit(); err != nil {
		t.Fatal(err)
	}
	// Aborted: no trace.
	s3, _ := b.Create()
	s3.Write([]byte("partial"))
	if err := s3.Abort(); err != nil {
		t.Fatal(err)
	}
	if tmp, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}

	if err := b.PutArt(sum, []byte("art")); err != nil {
		t.Fatal(err)
	}
	af, err := b.OpenArt(sum)
	if err != nil {
		t.Fatal(err)
	}
	art, _ := io.ReadAll(af)
	af.Close()
	if string(art) != "art" {
		t.Errorf("art %q", art)
	}

	for _, id := range []string{"../tandem.db", sum[:63], "AB" + sum[2:], ""} {
		if _, err := b.Open(id); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("Open(%q) = %v, want EINVALID", id, err)
		}
	}
	if _, err := b.Open(hexSum(nil)); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("Open(unknown) = %v, want ENOTFOUND", err)
	}
	if _, err := b.OpenArt(hexSum(nil)); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("OpenArt(unknown) = %v, want ENOTFOUND", err)
	}
}

func TestBlobsRemoveStaleTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	b, err := OpenBlobs(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := b.Create()
	s.Write([]byte("a crash in the middle of an upload"))
	// No Abort: the process died. The next start cleans up.
	defer s.f.Close()
	if _, err := OpenBlobs(dir, nil); err != nil {
		t.Fatal(err)
	}
	if tmp, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(tmp) != 0 {
		t.Errorf("stale files kept: %v", tmp)
	}
}

func TestAddTrack(t *testing.T) {
	d := openTest(t, t.TempDir())
	first := testTrack(1, "First")
	got, added, err := d.AddTrack(first)
	if err != nil || !added || got != first {
		t.Fatalf("AddTrack = %+v, %v, %v", got, added, err)
	}
	second := first
	second.Title, second.Uploader = "Second", "bob"
	got, added, err = d.AddTrack(second)
	if err != nil || added || got != first {
		t.Fatalf("AddTrack of a known id = %+v, %v, %v; want the first, not added", got, added, err)
	}
	if _, _, err := d.AddTrack(tandem.Track{ID: "nope"}); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Errorf("AddTrack(bad id) = %v", err)
	}
}
