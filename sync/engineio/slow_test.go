package engineio

import (
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestStalledPeerIsDropped: a peer that stops reading is disconnected once
// its queue is full, and sending to it never blocks the sender, so the
// other peers get every message.
func TestStalledPeerIsDropped(t *testing.T) {
	ts, handlers := newEchoServer(t, Options{SendQueue: 16})
	// The stalled peer: a WebSocket with a tiny receive buffer that is
	// never read after the handshake.
	d := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}}
	stalled, _, err := d.Dial(wsURL(ts, "EIO=4&transport=websocket"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	slow := <-handlers
	const readers = 3
	const n = 600 // 16 KB each, 9.6 MB: more than the stalled peer's buffers hold
	conns := []*Conn{slow.c}
	got := make(chan int, readers)
	var counts [readers]atomic.Int64
	for i := range readers {
		ws, _ := dialRaw(t, ts)
		conns = append(conns, (<-handlers).c)
		go func() {
			for counts[i].Load() < n {
				_, data, err := ws.ReadMessage()
				if err != nil {
					break
				}
				if data[0] == typeMessage {
					counts[i].Add(1)
				}
			}
			got <- int(counts[i].Load())
		}()
	}
	msg := []byte(strings.Repeat("x", 16<<10))
	start := time.Now()
	for i := range n {
		for _, c := range conns {
			_ = c.Send(msg, false) // never blocks
		}
		// The fast peers keep up with every message, whatever the stalled
		// one does.
		waitCond(t, func() bool {
			for j := range readers {
				if counts[j].Load() <= int64(i) {
					return false
				}
			}
			return true
		})
	}
	sendTime := time.Since(start)
	select {
	case <-slow.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the stalled peer was not disconnected")
	}
	if r := slow.c.Reason(); r != ReasonSlowPeer && r != ReasonTransportError {
		t.Fatalf("stalled peer closed for %q", r)
	}
	for range readers {
		select {
		case c := <-got:
			if c != n {
				t.Fatalf("a fast peer got %d of %d messages", c, n)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("a fast peer did not get every message")
		}
	}
	t.Logf("queued %d×%d messages in %v", n, readers+1, sendTime)
}
