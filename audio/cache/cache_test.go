package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"tandem/audio"
	"tandem/internal/hubmedia"
	"tandem/internal/testhub"
	"tandem/store"
	"tandem/sync/hub"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newHub starts a real hub with its music API, its handler wrapped by
// wrap (nil: none), and returns its URL and a token.
func newHub(t testing.TB, wrap func(http.Handler) http.Handler) (string, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := hub.Config{Store: db}
	if err := hubmedia.Wire(&cfg, db, dir, nil); err != nil {
		t.Fatal(err)
	}
	h := hub.New(cfg)
	var handler http.Handler = h.Handler()
	if wrap != nil {
		handler = wrap(handler)
	}
	ts := httptest.NewServer(handler)
	t.Cleanup(func() {
		ts.Close()
		h.Close()
	})
	tok, err := db.CreateToken("ann")
	if err != nil {
		t.Fatal(err)
	}
	return ts.URL, tok
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func idOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// upload puts a fixture on the hub and returns its id and bytes.
func upload(t testing.TB, url, tok, name string) (string, []byte) {
	t.Helper()
	data := readFixture(t, name)
	req, err := http.NewRequest(http.MethodPost, url+"/api/tracks", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("upload %s: %s", name, resp.Status)
	}
	return idOf(data), data
}

func testCtx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func openCache(t testing.TB, opts Options) *Cache {
	t.Helper()
	if opts.RetryDelay == 0 {
		opts.RetryDelay = 5 * time.Millisecond
	}
	c, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readAll(t *testing.T, c *Cache, id string) []byte {
	t.Helper()
	r, err := c.OpenContext(testCtx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeAll decodes a whole file and returns its frame count.
func decodeAll(t *testing.T, r io.ReadSeeker) int {
	t.Helper()
	s, _, err := audio.Decode(r)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	buf := make([][2]float64, 4096)
	frames := 0
	for {
		n, ok := s.Stream(buf)
		frames += n
		if !ok {
			break
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return frames
}

// files lists the directory's file names.
func files(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

// ranges records the Range headers of a client's requests.
type ranges struct {
	mu  sync.Mutex
	got []string
}

func (rg *ranges) RoundTrip(r *http.Request) (*http.Response, error) {
	rg.mu.Lock()
	rg.got = append(rg.got, r.Header.Get("Range"))
	rg.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (rg *ranges) list() []string {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	return append([]string(nil), rg.got...)
}

func TestFetchVerifiesAndOpens(t *testing.T) {
	url, tok := newHub(t, nil)
	id, data := upload(t, url, tok, "tagged.flac")
	dir := t.TempDir()
	c := openCache(t, Options{Dir: dir, URL: url, Token: tok})
	if c.Has(id) {
		t.Fatal("Has before the download")
	}
	if err := c.Fetch(testCtx(t), id); err != nil {
		t.Fatal(err)
	}
	if !c.Has(id) || c.Size() != int64(len(data)) {
		t.Fatalf("Has %v, Size %d after the download", c.Has(id), c.Size())
	}
	if got := files(t, dir); len(got) != 1 || got[0] != id {
		t.Errorf("files %v, want just %s", got, id)
	}
	if !bytes.Equal(readAll(t, c, id), data) {
		t.Error("the cached bytes differ")
	}
	r, err := c.Open(id) // the player.Library method
	if err != nil {
		t.Fatal(err)
	}
	if frames := decodeAll(t, r); frames == 0 {
		t.Error("decoded no frames")
	}
	// Unknown tracks and bad ids fail with the hub's code or EINVALID.
	if err := c.Fetch(testCtx(t), strings.Repeat("0", 64)); err == nil || !strings.Contains(err.Error(), "ENOTFOUND") {
		t.Errorf("fetch of an unknown track: %v", err)
	}
	if _, err := c.Open("../etc/passwd"); err == nil {
		t.Error("a bad id was opened")
	}
}

func TestResumeAfterCutConnection(t *testing.T) {
	url, tok := newHub(t, nil)
	id, data := upload(t, url, tok, "tagged.flac")
	proxy := testhub.NewCutter(t, url, 8000, testhub.FromHub)
	rg := &ranges{}
	client := &http.Client{Transport: rg}
	defer client.CloseIdleConnections()
	c := openCache(t, Options{Dir: t.TempDir(), URL: proxy.URL(), Token: tok, Client: client})
	if err := c.Fetch(testCtx(t), id); err != nil {
		t.Fatal(err)
	}
	if !proxy.Cut() {
		t.Fatal("the proxy never cut the connection")
	}
	got := rg.list()
	if len(got) != 2 || got[0] != "" || !strings.HasPrefix(got[1], "bytes=") {
		t.Fatalf("Range headers %q, want none then a resume", got)
	}
	from, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(got[1], "bytes="), "-"))
	if from <= 0 || from >= len(data) {
		t.Errorf("resumed from %d of %d", from, len(data))
	}
	if !bytes.Equal(readAll(t, c, id), data) {
		t.Error("the resumed file differs")
	}
}

func TestResumeAfterRestart(t *testing.T) {
	url, tok := newHub(t, nil)
	id, data := upload(t, url, tok, "tagged.flac")
	dir := t.TempDir()
	// An earlier run got 5000 bytes.
	if err := os.WriteFile(filepath.Join(dir, id+partSuffix), data[:5000], 0o644); err != nil {
		t.Fatal(err)
	}
	rg := &ranges{}
	client := &http.Client{Transport: rg}
	defer client.CloseIdleConnections()
	c := openCache(t, Options{Dir: dir, URL: url, Token: tok, Client: client})
	if c.Has(id) || c.Size() != 5000 {
		t.Fatalf("Has %v, Size %d with a part file", c.Has(id), c.Size())
	}
	if err := c.Fetch(testCtx(t), id); err != nil {
		t.Fatal(err)
	}
	if got := rg.list(); len(got) != 1 || got[0] != "bytes=5000-" {
		t.Errorf("Range headers %q, want bytes=5000-", got)
	}
	if !bytes.Equal(readAll(t, c, id), data) {
		t.Error("the resumed file differs")
	}
}

func TestMismatchDeletes(t *testing.T) {
	data := readFixture(t, "tagged.flac")
	id := idOf(data)
	wrong := bytes.Clone(data)
	wrong[len(wrong)/2] ^= 0xff
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "x.flac", time.Time{}, bytes.NewReader(wrong))
	}))
	defer ts.Close()
	dir := t.TempDir()
	c := openCache(t, Options{Dir: dir, URL: ts.URL, Token: "x"})
	r, err := c.OpenContext(testCtx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := c.Fetch(testCtx(t), id); !errors.Is(err, ErrMismatch) {
		t.Fatalf("fetch of wrong bytes: %v, want ErrMismatch", err)
	}
	if _, err := io.ReadAll(r); !errors.Is(err, ErrMismatch) {
		t.Errorf("reader of wrong bytes: %v, want ErrMismatch", err)
	}
	if c.Has(id) || c.Size() != 0 || len(files(t, dir)) != 0 {
		t.Errorf("Has %v, Size %d, files %v after a mismatch", c.Has(id), c.Size(), files(t, dir))
	}
}

func TestLRUEviction(t *testing.T) {
	url, tok := newHub(t, nil)
	mp3, _ := upload(t, url, tok, "tagged.mp3")   // 9232 bytes
	flac, _ := upload(t, url, tok, "tagged.flac") // 19509
	ogg, _ := upload(t, url, tok, "tagged.ogg")   // 5422
	plain, _ := upload(t, url, tok, "plain.mp3")  // 4284
	c := openCache(t, Options{Dir: t.TempDir(), URL: url, Token: tok, MaxBytes: 36000})
	ctx := testCtx(t)
	// The least recently used file is mp3, but it is open.
	r, err := c.OpenContext(ctx, mp3)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{mp3, flac, ogg} {
		if err := c.Fetch(ctx, id); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // distinct times of use
	}
	if err := c.Fetch(ctx, plain); err != nil { // 38447 bytes in all: one must go
		t.Fatal(err)
	}
	if !c.Has(mp3) || c.Has(flac) || !c.Has(ogg) || !c.Has(plain) || c.Size() > 36000 {
		t.Errorf("after eviction: mp3 %v (open), flac %v (oldest not open), ogg %v, plain %v, size %d",
			c.Has(mp3), c.Has(flac), c.Has(ogg), c.Has(plain), c.Size())
	}
	r.Close()
	// Using a file makes it the most recent: flac back, then mp3 goes.
	if err := c.Fetch(ctx, flac); err != nil {
		t.Fatal(err)
	}
	if c.Has(mp3) || !c.Has(flac) || c.Size() > 36000 {
		t.Errorf("after the second eviction: mp3 %v, flac %v, size %d", c.Has(mp3), c.Has(flac), c.Size())
	}
}

func TestOpenStreamsBeforeComplete(t *testing.T) {
	data := readFixture(t, "tagged.flac")
	id := idOf(data)
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data[:4096])
		w.(http.Flusher).Flush()
		select { // a slow hub: the rest comes later
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Write(data[4096:])
	}))
	defer ts.Close()
	c := openCache(t, Options{Dir: t.TempDir(), URL: ts.URL, Token: "x"})
	r, err := c.OpenContext(testCtx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 4)
	if _, err := io.ReadFull(r, head); err != nil || string(head) != "fLaC" {
		t.Fatalf("first bytes %q, %v", head, err)
	}
	if c.Has(id) {
		t.Fatal("complete while the hub holds the rest back")
	}
	// Reading past what arrived waits; the rest arrives; the decode ends.
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, func() { close(release) })
	want := decodeAll(t, bytes.NewReader(data))
	if got := decodeAll(t, r); got != want { // closes r
		t.Errorf("decoded %d frames while streaming, want %d", got, want)
	}
	if !c.Has(id) {
		t.Error("not complete after the decode")
	}
}

