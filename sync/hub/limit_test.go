package hub

import (
	"sync"
	"testing"
	"time"

	"tandem"
	"tandem/sync/protocol"
)

// A burst of unknown events, with and without acks, spends the same
// per-connection budget as commands: after the burst allowance every one
// gets ELIMIT, a known command too, and the connection stays up. The hub
// clock stands still, so no token comes back during the test.
func TestUnknownEventsAreRateLimited(t *testing.T) {
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	f := newFixture(t, func(c *Config) {
		c.RateLimit, c.RateBurst = 5, 40
		c.Now = func() time.Time { return at }
	})
	ann := f.client(t, "ann")
	// Ten events without an ack come first and spend ten tokens.
	for i := range 10 {
		if err := ann.Emit("no:such-event", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	const n = 1000
	codes := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ack protocol.Ack
			call(t, ann, "no:such-event", map[string]int{"i": i}, &ack)
			if ack.OK || ack.Error == nil {
				t.Errorf("event %d: %+v", i, ack)
				return
			}
			codes[i] = ack.Error.Code
		}()
	}
	wg.Wait()
	count := map[string]int{}
	for _, c := range codes {
		count[c]++
	}
	if count[tandem.EUNKNOWN] != 30 || count[tandem.ELIMIT] != n-30 {
		t.Fatalf("acks of %d unknown events after 10 without acks: %v, want 30 EUNKNOWN and the rest ELIMIT", n, count)
	}
	var ack protocol.ClockPingAck
	call(t, ann, protocol.ClockPing, protocol.ClockPingRequest{T0: 1}, &ack)
	if ack.OK || ack.Error.Code != tandem.ELIMIT {
		t.Fatalf("a command after the burst: %+v, want ELIMIT", ack)
	}
}
