package uploads

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"tandem/internal/hubmedia"
	"tandem/internal/testhub"
	"tandem/player"
	"tandem/store"
	"tandem/sync/hub"
	"tandem/ui"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The window's interface.
var _ ui.Uploads = (*Manager)(nil)

// testHub is a real hub with the music API, counting the requests it gets.
type testHub struct {
	URL   string
	DB    *store.DB
	Token string

	mu   sync.Mutex
	reqs map[string]int // "METHOD /api/first/segment" -> count
}

func (h *testHub) count(key string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reqs[key]
}

// uploadRequests counts the requests that carry or start an upload.
func (h *testHub) uploadRequests() int {
	return h.count("POST /api/uploads") + h.count("PATCH /api/uploads") + h.count("POST /api/tracks")
}

func newHub(t *testing.T, maxUpload int64, opts ...store.BlobOption) *testHub {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := hub.Config{Store: db, MaxUpload: maxUpload}
	if err := hubmedia.Wire(&cfg, db, dir, nil, opts...); err != nil {
		t.Fatal(err)
	}
	h := hub.New(cfg)
	th := &testHub{DB: db, reqs: map[string]int{}}
	handler := h.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.SplitN(r.URL.Path, "/", 4) // "", "api", "uploads", rest
		key := r.Method + " " + strings.Join(parts[:min(3, len(parts))], "/")
		th.mu.Lock()
		th.reqs[key]++
		th.mu.Unlock()
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		ts.Close()
		h.Close()
	})
	th.URL = ts.URL
	th.Token, err = db.CreateToken("ann")
	if err != nil {
		t.Fatal(err)
	}
	return th
}

// client returns an HTTP client of its own, whose connections the test's
// cleanup closes. slow, when set, throttles request bodies to about
// 1.6 MB/s.
func client(t *testing.T, slow bool) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	if !slow {
		return &http.Client{Transport: tr}
	}
	return &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		if r.Body != nil && r.Body != http.NoBody {
			r = r.Clone(r.Context())
			r.Body = &slowBody{ctx: r.Context(), rc: r.Body}
		}
		return tr.RoundTrip(r)
	})}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// slowBody reads 16 KB at most every 10 ms.
type slowBody struct {
	ctx context.Context
	rc  io.ReadCloser
}

func (b *slowBody) Read(p []byte) (int, error) {
	select {
	case <-b.ctx.Done():
		return 0, b.ctx.Err()
	case <-time.After(10 * time.Millisecond):
	}
	return b.rc.Read(p[:min(len(p), 16<<10)])
}

func (b *slowBody) Close() error { return b.rc.Close() }

// wav makes a mono 16-bit WAV file of a tone, with a LIST/INFO title and
// artist, as a music program would write it.
func wav(seconds float64, freq float64, title, artist string) []byte {
	const rate = 22050
	n := int(seconds * rate)
	pcm := make([]byte, 2*n)
	for i := range n {
		v := int16(8000 * math.Sin(2*math.Pi*freq*float64(i)/rate))
		binary.LittleEndian.PutUint16(pcm[2*i:], uint16(v))
	}
	sub := func(id, v string) []byte {
		b := append([]byte(v), 0)
		if len(b)%2 == 1 {
			b = append(b, 0)
		}
		h := make([]byte, 8)
		copy(h, id)
		binary.LittleEndian.PutUint32(h[4:], uint32(len(b)))
		return append(h, b...)
	}
	info := append([]byte("INFO"), sub("INAM", title)...)
	info = append(info, sub("IART", artist)...)
	var body bytes.Buffer
	body.WriteString("WAVE")
	body.WriteString("fmt ")
	le := binary.LittleEndian
	body.Write(le.AppendUint16(le.AppendUint16(le.AppendUint32(le.AppendUint32(le.AppendUint16(le.AppendUint16(le.AppendUint32(nil,
		16), 1), 1), rate), 2*rate), 2), 16)) // fmt: PCM, mono, 16-bit
	body.WriteString("data")
	binary.Write(&body, binary.LittleEndian, uint32(len(pcm)))
	body.Write(pcm)
	body.WriteString("LIST")
	binary.Write(&body, binary.LittleEndian, uint32(len(info)))
	body.Write(info)
	var out bytes.Buffer
	out.WriteString("RIFF")
	binary.Write(&out, binary.LittleEndian, uint32(body.Len()))
	out.Write(body.Bytes())
	return out.Bytes()
}

