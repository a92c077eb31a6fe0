package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var serverLog = flag.Bool("serverlog", false, "write the conformance server's debug log to stderr")

// The suites' constants and mocha's timeouts.
const (
	suitePingInterval = 300 * time.Millisecond  // PING_INTERVAL
	suitePingTimeout  = 200 * time.Millisecond  // PING_TIMEOUT
	mochaTimeout      = 2000 * time.Millisecond // mocha's default, per case
	heartbeatTimeout  = 5000 * time.Millisecond // describe("heartbeat") sets this.timeout(5000)
)

// server is one conformance server for a whole suite, as the JS suites run
// every case against the same server.
type server struct {
	url    string // "http://127.0.0.1:port", the suites' URL
	wsURL  string // "ws://127.0.0.1:port", the suites' WS_URL
	client *http.Client
}

func newServer(t *testing.T) *server {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	if *serverLog {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h, closeHandler := NewHandler(log)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { // runs before srv.Close: it ends pending long-polling requests
		if err := closeHandler(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return &server{url: srv.URL, wsURL: "ws" + strings.TrimPrefix(srv.URL, "http"), client: srv.Client()}
}

// it runs one JS case as a subtest that fails, as mocha does, once timeout
// has passed.
func (s *server) it(t *testing.T, name string, timeout time.Duration, fn func(c *tc)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		fn(&tc{T: t, ctx: ctx, s: s, timeout: timeout})
	})
}

// tc is one running case: the test, its mocha deadline and the server.
type tc struct {
	*testing.T
	ctx     context.Context
	s       *server
	timeout time.Duration
}

// timedOut is mocha's failure for a case that never finishes.
func (c *tc) timedOut(what string) {
	c.Helper()
	c.Fatalf("Timeout of %v exceeded %s", c.timeout, what)
}

// fetchResponse is what a fetch returned: the status and the body as text.
type fetchResponse struct {
	status int
	body   string
}

// fetchErr is the JS fetch(url, {method, body}) followed by
// response.text(). body "" sends no body; trace may be nil.
func (c *tc) fetchErr(method, url, body string, trace *httptrace.ClientTrace) (fetchResponse, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	ctx := c.ctx
	if trace != nil {
		ctx = httptrace.WithClientTrace(ctx, trace)
	}
	req, err := http.NewRequestWithContext(ctx, strings.ToUpper(method), url, rd)
	if err != nil {
		return fetchResponse{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8") // as fetch sends a string body
	}
	res, err := c.s.client.Do(req)
	if err != nil {
		return fetchResponse{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return fetchResponse{}, err
	}
	return fetchResponse{status: res.StatusCode, body: string(b)}, nil
}

// fetch is fetchErr where a failed request fails the case, as a rejected
// fetch promise does.
func (c *tc) fetch(method, url, body string) fetchResponse {
	c.Helper()
	r, err := c.fetchErr(method, url, body, nil)
	if err != nil {
		c.fetchFailed(method, url, err)
	}
	return r
}

func (c *tc) fetchFailed(method, url string, err error) {
	c.Helper()
	if c.ctx.Err() != nil {
		c.timedOut(fmt.Sprintf("waiting for %s %s", method, url))
	}
	c.Fatalf("%s %s: %v", method, url, err)
}

// fetchResult is the outcome of a fetch run in the background.
type fetchResult struct {
	r   fetchResponse
	err error
}

// goFetch starts a fetch in the background, as an un-awaited fetch(...)
// promise. wrote, when not nil, is closed once the request has been written
// (or has failed).
func (c *tc) goFetch(method, url, body string, wrote chan struct{}) <-chan fetchResult {
	out := make(chan fetchResult, 1)
	var once sync.Once
	signal := func() {
		if wrote != nil {
			once.Do(func() { close(wrote) })
		}
	}
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { signal() }}
	go func() {
		r, err := c.fetchErr(method, url, body, trace)
		signal()
		out <- fetchResult{r, err}
	}()
	return out
}

// await is the JS await of a goFetch promise.
func (c *tc) await(method, url string, ch <-chan fetchResult) fetchResponse {
	c.Helper()
	res := <-ch // the request ends with c.ctx at the latest
	if res.err != nil {
		c.fetchFailed(method, url, res.err)
	}
	return res.r
}

// sleep is the suites' sleep(delay).
func (c *tc) sleep(d time.Duration) {
	c.Helper()
	select {
	case <-time.After(d):
	case <-c.ctx.Done():
		c.timedOut("in sleep")
	}
}

// initLongPollingSession is the suites' initLongPollingSession(): it opens a
// polling session at path ("/engine.io/" or "/socket.io/") and returns its sid.
func (c *tc) initLongPollingSession(path string) string {
	c.Helper()
	content := c.fetch("GET", c.s.url+path+"?EIO=4&transport=polling", "").body
	var v struct {
		SID json.RawMessage `json:"sid"`
	}
	if err := json.Unmarshal([]byte(substring(content, 1)), &v); err != nil {
		c.Fatalf("JSON.parse(content.substring(1)) of %q: %v", content, err)
	}
	var sid string
	if err := json.Unmarshal(v.SID, &sid); err != nil {
		// In JS a non-string sid is interpolated into the next URLs as is.
		return string(v.SID)
	}
	return sid
}

// substring is JS's s.substring(start).
func substring(s string, start int) string {
	if start > len(s) {
		return ""
	}
	return s[start:]
}

// message is one WebSocket message: a text frame or a binary frame.
type message struct {
	binary bool
	data   []byte
}

func (m message) String() string {
	if m.binary {
		return fmt.Sprintf("binary %v", m.data)
	}
	return fmt.Sprintf("text %q", m.data)
}

// text is a text message, for comparisons.
func text(s string) message { return message{data: []byte(s)} }

// binary is a binary message, as Uint8Array.from([...]).buffer received with
// binaryType "arraybuffer".
func binary(b ...byte) message { return message{binary: true, data: b} }

func (m message) equal(o message) bool { return m.binary == o.binary && bytes.Equal(m.data, o.data) }

// ws is the JS WebSocket of a case, read in order by its test goroutine.
type ws struct {
	c    *tc
	url  string
	conn *websocket.Conn
	// unheard are messages that the JS case cannot hear, because they
	// arrive while it has no listener on this socket; next drops them if
	// they come first.
	unheard []message
}

// dialErr opens a WebSocket, like new WebSocket(url) up to its "open" event.
func (c *tc) dialErr(url string) (*ws, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: c.timeout}
	conn, res, err := d.DialContext(c.ctx, url, nil)
	if res != nil && res.Body != nil {
		res.Body.Close()
	}
	if err != nil {
		return nil, res, err
	}
	w := &ws{c: c, url: url, conn: conn}
	deadline, _ := c.ctx.Deadline()
	_ = conn.SetReadDeadline(deadline)
	_ = conn.SetWriteDeadline(deadline)
	c.Cleanup(func() { _ = conn.Close() })
	return w, res, nil
}

// dial is new WebSocket(url) followed by await waitFor(socket, "open").
func (c *tc) dial(url string) *ws {
	c.Helper()
	w, res, err := c.dialErr(url)
	if err != nil {
		if c.ctx.Err() != nil {
			c.timedOut("waiting for the WebSocket to open")
		}
		status := ""
		if res != nil {
			status = fmt.Sprintf(" (HTTP %d)", res.StatusCode)
		}
		c.Fatalf("WebSocket %s did not open: %v%s", url, err, status)
	}
	return w
}

// expectClosed is new WebSocket(url) followed by waitFor(socket, "close"):
// the socket closes, whether the handshake is refused or the server closes
// it once open.
func (c *tc) expectClosed(url string) {
	c.Helper()
	w, _, err := c.dialErr(url)
	if err != nil {
		if c.ctx.Err() != nil {
			c.timedOut("waiting for the WebSocket to close")
		}
		return // refused: "error" then "close"
	}
	w.waitClose()
}

// send is socket.send(string): a text frame.
func (w *ws) send(s string) {
	w.c.Helper()
	if err := w.conn.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		w.c.Fatalf("socket.send(%q): %v", s, err)
	}
}