func TestReaderUnblocks(t *testing.T) {
	data := readFixture(t, "tagged.flac")
	id := idOf(data)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data[:100])
		w.(http.Flusher).Flush()
		<-r.Context().Done() // never more
	}))
	defer ts.Close()
	c := openCache(t, Options{Dir: t.TempDir(), URL: ts.URL, Token: "x"})

	// Close unblocks a read.
	r, err := c.OpenContext(testCtx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Seek(1000, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := r.Read(make([]byte, 10))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	r.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("read after Close: %v, want ErrClosed", err)
	}

	// A context ends a read.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	r, err = c.OpenContext(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadAt(make([]byte, 10), 5000); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("read past the context: %v", err)
	}
	// Closing the cache unblocks the last.
	r2, err := c.OpenContext(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		c.Close()
	}()
	if _, err := r2.ReadAt(make([]byte, 10), 5000); err == nil {
		t.Error("read went on after Close of the cache")
	}
	r.Close()
	r2.Close()
}

func TestRestartKeepsCache(t *testing.T) {
	url, tok := newHub(t, nil)
	id, data := upload(t, url, tok, "tagged.flac")
	dir := t.TempDir()
	c := openCache(t, Options{Dir: dir, URL: url, Token: tok})
	if err := c.Fetch(testCtx(t), id); err != nil {
		t.Fatal(err)
	}
	c.Close()
	// Again, with a hub that is gone: the file is served from the disk.
	c = openCache(t, Options{Dir: dir, URL: "http://127.0.0.1:1", Token: tok, Retries: -1})
	if !c.Has(id) || c.Size() != int64(len(data)) {
		t.Fatalf("after a restart: Has %v, Size %d", c.Has(id), c.Size())
	}
	if !bytes.Equal(readAll(t, c, id), data) {
		t.Error("the bytes differ after a restart")
	}
	// An over-full cache is trimmed at open.
	c.Close()
	c = openCache(t, Options{Dir: dir, URL: url, Token: tok, MaxBytes: 100})
	if c.Has(id) || c.Size() != 0 {
		t.Errorf("a cache over its cap kept %d bytes", c.Size())
	}
}

