package room

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"tandem"
	"tandem/store"
	"tandem/sync/clock"
	"tandem/sync/hub"
	"tandem/sync/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// dropListener remembers accepted connections so a test can cut them.
type dropListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *dropListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *dropListener) dropAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

func TestRejoinAfterDrop(t *testing.T) {
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	id := "cd" + strings.Repeat("e", 62)
	if err := db.PutTrack(tandem.Track{ID: id, Title: "T", Artist: "A", Format: "wav"}); err != nil {
		t.Fatal(err)
	}
	h := hub.New(hub.Config{Store: db, OpenRooms: true})
	defer h.Close()
	ts := httptest.NewUnstartedServer(h.Handler())
	dl := &dropListener{Listener: ts.Listener}
	ts.Listener = dl
	ts.Start()
	defer ts.Close()
	tokA, _ := db.CreateToken("ann")
	tokB, _ := db.CreateToken("bob")

	joins := make(chan protocol.RoomState, 4)
	changes := make(chan time.Time, 4)
	conn := make(chan bool, 8)
	a := New(Options{URL: ts.URL, Token: tokA, Room: "lounge", ReconnectDelay: 20 * time.Millisecond, ReconnectDelayMax: 50 * time.Millisecond}, Handlers{
		Joined:      func(st protocol.RoomState) { joins <- st },
		ChangeTrack: func(_ protocol.ChangeTrack, at time.Time) { changes <- at },
		Connection:  func(ok bool, _ error) { conn <- ok },
	})
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	<-joins
	if off := a.Offset(); off > 50*time.Millisecond || off < -50*time.Millisecond {
		t.Fatalf("clock offset to a hub on this machine = %v, want about 0", off)
	}

	dl.dropAll()
	select {
	case st := <-joins:
		if st.Room != "lounge" {
			t.Fatalf("rejoined %q", st.Room)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no rejoin after the connection dropped")
	}

	b := New(Options{URL: ts.URL, Token: tokB, Room: "lounge"}, Handlers{})
	defer b.Close()
	if err := b.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if _, err := b.ChangeTrack(ctx, "", id); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-changes:
		if lead := at.Sub(before); lead < 0 || lead > 2*time.Second {
			t.Fatalf("startAt is %v after the command, want the hub's lead", lead)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the rejoined member missed the change")
	}
	if st := a.State(); st.Version != 1 || st.NowPlaying.TrackID != id {
		t.Fatalf("state after event = %+v", st)
	}
}

func TestJoinByCode(t *testing.T) {
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h := hub.New(hub.Config{Store: db}) // rooms admit members only
	defer h.Close()
	ts := httptest.NewServer(h.Handler())
	defer ts.Close()
	tokA, _ := db.CreateToken("ann")
	tokB, _ := db.CreateToken("bob")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ann := New(Options{URL: ts.URL, Token: tokA, Room: "jam"}, Handlers{})
	defer ann.Close()
	if err := ann.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	code := ann.State().Info.Code
	stranger := New(Options{URL: ts.URL, Token: tokB, Room: "jam"}, Handlers{})
	defer stranger.Close()
	if err := stranger.Connect(ctx); tandem.ErrorCode(err) != tandem.EFORBIDDEN {
		t.Fatalf("join by name as a non-member: %v, want EFORBIDDEN", err)
	}
	stranger.Close()

	bob := New(Options{URL: ts.URL, Token: tokB, Code: code}, Handlers{})
	defer bob.Close()
	if err := bob.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if got := bob.RoomName(); got != "jam" {
		t.Fatalf("RoomName after joining by code = %q", got)
	}
	if m := bob.State().Info.Members; len(m) != 2 || m[1] != "bob" {
		t.Fatalf("members = %v", m)
	}
	if _, err := bob.Pause(ctx); tandem.ErrorCode(err) != tandem.ECONFLICT {
		t.Fatalf("a member's command reached the room with %v, want ECONFLICT (no track yet)", err)
	}
}

// TestClockSync runs the clock estimation against a real hub whose clock
// is 90 minutes and a fraction of a millisecond ahead of this machine's:
// the burst before the join, the error bound, Local, periodic samples,
// stopping on a disconnect, a new burst on reconnecting, and Close.
func TestClockSync(t *testing.T) {
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const ahead = 90*time.Minute + 123_456_789*time.Nanosecond
	h := hub.New(hub.Config{Store: db, OpenRooms: true, Now: func() time.Time { return time.Now().Add(ahead) }})
	defer h.Close()
	ts := httptest.NewUnstartedServer(h.Handler())
	dl := &dropListener{Listener: ts.Listener}
	ts.Listener = dl
	ts.Start()
	defer ts.Close()
	tok, _ := db.CreateToken("ann")

	conn := make(chan bool, 8)
	c := New(Options{URL: ts.URL, Token: tok, Room: "lounge",
		ReconnectDelay: 300 * time.Millisecond, ReconnectDelayMax: 300 * time.Millisecond,
		Clock: clock.Config{Period: 100 * time.Millisecond, Jitter: 20 * time.Millisecond, History: 500, Window: 8},
	}, Handlers{Connection: func(ok bool, _ error) { conn <- ok }})
	defer c.Close()
	if got := c.ClockError(); got != -1 {
		t.Fatalf("ClockError before any sample = %v, want -1", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	est := c.Clock()
	if est.Samples < 8 {
		t.Fatalf("joined after %d clock samples, want the burst of 8 first", est.Samples)
	}
	bound := c.ClockError()
	if bound <= 0 || bound > 50*time.Millisecond {
		t.Fatalf("ClockError = %v for a hub on this machine", bound)
	}
	// Both clocks are this machine's, so the true offset is known.
	off := c.Offset()
	t.Logf("offset error %v, bound %v, round trip %v", off-ahead, bound, est.Delay)
	if d := off - ahead; d > bound || d < -bound {
		t.Fatalf("Offset = %v, want %v ± %v", off, ahead, bound)
	}
	hubNow := protocol.Millis(time.Now().Add(ahead))
	if d := time.Until(c.Local(hubNow)); d > bound+time.Millisecond || d < -bound-time.Millisecond {
		t.Fatalf("Local(hub now) is %v from now, bound %v", d, bound)
	}

	// Periodic samples while connected.
	waitFor(t, "periodic clock samples", func() bool { return c.Clock().Samples >= est.Samples+3 })

	// A drop stops the sampler; reconnecting runs a burst again.
	<-conn // the first connection
	dl.dropAll()
	if ok := <-conn; ok {
		t.Fatal("connected, want the drop")
	}
	c.clockMu.Lock()
	running := c.clockStop != nil
	c.clockMu.Unlock()
	if running {
		t.Fatal("the clock sampler still runs while disconnected")
	}
	before := c.Clock().Samples
	if ok := <-conn; !ok {
		t.Fatal("not reconnected")
	}
	if got := c.Clock().Samples; got < before+8 {
		t.Fatalf("%d samples after rejoining, had %d: want a burst of 8 before the join", got, before)
	}
	if d := c.Offset() - ahead; d > c.ClockError() || d < -c.ClockError() {
		t.Fatalf("after reconnecting: offset error %v, bound %v", d, c.ClockError())
	}

	c.Close()
	c.clockMu.Lock()
	running = c.clockStop != nil
	c.clockMu.Unlock()
	if running {
		t.Fatal("the clock sampler still runs after Close")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