// sendBinary is socket.send(Uint8Array.from(b)): a binary frame.
func (w *ws) sendBinary(b ...byte) {
	w.c.Helper()
	if err := w.conn.WriteMessage(websocket.BinaryMessage, b); err != nil {
		w.c.Fatalf("socket.send(Uint8Array.from(%v)): %v", b, err)
	}
}

// ignore notes a message that the JS case cannot hear (see ws.unheard).
func (w *ws) ignore(m message) { w.unheard = append(w.unheard, m) }

// next is await waitFor(socket, "message"): the next message.
func (w *ws) next() message {
	w.c.Helper()
	for {
		typ, data, err := w.conn.ReadMessage()
		if err != nil {
			if isTimeout(err) {
				w.c.timedOut("waiting for a message")
			}
			w.c.Fatalf("waiting for a message: the socket closed: %v", err)
		}
		m := message{binary: typ == websocket.BinaryMessage, data: data}
		if len(w.unheard) > 0 && m.equal(w.unheard[0]) {
			w.unheard = w.unheard[1:]
			continue
		}
		w.unheard = nil
		return m
	}
}

// expect is await waitFor(socket, "message") and expect(data).to.eql(want).
func (w *ws) expect(want message) {
	w.c.Helper()
	if got := w.next(); !got.equal(want) {
		w.c.Fatalf("message: got %v, want %v", got, want)
	}
}

