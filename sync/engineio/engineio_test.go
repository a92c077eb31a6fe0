package engineio

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echo is a handler that sends every message back and records the close.
type echo struct {
	c      *Conn
	mu     sync.Mutex
	closed []string
	done   chan struct{}
}

func (e *echo) OnMessage(data []byte, binary bool) {
	_ = e.c.Send(append([]byte(nil), data...), binary)
}
func (e *echo) OnClose(reason string) {
	e.mu.Lock()
	e.closed = append(e.closed, reason)
	e.mu.Unlock()
	close(e.done)
}

func newEchoServer(t *testing.T, opts Options) (*httptest.Server, chan *echo) {
	t.Helper()
	handlers := make(chan *echo, 16)
	s := NewServer(opts, nil, func(c *Conn) Handler {
		e := &echo{c: c, done: make(chan struct{})}
		handlers <- e
		return e
	})
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		ts.Close()
	})
	return ts, handlers
}

func wsURL(ts *httptest.Server, query string) string {
	return "ws" + strings.TrimPrefix(ts.URL, "http") + "/socket.io/?" + query
}

func dialRaw(t *testing.T, ts *httptest.Server) (*websocket.Conn, handshake) {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(wsURL(ts, "EIO=4&transport=websocket"), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	_, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read open: %v", err)
	}
	h, err := decodeOpen(data)
	if err != nil {
		t.Fatalf("open packet: %v", err)
	}
	return ws, h
}

func TestHandshake(t *testing.T) {
	ts, _ := newEchoServer(t, Options{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond, MaxPayload: 1000})
	_, h := dialRaw(t, ts)
	if got, want := h.PingInterval, int64(300); got != want {
		t.Errorf("pingInterval = %d, want %d", got, want)
	}
	if got, want := h.PingTimeout, int64(200); got != want {
		t.Errorf("pingTimeout = %d, want %d", got, want)
	}
	if got, want := h.MaxPayload, int64(1000); got != want {
		t.Errorf("maxPayload = %d, want %d", got, want)
	}
	if h.Upgrades == nil || len(h.SID) < 16 {
		t.Errorf("handshake = %+v, want upgrades [] and a long sid", h)
	}
}

func TestDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	if o.PingInterval != 25*time.Second || o.PingTimeout != 20*time.Second || o.MaxPayload != 1_000_000 {
		t.Fatalf("defaults = %+v", o)
	}
}

func TestHandshakeErrors(t *testing.T) {
	ts, _ := newEchoServer(t, Options{})
	tests := []struct {
		query    string
		wantCode int
	}{
		{"transport=websocket", codeUnsupportedVersion},
		{"EIO=3&transport=websocket", codeUnsupportedVersion},
		{"EIO=4&transport=carrier-pigeon", codeTransportUnknown},
		{"EIO=4", codeTransportUnknown},
		{"EIO=4&transport=websocket&sid=nope", codeUnknownSID},
		{"EIO=4&transport=websocket", codeBadHandshakeMethod}, // plain GET, no upgrade
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			resp, err := http.Get(ts.URL + "/socket.io/?" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400", resp.StatusCode)
			}
			var body struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("body: %v", err)
			}
			if body.Code != tt.wantCode || body.Message != errorMessage(tt.wantCode) {
				t.Fatalf("body = %+v, want code %d", body, tt.wantCode)
			}
		})
	}
}

