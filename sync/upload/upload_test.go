package upload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"tandem"
	"tandem/internal/hubmedia"
	"tandem/internal/testhub"
	"tandem/store"
	"tandem/sync/event"
	"tandem/sync/hub"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newHub starts a real hub and returns its URL, its database and a token.
func newHub(t *testing.T, opts ...store.BlobOption) (string, *store.DB, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := hub.Config{Store: db}
	if err := hubmedia.Wire(&cfg, db, dir, nil, opts...); err != nil {
		t.Fatal(err)
	}
	h := hub.New(cfg)
	ts := httptest.NewServer(h.Handler())
	t.Cleanup(func() {
		ts.Close()
		h.Close()
	})
	tok, err := db.CreateToken("ann")
	if err != nil {
		t.Fatal(err)
	}
	return ts.URL, db, tok
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "audio", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recorder collects an upload's events.
type recorder struct {
	mu       sync.Mutex
	progress []ProgressInfo
	complete []tandem.Track
	errs     []error
}

func record(u *Upload) *recorder {
	r := &recorder{}
	Progress.On(u.Emitter(), func(p ProgressInfo) { r.mu.Lock(); r.progress = append(r.progress, p); r.mu.Unlock() })
	Complete.On(u.Emitter(), func(t tandem.Track) { r.mu.Lock(); r.complete = append(r.complete, t); r.mu.Unlock() })
	Error.On(u.Emitter(), func(err error) { r.mu.Lock(); r.errs = append(r.errs, err); r.mu.Unlock() })
	return r
}

func (r *recorder) checkProgress(t *testing.T, size int64) {
	t.Helper()
	if len(r.progress) < 2 {
		t.Fatalf("%d progress events, want several", len(r.progress))
	}
	for i, p := range r.progress {
		if p.Total != size || p.Sent < 0 || p.Sent > size || (i > 0 && p.Sent <= r.progress[i-1].Sent) {
			t.Fatalf("progress events not increasing within the size: %+v", r.progress)
		}
	}
	if last := r.progress[len(r.progress)-1]; last.Sent != size || last.Fraction() != 1 {
		t.Errorf("last progress %+v, want all %d bytes", last, size)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestUpload(t *testing.T) {
	url, db, tok := newHub(t)
	data := readFixture(t, "tagged.flac")
	u := New(bytes.NewReader(data), int64(len(data)), Options{URL: url, Token: tok, Name: "x.flac", ChunkSize: 4096})
	rec := record(u)
	tr, err := u.Run(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if tr.ID != hex.EncodeToString(sum[:]) || tr.Title != "FLAC Title" || tr.Duration != time.Second || tr.Uploader != "ann" {
		t.Errorf("track %+v", tr)
	}
	rec.checkProgress(t, int64(len(data)))
	if len(rec.complete) != 1 || rec.complete[0] != tr || len(rec.errs) != 0 {
		t.Errorf("complete %v, errors %v", rec.complete, rec.errs)
	}
	if stored, err := db.Track(tr.ID); err != nil || stored.Title != tr.Title {
		t.Errorf("stored %+v, %v", stored, err)
	}
	// The hub has it now: a second upload completes at once.
	u = New(bytes.NewReader(data), int64(len(data)), Options{URL: url, Token: tok})
	rec = record(u)
	if again, err := u.Run(ctx(t)); err != nil || again.ID != tr.ID || len(rec.complete) != 1 {
		t.Errorf("second upload: %+v, %v", again, err)
	}
}

func TestUploadResumesAfterCut(t *testing.T) {
	url, _, tok := newHub(t)
	data := readFixture(t, "tagged.wav")
	proxy := testhub.NewCutter(t, url, 20000, testhub.ToHub)
	var offsets []string // of the PATCH requests
	client := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPatch {
			offsets = append(offsets, r.Header.Get("Upload-Offset"))
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	defer client.CloseIdleConnections()
	u := New(bytes.NewReader(data), int64(len(data)), Options{URL: proxy.URL(), Token: tok, Client: client, RetryDelay: 10 * time.Millisecond})
	rec := record(u)
	var sessions []string
	Progress.On(u.Emitter(), func(ProgressInfo) { sessions = append(sessions, u.Session()) })
	tr, err := u.Run(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !proxy.Cut() {
		t.Fatal("the proxy never cut the connection")
	}
	// The first PATCH was cut; the last went on from what the hub kept.
	if len(offsets) < 2 || offsets[0] != "0" || offsets[len(offsets)-1] == "0" {
		t.Errorf("PATCH offsets %q, want 0 then where the hub stopped", offsets)
	}
	sum := sha256.Sum256(data)
	if tr.ID != hex.EncodeToString(sum[:]) || tr.Title != "Wave Title" || tr.Size != int64(len(data)) {
		t.Errorf("track %+v", tr)
	}
	rec.checkProgress(t, int64(len(data)))
	if len(rec.complete) != 1 || rec.complete[0] != tr || len(rec.errs) != 0 {
		t.Errorf("complete %v, errors %v", rec.complete, rec.errs)
	}
	for _, s := range sessions {
		if s != sessions[0] {
			t.Errorf("sessions %v: the resume started over", sessions)
			break
		}
	}
}

func TestUploadRefused(t *testing.T) {
	url, _, tok := newHub(t)
	text := []byte("this is not music; the hub will say so")
	u := New(bytes.NewReader(text), int64(len(text)), Options{URL: url, Token: tok, Name: "fake.mp3"})
	rec := record(u)
	_, err := u.Run(ctx(t))
	if tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatalf("Run = %v, want EINVALID", err)
	}
	if len(rec.errs) != 1 || len(rec.complete) != 0 {
		t.Errorf("errors %v, complete %v", rec.errs, rec.complete)
	}

	// A bad token fails at once, and the error event with no listener
	// reaches the logger instead of vanishing.
	u = New(bytes.NewReader(text), int64(len(text)), Options{URL: url, Token: "nope"})
	var unhandled []error
	u.em = event.New(nil, event.WithUnhandledError(func(err error) { unhandled = append(unhandled, err) }))
	if _, err := u.Run(ctx(t)); tandem.ErrorCode(err) != tandem.EUNAUTHORIZED {
		t.Fatalf("Run = %v, want EUNAUTHORIZED", err)
	}
	if len(unhandled) != 1 {
		t.Errorf("unhandled errors %v, want one", unhandled)
	}
}

func TestUploadGivesUpWhenCancelled(t *testing.T) {
	// A hub that never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	defer wg.Wait()
	defer ln.Close()
	c, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	u := New(bytes.NewReader([]byte("x")), 1, Options{URL: "http://" + ln.Addr().String(), Token: "t"})
	rec := record(u)
	if _, err := u.Run(c); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run = %v, want the context's error", err)
	}
	if len(rec.errs) != 1 {
		t.Errorf("errors %v", rec.errs)
	}
}

// A hub whose disk is full answers 507 ENOSPACE: retrying at once is of
// no use, so the upload fails at the first answer, with the hub's message.
func TestUploadHubDiskFull(t *testing.T) {
	disk := testhub.NewFakeDisk(1000)
	url, _, tok := newHub(t, store.WithFileWriter(disk.Wrap))
	data := readFixture(t, "tagged.flac")
	var mu sync.Mutex
	patches := 0
	client := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPatch {
			mu.Lock()
			patches++
			mu.Unlock()
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	defer client.CloseIdleConnections()
	u := New(bytes.NewReader(data), int64(len(data)), Options{URL: url, Token: tok, Client: client})
	rec := record(u)
	_, err := u.Run(ctx(t))
	var herr *tandem.Error
	if !errors.As(err, &herr) || herr.Code != tandem.ENOSPACE || herr.Message == "" {
		t.Fatalf("Run = %v, want the hub's ENOSPACE", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if patches != 1 {
		t.Errorf("%d PATCH requests, want one: a full disk is not worth a retry", patches)
	}
	if len(rec.errs) != 1 || len(rec.complete) != 0 {
		t.Errorf("errors %v, complete %v", rec.errs, rec.complete)
	}
}

// A fault the hub keeps answering 500 to is retried Retries times, then
// the upload fails: the HEAD that works between the tries does not count
// as progress.
func TestUploadGivesUpOnPersistentFault(t *testing.T) {
	disk := testhub.NewFakeDisk(0)
	disk.Set(1000, syscall.EIO)
	url, _, tok := newHub(t, store.WithFileWriter(disk.Wrap))
	data := readFixture(t, "tagged.flac")
	var mu sync.Mutex
	patches := 0
	client := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPatch {
			mu.Lock()
			patches++
			mu.Unlock()
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	defer client.CloseIdleConnections()
	u := New(bytes.NewReader(data), int64(len(data)), Options{URL: url, Token: tok, Client: client, Retries: 2, RetryDelay: time.Millisecond})
	_, err := u.Run(ctx(t))
	if herr, ok := errors.AsType[*tandem.Error](err); !ok || herr.Code != tandem.EINTERNAL {
		t.Fatalf("Run = %v, want the hub's EINTERNAL", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if patches != 3 {
		t.Errorf("%d PATCH requests, want 3: the first and two retries", patches)
	}
}
