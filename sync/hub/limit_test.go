package hub

import (
	"encoding/json"
	"strings"
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

// An empty playlist is answered with "entries":[], when made and when
// opened, as docs/PROTOCOL.md shows; playlist:list still leaves entries out.
func TestEmptyPlaylistHasEntries(t *testing.T) {
	f := newFixture(t)
	ann := f.client(t, "ann")
	args, err := ann.EmitWithAck(testCtx(t), protocol.PlaylistCreate, protocol.CreatePlaylistRequest{OpID: "op-1", Name: "Empty"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(args[0]), `"entries":[]`) {
		t.Fatalf("playlist:create answered %s, want \"entries\":[]", args[0])
	}
	var created protocol.PlaylistAck
	if err := json.Unmarshal(args[0], &created); err != nil {
		t.Fatal(err)
	}
	args, err = ann.EmitWithAck(testCtx(t), protocol.PlaylistOpen, protocol.PlaylistRequest{PlaylistID: created.Playlist.ID})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(args[0]), `"ok":true`) || !strings.Contains(string(args[0]), `"entries":[]`) {
		t.Fatalf("playlist:open of an empty playlist answered %s, want \"entries\":[]", args[0])
	}
	args, err = ann.EmitWithAck(testCtx(t), protocol.PlaylistList, struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(args[0]), `"entries"`) {
		t.Fatalf("playlist:list answered %s, want no entries", args[0])
	}
}
