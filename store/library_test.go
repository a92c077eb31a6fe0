package store

import (
	"errors"
	"strings"
	"testing"
	"time"

	"tandem"
)

func TestLocalFiles(t *testing.T) {
	d := openTest(t, t.TempDir())
	mt := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("x", 3600))
	a := LocalFile{Path: "/music/a.mp3", Size: 10, ModTime: mt, Title: "A", Artist: "Ar", Album: "Al",
		Track: 3, Duration: 2 * time.Second, Format: "mp3", ArtType: "image/png"}
	b := LocalFile{Path: "/music/b.flac", Size: 20, ModTime: mt, Format: "flac"}
	if err := d.PutLocalFiles([]LocalFile{b, a}); err != nil {
		t.Fatal(err)
	}
	got, err := d.LocalFile(a.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.ModTime.Equal(mt) || got.ModTime.Location() != time.UTC {
		t.Errorf("ModTime = %v, want %v in UTC", got.ModTime, mt)
	}
	got.ModTime = a.ModTime
	if got != a || !got.HasArt() {
		t.Errorf("LocalFile = %+v, want %+v", got, a)
	}
	all, err := d.LocalFiles()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Path != a.Path || all[1].Path != b.Path {
		t.Errorf("LocalFiles = %+v, want a then b", all)
	}

	// Hash: only for the version of the file that was hashed.
	hash := strings.Repeat("ab", 32)
	if err := d.SetLocalFileHash(a.Path, a.Size+1, mt, hash); tandem.ErrorCode(err) != tandem.ECONFLICT {
		t.Errorf("hash of a changed file: %v, want ECONFLICT", err)
	}
	if err := d.SetLocalFileHash("/nope", 1, mt, hash); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("hash of a missing file: %v, want ENOTFOUND", err)
	}
	if err := d.SetLocalFileHash(a.Path, a.Size, mt, "XYZ"); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Errorf("bad hash: %v, want EINVALID", err)
	}
	if err := d.SetLocalFileHash(a.Path, a.Size, mt.UTC(), hash); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.LocalFile(a.Path); got.Hash != hash {
		t.Errorf("Hash = %q, want %q", got.Hash, hash)
	}

	if err := d.DeleteLocalFiles([]string{a.Path, "/never/there"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.LocalFile(a.Path); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("deleted file: %v, want ENOTFOUND", err)
	}
	if err := d.PutLocalFiles([]LocalFile{{Size: 1}}); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Errorf("empty path: %v, want EINVALID", err)
	}

	stop := errors.New("stop")
	n := 0
	err = d.EachLocalFile(func(LocalFile) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("EachLocalFile stopped with %v after %d, want stop after 1", err, n)
	}
}
