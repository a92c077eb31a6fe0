package hub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem"
	"tandem/store"
	"tandem/sync/protocol"
	"tandem/sync/socketio"
)

// lockedBuffer is a log sink for a hub's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// clock is a hub clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// signInHub serves a hub with accounts and the music API, on a clock that
// stands still, logging to a buffer; its clients come through a loopback
// "proxy" (the test) that names them with X-Forwarded-For.
type signInHub struct {
	url   string
	db    *store.DB
	clock *clock
	logs  *lockedBuffer
}

func newSignInHub(t *testing.T) *signInHub {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := store.OpenBlobs(filepath.Join(dir, store.BlobDir), nil)
	if err != nil {
		t.Fatal(err)
	}
	uploads, err := store.NewUploads(db, blobs)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	logs := &lockedBuffer{}
	h := New(Config{Store: db, Accounts: db, Now: c.now, Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		Media: testMedia{DB: db, blobs: blobs, uploads: uploads}, Probe: testProbe})
	ts := httptest.NewServer(h.Handler())
	t.Cleanup(func() {
		h.Close()
		ts.Close()
	})
	return &signInHub{url: ts.URL, db: db, clock: c, logs: logs}
}

// connectFrom connects with token as the client at addr; it returns the
// refusal, or nil once connected.
func (f *signInHub) connectFrom(t *testing.T, addr, token string) *socketio.ConnectError {
	t.Helper()
	c := socketio.NewClient(f.url, socketio.ClientOptions{NoReconnect: true,
		Header: http.Header{"X-Forwarded-For": {addr}},
		Auth:   func() any { return protocol.Auth{Token: token} }})
	defer c.Close()
	err := c.Connect(testCtx(t))
	var ce *socketio.ConnectError
	if err != nil && !errors.As(err, &ce) {
		t.Fatalf("connect from %s: %v", addr, err)
	}
	return ce
}

func (f *signInHub) metric(t *testing.T, line string) bool {
	t.Helper()
	resp, err := http.Get(f.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(b), line+"\n")
}

const badToken = "SECRET-guess-0123456789abcdefghijklmnopqrstuvw"

func TestSignInLimitSocket(t *testing.T) {
	f := newSignInHub(t)
	good, err := f.db.CreateToken("ann")
	if err != nil {
		t.Fatal(err)
	}
	const a, b = "203.0.113.7", "198.51.100.9"
	for i := range DefaultAuthFailures {
		if ce := f.connectFrom(t, a, badToken); ce == nil || ce.Message != protocol.Unauthorized {
			t.Fatalf("bad token %d from %s: %+v, want unauthorized", i+1, a, ce)
		}
	}
	// The budget is spent: the next attempt from a is refused unchecked,
	// even with a good token, and says when to try again.
	for _, tok := range []string{badToken, good} {
		ce := f.connectFrom(t, a, tok)
		if ce == nil || ce.Message != signInLimited {
			t.Fatalf("attempt %d from %s: %+v, want %q", DefaultAuthFailures+1, a, ce, signInLimited)
		}
		raw, _ := ce.Data.(json.RawMessage)
		var data signInLimitData
		if err := json.Unmarshal(raw, &data); err != nil || data.Code != tandem.ELIMIT || data.RetryAfter != 6 || !strings.Contains(data.Message, "6 s") {
			t.Fatalf("refusal data %v, want ELIMIT and retryAfter 6 (a minute's 10 failures: one back every 6 s)", ce.Data)
		}
	}
	// Another address is not affected.
	if ce := f.connectFrom(t, b, badToken); ce == nil || ce.Message != protocol.Unauthorized {
		t.Fatalf("bad token from %s: %+v, want unauthorized", b, ce)
	}
	if ce := f.connectFrom(t, b, good); ce != nil {
		t.Fatalf("good token from %s: %+v", b, ce)
	}
	// One failure's worth comes back after 6 s.
	f.clock.add(6 * time.Second)
	if ce := f.connectFrom(t, a, good); ce != nil {
		t.Fatalf("good token from %s after 6 s: %+v", a, ce)
	}
	if !f.metric(t, `tandem_hub_auth_failures_total{kind="socket"} 11`) || !f.metric(t, `tandem_hub_auth_throttled_total{kind="socket"} 2`) {
		t.Error("metrics do not count 11 failures and 2 refusals")
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `"msg":"hub: sign-in failed","kind":"socket","addr":"203.0.113.7","tried":"a token of 46 characters"`) ||
		!strings.Contains(logs, `"level":"WARN","msg":"hub: too many failed sign-ins from an address`) {
		t.Errorf("log lacks the failures:\n%s", logs)
	}
	if strings.Contains(logs, "SECRET") || strings.Contains(logs, good) {
		t.Errorf("log holds a token:\n%s", logs)
	}
}

