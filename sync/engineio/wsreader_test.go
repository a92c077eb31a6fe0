package engineio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Tests of the server's WebSocket reader, driven by the readiness loop
// (the default on Linux) or by a goroutine (GoroutineReads): a gorilla
// client reads what the server sends, and the test writes its own frames
// to the socket under it.

// readModes runs a test with each way of reading WebSockets.
func readModes(t *testing.T, test func(t *testing.T, opts Options)) {
	for _, goroutines := range []bool{false, true} {
		t.Run(fmt.Sprintf("GoroutineReads=%v", goroutines), func(t *testing.T) {
			test(t, Options{GoroutineReads: goroutines})
		})
	}
}

func waitClosed(t *testing.T, e *echo) string {
	t.Helper()
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
		t.Fatal("server side not closed")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed[0]
}

// readText reads the next message that is not a heartbeat.
func readText(t *testing.T, ws *websocket.Conn) string {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if string(data) != "2" {
			return string(data)
		}
	}
}

// readClose reads until the server's close frame and returns its code.
func readClose(t *testing.T, ws *websocket.Conn) int {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		if err != nil {
			t.Fatalf("read: %v, want a close frame", err)
		}
	}
}

func writeRaw(t *testing.T, ws *websocket.Conn, b []byte) {
	t.Helper()
	if _, err := ws.NetConn().Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// pollServer starts an echo server; with the default options, the
// readiness loop reads its WebSockets.
func pollServer(t *testing.T, opts Options) (*httptest.Server, chan *echo, *Server) {
	t.Helper()
	handlers := make(chan *echo, 512)
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
	return ts, handlers, s
}

func TestWSFragmentedWithControlFrames(t *testing.T) {
	readModes(t, func(t *testing.T, opts Options) {
		ts, handlers, _ := pollServer(t, opts)
		ws, _ := dialRaw(t, ts)
		<-handlers
		pongs := make(chan string, 1)
		ws.SetPongHandler(func(p string) error { pongs <- p; return nil })
		writeRaw(t, ws, join(
			masked(false, opText, "4frag"),
			masked(true, opPing, "are you there"),
			masked(false, opContinuation, "men"),
			masked(true, opPong, "unasked"),
			masked(true, opContinuation, "ted €"),
		))
		if got := readText(t, ws); got != "4fragmented €" {
			t.Fatalf("echo %q", got)
		}
		select {
		case p := <-pongs:
			if p != "are you there" {
				t.Fatalf("pong %q", p)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no pong")
		}
	})
}

func TestWSFrameByteByByte(t *testing.T) {
	readModes(t, func(t *testing.T, opts Options) {
		ts, handlers, _ := pollServer(t, opts)
		ws, _ := dialRaw(t, ts)
		<-handlers
		frame := join(masked(true, opText, "4slow "+strings.Repeat("s", 200)), clientFrame(true, opBinary, []byte{0, 1, 2}, testKey))
		for i := range frame {
			writeRaw(t, ws, frame[i:i+1])
			time.Sleep(time.Millisecond) // each byte its own segment, most of them
		}
		if got := readText(t, ws); got != "4slow "+strings.Repeat("s", 200) {
			t.Fatalf("echo %q", got)
		}
		mt, data, err := ws.ReadMessage()
		if err != nil || mt != websocket.BinaryMessage || string(data) != "\x00\x01\x02" {
			t.Fatalf("binary echo %d %q %v", mt, data, err)
		}
	})
}

func TestWSLargeMessages(t *testing.T) {
	readModes(t, func(t *testing.T, opts Options) {
		ts, handlers, _ := pollServer(t, opts)
		ws, _ := dialRaw(t, ts)
		<-handlers
		for _, n := range []int{16<<10 - 20, 16<<10 + 1, 100_000, 999_999} {
			msg := "4" + strings.Repeat(string(rune('a'+n%26)), n)
			if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			if got := readText(t, ws); got != msg {
				t.Fatalf("%d bytes: echo of %d bytes", len(msg), len(got))
			}
		}
	})
}

func TestWSCloseHandshake(t *testing.T) {
	for _, tt := range []struct {
		payload string
		code    int // the server's answer
		reason  string
	}{
		{closePayload(1000, "bye"), 1000, ReasonTransportClose},
		{"", 1005, ReasonTransportClose},
		{closePayload(4000, "app"), 4000, ReasonTransportError},
		{closePayload(1004, ""), 1002, ReasonTransportError},
	} {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			readModes(t, func(t *testing.T, opts Options) {
				ts, handlers, _ := pollServer(t, opts)
				ws, _ := dialRaw(t, ts)
				e := <-handlers
				writeRaw(t, ws, masked(true, opClose, tt.payload))
				if got := readClose(t, ws); got != tt.code {
					t.Fatalf("server answered close %d, want %d", got, tt.code)
				}
				if got := waitClosed(t, e); got != tt.reason {
					t.Fatalf("reason %q, want %q", got, tt.reason)
				}
			})
		})
	}
}

