package engineio

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"testing"
)

// clientFrame builds one client frame, masked unless key is nil.
func clientFrame(fin bool, op byte, payload []byte, key []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	f := []byte{b0}
	mask := byte(0)
	if key != nil {
		mask = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		f = append(f, mask|byte(n))
	case n <= 0xFFFF:
		f = append(f, mask|126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, mask|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	if key == nil {
		return append(f, payload...)
	}
	f = append(f, key...)
	for i, c := range payload {
		f = append(f, c^key[i&3])
	}
	return f
}

var testKey = []byte{0x37, 0xfa, 0x21, 0x3d}

func masked(fin bool, op byte, payload string) []byte {
	return clientFrame(fin, op, []byte(payload), testKey)
}

func closePayload(code int, reason string) string {
	return string(binary.BigEndian.AppendUint16(nil, uint16(code))) + reason
}

// frameLog records what wsFrames hands over, as text lines.
type frameLog struct{ events []string }

func (l *frameLog) wsMessage(binary bool, data []byte) bool {
	kind := "text"
	if binary {
		kind = "binary"
	}
	l.events = append(l.events, kind+":"+string(data))
	return true
}
func (l *frameLog) wsPing(p []byte) bool {
	l.events = append(l.events, "ping:"+string(p))
	return true
}
func (l *frameLog) wsClose(code int, reason []byte) {
	l.events = append(l.events, fmt.Sprintf("close:%d:%s", code, reason))
}

// feedAll parses stream as a reader would, handing the parser at most
// chunk bytes more each time and keeping the unconsumed tail. It returns
// the events and the close code of a protocol error (0 if none).
func feedAll(stream []byte, chunk int, limit int64) ([]string, int) {
	return readAll(stream, func(int) int { return chunk }, 16<<10, limit)
}

// readAll runs stream through the server's real input path, wsInput
// (both read modes share it), into the real parser: each read returns at
// most size(i) bytes for the i-th read, and a read of 0 bytes stands for
// "nothing more for now", as a socket without input answers. buf is the
// size of the reader's buffer. It returns the events and the close code
// of a protocol error (0 if none).
func readAll(stream []byte, size func(i int) int, buf int, limit int64) ([]string, int) {
	f := wsFrames{limit: limit}
	var l frameLog
	code := 0
	feed := func(b []byte) ([]byte, int, bool) {
		consumed, need, err := f.feed(b, &l)
		if err != nil {
			code = err.code
			return nil, 0, true
		}
		if len(l.events) > 0 && strings.HasPrefix(l.events[len(l.events)-1], "close:") {
			return nil, 0, true
		}
		return b[consumed:], need, false
	}
	reads, paused := 0, false
	read := func(b []byte) (int, error) {
		if len(stream) == 0 {
			return 0, io.EOF
		}
		n := min(size(reads), len(b), len(stream))
		reads++
		if n <= 0 && !paused {
			paused = true // a pause, but never two in a row: the input moves on
			return 0, errNoInput
		}
		paused = false
		n = max(n, 1)
		copy(b, stream[:n])
		stream = stream[n:]
		return n, nil
	}
	var in wsInput
	b := make([]byte, buf)
	for {
		if done, _ := in.turn(b, readsPerTurnTest, read, feed); done {
			return l.events, code
		}
	}
}

// readsPerTurnTest is the reads per turn of the tests' reader: as many
// as the readiness loop makes.
const readsPerTurnTest = 4

func join(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

func TestFramesParse(t *testing.T) {
	big := strings.Repeat("x", 70_000)
	tests := []struct {
		name   string
		stream []byte
		limit  int64
		want   []string
		code   int
	}{
		{"single text", masked(true, opText, "4hello"), 100, []string{"text:4hello"}, 0},
		{"binary", clientFrame(true, opBinary, []byte{1, 2, 3}, testKey), 100, []string{"binary:\x01\x02\x03"}, 0},
		{"empty text", masked(true, opText, ""), 100, []string{"text:"}, 0},
		{"16-bit length", masked(true, opText, strings.Repeat("y", 300)), 1000, []string{"text:" + strings.Repeat("y", 300)}, 0},
		{"64-bit length", masked(true, opText, big), 100_000, []string{"text:" + big}, 0},
		{"fragmented with control frames between", join(
			masked(false, opText, "4he"),
			masked(true, opPing, "p1"),
			masked(false, opContinuation, "ll"),
			masked(true, opPong, "ignored"),
			masked(true, opContinuation, "o"),
			masked(true, opText, "4next"),
		), 100, []string{"ping:p1", "text:4hello", "text:4next"}, 0},
		{"UTF-8 split across fragments", join(
			masked(false, opText, "4\xe2\x82"),
			masked(true, opContinuation, "\xac"),
		), 100, []string{"text:4€"}, 0},
		{"close without a code", masked(true, opClose, ""), 100, []string{"close:1005:"}, 0},
		{"close with code and reason", masked(true, opClose, closePayload(1000, "bye")), 100, []string{"close:1000:bye"}, 0},
		{"frames after close are ignored", join(masked(true, opClose, closePayload(1001, "")), masked(true, opText, "4x")), 100, []string{"close:1001:"}, 0},
		{"close of one byte", masked(true, opClose, "\x03"), 100, nil, closeProtocolError},
		{"close with reserved code", masked(true, opClose, closePayload(1005, "")), 100, nil, closeProtocolError},
		{"close with code 999", masked(true, opClose, closePayload(999, "")), 100, nil, closeProtocolError},
		{"close with code 5000", masked(true, opClose, closePayload(5000, "")), 100, nil, closeProtocolError},
		{"close reason not UTF-8", masked(true, opClose, closePayload(1000, "\xff")), 100, nil, closeInvalidPayload},
		{"text not UTF-8", masked(true, opText, "4\xc3\x28"), 100, nil, closeInvalidPayload},
		{"fragmented text not UTF-8", join(masked(false, opText, "4\xed"), masked(true, opContinuation, "\xa0\x80")), 100, nil, closeInvalidPayload},
		{"binary need not be UTF-8", clientFrame(true, opBinary, []byte{0xff}, testKey), 100, []string{"binary:\xff"}, 0},
		{"too big", masked(true, opText, strings.Repeat("z", 11)), 10, nil, closeMessageTooBig},
		{"too big once fragments add up", join(masked(false, opText, "123456"), masked(true, opContinuation, "78901")), 10, nil, closeMessageTooBig},
		{"exactly the limit", masked(true, opText, strings.Repeat("z", 10)), 10, []string{"text:" + strings.Repeat("z", 10)}, 0},
		{"unmasked", clientFrame(true, opText, []byte("4hi"), nil), 100, nil, closeProtocolError},
		{"reserved bits", append([]byte{0xC1}, masked(true, opText, "4hi")[1:]...), 100, nil, closeProtocolError},
		{"reserved data opcode", masked(true, 0x3, "x"), 100, nil, closeProtocolError},
		{"reserved control opcode", masked(true, 0xB, "x"), 100, nil, closeProtocolError},
		{"fragmented ping", masked(false, opPing, "x"), 100, nil, closeProtocolError},
		{"ping of 126 bytes", masked(true, opPing, strings.Repeat("p", 126)), 1000, nil, closeProtocolError},
		{"continuation without a message", masked(true, opContinuation, "x"), 100, nil, closeProtocolError},
		{"new message inside a fragmented one", join(masked(false, opText, "4a"), masked(true, opText, "4b")), 100, nil, closeProtocolError},
		{"64-bit length with the top bit", append([]byte{0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1}, testKey...), 100, nil, closeProtocolError},
	}
	for _, tt := range tests {
		chunks := []int{len(tt.stream) + 1, 1, 3, 7}
		if len(tt.stream) > 10_000 {
			chunks = []int{len(tt.stream) + 1, 4093}
		}
		for _, chunk := range chunks {
			t.Run(fmt.Sprintf("%s/chunk %d", tt.name, chunk), func(t *testing.T) {
				got, code := feedAll(tt.stream, chunk, tt.limit)
				if code != tt.code {
					t.Fatalf("close code %d, want %d (events %q)", code, tt.code, got)
				}
				if tt.code == 0 && fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Fatalf("events %q, want %q", got, tt.want)
				}
			})
		}
	}
}

// TestFramesNeed: an incomplete frame whose header is in reports its
// whole size, so that the reader can size one buffer for it.
func TestFramesNeed(t *testing.T) {
	frame := masked(true, opText, strings.Repeat("n", 40_000))
	f := wsFrames{limit: 1 << 20}
	var l frameLog
	for _, cut := range []int{1, 2, 5, 7} {
		consumed, need, err := f.feed(frame[:cut], &l)
		if err != nil || consumed != 0 || need != 0 {
			t.Fatalf("cut %d: consumed %d need %d err %v; want 0 0 nil (header incomplete)", cut, consumed, need, err)
		}
	}
	consumed, need, err := f.feed(frame[:100], &l)
	if err != nil || consumed != 0 || need != len(frame) {
		t.Fatalf("consumed %d need %d err %v; want 0 %d nil", consumed, need, err, len(frame))
	}
	// An oversized frame fails as soon as its header is in.
	f.limit = 100
	if _, _, err := f.feed(frame[:8], &l); err == nil || err.code != closeMessageTooBig {
		t.Fatalf("oversized header: err %v, want close %d", err, closeMessageTooBig)
	}
}

func TestUnmask(t *testing.T) {
	key := [4]byte{1, 2, 0x80, 0xff}
	for n := range 40 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 7)
		}
		got := append([]byte(nil), b...)
		unmask(key, got)
		for i := range b {
			if got[i] != b[i]^key[i%4] {
				t.Fatalf("len %d: byte %d = %#x, want %#x", n, i, got[i], b[i]^key[i%4])
			}
		}
	}
}