func TestSignInLimitHTTP(t *testing.T) {
	f := newSignInHub(t)
	good, err := f.db.CreateToken("ann")
	if err != nil {
		t.Fatal(err)
	}
	get := func(addr, token string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, f.url+"/api/tracks/"+trackID(1), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Forwarded-For", addr)
		return do(t, req)
	}
	redeem := func(addr string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodPost, f.url+RedeemPath, strings.NewReader(`{"code":"SECRET-CODE-1234","name":"eve"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", addr)
		return do(t, req)
	}
	const a, b = "203.0.113.7", "2001:db8:1:2::5"
	for range DefaultAuthFailures {
		resp, body := get(a, badToken)
		wantError(t, resp, body, http.StatusUnauthorized, tandem.EUNAUTHORIZED)
	}
	for _, tok := range []string{badToken, good} {
		resp, body := get(a, tok)
		wantError(t, resp, body, http.StatusTooManyRequests, tandem.ELIMIT)
		if ra := resp.Header.Get("Retry-After"); ra != "6" {
			t.Fatalf("Retry-After %q, want 6", ra)
		}
	}
	resp, body := get(b, badToken)
	wantError(t, resp, body, http.StatusUnauthorized, tandem.EUNAUTHORIZED)
	// Another host of b's /64 shares its budget; its failures are b's.
	for range DefaultAuthFailures - 1 {
		resp, body := redeem("2001:db8:1:2::77")
		wantError(t, resp, body, http.StatusForbidden, tandem.EFORBIDDEN)
	}
	resp, body = redeem("2001:db8:1:2::5")
	wantError(t, resp, body, http.StatusTooManyRequests, tandem.ELIMIT)
	// A success elsewhere does not reset anybody's budget.
	resp, body = get("192.0.2.1", good)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("good token from another address: %d %s, want 404 (no such track)", resp.StatusCode, body)
	}
	resp, body = get(a, good)
	wantError(t, resp, body, http.StatusTooManyRequests, tandem.ELIMIT)

	for _, m := range []string{`tandem_hub_auth_failures_total{kind="http"} 11`, `tandem_hub_auth_throttled_total{kind="http"} 3`,
		`tandem_hub_auth_failures_total{kind="invite"} 9`, `tandem_hub_auth_throttled_total{kind="invite"} 1`} {
		if !f.metric(t, m) {
			t.Errorf("metrics lack %s", m)
		}
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `"kind":"invite","addr":"2001:db8:1:2::77","tried":"an invite code of 16 characters, for the name \"eve\""`) {
		t.Errorf("log lacks the invite failures:\n%s", logs)
	}
	if strings.Contains(logs, "SECRET") || strings.Contains(logs, good) {
		t.Errorf("log holds a token or code:\n%s", logs)
	}
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// A flood of failures from many addresses keeps a bounded map, and the
// log says how many lines it left out.
func TestSignInLimitBounded(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	b := newAuthBudget(10, time.Minute, c.now)
	b.cap = 100
	for i := range 5000 {
		b.fail(fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255))
		if i%1000 == 0 {
			c.add(time.Second)
		}
	}
	if n := b.len(); n > 100 {
		t.Fatalf("%d addresses remembered, want at most 100", n)
	}
}

func TestClientAddress(t *testing.T) {
	h := &Hub{proxies: loopback}
	other := &Hub{proxies: append([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, loopback...)}
	for _, c := range []struct {
		h      *Hub
		remote string
		xff    []string
		want   string
	}{
		{h, "198.51.100.1:5000", []string{"1.2.3.4"}, "198.51.100.1"}, // not a proxy: its header is not believed
		{h, "127.0.0.1:5000", nil, "127.0.0.1"},
		{h, "127.0.0.1:5000", []string{"1.2.3.4"}, "1.2.3.4"},
		{h, "127.0.0.1:5000", []string{"6.6.6.6, 1.2.3.4"}, "1.2.3.4"}, // the client's own claim is left of the proxy's
		{h, "127.0.0.1:5000", []string{"1.2.3.4, 10.0.0.1"}, "10.0.0.1"},
		{other, "127.0.0.1:5000", []string{"1.2.3.4, 10.0.0.1"}, "1.2.3.4"},
		{other, "127.0.0.1:5000", []string{"1.2.3.4", "10.0.0.1"}, "1.2.3.4"},
		{h, "127.0.0.1:5000", []string{"1.2.3.4:999"}, "1.2.3.4"},
		{h, "[::1]:5000", []string{"garbage"}, "::1"},
		{h, "[::ffff:198.51.100.1]:5000", nil, "198.51.100.1"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = c.remote
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := c.h.clientAddr(r); got != c.want {
			t.Errorf("%s with X-Forwarded-For %q: %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
	for addr, want := range map[string]string{"1.2.3.4": "1.2.3.4", "2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64", "fe80::1%eth0": "fe80::/64"} {
		if got := budgetKey(addr); got != want {
			t.Errorf("budgetKey(%s) = %s, want %s", addr, got, want)
		}
	}
}
