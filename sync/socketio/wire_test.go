package socketio

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// peer is a raw WebSocket client that speaks Engine.IO by hand, to check
// frames byte for byte.
type peer struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialPeer(t *testing.T, url string) *peer {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	p := &peer{t: t, ws: ws}
	if f, _ := p.next(); !strings.HasPrefix(f, "0{") {
		t.Fatalf("open packet = %q", f)
	}
	return p
}

// send writes an Engine.IO message packet.
func (p *peer) send(sio string) {
	p.t.Helper()
	if err := p.ws.WriteMessage(websocket.TextMessage, []byte("4"+sio)); err != nil {
		p.t.Fatal(err)
	}
}

func (p *peer) sendBinary(b []byte) {
	p.t.Helper()
	if err := p.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
		p.t.Fatal(err)
	}
}

// next returns the next frame, answering and skipping pings.
func (p *peer) next() (string, bool) {
	p.t.Helper()
	for {
		mt, data, err := p.ws.ReadMessage()
		if err != nil {
			p.t.Fatalf("read: %v", err)
		}
		if mt == websocket.TextMessage && string(data) == "2" {
			_ = p.ws.WriteMessage(websocket.TextMessage, []byte("3"))
			continue
		}
		return string(data), mt == websocket.BinaryMessage
	}
}

// expect reads the next frames and compares them with want; binary frames
// are written as "bin:" and their bytes.
func (p *peer) expect(want ...string) {
	p.t.Helper()
	for _, w := range want {
		f, bin := p.next()
		if bin {
			f = "bin:" + f
		}
		if f != w {
			p.t.Fatalf("frame = %q, want %q", f, w)
		}
	}
}

// expectClose reads until the connection closes; any message frame but a
// close packet fails.
func (p *peer) expectClose() {
	p.t.Helper()
	for {
		mt, data, err := p.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) {
				p.t.Fatalf("read: %v, want a close", err)
			}
			return
		}
		if mt == websocket.TextMessage && (string(data) == "2" || string(data) == "1") {
			continue
		}
		p.t.Fatalf("unexpected frame %q before close", data)
	}
}
