package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"tandem/sync/protocol"
	"tandem/sync/room"
)

// proxy forwards TCP connections to a target and can cut them all and stop
// accepting, to simulate a network outage.
type proxy struct {
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
	wg     sync.WaitGroup
}

func (p *proxy) listen(t *testing.T, addr string) string {
	t.Helper()
	var err error
	for range 50 {
		if p.ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	ln := p.ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(up, c); up.Close() }()
			go func() { defer p.wg.Done(); _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// cut closes the listener and every forwarded connection.
func (p *proxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

func TestOfficialClientRecoversMissedBroadcast(t *testing.T) {
	f := newFixture(t)
	db, trackID, nodeTok, goTok := f.db, f.trackID, f.nodeTok, f.goTok
	hubAddr, stop := serveHub(t, db, "127.0.0.1:0")
	defer stop()
	p := &proxy{target: hubAddr}
	addr := p.listen(t, "127.0.0.1:0")

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	sc := node(t, ctx, "recover.mjs", "http://"+addr, nodeTok, "lounge")
	var first struct {
		Event     string `json:"event"`
		Recovered bool   `json:"recovered"`
		Joined    bool   `json:"joined"`
	}
	if err := json.Unmarshal(nextRaw(t, sc), &first); err != nil || first.Event != "connect" || !first.Joined {
		t.Fatalf("first line %+v (%v)", first, err)
	}

	// The network drops; meanwhile the room changes track.
	presence := make(chan int, 8)
	c := room.New(room.Options{URL: "http://" + hubAddr, Token: goTok, Room: "lounge"}, room.Handlers{
		Presence: func(p protocol.Presence) { presence <- len(p.Members) },
	})
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	p.cut()
	for n := range presence { // the hub has noticed node is gone
		if n == 1 {
			break
		}
	}
	if _, err := c.ChangeTrack(ctx, "", trackID); err != nil {
		t.Fatal(err)
	}
	p.listen(t, addr) // the network is back

	var again struct {
		Event     string `json:"event"`
		Recovered bool   `json:"recovered"`
	}
	if err := json.Unmarshal(nextRaw(t, sc), &again); err != nil || again.Event != "connect" || !again.Recovered {
		t.Fatalf("reconnection %+v (%v), want a recovered session", again, err)
	}
	l := next(t, sc)
	var ev protocol.ChangeTrack
	if err := json.Unmarshal(l.Payload, &ev); err != nil || l.Event != "changeTrack" || ev.TrackID != trackID {
		t.Fatalf("line %+v, want the missed changeTrack replayed", l)
	}
	p.cut()
}

func nextRaw(t *testing.T, sc *bufio.Scanner) []byte {
	t.Helper()
	if !sc.Scan() {
		t.Fatalf("node client ended early: %v", sc.Err())
	}
	return append([]byte(nil), sc.Bytes()...)
}
