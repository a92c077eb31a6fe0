package library

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"tandem/player"
	"tandem/store"
	"tandem/ui"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The window's interface.
var _ ui.Library = (*Library)(nil)

// tags are what wav writes into a file's LIST/INFO chunk.
type tags struct {
	title, artist, album string
	track                int
}

// wav makes a mono 16-bit WAV file of a tone with LIST/INFO tags (INAM,
// IART, IPRD, ITRK), as a music program would write it.
func wav(seconds, freq float64, tg tags) []byte {
	const rate = 8000
	n := int(seconds * rate)
	pcm := make([]byte, 2*n)
	for i := range n {
		v := int16(8000 * math.Sin(2*math.Pi*freq*float64(i)/rate))
		binary.LittleEndian.PutUint16(pcm[2*i:], uint16(v))
	}
	sub := func(id, v string) []byte {
		if v == "" {
			return nil
		}
		b := append([]byte(v), 0)
		if len(b)%2 == 1 {
			b = append(b, 0)
		}
		h := make([]byte, 8)
		copy(h, id)
		binary.LittleEndian.PutUint32(h[4:], uint32(len(b)))
		return append(h, b...)
	}
	info := []byte("INFO")
	info = append(info, sub("INAM", tg.title)...)
	info = append(info, sub("IART", tg.artist)...)
	info = append(info, sub("IPRD", tg.album)...)
	if tg.track > 0 {
		info = append(info, sub("ITRK", strconv.Itoa(tg.track))...)
	}
	var body bytes.Buffer
	body.WriteString("WAVEfmt ")
	le := binary.LittleEndian
	body.Write(le.AppendUint16(le.AppendUint16(le.AppendUint32(le.AppendUint32(le.AppendUint16(le.AppendUint16(le.AppendUint32(nil,
		16), 1), 1), rate), 2*rate), 2), 16)) // fmt: PCM, mono, 16-bit
	body.WriteString("data")
	binary.Write(&body, binary.LittleEndian, uint32(len(pcm)))
	body.Write(pcm)
	if len(info) > 4 {
		body.WriteString("LIST")
		binary.Write(&body, binary.LittleEndian, uint32(len(info)))
		body.Write(info)
	}
	var out bytes.Buffer
	out.WriteString("RIFF")
	binary.Write(&out, binary.LittleEndian, uint32(body.Len()))
	out.Write(body.Bytes())
	return out.Bytes()
}

func write(t testing.TB, path string, b []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// open opens a Library on a fresh store; cfg changes the config first.
func open(t *testing.T, cfg Config) *Library {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = filepath.Join(t.TempDir(), "library")
	}
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// idle waits for the scans to end.
func idle(t *testing.T, l *Library) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if running, _ := l.Scanning(); !running {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the scan did not end")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// songs lists the rows' Song fields.
func songs(rows []player.Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Song
	}
	return out
}

func mtime(t *testing.T, path string) time.Time {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime()
}

func TestRowsSorted(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "b", "2.wav"), wav(1, 440, tags{"Second", "Beta Band", "Zeta", 2}))
	write(t, filepath.Join(dir, "b", "1.wav"), wav(1, 450, tags{"First", "Beta Band", "Zeta", 1}))
	write(t, filepath.Join(dir, "b", "10.wav"), wav(1, 460, tags{"Tenth", "beta band", "Zeta", 10}))
	write(t, filepath.Join(dir, "b", "other.wav"), wav(1, 470, tags{"Other", "Beta Band", "Alpha", 5}))
	write(t, filepath.Join(dir, "a", "x.WAV"), wav(2, 480, tags{"Xylo", "Alpha", "", 0}))
	untitled := write(t, filepath.Join(dir, "Untitled Tune.wav"), wav(1.5, 490, tags{}))
	write(t, filepath.Join(dir, "notes.txt"), []byte("not music"))
	write(t, filepath.Join(dir, "broken.wav"), []byte("RIFF, but only text"))

	var changes atomic.Int32
	l := open(t, Config{Folders: []string{dir}, OnChange: func() { changes.Add(1) }})
	idle(t, l)
	rows := l.Rows()
	// By artist (no artist first, case ignored), album, track, title.
	want := []string{"Untitled Tune", "Xylo", "Other", "First", "Second", "Tenth"}
	if got := songs(rows); !slices.Equal(got, want) {
		t.Fatalf("rows %q, want %q", got, want)
	}
	r := rows[0]
	if r.Path != untitled || r.Artist != "" || r.Length != 1500*time.Millisecond || r.TrackID != "" ||
		r.EntryID != "" || r.User != "" || !r.Date.Equal(mtime(t, untitled)) {
		t.Errorf("row %+v", r)
	}
	if r := rows[1]; r.Artist != "Alpha" || r.Length != 2*time.Second {
		t.Errorf("row %+v", r)
	}
	if r := rows[2]; r.Album != "Alpha" || r.Artist != "Beta Band" {
		t.Errorf("row %+v", r)
	}
	rep := l.LastReport()
	if rep.Added != 6 || rep.Failed != 1 {
		t.Errorf("report %+v", rep)
	}
	if changes.Load() == 0 {
		t.Error("OnChange was not called")
	}
	if l.Err() != "" {
		t.Errorf("Err %q", l.Err())
	}
	// The rows are the caller's.
	rows[0].Song = "changed"
	if l.Rows()[0].Song == "changed" {
		t.Error("Rows shares its slice")
	}
}

