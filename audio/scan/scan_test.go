package scan

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"tandem/audio"
	"tandem/store"
)

// fixture reads a file of audio/testdata.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withTrack returns plain.mp3 behind an ID3v2.3 tag with a title and a
// TRCK frame.
func withTrack(t testing.TB, title string, track int) []byte {
	frame := func(id, text string) []byte {
		h := make([]byte, 10)
		copy(h, id)
		binary.BigEndian.PutUint32(h[4:], uint32(len(text)+1))
		return append(append(h, 0), text...)
	}
	frames := append(frame("TIT2", title), frame("TRCK", fmt.Sprintf("%d/12", track))...)
	n := len(frames)
	hdr := []byte{'I', 'D', '3', 3, 0, 0, byte(n >> 21 & 0x7f), byte(n >> 14 & 0x7f), byte(n >> 7 & 0x7f), byte(n & 0x7f)}
	return append(append(hdr, frames...), fixture(t, "plain.mp3")...)
}

func write(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func openLib(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// counts is a Report without its errors and time.
type counts struct{ Added, Updated, Unchanged, Removed, Failed int }

func countsOf(r Report) counts {
	return counts{r.Added, r.Updated, r.Unchanged, r.Removed, r.Failed}
}

// goodFiles are the readable files of the test tree, by path under the
// root.
var goodFiles = []string{
	"Artist/Album/01.mp3", "Artist/Album/02.flac", "Artist/Other/03.OGG", "Artist/Other/04.oga",
	"Wave/05.wav", "Wave/deep/er/06.wav", "plain.mp3", "track.mp3", "links/alias.mp3",
}

// makeTree builds the test tree under root.
func makeTree(t *testing.T, root string) {
	write(t, filepath.Join(root, "Artist/Album/01.mp3"), fixture(t, "tagged.mp3"))
	write(t, filepath.Join(root, "Artist/Album/02.flac"), fixture(t, "tagged.flac"))
	write(t, filepath.Join(root, "Artist/Album/cover.png"), fixture(t, "cover.png"))
	write(t, filepath.Join(root, "Artist/Other/03.OGG"), fixture(t, "tagged.ogg"))
	write(t, filepath.Join(root, "Artist/Other/04.oga"), fixture(t, "tagged.ogg"))
	write(t, filepath.Join(root, "Wave/05.wav"), fixture(t, "tagged.wav"))
	write(t, filepath.Join(root, "Wave/deep/er/06.wav"), fixture(t, "sine.wav"))
	write(t, filepath.Join(root, "plain.mp3"), fixture(t, "plain.mp3"))
	write(t, filepath.Join(root, "track.mp3"), withTrack(t, "Numbered", 7))
	write(t, filepath.Join(root, "notes.txt"), []byte("not music"))
	// Failures: a truncated FLAC, text named .mp3.
	write(t, filepath.Join(root, "Broken/truncated.flac"), fixture(t, "tagged.flac")[:60])
	write(t, filepath.Join(root, "Broken/fake.mp3"), []byte("this is not an mp3 file, only text\n"))
	// Hidden: never read.
	write(t, filepath.Join(root, ".hidden/secret.mp3"), fixture(t, "tagged.mp3"))
	write(t, filepath.Join(root, "Wave/.trash.wav"), fixture(t, "sine.wav"))
	// Links: a loop back to the root, and a link to a file.
	if err := os.Symlink(root, filepath.Join(root, "Wave/deep/loop")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "links"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "Artist/Album/01.mp3"), filepath.Join(root, "links/alias.mp3")); err != nil {
		t.Fatal(err)
	}
}

func scanT(t *testing.T, roots []string, lib LibraryStore, opts Options) Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	rep, err := Scan(ctx, roots, lib, opts)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return rep
}