func TestPrefetch(t *testing.T) {
	var inFlight, most atomic.Int32
	url, tok := newHub(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/audio") {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
			h.ServeHTTP(w, r)
		})
	})
	var ids []string
	for _, name := range []string{"tagged.flac", "tagged.mp3", "tagged.ogg", "plain.mp3"} {
		id, _ := upload(t, url, tok, name)
		ids = append(ids, id)
	}
	c := openCache(t, Options{Dir: t.TempDir(), URL: url, Token: tok})
	c.Prefetch(ids)
	deadline := time.Now().Add(10 * time.Second)
	for _, id := range ids {
		for !c.Has(id) {
			if time.Now().After(deadline) {
				t.Fatalf("%s not prefetched", id)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if m := most.Load(); m < 1 || m > DefaultPrefetchers {
		t.Errorf("%d downloads at once, want at most %d", m, DefaultPrefetchers)
	}
}

func TestPrefetchCancel(t *testing.T) {
	data := readFixture(t, "tagged.flac")
	id := idOf(data)
	started := make(chan struct{}, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data[:1000])
		w.(http.Flusher).Flush()
		select {
		case started <- struct{}{}:
		default:
		}
		<-r.Context().Done()
	}))
	defer ts.Close()
	dir := t.TempDir()
	c := openCache(t, Options{Dir: dir, URL: ts.URL, Token: "x"})
	c.Prefetch([]string{id, "not an id"})
	<-started
	deadline := time.Now().Add(5 * time.Second)
	for { // the first bytes are on disk
		if info, err := os.Stat(filepath.Join(dir, id+partSuffix)); err == nil && info.Size() == 1000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the prefetch wrote nothing")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.Prefetch(nil)
	for len(c.Prefetching()) > 0 || c.Size() != 1000 {
		if time.Now().After(deadline) {
			t.Fatalf("prefetching %v, size %d after a cancel", c.Prefetching(), c.Size())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The part file stays, to resume.
	if got := files(t, dir); len(got) != 1 || got[0] != id+partSuffix || c.Has(id) {
		t.Errorf("files %v after a cancelled prefetch", got)
	}
}

// BenchmarkCachedOpenToFirstFrame measures the time from Open of a
// complete track (a FLAC file) to its first decoded frame: the target is
// 50 ms or less.
func BenchmarkCachedOpenToFirstFrame(b *testing.B) {
	url, tok := newHub(b, nil)
	id, _ := upload(b, url, tok, "tagged.flac")
	c := openCache(b, Options{Dir: b.TempDir(), URL: url, Token: tok})
	if err := c.Fetch(testCtx(b), id); err != nil {
		b.Fatal(err)
	}
	buf := make([][2]float64, 512)
	b.ResetTimer()
	start, n := time.Now(), 0
	for b.Loop() {
		n++
		r, err := c.Open(id)
		if err != nil {
			b.Fatal(err)
		}
		s, _, err := audio.Decode(r)
		if err != nil {
			b.Fatal(err)
		}
		if n, ok := s.Stream(buf); n == 0 || !ok {
			b.Fatal("no first frame")
		}
		s.Close()
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(n), "ms/first-frame")
}
