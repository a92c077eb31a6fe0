package engineio

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func pollURL(ts *httptest.Server, sid string) string {
	u := ts.URL + "/socket.io/?EIO=4&transport=polling"
	if sid != "" {
		u += "&sid=" + sid
	}
	return u
}

func httpDo(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func openPolling(t *testing.T, ts *httptest.Server) handshake {
	t.Helper()
	code, body := httpDo(t, http.MethodGet, pollURL(ts, ""), "")
	if code != 200 {
		t.Fatalf("handshake: %d %s", code, body)
	}
	h, err := decodeOpen([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestPollingEchoAndBinary(t *testing.T) {
	ts, handlers := newEchoServer(t, Options{})
	h := openPolling(t, ts)
	<-handlers
	if len(h.Upgrades) != 1 || h.Upgrades[0] != "websocket" {
		t.Fatalf("upgrades = %v, want [websocket]", h.Upgrades)
	}
	if code, body := httpDo(t, http.MethodPost, pollURL(ts, h.SID), "4hello\x1ebAQIDBA==\x1e4two"); code != 200 || body != "ok" {
		t.Fatalf("POST = %d %q", code, body)
	}
	if code, body := httpDo(t, http.MethodGet, pollURL(ts, h.SID), ""); code != 200 || body != "4hello\x1ebAQIDBA==\x1e4two" {
		t.Fatalf("GET = %d %q, want every queued packet in one body", code, body)
	}
}

func TestPollingErrors(t *testing.T) {
	ts, handlers := newEchoServer(t, Options{MaxPayload: 100})
	t.Run("bad packet closes the session", func(t *testing.T) {
		h := openPolling(t, ts)
		e := <-handlers
		if code, _ := httpDo(t, http.MethodPost, pollURL(ts, h.SID), "abc"); code != 400 {
			t.Fatalf("POST abc = %d, want 400", code)
		}
		<-e.done
		if code, _ := httpDo(t, http.MethodGet, pollURL(ts, h.SID), ""); code != 400 {
			t.Fatalf("GET after close = %d, want 400", code)
		}
	})
	t.Run("payload over maxPayload gets 413", func(t *testing.T) {
		h := openPolling(t, ts)
		e := <-handlers
		if code, _ := httpDo(t, http.MethodPost, pollURL(ts, h.SID), "4"+strings.Repeat("x", 200)); code != 413 {
			t.Fatalf("POST = %d, want 413", code)
		}
		<-e.done
	})
	t.Run("overlapping GETs", func(t *testing.T) {
		h := openPolling(t, ts)
		e := <-handlers
		first := make(chan string, 1)
		go func() {
			code, body := httpDo(t, http.MethodGet, pollURL(ts, h.SID), "")
			first <- fmt.Sprint(code, " ", body)
		}()
		// Wait until the first GET is parked, then send the second.
		waitCond(t, func() bool {
			e.c.mu.Lock()
			defer e.c.mu.Unlock()
			return e.c.getBusy
		})
		if code, _ := httpDo(t, http.MethodGet, pollURL(ts, h.SID), ""); code != 400 {
			t.Fatalf("second GET = %d, want 400", code)
		}
		if got := <-first; got != "200 1" {
			t.Fatalf("first GET = %q, want 200 with the close packet", got)
		}
		if code, _ := httpDo(t, http.MethodGet, pollURL(ts, h.SID), ""); code != 400 {
			t.Fatalf("GET after close = %d, want 400", code)
		}
	})
	t.Run("POST without sid", func(t *testing.T) {
		if code, _ := httpDo(t, http.MethodPost, pollURL(ts, ""), "4x"); code != 400 {
			t.Fatalf("POST = %d, want 400", code)
		}
	})
}

func waitCond(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPollingHeartbeat(t *testing.T) {
	ts, handlers := newEchoServer(t, Options{PingInterval: 30 * time.Millisecond, PingTimeout: 40 * time.Millisecond})
	h := openPolling(t, ts)
	e := <-handlers
	for i := 0; i < 3; i++ {
		if code, body := httpDo(t, http.MethodGet, pollURL(ts, h.SID), ""); code != 200 || body != "2" {
			t.Fatalf("GET = %d %q, want a ping", code, body)
		}
		if code, _ := httpDo(t, http.MethodPost, pollURL(ts, h.SID), "3"); code != 200 {
			t.Fatalf("pong POST = %d", code)
		}
	}
	// No GET and no pong: the deadline runs from when the ping was queued.
	<-e.done
	if e.closed[0] != ReasonPingTimeout {
		t.Fatalf("reason = %q", e.closed[0])
	}
}

func TestServerUpgrade(t *testing.T) {
	ts, handlers := newEchoServer(t, Options{})
	h := openPolling(t, ts)
	e := <-handlers
	ws, _, err := websocket.DefaultDialer.Dial(wsURL(ts, "EIO=4&transport=websocket&sid="+h.SID), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.WriteMessage(websocket.TextMessage, []byte("2probe"))
	if _, data, err := ws.ReadMessage(); err != nil || string(data) != "3probe" {
		t.Fatalf("probe answer %q, %v", data, err)
	}
	if code, body := httpDo(t, http.MethodGet, pollURL(ts, h.SID), ""); code != 200 || body != "6" {
		t.Fatalf("GET during upgrade = %d %q, want noop", code, body)
	}
	_ = ws.WriteMessage(websocket.TextMessage, []byte("5"))
	_ = ws.WriteMessage(websocket.TextMessage, []byte("4hello"))
	if _, data, err := ws.ReadMessage(); err != nil || string(data) != "4hello" {
		t.Fatalf("echo over the upgraded socket %q, %v", data, err)
	}
	if code, _ := httpDo(t, http.MethodGet, pollURL(ts, h.SID), ""); code != 400 {
		t.Fatalf("GET after upgrade = %d, want 400", code)
	}
	// A second WebSocket on the session opens and is closed at once.
	ws2, _, err := websocket.DefaultDialer.Dial(wsURL(ts, "EIO=4&transport=websocket&sid="+h.SID), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws2.Close()
	_ = ws2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := ws2.ReadMessage(); !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
		t.Fatalf("second websocket: %v, want a close", err)
	}
	if got := e.c.Transport(); got != WebSocket {
		t.Fatalf("transport = %s", got)
	}
}

func TestCORS(t *testing.T) {
	ts, _ := newEchoServer(t, Options{AllowedOrigins: []string{"https://friends.example"}})
	req, _ := http.NewRequest(http.MethodGet, pollURL(ts, ""), nil)
	req.Header.Set("Origin", "https://friends.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); resp.StatusCode != 200 || got != "https://friends.example" {
		t.Fatalf("allowed origin: %d, ACAO %q", resp.StatusCode, got)
	}
	req.Header.Set("Origin", "https://evil.example")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("foreign origin: %d, want 403", resp.StatusCode)
	}
}

// ordered records the messages a client gets.
type ordered struct {
	mu     sync.Mutex
	msgs   []string
	closed chan string
}

func (o *ordered) OnMessage(data []byte, _ bool) {
	o.mu.Lock()
	o.msgs = append(o.msgs, string(data))
	o.mu.Unlock()
}
func (o *ordered) OnClose(reason string) { o.closed <- reason }
func (o *ordered) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.msgs)
}

func TestClientTransports(t *testing.T) {
	for _, transports := range [][]string{{Polling}, {Polling, WebSocket}, {WebSocket}} {
		t.Run(strings.Join(transports, "+"), func(t *testing.T) {
			ts, handlers := newEchoServer(t, Options{PingInterval: 50 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
			rec := &ordered{closed: make(chan string, 1)}
			c, err := Dial(context.Background(), ts.URL, DialOptions{Transports: transports}, func(*Conn) Handler { return rec })
			if err != nil {
				t.Fatal(err)
			}
			e := <-handlers
			const n = 200
			for i := 0; i < n; i++ {
				if err := c.Send([]byte(fmt.Sprint(i)), false); err != nil {
					t.Fatal(err)
				}
				if i%20 == 0 {
					time.Sleep(5 * time.Millisecond) // spread the sends over the upgrade
				}
			}
			waitCond(t, func() bool { return rec.count() == n })
			rec.mu.Lock()
			for i, m := range rec.msgs {
				if m != fmt.Sprint(i) {
					t.Fatalf("message %d = %q: order lost", i, m)
				}
			}
			rec.mu.Unlock()
			want := transports[len(transports)-1]
			waitCond(t, func() bool { return c.Transport() == want && e.c.Transport() == want })
			time.Sleep(300 * time.Millisecond) // heartbeats keep it alive
			select {
			case r := <-rec.closed:
				t.Fatalf("closed: %s", r)
			default:
			}
			c.Close()
			c.Wait()
			<-e.done
		})
	}
}