func TestScanColdAndRescan(t *testing.T) {
	root := t.TempDir()
	makeTree(t, root)
	lib := openLib(t)

	var progress []Progress
	rep := scanT(t, []string{root}, lib, Options{Progress: func(p Progress) { progress = append(progress, p) }})
	if got, want := countsOf(rep), (counts{Added: len(goodFiles), Failed: 2}); got != want {
		t.Fatalf("cold scan: %+v, want %+v; errors %v", got, want, rep.Errors)
	}
	failed := map[string]bool{}
	for _, e := range rep.Errors {
		failed[e.Path] = true
		if !errors.Is(e.Err, audio.ErrMalformed) && !errors.Is(e.Err, audio.ErrUnknownFormat) {
			t.Errorf("error for %s: %v, want ErrMalformed or ErrUnknownFormat", e.Path, e.Err)
		}
	}
	for _, p := range []string{"Broken/truncated.flac", "Broken/fake.mp3"} {
		if !failed[filepath.Join(root, p)] {
			t.Errorf("no error entry for %s: %v", p, rep.Errors)
		}
	}
	if n := len(progress); n != len(goodFiles)+2 || progress[n-1].Read != n {
		t.Errorf("progress: %d calls, last %+v; want %d", n, progress[max(n-1, 0)], len(goodFiles)+2)
	}

	files, err := lib.LocalFiles()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(goodFiles) {
		t.Errorf("library has %d files, want %d: %+v", len(files), len(goodFiles), files)
	}
	byPath := map[string]store.LocalFile{}
	for _, f := range files {
		byPath[f.Path] = f
	}
	for _, p := range goodFiles {
		if _, ok := byPath[filepath.Join(root, p)]; !ok {
			t.Errorf("%s missing from the library", p)
		}
	}
	mp3 := byPath[filepath.Join(root, "Artist/Album/01.mp3")]
	fi, err := os.Stat(filepath.Join(root, "Artist/Album/01.mp3"))
	if err != nil {
		t.Fatal(err)
	}
	if mp3.Title != "MP3 Title" || mp3.Artist != "Café Artist" || mp3.Album != "MP3 Album" ||
		mp3.Format != audio.FormatMP3 || mp3.ArtType != "image/png" || mp3.Duration < 900*time.Millisecond ||
		mp3.Size != fi.Size() || !mp3.ModTime.Equal(fi.ModTime()) {
		t.Errorf("01.mp3 = %+v", mp3)
	}
	if f := byPath[filepath.Join(root, "Artist/Album/02.flac")]; f.Title != "FLAC Title" || f.Format != audio.FormatFLAC ||
		f.ArtType != "image/png" || f.Duration != time.Second {
		t.Errorf("02.flac = %+v", f)
	}
	if f := byPath[filepath.Join(root, "Artist/Other/03.OGG")]; f.Album != "Ogg Album" || f.Format != audio.FormatOgg || !f.HasArt() {
		t.Errorf("03.OGG = %+v", f)
	}
	if f := byPath[filepath.Join(root, "Wave/05.wav")]; f.Artist != "Wave Artist" || f.Format != audio.FormatWAV || f.HasArt() ||
		f.Duration != time.Second {
		t.Errorf("05.wav = %+v", f)
	}
	if f := byPath[filepath.Join(root, "track.mp3")]; f.Title != "Numbered" || f.Track != 7 {
		t.Errorf("track.mp3 = %+v", f)
	}

	// Nothing changed: nothing read but the failures.
	rep = scanT(t, []string{root}, lib, Options{Workers: 1})
	if got, want := countsOf(rep), (counts{Unchanged: len(goodFiles), Failed: 2}); got != want {
		t.Errorf("rescan: %+v, want %+v", got, want)
	}

	// Touch one, grow one, delete one, add one.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(root, "Wave/05.wav"), later, later); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "Artist/Album/02.flac"), append(fixture(t, "tagged.flac"), make([]byte, 100)...))
	if err := os.Remove(filepath.Join(root, "plain.mp3")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "New/07.mp3"), withTrack(t, "New one", 3))
	rep = scanT(t, []string{root}, lib, Options{})
	if got, want := countsOf(rep), (counts{Added: 1, Updated: 2, Unchanged: len(goodFiles) - 3, Removed: 1, Failed: 2}); got != want {
		t.Errorf("rescan after changes: %+v, want %+v", got, want)
	}
	if _, err := lib.LocalFile(filepath.Join(root, "plain.mp3")); err == nil {
		t.Error("deleted plain.mp3 still in the library")
	}
	if f, err := lib.LocalFile(filepath.Join(root, "New/07.mp3")); err != nil || f.Track != 3 {
		t.Errorf("new file: %+v, %v", f, err)
	}
	if f, err := lib.LocalFile(filepath.Join(root, "Artist/Album/02.flac")); err != nil || f.Size != int64(len(fixture(t, "tagged.flac"))+100) {
		t.Errorf("grown file: %+v, %v", f, err)
	}

	// A file that turns corrupt fails and leaves the library.
	write(t, filepath.Join(root, "Wave/05.wav"), []byte("RIFF\x04\x00\x00\x00WAVE"))
	rep = scanT(t, []string{root}, lib, Options{})
	if got, want := countsOf(rep), (counts{Unchanged: len(goodFiles) - 1, Failed: 3}); got != want {
		t.Errorf("rescan after corruption: %+v, want %+v", got, want)
	}
	if _, err := lib.LocalFile(filepath.Join(root, "Wave/05.wav")); err == nil {
		t.Error("corrupt 05.wav still in the library")
	}
}

