package mpris

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"tandem/internal/testhub"
)

// busConfig is a minimal session-bus configuration: one unix socket, the
// EXTERNAL mechanism, and a policy that lets every peer own names and send.
// startBus runs a private dbus-daemon for the test and returns its address.
func startBus(t *testing.T) string { return testhub.SessionBus(t) }

// connect opens a private connection to the bus, closed at cleanup.
func connect(t *testing.T, addr string) *dbus.Conn {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// fakePlayer is a Player whose State the test sets and which records every
// command it receives.
type fakePlayer struct {
	mu    sync.Mutex // guards the following
	st    State
	calls []string
}

func newFakePlayer(st State) *fakePlayer { return &fakePlayer{st: st} }

func (f *fakePlayer) State() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.st
	st.Artist = append([]string(nil), f.st.Artist...)
	return st
}

// set changes the state.
func (f *fakePlayer) set(change func(*State)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(&f.st)
}

// take returns the commands received since the last take.
func (f *fakePlayer) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

func (f *fakePlayer) record(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakePlayer) Play()                  { f.record("Play") }
func (f *fakePlayer) Pause()                 { f.record("Pause") }
func (f *fakePlayer) Stop()                  { f.record("Stop") }
func (f *fakePlayer) Next()                  { f.record("Next") }
func (f *fakePlayer) Previous()              { f.record("Previous") }
func (f *fakePlayer) Seek(pos time.Duration) { f.record("Seek(%v)", pos) }
func (f *fakePlayer) SetVolume(v float64)    { f.record("SetVolume(%v)", v) }
func (f *fakePlayer) SetShuffle(on bool)     { f.record("SetShuffle(%v)", on) }
func (f *fakePlayer) SetLoop(l Loop)         { f.record("SetLoop(%v)", l) }
func (f *fakePlayer) OpenURI(uri string) error {
	f.record("OpenURI(%s)", uri)
	if strings.Contains(uri, "elsewhere") {
		return errors.New("that link is for another hub")
	}
	return nil
}
func (f *fakePlayer) Raise() { f.record("Raise") }
func (f *fakePlayer) Quit()  { f.record("Quit") }

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
