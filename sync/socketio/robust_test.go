package socketio

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"tandem/sync/engineio"
)

func TestOnlyTheBadConnectionCloses(t *testing.T) {
	for _, bad := range []string{`2["disconnect"]`, `2{}`, `2abc["x"]`, `9`, `511-["x"]`} {
		t.Run(bad, func(t *testing.T) {
			srv, ts := newServer(t, func(*Server) {})
			good := newClient(t, ts.URL, ClientOptions{})
			got := make(chan string, 1)
			good.On("news", func(args []json.RawMessage, _ AckFunc) { got <- string(args[0]) })
			if err := good.Connect(ctx(t)); err != nil {
				t.Fatal(err)
			}
			p := dialPeer(t, ts.URL)
			p.send("0")
			p.next()
			p.send(bad)
			p.expectClose()
			_ = srv.Of("/").Emit("news", "still here")
			select {
			case m := <-got:
				if m != `"still here"` {
					t.Fatalf("got %s", m)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the good client lost its connection")
			}
		})
	}
}

func TestStalledPeerIsDropped(t *testing.T) {
	srv := NewServer(Options{Engine: engineio.Options{SendQueue: 8}})
	ts := newHTTPServer(t, srv)
	reasons := make(chan string, 2)
	srv.Of("/").OnConnection(func(sock *Socket) {
		sock.Join("r")
		sock.OnDisconnect(func(reason string) { reasons <- reason })
	})
	good := newClient(t, ts.URL, ClientOptions{})
	got := make(chan int, 1)
	good.On("big", func(args []json.RawMessage, _ AckFunc) {
		var i int
		_ = json.Unmarshal(args[0], &i)
		got <- i
	})
	if err := good.Connect(ctx(t)); err != nil {
		t.Fatal(err)
	}
	stalled := dialPeer(t, ts.URL) // reads nothing after CONNECT
	stalled.send("0")
	stalled.next()
	payload := strings.Repeat("x", 64<<10)
	dropped := false
	for i := 0; i < 2000 && !dropped; i++ {
		if err := srv.Of("/").To("r").Emit("big", i, payload); err != nil {
			t.Fatal(err)
		}
		// The good client gets every broadcast, in order, whatever the
		// stalled one does.
		select {
		case j := <-got:
			if j != i {
				t.Fatalf("good client got %d, want %d", j, i)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("good client did not get broadcast %d", i)
		}
		select {
		case r := <-reasons:
			if r != engineio.ReasonSlowPeer {
				t.Fatalf("stalled peer left with %q", r)
			}
			dropped = true
		default:
		}
	}
	if !dropped {
		t.Fatal("the stalled peer was never dropped")
	}
}