// packets is the socket.io suite's waitForPackets(socket, count): the next
// count messages, PING packets ("2") left out.
func (w *ws) packets(count int) []message {
	w.c.Helper()
	var out []message
	for len(out) < count {
		m := w.next()
		if m.equal(text("2")) {
			continue
		}
		out = append(out, m)
	}
	return out
}

// waitClose is await waitFor(socket, "close"): messages until the socket
// closes are ignored.
func (w *ws) waitClose() {
	w.c.Helper()
	for {
		if _, _, err := w.conn.ReadMessage(); err != nil {
			if isTimeout(err) {
				w.c.timedOut("waiting for the socket to close")
			}
			return
		}
	}
}

// close is socket.close(): a close frame with no status, then the end of
// the connection.
func (w *ws) close() {
	_ = w.conn.WriteControl(websocket.CloseMessage, nil, time.Now().Add(time.Second))
	_ = w.conn.Close()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// expectStatus is expect(response.status).to.eql(want).
func (c *tc) expectStatus(what string, r fetchResponse, want int) {
	c.Helper()
	if r.status != want {
		c.Fatalf("%s: status %d, want %d (body %q)", what, r.status, want, r.body)
	}
}

// expectBody is expect(content).to.eql(want).
func (c *tc) expectBody(what string, r fetchResponse, want string) {
	c.Helper()
	if r.body != want {
		c.Fatalf("%s: content %q, want %q", what, r.body, want)
	}
}

// expectOpen checks an Engine.IO open packet as both suites do: it starts
// with "0", and its JSON has exactly the keys sid (a string), upgrades,
// pingInterval, pingTimeout and maxPayload, with the given upgrades and the
// suites' settings.
func (c *tc) expectOpen(content string, upgrades []string) {
	c.Helper()
	if !strings.HasPrefix(content, "0") {
		c.Fatalf("expected %q to start with \"0\"", content)
	}
	var value map[string]json.RawMessage
	if err := json.Unmarshal([]byte(substring(content, 1)), &value); err != nil {
		c.Fatalf("JSON.parse(%q): %v", substring(content, 1), err)
	}
	expectKeys(c, value, "sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload")
	expectString(c, "value.sid", value["sid"])
	var ups []string
	if err := json.Unmarshal(value["upgrades"], &ups); err != nil || ups == nil || !slices.Equal(ups, upgrades) {
		c.Fatalf("value.upgrades = %s, want %q", value["upgrades"], upgrades)
	}
	expectNumber(c, "value.pingInterval", value["pingInterval"], float64(suitePingInterval.Milliseconds()))
	expectNumber(c, "value.pingTimeout", value["pingTimeout"], float64(suitePingTimeout.Milliseconds()))
	expectNumber(c, "value.maxPayload", value["maxPayload"], 1000000)
}

// expectKeys is expect(value).to.have.all.keys(keys...): exactly those keys.
func expectKeys(c *tc, value map[string]json.RawMessage, keys ...string) {
	c.Helper()
	got := make([]string, 0, len(value))
	for k := range value {
		got = append(got, k)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(keys))
	if !slices.Equal(got, want) {
		c.Fatalf("keys %q, want all of and only %q", got, want)
	}
}

// expectString is expect(v).to.be.a("string").
func expectString(c *tc, what string, v json.RawMessage) {
	c.Helper()
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		c.Fatalf("%s = %s, want a string", what, v)
	}
}

// expectNumber is expect(v).to.eql(want) for a number.
func expectNumber(c *tc, what string, v json.RawMessage, want float64) {
	c.Helper()
	var f float64
	if err := json.Unmarshal(v, &f); err != nil || f != want {
		c.Fatalf("%s = %s, want %v", what, v, want)
	}
}
