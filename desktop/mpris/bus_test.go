package mpris

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// busConfig is a minimal session-bus configuration: one unix socket, the
// EXTERNAL mechanism, and a policy that lets every peer own names and send.
const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`

// startBus runs a private dbus-daemon for the test and returns its address.
// Without dbus-daemon the test is skipped, or fails when
// TANDEM_REQUIRE_DBUS=1 (as in CI, which installs it).
func startBus(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		if os.Getenv("TANDEM_REQUIRE_DBUS") == "1" {
			t.Fatalf("dbus-daemon not found (install the Debian package dbus-daemon): %v", err)
		}
		t.Skipf("dbus-daemon not found; install the Debian package dbus-daemon: %v", err)
	}
	// A short directory: unix socket paths are limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "mpris")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, busConfig, filepath.Join(dir, "bus")), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config-file="+conf, "--nofork", "--nopidfile", "--nosyslog", "--print-address=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dbus-daemon: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	// The daemon prints its address once it listens.
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("read dbus-daemon address: %v (stderr: %s)", err, stderr.String())
	}
	return strings.TrimSpace(line)
}

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
