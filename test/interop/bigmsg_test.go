package interop

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"tandem/sync/engineio"
	"tandem/sync/socketio"
)

// TestOfficialClientLargeMessages: the official client sends 1 MiB
// messages, text and binary, and gets them back byte for byte, as an
// event and as an ack, over WebSocket, over polling, and over polling
// that upgrades to WebSocket. Messages this size arrive in many reads, which the server's
// WebSocket reader must put together.
func TestOfficialClientLargeMessages(t *testing.T) {
	const size = 1 << 20
	sio := socketio.NewServer(socketio.Options{Engine: engineio.Options{MaxPayload: 4 << 20}})
	sio.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("echo", func(args []json.RawMessage, _ socketio.AckFunc) {
			_ = s.Emit("echo-back", raws(args)...)
		})
		s.On("echo-ack", func(args []json.RawMessage, ack socketio.AckFunc) {
			if ack != nil {
				_ = ack(raws(args)...)
			}
		})
	})
	ts := httptest.NewServer(sio)
	t.Cleanup(func() {
		_ = sio.Close()
		ts.Close()
	})
	for _, tc := range []struct{ transports, final string }{
		{"websocket", "websocket"},
		{"polling", "polling"},
		{"polling,websocket", "websocket"},
	} {
		t.Run(tc.transports, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			sc := node(t, ctx, "bigmsg.mjs", ts.URL, tc.transports, "1048576")
			if l := next(t, sc); l.Event != "connect" {
				t.Fatalf("first line %+v, want connect", l)
			}
			// The first message may go before the upgrade; the next two
			// go after it.
			for i, want := range []struct{ kind, transport string }{{"text", ""}, {"binary", tc.final}, {"text", tc.final}} {
				if !sc.Scan() {
					t.Fatalf("node client ended early: %v", sc.Err())
				}
				var got struct {
					Event, Kind, Transport, Message string
					Bytes                           int
				}
				if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
					t.Fatalf("bad line %q: %v", sc.Text(), err)
				}
				if got.Event != "echoed" || got.Kind != want.kind || got.Bytes != size || (want.transport != "" && got.Transport != want.transport) {
					t.Fatalf("echo %d: %+v, want %s of %d bytes over %s", i, got, want.kind, size, want.transport)
				}
			}
		})
	}
}

// raws passes event arguments on as they came, binary ones included.
func raws(args []json.RawMessage) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a
	}
	return out
}