func write(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// recorder keeps what a Manager told its callbacks.
type recorder struct {
	mu        sync.Mutex
	snapshots [][]player.UploadItem // Items at each OnChange
	added     [][2]string           // playlist, track
	played    []string
	hashed    []string
	m         *Manager
}

func (r *recorder) config(h *testHub, httpc *http.Client) Config {
	return Config{HubURL: h.URL, Token: h.Token, HTTP: httpc,
		OnChange: func() {
			items := r.m.Items()
			r.mu.Lock()
			r.snapshots = append(r.snapshots, items)
			r.mu.Unlock()
		},
		AddTracks: func(pl string, ids []string) {
			r.mu.Lock()
			defer r.mu.Unlock()
			for _, id := range ids {
				r.added = append(r.added, [2]string{pl, id})
			}
		},
		Play: func(id string) {
			r.mu.Lock()
			r.played = append(r.played, id)
			r.mu.Unlock()
		},
		Hashed: func(path string, size int64, _ time.Time, hash string) {
			r.mu.Lock()
			r.hashed = append(r.hashed, filepath.Base(path)+" "+hash)
			r.mu.Unlock()
		},
	}
}

// start starts a Manager with the recorder's callbacks; cfg changes the
// config first.
func start(t *testing.T, h *testHub, httpc *http.Client, cfg func(*Config)) (*Manager, *recorder) {
	r := &recorder{}
	c := r.config(h, httpc)
	if cfg != nil {
		cfg(&c)
	}
	r.mu.Lock()
	r.m = New(c)
	r.mu.Unlock()
	t.Cleanup(r.m.Close)
	return r.m, r
}

// waitFor polls the items until ok says yes, or fails the test.
func waitFor(t *testing.T, m *Manager, what string, ok func([]player.UploadItem) bool) []player.UploadItem {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		items := m.Items()
		if ok(items) {
			return items
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; items %+v", what, items)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func allFinished(n int) func([]player.UploadItem) bool {
	return func(items []player.UploadItem) bool {
		if len(items) != n {
			return false
		}
		for _, it := range items {
			if !it.State.Finished() {
				return false
			}
		}
		return true
	}
}

func TestFolderUploadThenDuplicate(t *testing.T) {
	h := newHub(t, 0)
	dir := t.TempDir()
	one := wav(10, 440, "Morning Tram", "Lumen Avenue") // 441 KB: about 300 ms through the slow client
	two := wav(1, 660, "Night Bus", "Lumen Avenue")
	write(t, filepath.Join(dir, "Lumen Avenue", "01 Morning Tram.wav"), one)
	write(t, filepath.Join(dir, "Lumen Avenue", "deeper", "02 Night Bus.WAV"), two)
	write(t, filepath.Join(dir, "notes.txt"), []byte("not music"))
	write(t, filepath.Join(dir, ".hidden", "secret.wav"), wav(1, 550, "Secret", "Nobody"))

	m, rec := start(t, h, client(t, true), func(c *Config) { c.ChunkSize = 64 << 10; c.Parallel = 1 })
	m.Add([]string{dir}, "pl1", true)
	items := waitFor(t, m, "both files done", allFinished(2))

	want := map[string][]byte{"01 Morning Tram.wav": one, "02 Night Bus.WAV": two}
	for _, it := range items {
		data, ok := want[it.Name]
		if !ok {
			t.Fatalf("unexpected item %+v", it)
		}
		if it.State != player.UploadDone || it.Err != "" || it.TrackID != sum(data) ||
			it.Size != int64(len(data)) || it.Sent != it.Size {
			t.Errorf("item %+v, want done with track %s and all %d bytes", it, sum(data), len(data))
		}
		tr, err := h.DB.Track(it.TrackID)
		if err != nil {
			t.Fatalf("the hub has no track for %s: %v", it.Name, err)
		}
		if it.Name == "01 Morning Tram.wav" && (tr.Title != "Morning Tram" || tr.Artist != "Lumen Avenue") {
			t.Errorf("hub track %+v", tr)
		}
	}
	if items[0].Name != "01 Morning Tram.wav" {
		t.Errorf("items not in walk order: %+v", items)
	}

	rec.mu.Lock()
	// Progress: while uploading, Sent never goes back, and it reaches Size.
	sawSending := map[string]int{}
	last := map[string]int64{}
	for _, snap := range rec.snapshots {
		for _, it := range snap {
			if it.State != player.UploadSending {
				continue
			}
			if it.Sent < last[it.ID] || it.Sent > it.Size {
				t.Errorf("progress of %s went from %d to %d (size %d)", it.Name, last[it.ID], it.Sent, it.Size)
			}
			last[it.ID] = it.Sent
			sawSending[it.ID]++
		}
	}
	if sawSending[items[0].ID] < 3 {
		t.Errorf("%s: %d progress updates while uploading, want several", items[0].Name, sawSending[items[0].ID])
	}
	for _, it := range items {
		if sawSending[it.ID] < 1 {
			t.Errorf("%s: no progress update while uploading", it.Name)
		}
	}
	added := slices.Clone(rec.added)
	played := slices.Clone(rec.played)
	hashed := len(rec.hashed)
	rec.mu.Unlock()
	wantAdded := [][2]string{{"pl1", items[0].TrackID}, {"pl1", items[1].TrackID}}
	if !slices.Equal(added, wantAdded) {
		t.Errorf("AddTracks calls %v, want %v", added, wantAdded)
	}
	if !slices.Equal(played, []string{items[0].TrackID}) {
		t.Errorf("Play calls %v, want the first file only", played)
	}
	if hashed != 2 {
		t.Errorf("Hashed called %d times, want 2", hashed)
	}

	// Again: the hub has both files, so nothing is sent.
	before := h.uploadRequests()
	m.Add([]string{filepath.Join(dir, "Lumen Avenue", "01 Morning Tram.wav"), filepath.Join(dir, "Lumen Avenue", "deeper")}, "", false)
	items = waitFor(t, m, "duplicates", allFinished(4))
	for _, it := range items[2:] {
		if it.State != player.UploadDuplicate || it.TrackID != sum(want[it.Name]) || it.Err != "" {
			t.Errorf("second add: %+v, want a duplicate", it)
		}
	}
	if n := h.uploadRequests(); n != before {
		t.Errorf("the hub got %d upload requests for duplicates, want none", n-before)
	}
	if n := h.count("GET /api/tracks"); n != 4 {
		t.Errorf("%d track lookups, want one per file", n)
	}
	rec.mu.Lock()
	if len(rec.added) != 2 || len(rec.played) != 1 {
		t.Errorf("without a playlist or play: AddTracks %v, Play %v", rec.added, rec.played)
	}
	rec.mu.Unlock()

	// Clear forgets the finished ones; Items is a copy.
	items[0].Name = "changed"
	if m.Items()[0].Name == "changed" {
		t.Error("Items shares its slice")
	}
	m.Clear()
	if got := m.Items(); len(got) != 0 {
		t.Errorf("after Clear: %+v", got)
	}
}

func TestDuplicateAddsEachFileToPlaylist(t *testing.T) {
	h := newHub(t, 0)
	data := wav(1, 330, "Known", "Someone")
	path := write(t, filepath.Join(t.TempDir(), "known.wav"), data)
	m, rec := start(t, h, client(t, false), nil)
	m.Add([]string{path}, "", false)
	waitFor(t, m, "the upload", allFinished(1))

	before := h.uploadRequests()
	m.Add([]string{path}, player.QueueID, true)
	items := waitFor(t, m, "the duplicate", allFinished(2))
	if items[1].State != player.UploadDuplicate || items[1].Sent != 0 {
		t.Errorf("item %+v, want a duplicate with nothing sent", items[1])
	}
	if h.uploadRequests() != before {
		t.Error("the duplicate was sent to the hub")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if !slices.Equal(rec.added, [][2]string{{player.QueueID, sum(data)}}) || !slices.Equal(rec.played, []string{sum(data)}) {
		t.Errorf("AddTracks %v, Play %v", rec.added, rec.played)
	}
}

func TestRefusalsInPlainWords(t *testing.T) {
	h := newHub(t, 1<<20)
	dir := t.TempDir()
	text := write(t, filepath.Join(dir, "notes.txt"), []byte("these are my notes, not music\n"))
	fake := write(t, filepath.Join(dir, "fake.mp3"), []byte("text in disguise, still not music\n"))
	big := write(t, filepath.Join(dir, "long.wav"), wav(30, 440, "Long", "Band")) // 1.3 MB
	empty := write(t, filepath.Join(dir, "empty.flac"), nil)
	gone := filepath.Join(dir, "gone.mp3")

	m, rec := start(t, h, client(t, false), nil)
	m.Add([]string{text, fake, big, empty, gone}, "pl1", true)
	items := waitFor(t, m, "refusals", allFinished(5))
	want := []string{
		"not a playable MP3, FLAC, Ogg Vorbis or WAV file",
		"not a playable MP3, FLAC, Ogg Vorbis or WAV file",
		"too large: the hub accepts at most 1 MB",
		"the file is empty",
		"the file is gone",
	}
	for i, it := range items {
		if it.State != player.UploadFailed || !strings.HasPrefix(it.Err, want[i]) {
			t.Errorf("%s: state %q, reason %q; want failed: %q", it.Name, it.State, it.Err, want[i])
		}
	}
	if n := h.count("PATCH /api/uploads"); n != 2 {
		t.Errorf("%d PATCH requests, want 2: the large file is refused before it is sent", n)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.added) != 0 || len(rec.played) != 0 {
		t.Errorf("failed files were added (%v) or played (%v)", rec.added, rec.played)
	}
}

func TestCancel(t *testing.T) {
	h := newHub(t, 0)
	dir := t.TempDir()
	big := write(t, filepath.Join(dir, "big.wav"), wav(60, 440, "Big", "Band")) // 2.6 MB: over a second at the throttled speed
	next := write(t, filepath.Join(dir, "next.wav"), wav(1, 880, "Next", "Band"))

	m, rec := start(t, h, client(t, true), func(c *Config) { c.Parallel = 1 })
	m.Add([]string{big, next}, "pl1", true)
	// Added twice while pending: queued once.
	m.Add([]string{big}, "", false)
	items := waitFor(t, m, "the upload under way", func(items []player.UploadItem) bool {
		return len(items) == 2 && items[0].State == player.UploadSending && items[0].Sent > 0
	})
	if items[1].State != player.UploadQueued {
		t.Fatalf("second file %+v, want queued behind the first", items[1])
	}
	m.Cancel(items[1].ID) // queued
	m.Cancel(items[0].ID) // running
	items = m.Items()
	if items[0].State != player.UploadCanceled || items[1].State != player.UploadCanceled {
		t.Fatalf("after Cancel: %+v", items)
	}
	// The worker lets go of the upload and deletes the hub's session.
	deadline := time.Now().Add(10 * time.Second)
	for h.count("DELETE /api/uploads") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the canceled upload's session was not deleted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	items = m.Items()
	if len(items) != 2 || items[0].State != player.UploadCanceled || items[0].Sent >= items[0].Size || items[0].Err != "" {
		t.Errorf("canceled upload %+v", items[0])
	}
	if n := h.count("GET /api/tracks"); n != 1 {
		t.Errorf("%d track lookups: the queued file was looked at after its cancel", n)
	}
	if _, err := h.DB.Track(sum(mustRead(t, big))); err == nil {
		t.Error("the hub has the canceled file")
	}
	m.Cancel(items[0].ID) // finished: nothing to do
	m.Cancel("nonexistent")
	rec.mu.Lock()
	if len(rec.added) != 0 || len(rec.played) != 0 {
		t.Errorf("canceled files were added (%v) or played (%v)", rec.added, rec.played)
	}
	rec.mu.Unlock()

	// Once canceled, the same file may be added again.
	m.Add([]string{next}, "", false)
	items = waitFor(t, m, "the file added again", allFinished(3))
	if items[2].State != player.UploadDone {
		t.Errorf("added again: %+v", items[2])
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestResumesAfterCut sends a file through a proxy that cuts the
// connection in the middle of the body: the upload resumes from what the
// hub has.
func TestResumesAfterCut(t *testing.T) {
	h := newHub(t, 0)
	data := wav(10, 440, "Cut", "Band") // 441 KB
	path := write(t, filepath.Join(t.TempDir(), "cut.wav"), data)
	cut := testhub.NewCutter(t, h.URL, 200<<10, testhub.ToHub)
	m, _ := start(t, h, client(t, false), func(c *Config) { c.HubURL = cut.URL() })
	m.Add([]string{path}, "", false)
	items := waitFor(t, m, "the upload", allFinished(1))
	if !cut.Cut() {
		t.Fatal("the proxy did not cut the upload")
	}
	if items[0].State != player.UploadDone || items[0].TrackID != sum(data) {
		t.Errorf("after a cut: %+v", items[0])
	}
	if h.count("PATCH /api/uploads") < 2 {
		t.Errorf("%d PATCH requests, want a resume", h.count("PATCH /api/uploads"))
	}
}

func TestHubUnreachable(t *testing.T) {
	h := newHub(t, 0)
	path := write(t, filepath.Join(t.TempDir(), "a.wav"), wav(1, 440, "A", "B"))
	m, _ := start(t, h, client(t, false), func(c *Config) { c.HubURL = "http://127.0.0.1:1"; c.Token = "x" })
	m.Add([]string{path}, "", false)
	items := waitFor(t, m, "the failure", allFinished(1))
	if items[0].State != player.UploadFailed || !strings.HasPrefix(items[0].Err, "cannot reach the hub: ") {
		t.Errorf("item %+v", items[0])
	}

	m2, _ := start(t, h, client(t, false), func(c *Config) { c.Token = "wrong" })
	m2.Add([]string{path}, "", false)
	items = waitFor(t, m2, "the refusal", allFinished(1))
	if items[0].State != player.UploadFailed || items[0].Err != "the hub does not accept this player's token: unknown token" {
		t.Errorf("item %+v", items[0])
	}
}

// TestCloseDuringUpload closes the Manager in the middle of an upload:
// Close returns once every goroutine has ended (TestMain checks none is
// left).
func TestCloseDuringUpload(t *testing.T) {
	h := newHub(t, 0)
	path := write(t, filepath.Join(t.TempDir(), "big.wav"), wav(60, 440, "Big", "Band"))
	m, _ := start(t, h, client(t, true), nil)
	m.Add([]string{path}, "", false)
	waitFor(t, m, "the upload under way", func(items []player.UploadItem) bool {
		return len(items) == 1 && items[0].State == player.UploadSending
	})
	done := make(chan struct{})
	go func() {
		m.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	if it := m.Items()[0]; it.State != player.UploadCanceled {
		t.Errorf("after Close: %+v", it)
	}
	m.Add([]string{path}, "", false) // after Close: ignored
	if n := len(m.Items()); n != 1 {
		t.Errorf("Add after Close queued a file: %d items", n)
	}
}

// A hub whose disk is full: the panel says so in the hub's words, after
// one try.
func TestDiskFullInPlainWords(t *testing.T) {
	disk := testhub.NewFakeDisk(4 << 10)
	h := newHub(t, 1<<20, store.WithFileWriter(disk.Wrap))
	song := write(t, filepath.Join(t.TempDir(), "song.wav"), wav(1, 440, "Song", "Band"))
	m, _ := start(t, h, client(t, false), nil)
	m.Add([]string{song}, "", false)
	items := waitFor(t, m, "the failure", allFinished(1))
	const want = "the hub has no room left to store this; its owner needs to free disk space"
	if it := items[0]; it.State != player.UploadFailed || it.Err != want {
		t.Errorf("state %q, reason %q; want failed: %q", it.State, it.Err, want)
	}
	if n := h.count("PATCH /api/uploads"); n != 1 {
		t.Errorf("%d PATCH requests, want 1: a full disk is not retried", n)
	}
}

func TestReason(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{errEmpty, "the file is empty"},
		{os.ErrNotExist, "the file is gone"},
		{context.DeadlineExceeded, "the hub did not answer in time"},
	} {
		if got := Reason(c.err); got != c.want {
			t.Errorf("Reason(%v) = %q, want %q", c.err, got, c.want)
		}
	}
	if got := megabytes(200 << 20); got != "200 MB" {
		t.Errorf("megabytes = %q", got)
	}
	if got := megabytes(1_500_000); got != "1.4 MB" {
		t.Errorf("megabytes = %q", got)
	}
}