func TestWSProtocolErrors(t *testing.T) {
	for _, tt := range []struct {
		name   string
		frame  []byte
		code   int
		reason string
	}{
		{"oversize", masked(true, opText, "4"+strings.Repeat("x", 20)), 1009, ReasonPayloadTooLarge},
		{"oversize in fragments", join(masked(false, opText, "4xxxxxxx"), masked(true, opContinuation, "xxxxxxxx")), 1009, ReasonPayloadTooLarge},
		{"bad UTF-8", masked(true, opText, "4\xff\xfe"), 1007, ReasonTransportError},
		{"unmasked", clientFrame(true, opText, []byte("4hi"), nil), 1002, ReasonTransportError},
		{"reserved opcode", masked(true, 0x5, "x"), 1002, ReasonTransportError},
		{"fragmented ping", masked(false, opPing, "x"), 1002, ReasonTransportError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			readModes(t, func(t *testing.T, opts Options) {
				opts.MaxPayload = 10
				ts, handlers, _ := pollServer(t, opts)
				ws, _ := dialRaw(t, ts)
				e := <-handlers
				writeRaw(t, ws, tt.frame)
				if got := readClose(t, ws); got != tt.code {
					t.Fatalf("server closed with %d, want %d", got, tt.code)
				}
				if got := waitClosed(t, e); got != tt.reason {
					t.Fatalf("reason %q, want %q", got, tt.reason)
				}
			})
		})
	}
}

func TestWSPeerVanishes(t *testing.T) {
	readModes(t, func(t *testing.T, opts Options) {
		ts, handlers, _ := pollServer(t, opts)
		ws, _ := dialRaw(t, ts)
		e := <-handlers
		writeRaw(t, ws, masked(true, opText, "4half")[:5]) // an incomplete frame, then EOF
		ws.NetConn().Close()
		if got := waitClosed(t, e); got != ReasonTransportError {
			t.Fatalf("reason %q", got)
		}
	})
}

