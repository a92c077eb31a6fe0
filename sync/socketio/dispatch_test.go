package socketio

import (
	"encoding/json"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"tandem/sync/engineio"
)

// TestClientSlowHandlerKeepsConnection: while an event handler of the
// client is slow, the connection's reader goes on answering pings, so the
// server keeps the connection; the events that arrive meanwhile, and the
// ack of a command, are handled after it, in arrival order.
func TestClientSlowHandlerKeepsConnection(t *testing.T) {
	const ping = 100 * time.Millisecond
	s := NewServer(Options{Engine: engineio.Options{PingInterval: ping, PingTimeout: ping}})
	sockets := make(chan *Socket, 1)
	dropped := make(chan string, 1)
	s.Of("/").OnConnection(func(sock *Socket) {
		sock.OnDisconnect(func(reason string) { dropped <- reason })
		sock.On("echo", func(args []json.RawMessage, ack AckFunc) {
			if ack != nil {
				_ = ack("pong")
			}
		})
		sockets <- sock
	})
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		ts.Close()
	})

	c := newClient(t, ts.URL, ClientOptions{NoReconnect: true})
	entered, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the client's Close, which waits for the handler
	var mu sync.Mutex
	var order []string
	note := func(what string) {
		mu.Lock()
		order = append(order, what)
		mu.Unlock()
	}
	c.On("slow", func([]json.RawMessage, AckFunc) {
		close(entered)
		<-release
		note("slow")
	})
	c.On("after", func([]json.RawMessage, AckFunc) { note("after") })
	if err := c.Connect(ctx(t)); err != nil {
		t.Fatal(err)
	}
	sock := <-sockets
	if err := sock.Emit("slow"); err != nil {
		t.Fatal(err)
	}
	<-entered
	if err := sock.Emit("after"); err != nil {
		t.Fatal(err)
	}
	acked := make(chan error, 1)
	go func() {
		_, err := c.EmitWithAck(ctx(t), "echo")
		note("ack")
		acked <- err
	}()
	// Ten heartbeats with the handler blocked: the connection holds.
	select {
	case reason := <-dropped:
		t.Fatalf("the server dropped the connection while a client handler was slow: %s", reason)
	case <-time.After(10 * 2 * ping):
	}
	unblock()
	if err := <-acked; err != nil {
		t.Fatalf("echo: %v", err)
	}
	waitFor(t, "the events and the ack", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == 3
	})
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"slow", "after", "ack"}; !slices.Equal(order, want) {
		t.Fatalf("handled %v, want %v", order, want)
	}
	if !c.Connected() {
		t.Fatal("the client lost its connection")
	}
}
