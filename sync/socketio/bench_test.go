package socketio

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
)

func BenchmarkDecodeEvent(b *testing.B) {
	frame := []byte(`2/chat,12["playback:changeTrack",{"room":"lounge","entryId":"e42"}]`)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := Decode(frame)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := splitEvent(p.Data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeEvent(b *testing.B) {
	arg := map[string]any{"room": "lounge", "entryId": "e42", "trackId": "ab12", "version": 7, "startAt": 1795000000000.25}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodePacket(PacketEvent, "/", 0, false, "changeTrack", []any{arg}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAckRoundTrip measures one EmitWithAck from the Go client to a
// server over a loopback WebSocket.
func BenchmarkAckRoundTrip(b *testing.B) {
	s := NewServer(Options{})
	s.Of("/").OnConnection(func(sock *Socket) {
		sock.On("echo", func(args []json.RawMessage, ack AckFunc) { _ = ack(args[0]) })
	})
	ts := httptest.NewServer(s)
	defer ts.Close()
	defer s.Close()
	c := NewClient(ts.URL, ClientOptions{})
	defer c.Close()
	ctx := context.Background()
	if err := c.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.EmitWithAck(ctx, "echo", 1); err != nil {
			b.Fatal(err)
		}
	}
}