func TestScanMissingRootKeepsRecords(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "music")
	write(t, filepath.Join(root, "a.flac"), fixture(t, "tagged.flac"))
	other := filepath.Join(parent, "other")
	write(t, filepath.Join(other, "b.wav"), fixture(t, "tagged.wav"))
	lib := openLib(t)
	scanT(t, []string{root, other}, lib, Options{})

	// The drive is unplugged: its records stay.
	if err := os.Rename(root, root+"-away"); err != nil {
		t.Fatal(err)
	}
	rep := scanT(t, []string{root, other}, lib, Options{})
	if got, want := countsOf(rep), (counts{Unchanged: 1, Failed: 1}); got != want {
		t.Errorf("scan with a missing root: %+v, want %+v (%v)", got, want, rep.Errors)
	}
	if _, err := lib.LocalFile(filepath.Join(root, "a.flac")); err != nil {
		t.Errorf("record under a missing root: %v", err)
	}

	// The root is no longer scanned: its records go.
	rep = scanT(t, []string{other}, lib, Options{})
	if got, want := countsOf(rep), (counts{Unchanged: 1, Removed: 1}); got != want {
		t.Errorf("scan without the root: %+v, want %+v", got, want)
	}
}

// manyFiles writes n copies of the fixtures under root, in folders of 100.
func manyFiles(t testing.TB, root string, n int) {
	t.Helper()
	srcs := [][]byte{
		fixture(t, "tagged.flac"), fixture(t, "tagged.wav"), fixture(t, "tagged.mp3"),
		fixture(t, "sine.wav"), fixture(t, "tagged.ogg"),
	}
	exts := []string{".flac", ".wav", ".mp3", ".wav", ".ogg"}
	for i := range n {
		dir := filepath.Join(root, fmt.Sprintf("artist%02d", i/1000), fmt.Sprintf("album%02d", i/100%10))
		if i%100 == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		k := i % len(srcs)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%05d%s", i, exts[k])), srcs[k], 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestScanCancel(t *testing.T) {
	root := t.TempDir()
	const n = 600
	manyFiles(t, root, n)
	lib := openLib(t)

	// Cancelled before it starts.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Scan(ctx, []string{root}, lib, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Scan with a cancelled context: %v, want context.Canceled", err)
	}

	// Cancelled after the first file.
	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	var cancelledAt atomic.Int64
	start := time.Now()
	rep, err := Scan(ctx, []string{root}, lib, Options{BatchSize: 1, Progress: func(p Progress) {
		if p.Read == 1 {
			cancelledAt.Store(int64(time.Since(start)))
			cancel()
		}
	}})
	stopped := time.Since(start) - time.Duration(cancelledAt.Load())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Scan: %v, want context.Canceled", err)
	}
	if rep.Added >= n {
		t.Errorf("cancelled scan added all %d files", rep.Added)
	}
	if stopped > time.Second {
		t.Errorf("Scan returned %v after its context was cancelled", stopped)
	}
	// What was read is kept, nothing removed; the next scan finishes.
	rep = scanT(t, []string{root}, lib, Options{})
	if rep.Added+rep.Unchanged != n || rep.Failed != 0 || rep.Removed != 0 {
		t.Errorf("scan after a cancelled one: %+v", countsOf(rep))
	}
}

func TestIsAudioName(t *testing.T) {
	for name, want := range map[string]bool{
		"a.mp3": true, "b.FLAC": true, "c.Ogg": true, "d.oga": true, "e.wav": true,
		"f.m4a": false, "mp3": false, "g.mp3.txt": false, "": false,
	} {
		if got := IsAudioName(name); got != want {
			t.Errorf("IsAudioName(%q) = %v, want %v", name, got, want)
		}
	}
}
