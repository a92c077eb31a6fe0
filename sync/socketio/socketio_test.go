package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newServer(t *testing.T, setup func(*Server)) (*Server, *httptest.Server) {
	t.Helper()
	s := NewServer(Options{})
	setup(s)
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		ts.Close()
	})
	return s, ts
}

// newHTTPServer serves s until the test ends.
func newHTTPServer(t *testing.T, s *Server) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		ts.Close()
	})
	return ts
}

func newClient(t *testing.T, url string, opts ClientOptions) *Client {
	t.Helper()
	c := NewClient(url, opts)
	t.Cleanup(func() { c.Close() })
	return c
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// authServer accepts auth {"token":"good"} and answers "echo" with an ack.
func authServer(s *Server) {
	s.Of("/").Use(func(sock *Socket, auth json.RawMessage) error {
		var a struct {
			Token string `json:"token"`
		}
		_ = json.Unmarshal(auth, &a)
		if a.Token != "good" {
			return &ConnectError{Message: "unauthorized", Data: map[string]string{"hint": "bad token"}}
		}
		sock.Set("user", "ann")
		return nil
	})
	s.Of("/").OnConnection(func(sock *Socket) {
		sock.On("echo", func(args []json.RawMessage, ack AckFunc) {
			if ack != nil {
				out := make([]any, len(args))
				for i, a := range args {
					out[i] = a
				}
				_ = ack(out...)
			}
		})
		sock.On("join", func(args []json.RawMessage, ack AckFunc) {
			var room string
			_ = json.Unmarshal(args[0], &room)
			sock.Join(room)
			_ = ack(true)
		})
		sock.On("shout", func(args []json.RawMessage, ack AckFunc) {
			var room string
			_ = json.Unmarshal(args[0], &room)
			_ = sock.Namespace().To(room).Emit("heard", sock.Get("user"), args[1])
		})
	})
}

func TestConnectAuthAndAck(t *testing.T) {
	_, ts := newServer(t, authServer)
	c := newClient(t, ts.URL, ClientOptions{Auth: func() any { return map[string]string{"token": "good"} }})
	if err := c.Connect(ctx(t)); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if c.ID() == "" {
		t.Fatal("no socket id after connect")
	}
	got, err := c.EmitWithAck(ctx(t), "echo", json.RawMessage(`{"b" : 1,"a":"<&>"}`), 2)
	if err != nil {
		t.Fatalf("EmitWithAck: %v", err)
	}
	if len(got) != 2 || string(got[0]) != `{"b" : 1,"a":"<&>"}` || string(got[1]) != "2" {
		t.Fatalf("ack args = %q, want the arguments byte for byte", got)
	}
}

func TestConnectRefused(t *testing.T) {
	_, ts := newServer(t, authServer)
	c := newClient(t, ts.URL, ClientOptions{Auth: func() any { return map[string]string{"token": "bad"} }})
	err := c.Connect(ctx(t))
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.Message != "unauthorized" {
		t.Fatalf("Connect = %v, want ConnectError unauthorized", err)
	}
	if got := string(ce.Data.(json.RawMessage)); got != `{"hint":"bad token"}` {
		t.Fatalf("data = %s", got)
	}
}

func TestUnknownNamespace(t *testing.T) {
	_, ts := newServer(t, authServer)
	c := newClient(t, ts.URL, ClientOptions{Namespace: "/nope"})
	var ce *ConnectError
	if err := c.Connect(ctx(t)); !errors.As(err, &ce) || ce.Message != "Invalid namespace" {
		t.Fatalf("Connect = %v, want Invalid namespace", err)
	}
}

func TestRoomsBroadcast(t *testing.T) {
	_, ts := newServer(t, authServer)
	auth := ClientOptions{Auth: func() any { return map[string]string{"token": "good"} }}
	a, b, outsider := newClient(t, ts.URL, auth), newClient(t, ts.URL, auth), newClient(t, ts.URL, auth)
	heard := map[*Client]chan string{a: make(chan string, 4), b: make(chan string, 4), outsider: make(chan string, 4)}
	for c, ch := range heard {
		c.On("heard", func(args []json.RawMessage, _ AckFunc) { ch <- string(args[0]) + " " + string(args[1]) })
		if err := c.Connect(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*Client{a, b} {
		if _, err := c.EmitWithAck(ctx(t), "join", "lounge"); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Emit("shout", "lounge", "hi"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{a, b} {
		select {
		case got := <-heard[c]:
			if got != `"ann" "hi"` {
				t.Fatalf("heard %q", got)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("room member did not hear the broadcast")
		}
	}
	// The outsider's ack proves the broadcast was already queued before it.
	if _, err := outsider.EmitWithAck(ctx(t), "echo"); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-heard[outsider]:
		t.Fatalf("outsider heard %q", got)
	default:
	}
}

func TestServerEmitWithAck(t *testing.T) {
	sockets := make(chan *Socket, 1)
	_, ts := newServer(t, func(s *Server) { s.Of("/").OnConnection(func(sock *Socket) { sockets <- sock }) })
	c := newClient(t, ts.URL, ClientOptions{})
	c.On("question", func(args []json.RawMessage, ack AckFunc) { _ = ack(42) })
	if err := c.Connect(ctx(t)); err != nil {
		t.Fatal(err)
	}
	sock := <-sockets
	got, err := sock.EmitWithAck(ctx(t), "question")
	if err != nil || len(got) != 1 || string(got[0]) != "42" {
		t.Fatalf("EmitWithAck = %q, %v", got, err)
	}
}

func TestReconnect(t *testing.T) {
	sockets := make(chan *Socket, 4)
	_, ts := newServer(t, func(s *Server) { s.Of("/").OnConnection(func(sock *Socket) { sockets <- sock }) })
	connects := make(chan struct{}, 4)
	c := newClient(t, ts.URL, ClientOptions{ReconnectDelay: 10 * time.Millisecond, ReconnectDelayMax: 50 * time.Millisecond})
	c.OnConnect(func() { connects <- struct{}{} })
	if err := c.Connect(ctx(t)); err != nil {
		t.Fatal(err)
	}
	<-connects
	first := <-sockets
	first.sess.conn.Close() // the transport drops, not a server DISCONNECT
	select {
	case <-connects:
	case <-time.After(5 * time.Second):
		t.Fatal("client did not reconnect")
	}
	if second := <-sockets; second.ID() == first.ID() {
		t.Fatal("reconnection reused the socket id")
	}
}

func TestBackoff(t *testing.T) {
	c := NewClient("x", ClientOptions{ReconnectDelay: 100 * time.Millisecond, ReconnectDelayMax: time.Second, Jitter: 0.5})
	defer c.Close()
	for n, base := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		base *= time.Millisecond
		for i := 0; i < 50; i++ {
			if d := c.backoff(n); d < base/2 || d > base*3/2 {
				t.Fatalf("backoff(%d) = %v, want within ±50%% of %v", n, d, base)
			}
		}
	}
}

func TestBadPacketsCloseConnection(t *testing.T) {
	_, ts := newServer(t, authServer)
	for _, frame := range []string{
		`42"not an array"`,
		`42["connect"]`,
		`42["disconnect"]`,
		`42[1]`,
		`4299999999999999999["echo"]`,
	} {
		t.Run(frame, func(t *testing.T) {
			ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			_, _, _ = ws.ReadMessage() // open
			_ = ws.WriteMessage(websocket.TextMessage, []byte(`40{"token":"good"}`))
			if _, data, err := ws.ReadMessage(); err != nil || !strings.HasPrefix(string(data), `40{"sid":`) {
				t.Fatalf("connect answer %q, %v", data, err)
			}
			_ = ws.WriteMessage(websocket.TextMessage, []byte(frame))
			_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			for {
				_, data, err := ws.ReadMessage()
				if err != nil {
					var ce *websocket.CloseError
					if errors.As(err, &ce) {
						return // closed, as it should be
					}
					t.Fatalf("read: %v (want a close)", err)
				}
				if string(data) == "2" || string(data) == "1" {
					continue
				}
				t.Fatalf("unexpected frame %q before close", data)
			}
		})
	}
}

func TestConnectTimeout(t *testing.T) {
	s := NewServer(Options{ConnectTimeout: 50 * time.Millisecond})
	ts := httptest.NewServer(s)
	defer ts.Close()
	defer s.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("read: %v, want close", err)
			}
			return
		}
	}
}

func TestLeaveAndExcept(t *testing.T) {
	sockets := make(chan *Socket, 3)
	srv, ts := newServer(t, func(s *Server) { s.Of("/").OnConnection(func(sock *Socket) { sockets <- sock }) })
	got := make([]chan string, 3)
	clients := make([]*Client, 3)
	socks := make([]*Socket, 3)
	for i := range clients {
		got[i] = make(chan string, 4)
		ch := got[i]
		clients[i] = newClient(t, ts.URL, ClientOptions{})
		clients[i].On("news", func(args []json.RawMessage, _ AckFunc) { ch <- string(args[0]) })
		clients[i].On("ping", func(_ []json.RawMessage, ack AckFunc) { _ = ack() })
		if err := clients[i].Connect(ctx(t)); err != nil {
			t.Fatal(err)
		}
		socks[i] = <-sockets
		socks[i].Join("room")
	}
	if got := srv.Of("/").RoomMembers("room"); len(got) != 3 {
		t.Fatalf("room members = %v", got)
	}
	socks[1].Leave("room")
	if socks[1].In("room") || !socks[0].In("room") {
		t.Fatal("In does not reflect Leave")
	}
	// From socket 0's point of view: to the room, except itself.
	if err := socks[0].To("room").Emit("news", "hello"); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got[2]:
		if m != `"hello"` {
			t.Fatalf("got %s", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("member did not get the broadcast")
	}
	// Events to a client arrive in order, so once a later ping is acked,
	// a broadcast queued before it would have been delivered.
	for _, i := range []int{0, 1} {
		if _, err := socks[i].EmitWithAck(ctx(t), "ping"); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range []int{0, 1} {
		select {
		case m := <-got[i]:
			t.Fatalf("client %d got %s", i, m)
		default:
		}
	}
}

func TestAuthMustBeAnObject(t *testing.T) {
	_, ts := newServer(t, authServer)
	c := newClient(t, ts.URL, ClientOptions{Auth: func() any { return "a string" }})
	var ce *ConnectError
	if err := c.Connect(ctx(t)); !errors.As(err, &ce) || !strings.Contains(ce.Message, "JSON object") {
		t.Fatalf("Connect = %v, want a refusal naming the JSON object rule", err)
	}
}

func TestClientOverEachTransport(t *testing.T) {
	for _, transports := range [][]string{{"polling"}, {"polling", "websocket"}, {"websocket"}} {
		t.Run(strings.Join(transports, "+"), func(t *testing.T) {
			_, ts := newServer(t, authServer)
			c := newClient(t, ts.URL, ClientOptions{Transports: transports, Auth: func() any { return map[string]string{"token": "good"} }})
			if err := c.Connect(ctx(t)); err != nil {
				t.Fatal(err)
			}
			for i := range 20 {
				got, err := c.EmitWithAck(ctx(t), "echo", i, Bytes{byte(i), 0xff})
				if err != nil {
					t.Fatal(err)
				}
				b, ok := Binary(got[1])
				if len(got) != 2 || string(got[0]) != fmt.Sprint(i) || !ok || len(b) != 2 || b[0] != byte(i) {
					t.Fatalf("echo %d = %s", i, got)
				}
			}
		})
	}
}
