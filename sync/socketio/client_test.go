package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls cond until it holds; it fails the test after 10 s. It
// waits for a state, it asserts nothing about time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// gatedAuth returns an Auth function whose calls after the first wait for
// gate: reconnections stay pending until the test opens it.
func gatedAuth(gate <-chan struct{}, auth any) func() any {
	var calls atomic.Int32
	return func() any {
		if calls.Add(1) > 1 {
			<-gate
		}
		return auth
	}
}

func (c *Client) buffered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.buffer)
}

func TestClientBuffer(t *testing.T) {
	got := make(chan string, 16)
	sockets := make(chan *Socket, 4)
	_, ts := newServer(t, func(s *Server) {
		s.Of("/").OnConnection(func(sock *Socket) {
			sock.On("n", func(args []json.RawMessage, ack AckFunc) {
				got <- string(args[0])
				if ack != nil {
					_ = ack("ok")
				}
			})
			sockets <- sock
		})
	})
	gate := make(chan struct{})
	c := newClient(t, ts.URL, ClientOptions{ReconnectDelay: time.Millisecond, ReconnectDelayMax: time.Millisecond, Auth: gatedAuth(gate, nil)})
	disconnected := make(chan struct{}, 1)
	c.OnDisconnect(func(string) { disconnected <- struct{}{} })
	expect := func(want ...string) {
		t.Helper()
		for _, w := range want {
			select {
			case m := <-got:
				if m != w {
					t.Fatalf("server got %s, want %s", m, w)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("server did not get %s", w)
			}
		}
	}
	// Before the first connection.
	for _, n := range []int{1, 2} {
		if err := c.Emit("n", n); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Connect(ctx(t)); err != nil {
		t.Fatal(err)
	}
	expect("1", "2")
	// While reconnecting.
	(<-sockets).sess.conn.Close()
	<-disconnected
	if err := c.Emit("n", 3); err != nil {
		t.Fatal(err)
	}
	acked := make(chan error, 1)
	go func() {
		args, err := c.EmitWithAck(ctx(t), "n", 4)
		if err == nil && string(args[0]) != `"ok"` {
			err = errors.New("bad ack " + string(args[0]))
		}
		acked <- err
	}()
	waitFor(t, "the ack emit to be buffered", func() bool { return c.buffered() == 2 })
	if err := c.Emit("n", 5); err != nil {
		t.Fatal(err)
	}
	close(gate)
	expect("3", "4", "5")
	if err := <-acked; err != nil {
		t.Fatalf("buffered EmitWithAck: %v", err)
	}
}

func TestClientBufferLimits(t *testing.T) {
	short := func() context.Context {
		c, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		t.Cleanup(cancel)
		return c
	}
	tests := []struct {
		name string
		size int
		emit func(c *Client) error
		want error
	}{
		{"full", 2, func(c *Client) error { _ = c.Emit("a"); _ = c.Emit("b"); return c.Emit("c") }, ErrBufferFull},
		{"full, with ack", 1, func(c *Client) error { _ = c.Emit("a"); _, err := c.EmitWithAck(short(), "b"); return err }, ErrBufferFull},
		{"off", -1, func(c *Client) error { return c.Emit("a") }, ErrNotConnected},
		{"off, with ack", -1, func(c *Client) error { _, err := c.EmitWithAck(short(), "a"); return err }, ErrNotConnected},
		{"buffered ack times out and frees its place", 1, func(c *Client) error {
			if _, err := c.EmitWithAck(short(), "a"); !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			return c.Emit("b")
		}, nil},
		{"closed", 0, func(c *Client) error { c.Close(); return c.Emit("a") }, ErrClientClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, "http://127.0.0.1:1", ClientOptions{BufferSize: tt.size})
			if err := tt.emit(c); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}