func TestIncrementalRescan(t *testing.T) {
	dir := t.TempDir()
	for i := range 5 {
		write(t, filepath.Join(dir, fmt.Sprintf("%d.wav", i)), wav(1, 300+float64(i)*10, tags{fmt.Sprintf("Song %d", i), "Band", "Album", i + 1}))
	}
	path := filepath.Join(t.TempDir(), "library")
	l := open(t, Config{Path: path, Folders: []string{dir}})
	idle(t, l)
	if n := len(l.Rows()); n != 5 {
		t.Fatalf("%d rows", n)
	}

	// One file changes, one is added, one goes.
	changed := write(t, filepath.Join(dir, "2.wav"), wav(3, 500, tags{"Song 2, remastered", "Band", "Album", 3}))
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(changed, later, later); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "new.wav"), wav(1, 700, tags{"Song 9", "Band", "Album", 9}))
	if err := os.Remove(filepath.Join(dir, "4.wav")); err != nil {
		t.Fatal(err)
	}
	l.Rescan()
	idle(t, l)
	rep := l.LastReport()
	if rep.Updated != 1 || rep.Added != 1 || rep.Removed != 1 || rep.Unchanged != 3 || rep.Failed != 0 {
		t.Errorf("rescan report %+v: want only the changed and the new file read", rep)
	}
	want := []string{"Song 0", "Song 1", "Song 2, remastered", "Song 3", "Song 9"}
	if got := songs(l.Rows()); !slices.Equal(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
	if r := l.Rows()[2]; r.Length != 3*time.Second || !r.Date.Equal(mtime(t, changed)) {
		t.Errorf("changed row %+v", r)
	}

	// Reopened, the library shows its rows before any scan.
	l.Close()
	l2 := open(t, Config{Path: path})
	if got := songs(l2.Rows()); len(got) != 0 {
		t.Errorf("no folders, yet rows %q", got)
	}
	l2.Close()
	l3, err := Open(Config{Path: path, Folders: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	defer l3.Close()
	if got := songs(l3.Rows()); !slices.Equal(got, want) {
		t.Errorf("reopened: rows %q, want %q", got, want)
	}
	idle(t, l3)
	if rep := l3.LastReport(); rep.Unchanged != 5 || rep.Added+rep.Updated+rep.Removed != 0 {
		t.Errorf("scan after reopening read files: %+v", rep)
	}
}

func TestSetFolders(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	write(t, filepath.Join(a, "a.wav"), wav(1, 400, tags{"From A", "Band", "", 0}))
	write(t, filepath.Join(b, "b1.wav"), wav(1, 410, tags{"From B 1", "Band", "", 0}))
	write(t, filepath.Join(b, "b2.wav"), wav(1, 420, tags{"From B 2", "Band", "", 0}))

	var (
		mu    sync.Mutex
		saved [][]string
	)
	l := open(t, Config{SaveFolders: func(dirs []string) error {
		mu.Lock()
		defer mu.Unlock()
		saved = append(saved, dirs)
		return nil
	}})
	if got := l.Rows(); len(got) != 0 {
		t.Fatalf("no folders, rows %+v", got)
	}
	l.SetFolders([]string{a, b, a, ""})
	idle(t, l)
	if got := l.Folders(); !slices.Equal(got, []string{a, b}) {
		t.Errorf("folders %q", got)
	}
	if got := songs(l.Rows()); len(got) != 3 {
		t.Fatalf("rows %q", got)
	}

	// Removing b: its rows go at once, its records with the scan.
	l.SetFolders([]string{a})
	if got := songs(l.Rows()); !slices.Equal(got, []string{"From A"}) {
		t.Errorf("right after SetFolders, rows %q", got)
	}
	idle(t, l)
	if rep := l.LastReport(); rep.Removed != 2 || rep.Unchanged != 1 {
		t.Errorf("report after removing a folder %+v", rep)
	}
	if got := songs(l.Rows()); !slices.Equal(got, []string{"From A"}) {
		t.Errorf("rows %q", got)
	}
	mu.Lock()
	if want := [][]string{{a, b}, {a}}; !slices.EqualFunc(saved, want, slices.Equal) {
		t.Errorf("saved %q, want %q", saved, want)
	}
	mu.Unlock()

	// Bad folders are refused, and nothing changes.
	file := write(t, filepath.Join(t.TempDir(), "song.wav"), wav(1, 400, tags{}))
	missing := filepath.Join(t.TempDir(), "missing")
	l.SetFolders([]string{b, file, missing})
	if got := l.Folders(); !slices.Equal(got, []string{a}) {
		t.Errorf("after bad folders, folders %q", got)
	}
	want := "music folders not changed: " + file + " is not a folder; " + missing + " does not exist"
	if got := l.Err(); got != want {
		t.Errorf("Err %q, want %q", got, want)
	}
	if running, _ := l.Scanning(); running {
		t.Error("refused folders started a scan")
	}
	mu.Lock()
	if len(saved) != 2 {
		t.Errorf("refused folders were saved: %q", saved)
	}
	mu.Unlock()
	l.SetFolders([]string{b})
	if l.Err() != "" {
		t.Errorf("Err after good folders: %q", l.Err())
	}
	idle(t, l)
	if got := songs(l.Rows()); !slices.Equal(got, []string{"From B 1", "From B 2"}) {
		t.Errorf("rows %q", got)
	}
}

func TestSaveFoldersFails(t *testing.T) {
	dir := t.TempDir()
	l := open(t, Config{SaveFolders: func([]string) error { return fmt.Errorf("settings: disk full") }})
	l.SetFolders([]string{dir})
	if got, want := l.Err(), "the music folders could not be saved: settings: disk full"; got != want {
		t.Errorf("Err %q, want %q", got, want)
	}
	if got := l.Folders(); !slices.Equal(got, []string{dir}) {
		t.Errorf("folders %q: they apply for this session", got)
	}
	idle(t, l)
}

func TestSetHash(t *testing.T) {
	dir := t.TempDir()
	p := write(t, filepath.Join(dir, "a.wav"), wav(1, 400, tags{"A", "Band", "", 0}))
	path := filepath.Join(t.TempDir(), "library")
	l := open(t, Config{Path: path, Folders: []string{dir}})
	idle(t, l)
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	const hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	l.SetHash(p, fi.Size()+1, fi.ModTime(), hash) // hashed another version: ignored
	if id := l.Rows()[0].TrackID; id != "" {
		t.Errorf("TrackID %q from a stale hash", id)
	}
	l.SetHash(p, fi.Size(), fi.ModTime(), hash)
	if id := l.Rows()[0].TrackID; id != hash {
		t.Errorf("TrackID %q, want %q", id, hash)
	}
	l.Rescan()
	idle(t, l)
	if id := l.Rows()[0].TrackID; id != hash {
		t.Errorf("after a rescan, TrackID %q", id)
	}
	l.Close()
	l2 := open(t, Config{Path: path, Folders: []string{dir}})
	if id := l2.Rows()[0].TrackID; id != hash {
		t.Errorf("reopened, TrackID %q", id)
	}
	idle(t, l2)
}

// gate is a log handler that holds the first scan at its first failed
// file until released, and counts the scans that end.
type gate struct {
	once     sync.Once
	held     chan struct{}
	release  chan struct{}
	finished atomic.Int32
}

func (g *gate) Enabled(context.Context, slog.Level) bool { return true }
func (g *gate) WithAttrs([]slog.Attr) slog.Handler       { return g }
func (g *gate) WithGroup(string) slog.Handler            { return g }
func (g *gate) Handle(_ context.Context, r slog.Record) error {
	switch r.Message {
	case "scan: file not read":
		g.once.Do(func() {
			close(g.held)
			<-g.release
		})
	case "library scanned":
		g.finished.Add(1)
	}
	return nil
}

func TestRescanQueuesOne(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.wav"), wav(1, 400, tags{"A", "Band", "", 0}))
	write(t, filepath.Join(dir, "broken.wav"), []byte("not a wave file"))
	g := &gate{held: make(chan struct{}), release: make(chan struct{})}
	l := open(t, Config{Folders: []string{dir}, Logger: slog.New(g)})
	select {
	case <-g.held:
	case <-time.After(10 * time.Second):
		t.Fatal("the first scan did not start")
	}
	if running, seen := l.Scanning(); !running || seen > 2 {
		t.Errorf("Scanning() = %v, %d during the scan", running, seen)
	}
	for range 5 {
		l.Rescan()
	}
	close(g.release)
	idle(t, l)
	if n := g.finished.Load(); n != 2 {
		t.Errorf("%d scans, want 2: the first and one queued", n)
	}
	if got := songs(l.Rows()); !slices.Equal(got, []string{"A"}) {
		t.Errorf("rows %q", got)
	}
}

// TestCloseDuringScan closes the library while a scan is held: Close
// waits for it (TestMain checks that no goroutine is left).
func TestCloseDuringScan(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "broken.wav"), []byte("not a wave file"))
	g := &gate{held: make(chan struct{}), release: make(chan struct{})}
	l, err := Open(Config{Path: t.TempDir(), Folders: []string{dir}, Logger: slog.New(g)})
	if err != nil {
		t.Fatal(err)
	}
	<-g.held
	done := make(chan struct{})
	go func() {
		l.Close()
		close(done)
	}()
	close(g.release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	l.Rescan() // after Close: nothing
	l.SetFolders([]string{dir})
	if running, _ := l.Scanning(); running {
		t.Error("a scan started after Close")
	}
}

// fill puts n records into the library's store, under root, and rebuilds
// the rows, as a scan of n files would.
func fill(b testing.TB, l *Library, root string, n int) {
	b.Helper()
	batch := make([]store.LocalFile, 0, 1000)
	mod := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range n {
		batch = append(batch, store.LocalFile{Path: filepath.Join(root, fmt.Sprintf("artist%03d/album%02d/%02d.mp3", i%500, i/500%20, i%17)+strconv.Itoa(i)),
			Size: int64(3_000_000 + i), ModTime: mod, Title: fmt.Sprintf("Song %d", i), Artist: fmt.Sprintf("Artist %03d", i%500),
			Album: fmt.Sprintf("Album %02d", i/500%20), Track: i % 17, Duration: 3 * time.Minute, Format: "mp3"})
		if len(batch) == cap(batch) {
			if err := l.db.PutLocalFiles(batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := l.db.PutLocalFiles(batch); err != nil {
		b.Fatal(err)
	}
	l.mu.Lock()
	l.folders = []string{root}
	l.mu.Unlock()
	l.refresh([]string{root})
}

// BenchmarkRows measures Rows on a library of 100,000 files: the window
// calls it on every refresh of the library's table.
func BenchmarkRows(b *testing.B) {
	l, err := Open(Config{Path: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	root := filepath.Join(b.TempDir(), "music")
	fill(b, l, root, 100_000)
	if n := len(l.Rows()); n != 100_000 {
		b.Fatalf("%d rows", n)
	}
	for b.Loop() {
		if rows := l.Rows(); len(rows) != 100_000 {
			b.Fatal(len(rows))
		}
	}
}

// BenchmarkRebuild measures the rebuild of the rows of 100,000 files
// from the store, done after each scan.
func BenchmarkRebuild(b *testing.B) {
	l, err := Open(Config{Path: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	root := filepath.Join(b.TempDir(), "music")
	fill(b, l, root, 100_000)
	for b.Loop() {
		l.refresh([]string{root})
	}
}
