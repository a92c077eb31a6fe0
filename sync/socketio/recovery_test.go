package socketio

import (
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRecoveryGoClient(t *testing.T) {
	sockets := make(chan *Socket, 4)
	gone := make(chan string, 4)
	srv := NewServer(Options{Recovery: &RecoveryOptions{}})
	ts := newHTTPServer(t, srv)
	func(s *Server) {
		s.Of("/").OnConnection(func(sock *Socket) {
			sock.On("join", func(args []json.RawMessage, ack AckFunc) {
				var room string
				_ = json.Unmarshal(args[0], &room)
				sock.Join(room)
				sock.Set("joined", room)
				_ = ack()
			})
			sock.OnDisconnect(func(reason string) { gone <- reason })
			sockets <- sock
		})
	}(srv)
	gate := make(chan struct{})
	c := newClient(t, ts.URL, ClientOptions{ReconnectDelay: time.Millisecond, ReconnectDelayMax: time.Millisecond,
		Auth: gatedAuth(gate, map[string]string{"token": "t"})})
	news := make(chan string, 16)
	c.On("news", func(args []json.RawMessage, _ AckFunc) { news <- string(args[0]) })
	connects := make(chan bool, 4)
	c.OnConnect(func() { connects <- c.Recovered() })
	if err := c.Connect(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if <-connects {
		t.Fatal("first connection recovered")
	}
	first := <-sockets
	if _, err := c.EmitWithAck(ctx(t), "join", "lounge"); err != nil {
		t.Fatal(err)
	}
	nsp := srv.Of("/")
	expect := func(want ...string) {
		t.Helper()
		for _, w := range want {
			select {
			case m := <-news:
				if m != w {
					t.Fatalf("got news %s, want %s", m, w)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no news %s", w)
			}
		}
	}
	_ = nsp.To("lounge").Emit("news", 1)
	expect("1")

	first.sess.conn.Close() // the transport drops
	<-gone                  // the session is kept
	_ = nsp.To("lounge").Emit("news", 2)
	_ = nsp.To("elsewhere").Emit("news", -1)
	_ = nsp.Emit("news", 3)
	_ = nsp.Volatile().Emit("news", -2)
	close(gate)
	if !<-connects {
		t.Fatal("reconnection did not recover")
	}
	second := <-sockets
	_ = nsp.To("lounge").Emit("news", 4)
	expect("2", "3", "4")
	if second.ID() != first.ID() || c.ID() != first.ID() {
		t.Fatalf("ids %s, %s; want %s", second.ID(), c.ID(), first.ID())
	}
	wantRooms := []string{first.ID(), "lounge"}
	slices.Sort(wantRooms)
	if !second.Recovered() || !slices.Equal(second.Rooms(), wantRooms) || second.Get("joined") != "lounge" {
		t.Fatalf("recovered socket: recovered %v, rooms %v, joined %v", second.Recovered(), second.Rooms(), second.Get("joined"))
	}
	select {
	case m := <-news:
		t.Fatalf("unexpected news %s", m)
	default:
	}
}

// hello parses a CONNECT answer.
func hello(t *testing.T, frame string) (sid, pid string) {
	t.Helper()
	var v struct{ SID, PID string }
	if !strings.HasPrefix(frame, "40{") || json.Unmarshal([]byte(frame[2:]), &v) != nil {
		t.Fatalf("CONNECT answer %q", frame)
	}
	return v.SID, v.PID
}

// offsetOf returns the last argument of an event frame.
func offsetOf(t *testing.T, frame string) string {
	t.Helper()
	var args []json.RawMessage
	if !strings.HasPrefix(frame, "42[") || json.Unmarshal([]byte(frame[2:]), &args) != nil {
		t.Fatalf("event %q", frame)
	}
	var o string
	if json.Unmarshal(args[len(args)-1], &o) != nil {
		t.Fatalf("no offset in %q", frame)
	}
	return o
}

func TestRecoveryWire(t *testing.T) {
	tests := []struct {
		name      string
		skipMW    bool
		leave     func(p *peer)      // how the first connection ends
		meanwhile func(n *Namespace) // broadcasts while disconnected
		auth      func(pid, off string) string
		advance   time.Duration
		recovered bool
		replay    []string // frames after CONNECT, offsets cut off
		mwCalls   int32    // middleware calls in all
	}{
		{name: "recovered", meanwhile: func(n *Namespace) { _ = n.To("r").Emit("m", 2); _ = n.To("q").Emit("m", 0) },
			auth: func(pid, off string) string { return `{"pid":"` + pid + `","offset":"` + off + `","token":"x"}` }, recovered: true,
			replay: []string{`42["m",2,`}, mwCalls: 2},
		{name: "middleware skipped", skipMW: true,
			auth: func(pid, off string) string { return `{"pid":"` + pid + `","offset":"` + off + `"}` }, recovered: true, mwCalls: 1},
		{name: "no offset: from the start", meanwhile: func(n *Namespace) { _ = n.Emit("m", 3) },
			auth: func(pid, _ string) string { return `{"pid":"` + pid + `"}` }, recovered: true, replay: []string{`42["m",1,`, `42["m",3,`}, mwCalls: 2},
		{name: "unknown offset",
			auth: func(pid, _ string) string { return `{"pid":"` + pid + `","offset":"nope"}` }, mwCalls: 2},
		{name: "unknown pid",
			auth: func(_, off string) string { return `{"pid":"nope","offset":"` + off + `"}` }, mwCalls: 2},
		{name: "expired", advance: 3 * time.Minute,
			auth: func(pid, off string) string { return `{"pid":"` + pid + `","offset":"` + off + `"}` }, mwCalls: 2},
		{name: "after a namespace disconnect", leave: func(p *peer) { p.send("1") },
			auth: func(pid, off string) string { return `{"pid":"` + pid + `","offset":"` + off + `"}` }, mwCalls: 2},
		{name: "too much missed", meanwhile: func(n *Namespace) {
			for i := range n.srv.replayLimit + 1 {
				_ = n.Emit("m", i)
			}
		}, auth: func(pid, off string) string { return `{"pid":"` + pid + `","offset":"` + off + `"}` }, mwCalls: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &clock{now: time.Unix(1e9, 0)}
			var mwCalls atomic.Int32
			gone := make(chan struct{}, 2)
			s := NewServer(Options{Recovery: &RecoveryOptions{SkipMiddlewares: tt.skipMW}, Now: clk.Now})
			s.Of("/").Use(func(*Socket, json.RawMessage) error { mwCalls.Add(1); return nil })
			s.Of("/").OnConnection(func(sock *Socket) {
				if !sock.Recovered() {
					sock.Join("r")
				}
				sock.OnDisconnect(func(string) { gone <- struct{}{} })
			})
			ts := newHTTPServer(t, s)
			n := s.Of("/")

			p := dialPeer(t, ts.URL)
			p.send("0")
			f, _ := p.next()
			sid, pid := hello(t, f)
			if pid == "" || pid == sid {
				t.Fatalf("pid %q, sid %q", pid, sid)
			}
			_ = n.To("r").Emit("m", 1)
			f, _ = p.next()
			if !strings.HasPrefix(f, `42["m",1,"`) {
				t.Fatalf("broadcast frame %q lacks an offset", f)
			}
			off := offsetOf(t, f)
			if tt.leave != nil {
				tt.leave(p)
			} else {
				p.ws.Close()
			}
			<-gone
			if tt.meanwhile != nil {
				tt.meanwhile(n)
			}
			clk.Add(tt.advance)

			q := dialPeer(t, ts.URL)
			q.send("0" + tt.auth(pid, off))
			f, _ = q.next()
			sid2, pid2 := hello(t, f)
			if got := sid2 == sid && pid2 == pid; got != tt.recovered {
				t.Fatalf("recovered = %v (sid %s→%s, pid %s→%s), want %v", got, sid, sid2, pid, pid2, tt.recovered)
			}
			if !tt.recovered && (sid2 == sid || pid2 == pid) {
				t.Fatal("a new session reuses ids")
			}
			for _, want := range tt.replay {
				if f, _ := q.next(); !strings.HasPrefix(f, want) {
					t.Fatalf("replayed %q, want %s…", f, want)
				}
			}
			// Nothing else was replayed: the next frame is this one.
			_ = n.Socket(sid2).Emit("end")
			q.expect(`42["end"]`)
			if got := mwCalls.Load(); got != tt.mwCalls {
				t.Fatalf("middleware ran %d times, want %d", got, tt.mwCalls)
			}
		})
	}
}

func TestRecoveryOffHasNoPID(t *testing.T) {
	_, ts := newServer(t, func(s *Server) {})
	p := dialPeer(t, ts.URL)
	p.send("0")
	f, _ := p.next()
	if !strings.HasPrefix(f, `40{"sid":"`) || strings.Contains(f, "pid") {
		t.Fatalf("CONNECT answer %q", f)
	}
}