// TestPollManyConnections: many connections, each sending many messages
// at once, get every echo, in order.
func TestWSManyConnections(t *testing.T) {
	readModes(t, func(t *testing.T, opts Options) {
		opts.ReadWorkers = 4
		ts, handlers, _ := pollServer(t, opts)
		const conns, msgs = 200, 20
		wss := make([]*websocket.Conn, conns)
		for i := range wss {
			wss[i], _ = dialRaw(t, ts)
			<-handlers
		}
		var wg sync.WaitGroup
		errs := make(chan error, conns)
		for i, ws := range wss {
			wg.Go(func() {
				var batch []byte
				for j := range msgs {
					batch = append(batch, masked(true, opText, fmt.Sprintf("4c%d-m%d", i, j))...)
				}
				if _, err := ws.NetConn().Write(batch); err != nil {
					errs <- err
					return
				}
				_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
				for j := 0; j < msgs; {
					_, data, err := ws.ReadMessage()
					if err != nil {
						errs <- fmt.Errorf("conn %d: %w", i, err)
						return
					}
					if string(data) == "2" {
						continue
					}
					if want := fmt.Sprintf("4c%d-m%d", i, j); string(data) != want {
						errs <- fmt.Errorf("conn %d: got %q, want %q", i, data, want)
						return
					}
					j++
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// TestPollUpgrade: a polling session upgrades to a WebSocket the loop
// reads, and a message sent in the same segment as "5" is not lost.
func TestWSUpgrade(t *testing.T) {
	readModes(t, func(t *testing.T, opts Options) {
		ts, handlers, _ := pollServer(t, opts)
		sid := openPolling(t, ts).SID
		e := <-handlers
		ws, _, err := websocket.DefaultDialer.Dial(wsURL(ts, "EIO=4&transport=websocket&sid="+sid), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		writeRaw(t, ws, masked(true, opText, "2probe"))
		if got := readText(t, ws); got != "3probe" {
			t.Fatalf("probe answer %q", got)
		}
		writeRaw(t, ws, join(masked(true, opText, "5"), masked(true, opText, "4after")))
		if got := readText(t, ws); got != "4after" {
			t.Fatalf("echo %q", got)
		}
		if got := e.c.Transport(); got != WebSocket {
			t.Fatalf("transport %q", got)
		}
	})
}

// TestPollProbeTimeout: a probe that never sends "5" is given up, and
// polling goes on.
func TestWSProbeTimeout(t *testing.T) {
	readModes(t, func(t *testing.T, opts Options) {
		opts.UpgradeTimeout = 200 * time.Millisecond
		ts, handlers, s := pollServer(t, opts)
		sid := openPolling(t, ts).SID
		e := <-handlers
		ws, _, err := websocket.DefaultDialer.Dial(wsURL(ts, "EIO=4&transport=websocket&sid="+sid), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := ws.ReadMessage(); err == nil {
			t.Fatal("probe not closed")
		}
		if got := e.c.Transport(); got != Polling {
			t.Fatalf("transport %q", got)
		}
		checkNoReaders(t, s)
	})
}

// TestWSEarlyFrames: a client that sends its first frame right behind its
// handshake request, in one segment, before the server answered, breaks
// RFC 6455 (section 4.1: it must wait for the answer). It is refused and
// the connection closed, and the server serves the next client.
func TestWSEarlyFrames(t *testing.T) {
	readModes(t, func(t *testing.T, opts Options) {
		ts, _, _ := pollServer(t, opts)
		nc, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		req := "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
		if _, err := nc.Write(append([]byte(req), masked(true, opText, "4early")...)); err != nil {
			t.Fatal(err)
		}
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(nc)
		if err != nil {
			t.Fatalf("read: %v (got %q)", err, b)
		}
		if bytes.Contains(b, []byte("101 Switching Protocols")) {
			t.Fatalf("the early client was answered: %q", b)
		}
		// The next, well-behaved client gets its session.
		d := websocket.Dialer{}
		c, _, err := d.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, m, err := c.ReadMessage(); err != nil || len(m) == 0 || m[0] != typeOpen {
			t.Fatalf("open packet %q, %v", m, err)
		}
	})
}

func TestWSHandshakeRefused(t *testing.T) {
	ts, _, _ := pollServer(t, Options{})
	for _, tt := range []struct {
		name   string
		header http.Header
		status int
	}{
		{"version 8", http.Header{"Sec-Websocket-Version": {"8"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}, http.StatusBadRequest},
		{"short key", http.Header{"Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"c2hvcnQ="}}, http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, ts.URL+"/socket.io/?EIO=4&transport=websocket", nil)
			req.Header = tt.header
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

// TestWSOverTLS: a TLS connection, which the readiness loop cannot read,
// is read by a goroutine and written by the flusher.
func TestWSOverTLS(t *testing.T) {
	handlers := make(chan *echo, 1)
	s := NewServer(Options{}, nil, func(c *Conn) Handler {
		e := &echo{c: c, done: make(chan struct{})}
		handlers <- e
		return e
	})
	ts := httptest.NewTLSServer(s)
	t.Cleanup(func() {
		s.Close()
		ts.Close()
	})
	d := websocket.Dialer{TLSClientConfig: ts.Client().Transport.(*http.Transport).TLSClientConfig}
	ws, _, err := d.Dial("wss"+strings.TrimPrefix(ts.URL, "https")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	<-handlers
	readText(t, ws) // open
	for _, msg := range []string{"4over tls", "4" + strings.Repeat("t", 50_000)} {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if got := readText(t, ws); got != msg {
			t.Fatalf("echo of %d bytes, want %d", len(got), len(msg))
		}
	}
}
