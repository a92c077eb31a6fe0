package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"
)

// connectAll connects n clients and returns them with their server sockets.
func connectAll(t *testing.T, url string, sockets <-chan *Socket, n int, setup func(i int, c *Client)) ([]*Client, []*Socket) {
	t.Helper()
	clients := make([]*Client, n)
	socks := make([]*Socket, n)
	for i := range n {
		clients[i] = newClient(t, url, ClientOptions{})
		setup(i, clients[i])
		if err := clients[i].Connect(ctx(t)); err != nil {
			t.Fatal(err)
		}
		socks[i] = <-sockets
	}
	return clients, socks
}

func TestBroadcastEmitWithAck(t *testing.T) {
	tests := []struct {
		name    string
		silent  int  // index of a client that never answers; -1 for none
		kick    bool // disconnect the silent client once it has the event
		room    string
		want    []string
		wantErr error
	}{
		{"everyone answers", -1, false, "r", []string{`"c0"`, `"c1"`, `"c2"`}, nil},
		{"no recipient", -1, false, "empty", nil, nil},
		{"one silent: timeout", 1, false, "r", []string{`"c0"`, `"c2"`}, context.DeadlineExceeded},
		{"one leaves", 1, true, "r", []string{`"c0"`, `"c2"`}, ErrDisconnected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sockets := make(chan *Socket, 3)
			srv, ts := newServer(t, func(s *Server) { s.Of("/").OnConnection(func(sock *Socket) { sock.Join("r"); sockets <- sock }) })
			got := make(chan struct{}, 3)
			_, socks := connectAll(t, ts.URL, sockets, 3, func(i int, c *Client) {
				c.On("q", func(_ []json.RawMessage, ack AckFunc) {
					got <- struct{}{}
					if i != tt.silent {
						_ = ack("c" + string(rune('0'+i)))
					}
				})
			})
			if tt.kick {
				go func() {
					for range 3 {
						<-got
					}
					socks[tt.silent].Disconnect(true)
				}()
			}
			c := ctx(t)
			if tt.wantErr == context.DeadlineExceeded {
				var cancel context.CancelFunc
				c, cancel = context.WithTimeout(c, 300*time.Millisecond)
				defer cancel()
			}
			replies, err := srv.Of("/").To(tt.room).EmitWithAck(c, "q")
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			var names []string
			for _, r := range replies {
				names = append(names, string(r[0]))
			}
			slices.Sort(names)
			if !slices.Equal(names, tt.want) {
				t.Fatalf("replies = %v, want %v", names, tt.want)
			}
			n := srv.Of("/")
			n.amu.Lock()
			left := len(n.backs)
			n.amu.Unlock()
			if left != 0 {
				t.Fatalf("%d broadcast acks left registered", left)
			}
		})
	}
}

func TestVolatile(t *testing.T) {
	t.Run("connecting socket", func(t *testing.T) {
		entered, release := make(chan *Socket), make(chan struct{})
		srv, ts := newServer(t, func(s *Server) {
			s.Of("/").Use(func(sock *Socket, _ json.RawMessage) error {
				entered <- sock
				<-release
				return nil
			})
			s.Of("/").OnConnection(func(sock *Socket) { _ = sock.Emit("e", "marker") })
		})
		c := newClient(t, ts.URL, ClientOptions{})
		got := make(chan string, 4)
		c.On("e", func(args []json.RawMessage, _ AckFunc) { got <- string(args[0]) })
		done := make(chan error, 1)
		go func() { done <- c.Connect(ctx(t)) }()
		sock := <-entered
		// The socket is registered but its CONNECT is not sent yet.
		if err := srv.Of("/").Volatile().Emit("e", "volatile"); err != nil {
			t.Fatal(err)
		}
		if ok, err := sock.EmitVolatile("e", "volatile to one"); ok || err != nil {
			t.Fatalf("EmitVolatile = %v, %v; want dropped", ok, err)
		}
		if err := srv.Of("/").Emit("e", "held"); err != nil {
			t.Fatal(err)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`"held"`, `"marker"`} {
			if m := <-got; m != want {
				t.Fatalf("got %s, want %s", m, want)
			}
		}
	})
	t.Run("busy connection", func(t *testing.T) {
		sockets := make(chan *Socket, 1)
		srv, ts := newServer(t, func(s *Server) { s.Of("/").OnConnection(func(sock *Socket) { sockets <- sock }) })
		c := newClient(t, ts.URL, ClientOptions{})
		got := make(chan string, 4)
		c.On("e", func(args []json.RawMessage, _ AckFunc) { got <- string(args[0]) })
		if err := c.Connect(ctx(t)); err != nil {
			t.Fatal(err)
		}
		sock := <-sockets
		sock.sess.sendMu.Lock()
		sock.sess.forceBusy = true // as if the transport had not taken the last message
		sock.sess.sendMu.Unlock()
		if ok, _ := sock.EmitVolatile("e", "dropped"); ok {
			t.Fatal("volatile emit queued on a busy connection")
		}
		_ = srv.Of("/").Volatile().Emit("e", "dropped too")
		_ = srv.Of("/").Emit("e", "kept")
		if m := <-got; m != `"kept"` {
			t.Fatalf("got %s", m)
		}
	})
}

