package abuse

import (
	"fmt"
	"strings"
	"testing"
)

// TestWSLargeFramesInPieces (defect 1): a WebSocket frame over 16 KiB
// that arrives in more than one read is handled, and so is every frame
// after it. It was lost, and the connection wedged until its ping
// timeout: a 20,000-byte frame written as 17,000 bytes and the rest, and
// a 128,000-byte frame in one write, which loopback hands over in pieces.
func TestWSLargeFramesInPieces(t *testing.T) {
	h := startHub(t, []string{"ann"})
	tok := h.tokens["ann"]
	w := h.dialWS(t)
	w.connectSIO(tok)
	for i, tc := range []struct {
		size int
		cuts []int
	}{
		{20_000, []int{17_000}},
		{20_000, []int{16_000}},
		{128_000, nil},
		{128_000, []int{1, 5, 9, 16_383, 16_385, 70_000}},
		{900_000, []int{3, 16_384, 500_000}},
	} {
		id := 10 + i
		pad := strings.Repeat("p", tc.size)
		msg := fmt.Sprintf(`42%d["abuse:big",%q]`, id, pad)
		f := frame([]byte(msg))
		// The big frame, then a small one in the same write as its tail.
		small := frame([]byte(fmt.Sprintf(`42%d["abuse:small"]`, id+100)))
		whole := append(f, small...)
		w.writeParts(whole, tc.cuts...)
		for _, want := range []int{id, id + 100} {
			got := w.read()
			if !strings.HasPrefix(got, fmt.Sprintf("43%d[", want)) || !strings.Contains(got, `"EUNKNOWN"`) {
				t.Fatalf("frame of %d bytes cut at %v: answer %.80q, want the EUNKNOWN ack of %d", len(msg), tc.cuts, got, want)
			}
		}
	}
	h.stillServes(tok)
}