func TestAllowRequest(t *testing.T) {
	ts, _ := newEchoServer(t, Options{AllowRequest: func(r *http.Request) error {
		if r.Header.Get("X-Let-Me-In") == "" {
			return context.Canceled
		}
		return nil
	}})
	_, resp, err := websocket.DefaultDialer.Dial(wsURL(ts, "EIO=4&transport=websocket"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dial without header: err %v, resp %v; want 403", err, resp)
	}
	ws, _, err := websocket.DefaultDialer.Dial(wsURL(ts, "EIO=4&transport=websocket"), http.Header{"X-Let-Me-In": {"1"}})
	if err != nil {
		t.Fatalf("dial with header: %v", err)
	}
	ws.Close()
}

func TestMessagesAndHeartbeat(t *testing.T) {
	ts, handlers := newEchoServer(t, Options{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond})
	ws, _ := dialRaw(t, ts)
	e := <-handlers
	if err := ws.WriteMessage(websocket.TextMessage, []byte("4hello")); err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	var gotText, gotBinary bool
	pings := 0
	deadline := time.Now().Add(5 * time.Second)
	for (!gotText || !gotBinary || pings < 3) && time.Now().Before(deadline) {
		_ = ws.SetReadDeadline(deadline)
		mt, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		switch {
		case mt == websocket.BinaryMessage && string(data) == "\x01\x02\x03":
			gotBinary = true
		case string(data) == "4hello":
			gotText = true
		case string(data) == "2":
			pings++
			if err := ws.WriteMessage(websocket.TextMessage, []byte("3")); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unexpected frame %q", data)
		}
	}
	if !gotText || !gotBinary || pings < 3 {
		t.Fatalf("text %v binary %v pings %d", gotText, gotBinary, pings)
	}
	select {
	case <-e.done:
		t.Fatalf("connection closed although pongs were sent: %v", e.closed)
	default:
	}
}

func TestPingTimeout(t *testing.T) {
	ts, handlers := newEchoServer(t, Options{PingInterval: 30 * time.Millisecond, PingTimeout: 30 * time.Millisecond})
	dialRaw(t, ts) // never answers pings
	e := <-handlers
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
		t.Fatal("connection not closed without pongs")
	}
	if got := e.closed; len(got) != 1 || got[0] != ReasonPingTimeout {
		t.Fatalf("close reasons = %q, want [%q]", got, ReasonPingTimeout)
	}
}

func TestMaxPayload(t *testing.T) {
	ts, handlers := newEchoServer(t, Options{MaxPayload: 10})
	ws, _ := dialRaw(t, ts)
	e := <-handlers
	_ = ws.WriteMessage(websocket.TextMessage, []byte("4"+strings.Repeat("x", 11)))
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
		t.Fatal("oversized message did not close the connection")
	}
}

func TestBadPacketCloses(t *testing.T) {
	ts, handlers := newEchoServer(t, Options{})
	ws, _ := dialRaw(t, ts)
	e := <-handlers
	_ = ws.WriteMessage(websocket.TextMessage, []byte("9what"))
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
		t.Fatal("bad packet did not close the connection")
	}
	if e.closed[0] != ReasonParseError {
		t.Fatalf("reason = %q", e.closed[0])
	}
}

// clientRecorder is a client-side handler.
type clientRecorder struct {
	msgs   chan string
	closed chan string
}

func (r *clientRecorder) OnMessage(data []byte, _ bool) { r.msgs <- string(data) }
func (r *clientRecorder) OnClose(reason string)         { r.closed <- reason }

func TestClientDial(t *testing.T) {
	ts, handlers := newEchoServer(t, Options{PingInterval: 20 * time.Millisecond, PingTimeout: 50 * time.Millisecond})
	rec := &clientRecorder{msgs: make(chan string, 4), closed: make(chan string, 1)}
	c, err := Dial(context.Background(), ts.URL, DialOptions{}, func(*Conn) Handler { return rec })
	if err != nil {
		t.Fatal(err)
	}
	e := <-handlers
	if got, want := c.ID(), e.c.ID(); got != want {
		t.Fatalf("client sid %q, server sid %q", got, want)
	}
	time.Sleep(200 * time.Millisecond) // several heartbeats, answered by the client
	if err := c.Send([]byte("ping me"), false); err != nil {
		t.Fatal(err)
	}
	if got := <-rec.msgs; got != "ping me" {
		t.Fatalf("echo = %q", got)
	}
	c.Close()
	c.Wait()
	<-rec.closed
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
		t.Fatal("server side not closed after client Close")
	}
	if got := e.closed[0]; got != ReasonTransportClose {
		t.Fatalf("server close reason = %q, want %q", got, ReasonTransportClose)
	}
}

func TestEndpointURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"127.0.0.1:7878", "ws://127.0.0.1:7878/socket.io/?EIO=4&transport=websocket"},
		{"http://h:1", "ws://h:1/socket.io/?EIO=4&transport=websocket"},
		{"https://h", "wss://h/socket.io/?EIO=4&transport=websocket"},
		{"wss://h/x", "wss://h/socket.io/?EIO=4&transport=websocket"},
	}
	for _, tt := range tests {
		got, err := EndpointURL(tt.in, "")
		if err != nil || got != tt.want {
			t.Errorf("EndpointURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := EndpointURL("ftp://h", ""); err == nil {
		t.Error("ftp scheme accepted")
	}
}
