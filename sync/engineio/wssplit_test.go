package engineio

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Frames of every size class split at every kind of boundary, written to
// a real socket as separate writes, through the server's real reader in
// both read modes. Each split part is its own TCP segment (TCP_NODELAY,
// and a pause before the next part), so the reader meets the frame in
// pieces as a slow network would hand it over.

// splitFrameSizes are the payload sizes: every header length class, both
// sides of the readiness loop's 16 KiB read buffer, and large messages.
var splitFrameSizes = []int{1, 125, 126, 127, 16<<10 - 15, 16<<10 - 14, 16 << 10, 16<<10 + 1, 17_000, 20_000, 65_535, 65_536, 128_000, 1 << 20, 4 << 20}

// splitPoints returns where to cut a frame of size n whose header is hdr
// bytes: inside the header, inside the mask key, at the payload's start,
// inside the payload on both sides of 16 KiB, and near its end.
func splitPoints(hdr, n int) [][]int {
	total := hdr + n
	var out [][]int
	add := func(cuts ...int) {
		var ok []int
		last := 0
		for _, c := range cuts {
			if c > last && c < total {
				ok = append(ok, c)
				last = c
			}
		}
		if len(ok) > 0 {
			out = append(out, ok)
		}
	}
	add(1)                // inside the first two bytes
	add(3)                // inside the extended length, or the mask
	add(hdr - 2)          // inside the mask key
	add(hdr)              // between header and payload
	add(hdr + n/2)        // the middle of the payload
	add(16<<10 - 1)       // just under the read buffer
	add(17_000)           // the probe's cut
	add(16<<10 + 1)       // just over it
	add(total - 1)        // the last byte alone
	add(1, hdr, hdr+n/3)  // three cuts
	add(16_000, 32_768+7) // two reads' worth, then the rest
	return out
}

func frameHeaderLen(n int) int {
	switch {
	case n < 126:
		return 6
	case n < 1<<16:
		return 8
	default:
		return 14
	}
}

func TestWSFramesSplitAtEveryBoundary(t *testing.T) {
	readModes(t, func(t *testing.T, opts Options) {
		opts.MaxPayload = 5 << 20
		ts, handlers, _ := pollServer(t, opts)
		ws, _ := dialRaw(t, ts)
		<-handlers
		if tc, ok := ws.NetConn().(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		for _, n := range splitFrameSizes {
			msg := append([]byte("4"), bytes.Repeat([]byte{byte('a' + n%26)}, n-1)...)
			frame := clientFrame(true, opText, msg, testKey)
			hdr := frameHeaderLen(n)
			if len(frame) != hdr+n {
				t.Fatalf("frame of %d: %d bytes, header %d", n, len(frame), hdr)
			}
			for _, cuts := range splitPoints(hdr, n) {
				// The frame in parts, then a small frame that must come
				// after it, not inside it.
				last := 0
				for _, c := range cuts {
					writeRaw(t, ws, frame[last:c])
					last = c
					time.Sleep(2 * time.Millisecond)
				}
				writeRaw(t, ws, append(frame[last:len(frame):len(frame)], masked(true, opText, "4after")...))
				got := readText(t, ws)
				if got != string(msg) {
					t.Fatalf("%d bytes cut at %v: echo of %d bytes, want %d", n, cuts, len(got), len(msg))
				}
				if got := readText(t, ws); got != "4after" {
					t.Fatalf("%d bytes cut at %v: then %q, want 4after", n, cuts, trunc(got))
				}
			}
		}
	})
}

// TestWSSeveralFramesInOneRead: many frames in one write, and a write
// that ends inside a frame and holds the start of the next.
func TestWSSeveralFramesInOneRead(t *testing.T) {
	readModes(t, func(t *testing.T, opts Options) {
		opts.MaxPayload = 5 << 20
		ts, handlers, _ := pollServer(t, opts)
		ws, _ := dialRaw(t, ts)
		<-handlers
		var stream []byte
		var want []string
		for i, n := range []int{3, 20_000, 1, 126, 70_000, 16 << 10, 5} {
			msg := fmt.Sprintf("4%d:", i) + string(bytes.Repeat([]byte{'x'}, n))
			want = append(want, msg)
			stream = append(stream, masked(true, opText, msg)...)
		}
		// One write, then the same stream cut at odd places.
		for _, cut := range []int{len(stream), 9, 20_011, 20_012 + 7, 16 << 10, 40_000} {
			writeRaw(t, ws, stream[:cut])
			time.Sleep(2 * time.Millisecond)
			writeRaw(t, ws, stream[cut:])
			for _, w := range want {
				if got := readText(t, ws); got != w {
					t.Fatalf("cut at %d: got %q, want %q", cut, trunc(got), trunc(w))
				}
			}
		}
		_ = ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	})
}

func trunc(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%s… (%d bytes)", s[:40], len(s))
	}
	return s
}