func TestAckTimeouts(t *testing.T) {
	sockets := make(chan *Socket, 1)
	_, ts := newServer(t, func(s *Server) {
		s.Of("/").OnConnection(func(sock *Socket) {
			sock.On("ignored", func([]json.RawMessage, AckFunc) {})
			sockets <- sock
		})
	})
	c := newClient(t, ts.URL, ClientOptions{})
	seen := make(chan struct{}, 2)
	c.On("ignored", func([]json.RawMessage, AckFunc) { seen <- struct{}{} })
	if err := c.Connect(ctx(t)); err != nil {
		t.Fatal(err)
	}
	sock := <-sockets
	short := func() context.Context {
		c, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		t.Cleanup(cancel)
		return c
	}
	if _, err := sock.EmitWithAck(short(), "ignored"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("server EmitWithAck = %v, want a timeout", err)
	}
	if _, err := c.EmitWithAck(short(), "ignored"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("client EmitWithAck = %v, want a timeout", err)
	}
	// A pending ack fails when the client goes.
	res := make(chan error, 1)
	go func() {
		_, err := sock.EmitWithAck(ctx(t), "ignored")
		res <- err
	}()
	<-seen // the first, timed-out emit
	<-seen // this one: its ack is registered
	c.Close()
	if err := <-res; !errors.Is(err, ErrDisconnected) {
		t.Fatalf("EmitWithAck after disconnect = %v", err)
	}
	if _, err := sock.EmitWithAck(ctx(t), "ignored"); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("EmitWithAck on a closed socket = %v", err)
	}
}

func TestCatchAll(t *testing.T) {
	sockets := make(chan *Socket, 1)
	_, ts := newServer(t, func(s *Server) {
		s.Of("/").OnConnection(func(sock *Socket) {
			sock.On("known", func(_ []json.RawMessage, ack AckFunc) { _ = ack("known") })
			sock.OnAny(func(event string, args []json.RawMessage, ack AckFunc) { _ = ack("any", event, args[0]) })
			sockets <- sock
		})
	})
	c := newClient(t, ts.URL, ClientOptions{})
	anyEvents := make(chan string, 1)
	c.OnAny(func(event string, args []json.RawMessage, _ AckFunc) { anyEvents <- event + string(args[0]) })
	if err := c.Connect(ctx(t)); err != nil {
		t.Fatal(err)
	}
	for event, want := range map[string]string{"known": `["known"]`, "other": `["any","other",1]`} {
		got, err := c.EmitWithAck(ctx(t), event, 1)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := json.Marshal(got); string(b) != want {
			t.Fatalf("%s: ack %s, want %s", event, b, want)
		}
	}
	_ = (<-sockets).Emit("surprise", 2)
	if got := <-anyEvents; got != "surprise2" {
		t.Fatalf("client OnAny got %s", got)
	}
}