// FuzzWSFrames: any byte stream, read through the server's real input
// path (wsInput) with random read sizes, pauses ("nothing for now") and
// read buffer sizes, parses the same as in one piece, and never panics.
// The read buffer goes down to 16 bytes, so the path for frames larger
// than the buffer is reached with small inputs.
func FuzzWSFrames(f *testing.F) {
	f.Add(masked(true, opText, "4hello"), []byte{1}, uint8(0))
	f.Add(join(masked(false, opText, "4he"), masked(true, opPing, "p"), masked(true, opContinuation, "llo")), []byte{3, 0, 5}, uint8(1))
	f.Add(masked(true, opClose, closePayload(1000, "bye")), []byte{2}, uint8(2))
	f.Add(clientFrame(true, opBinary, bytes.Repeat([]byte{9}, 300), testKey), []byte{5, 200, 0, 17}, uint8(0))
	f.Add(join(masked(true, opText, "4"+strings.Repeat("z", 100)), masked(true, opText, "4next")), []byte{20, 0, 90}, uint8(0))
	f.Add([]byte{0x81, 0xFF, 0, 0, 0, 0, 0, 0, 1, 0}, []byte{4}, uint8(3))
	f.Fuzz(func(t *testing.T, stream []byte, sizes []byte, bufSel uint8) {
		if len(stream) > 1<<16 {
			return // bound each input's cost
		}
		const limit = 1 << 20
		whole, wholeCode := feedAll(stream, len(stream)+1, limit)
		buf := []int{16, 64, 1000, 16 << 10}[bufSel%4]
		size := func(i int) int {
			if len(sizes) == 0 {
				return 1
			}
			return int(sizes[i%len(sizes)]) * (1 + i%3) // 0 is a pause
		}
		parts, partsCode := readAll(stream, size, buf, limit)
		if wholeCode != partsCode || fmt.Sprint(whole) != fmt.Sprint(parts) {
			t.Fatalf("whole: %q %d; in pieces: %q %d", whole, wholeCode, parts, partsCode)
		}
	})
}
