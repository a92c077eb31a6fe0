package engineio

import (
	"bytes"
	"testing"
)

// FuzzDecodePayload checks that any polling body either fails to decode or
// decodes to packets that encode back to a payload that decodes the same.
func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{"4hello", "4a\x1e4b\x1e4c", "4hello\x1ebAQIDBA==", "2", "3probe", "6", "1", "b", "bAA==\x1e", "\x1e", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ps, err := decodePayload(body)
		if err != nil {
			return
		}
		again, err := decodePayload(encodePayload(ps))
		if err != nil {
			t.Fatalf("re-decode of %q: %v", encodePayload(ps), err)
		}
		if len(again) != len(ps) {
			t.Fatalf("%d packets became %d", len(ps), len(again))
		}
		for i := range ps {
			if again[i].typ != ps[i].typ || again[i].binary != ps[i].binary || !bytes.Equal(again[i].data, ps[i].data) {
				t.Fatalf("packet %d: %+v != %+v", i, again[i], ps[i])
			}
		}
	})
}

// FuzzDecodeOpen checks the client's handshake decoder on any bytes.
func FuzzDecodeOpen(f *testing.F) {
	f.Add([]byte(`0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`))
	f.Add([]byte(`0{}`))
	f.Add([]byte(`4x`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeOpen(b)
		if err == nil && (h.SID == "" || h.PingInterval <= 0 || h.PingTimeout <= 0) {
			t.Fatalf("accepted an open packet without sid or heartbeat: %q", b)
		}
	})
}
