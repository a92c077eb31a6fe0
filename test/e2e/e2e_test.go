// Package e2e runs the real player binary under Xvfb, with its sound going
// to a PulseAudio null sink whose monitor the test records. `make test`
// installs the tools (Xvfb, xdotool, ImageMagick, PulseAudio) and builds
// bin/player, which it passes in TANDEM_PLAYER_BIN; screenshots are saved
// in TANDEM_ARTIFACTS (default: a temporary directory, logged).
package e2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tandem/internal/testhub"
)

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed; `make test` installs it (%v)", tool, err)
		}
	}
}

// playerBin returns the player binary, building it when make did not.
func playerBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TANDEM_PLAYER_BIN"); p != "" {
		return p
	}
	bin := filepath.Join(t.TempDir(), "player")
	cmd := exec.Command("go", "build", "-tags", "migrated_fynedo", "-o", bin, "tandem/cmd/player")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("build player: %v", err)
	}
	return bin
}

func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TANDEM_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startBackground starts a long-running helper process, killed at cleanup.
func startBackground(t *testing.T, env []string, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	return cmd
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startX starts Xvfb on a free display and returns DISPLAY.
func startX(t *testing.T, width int) string {
	t.Helper()
	for n := 90; n < 140; n++ {
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X%d-lock", n)); err == nil {
			continue
		}
		display := ":" + strconv.Itoa(n)
		startBackground(t, nil, "Xvfb", display, "-screen", "0", strconv.Itoa(width)+"x800x24", "-nolisten", "tcp")
		waitUntil(t, "Xvfb", 10*time.Second, func() bool {
			return exec.Command("xdpyinfo", "-display", display).Run() == nil
		})
		return display
	}
	t.Fatal("no free X display")
	return ""
}

// startPulse starts PulseAudio with a null sink in its own runtime dir and
// returns that dir for XDG_RUNTIME_DIR.
func startPulse(t *testing.T) string {
	t.Helper()
	return testhub.Pulse(t)
}

// record captures d of the null sink's monitor and returns its RMS level
// (0 to 1).
func record(t *testing.T, pulseDir string, d time.Duration) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, "parec", "-d", "nullsink.monitor", "--format=s16le", "--rate=44100", "--channels=2", "--raw")
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+pulseDir, "HOME="+pulseDir)
	out, _ := cmd.Output() // killed at the deadline, by design
	if len(out) < 44100 {
		t.Fatalf("recorded only %d bytes in %v", len(out), d)
	}
	var sum float64
	n := len(out) / 2
	for i := 0; i < n; i++ {
		v := float64(int16(binary.LittleEndian.Uint16(out[2*i:]))) / 32768
		sum += v * v
	}
	return math.Sqrt(sum / float64(n))
}

func xdotool(t *testing.T, display string, args ...string) string {
	t.Helper()
	cmd := exec.Command("xdotool", args...)
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xdotool %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

func screenshot(t *testing.T, display, path string) {
	t.Helper()
	convert := "/usr/bin/import" // ImageMagick's, not another "import" on PATH
	cmd := exec.Command(convert, "-display", display, "-window", "root", path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("screenshot: %v: %s", err, out)
	}
	t.Logf("screenshot: %s", path)
}

// runningPlayer is the player binary under test.
type runningPlayer struct {
	home    string
	logs    *testhub.LockedBuffer
	wid     string // X window id
	exited  chan error
	display string
	debug   string // the URL of its /debug/state
}

// startPlayer runs the player with a fresh home on display, with its sound
// going to the PulseAudio of runtimeDir, and waits for its window. With no
// args it hosts a room on a loopback port.
func startPlayer(t *testing.T, display, runtimeDir string, args ...string) *runningPlayer {
	t.Helper()
	return startPlayerOnBus(t, display, runtimeDir, "", args...)
}

// startPlayerOnBus is startPlayer with a session bus (an address; "" for
// none), for MPRIS and the tray.
func startPlayerOnBus(t *testing.T, display, runtimeDir, bus string, args ...string) *runningPlayer {
	t.Helper()
	home := t.TempDir()
	p := &runningPlayer{home: home, logs: &testhub.LockedBuffer{}, exited: make(chan error, 1), display: display}
	if len(args) == 0 {
		args = []string{"--listen", "127.0.0.1:0", "--name", "e2e"}
	}
	cmd := exec.Command(playerBin(t), append(args, "-v", "--debug-addr", "127.0.0.1:0")...)
	cmd.Env = append(os.Environ(), "DISPLAY="+display, "XDG_RUNTIME_DIR="+runtimeDir, "HOME="+home,
		"XDG_DATA_HOME="+filepath.Join(home, "data"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"), "LANG=en_US.UTF-8",
		"DBUS_SESSION_BUS_ADDRESS="+cmp.Or(bus, "unix:path="+filepath.Join(home, "no-bus")))
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-p.exited:
			// SIGTERM quits the player cleanly: a panic on the way out
			// (the tray, MPRIS, the hub) shows here.
			if err != nil {
				t.Errorf("the player did not quit cleanly on SIGTERM: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-p.exited
			t.Errorf("the player did not quit within 10 s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("player log:\n%s", p.logs.String())
		}
	})
	waitUntil(t, "the Tandem window", 60*time.Second, func() bool {
		c := exec.Command("xdotool", "search", "--all", "--onlyvisible", "--pid", strconv.Itoa(cmd.Process.Pid), "--name", "^Tandem$")
		c.Env = append(os.Environ(), "DISPLAY="+display)
		out, err := c.Output()
		p.wid = strings.TrimSpace(strings.Split(string(out), "\n")[0])
		return err == nil && p.wid != ""
	})
	waitUntil(t, "the debug address in the log", 10*time.Second, func() bool {
		_, after, ok := strings.Cut(p.logs.String(), "msg=\"debug state\" url=")
		p.debug, _, _ = strings.Cut(after, "\n")
		return ok && strings.HasSuffix(p.debug, "/debug/state")
	})
	return p
}

// playerState is what a player's /debug/state tells.
type playerState struct {
	Room    string   `json:"room"`
	Link    string   `json:"link"`
	Members []string `json:"members"`
	Now     struct {
		EntryID, TrackID, Title string
		Playing                 bool
	} `json:"now"`
	Row *struct{ X, Y float32 } `json:"row"`
}

// state reads the player's state; query is appended to the URL.
func (p *runningPlayer) state(t *testing.T, query string) playerState {
	t.Helper()
	resp, err := http.Get(p.debug + query)
	if err != nil {
		t.Fatalf("debug state: %v", err)
	}
	defer resp.Body.Close()
	var st playerState
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("debug state: %v", err)
	}
	return st
}

// aliveFor fails the test if the player exits within d.
func (p *runningPlayer) aliveFor(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case err := <-p.exited:
		p.exited <- err
		t.Fatalf("player exited within %v of showing its window: %v", d, err)
	case <-time.After(d):
	}
}

// doubleClickRow double-clicks a row (from 0) of the track table, where
// the player says the row is drawn.
func (p *runningPlayer) doubleClickRow(t *testing.T, row int) {
	t.Helper()
	var st playerState
	waitUntil(t, fmt.Sprintf("row %d on screen", row), 20*time.Second, func() bool {
		st = p.state(t, "?row="+strconv.Itoa(row))
		return st.Row != nil
	})
	geo := map[string]int{}
	for _, l := range strings.Split(xdotool(t, p.display, "getwindowgeometry", "--shell", p.wid), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			geo[k], _ = strconv.Atoi(v)
		}
	}
	x := geo["X"] + int(st.Row.X)
	y := geo["Y"] + int(st.Row.Y)
	xdotool(t, p.display, "mousemove", strconv.Itoa(x), strconv.Itoa(y))
	xdotool(t, p.display, "click", "--repeat", "2", "--delay", "80", "1")
}

// screenshotWindow saves one window.
func screenshotWindow(t *testing.T, display, wid, path string) {
	t.Helper()
	cmd := exec.Command("/usr/bin/import", "-display", display, "-window", wid, path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("screenshot of window %s: %v: %s", wid, err, out)
	}
	t.Logf("screenshot: %s", path)
}

func TestPlayerWindowAndSound(t *testing.T) {
	need(t, "Xvfb", "xdpyinfo", "xdotool", "/usr/bin/import", "pulseaudio", "pactl", "parec")
	art := artifacts(t)
	display := startX(t, 1280)
	pulseDir := startPulse(t)
	p := startPlayer(t, display, pulseDir)
	p.aliveFor(t, 10*time.Second)
	screenshot(t, display, filepath.Join(art, "player-started.png"))
	if strings.Contains(p.logs.String(), "playing muted") {
		t.Fatalf("player is muted although PulseAudio runs")
	}
	if lvl := record(t, pulseDir, time.Second); lvl > 0.001 {
		t.Fatalf("sound before any track was chosen: RMS %.4f", lvl)
	}
	p.doubleClickRow(t, 2)
	time.Sleep(1500 * time.Millisecond)
	lvl := record(t, pulseDir, 2*time.Second)
	screenshot(t, display, filepath.Join(art, "player-playing.png"))
	if lvl < 0.01 {
		t.Fatalf("no sound after double-clicking a track: RMS %.4f", lvl)
	}
	t.Logf("RMS after double-click: %.3f", lvl)
}

// TestPlayerWithoutSoundCard runs the player where no audio output can be
// opened: it must keep running, muted, say so, and still follow the room.
func TestPlayerWithoutSoundCard(t *testing.T) {
	need(t, "Xvfb", "xdpyinfo", "xdotool", "/usr/bin/import")
	art := artifacts(t)
	display := startX(t, 1280)
	p := startPlayer(t, display, t.TempDir()) // no PulseAudio there
	p.aliveFor(t, 3*time.Second)
	if !strings.Contains(p.logs.String(), "playing muted") {
		t.Fatal("the log does not say the player is muted")
	}
	p.doubleClickRow(t, 0)
	waitUntil(t, "the muted player to load the track", 10*time.Second, func() bool {
		return strings.Contains(p.logs.String(), "audio: loaded")
	})
	p.aliveFor(t, 2*time.Second)
	screenshot(t, display, filepath.Join(art, "player-muted.png"))
}

// TestHostAndInvite runs two players: A hosts a room on its built-in hub,
// and B, a newcomer, joins that room through nothing but the room's invite
// link, as a friend who clicks it would. A double-click on a row in A's
// window must change what B plays.
func TestHostAndInvite(t *testing.T) {
	need(t, "Xvfb", "xdpyinfo", "xdotool", "/usr/bin/import")
	art := artifacts(t)
	display := startX(t, 2400)
	bus := testhub.SessionBus(t) // A has a desktop session: MPRIS and the tray
	a := startPlayerOnBus(t, display, t.TempDir(), bus, "--listen", "127.0.0.1:0", "--name", "alice")
	var link string
	waitUntil(t, "A's room and its invite link", 20*time.Second, func() bool {
		st := a.state(t, "")
		link = st.Link
		return st.Room != "" && strings.HasPrefix(link, "tandem://") && strings.Contains(link, "/join/")
	})
	t.Logf("invite link: %s", link)

	b := startPlayer(t, display, t.TempDir(), "--join", link, "--name", "bob")
	if b.wid == a.wid {
		t.Fatalf("A and B share window %s", a.wid)
	}
	xdotool(t, display, "windowmove", b.wid, "1200", "0")
	waitUntil(t, "A to see B in the room", 20*time.Second, func() bool {
		return slices.Contains(a.state(t, "").Members, "bob")
	})
	if st := b.state(t, ""); st.Room != a.state(t, "").Room {
		t.Fatalf("B is in room %q, A in %q", st.Room, a.state(t, "").Room)
	}

	a.doubleClickRow(t, 2)
	var want string
	waitUntil(t, "A to play the row", 10*time.Second, func() bool {
		want = a.state(t, "").Now.TrackID
		return want != ""
	})
	waitUntil(t, "B's now-playing to follow", 10*time.Second, func() bool {
		n := b.state(t, "").Now
		return n.TrackID == want && n.Playing
	})
	if !strings.Contains(a.logs.String(), "ui: change track") || strings.Contains(b.logs.String(), "ui: change track") {
		t.Fatal("the double-click did not land in A's window alone")
	}
	// A media key on A's desktop (MPRIS PlayPause, as playerctl sends it)
	// pauses the room: B stops too.
	if got := mprisStatus(t, bus); got != "Playing" {
		t.Fatalf("A's MPRIS PlaybackStatus = %q, want Playing", got)
	}
	dbusSend(t, bus, "org.mpris.MediaPlayer2.Player.PlayPause")
	waitUntil(t, "B to pause with A's media key", 10*time.Second, func() bool { return !b.state(t, "").Now.Playing })
	waitUntil(t, "A's MPRIS status to say so", 10*time.Second, func() bool { return mprisStatus(t, bus) == "Paused" })
	dbusSend(t, bus, "org.mpris.MediaPlayer2.Player.PlayPause")
	waitUntil(t, "B to play again", 10*time.Second, func() bool { return b.state(t, "").Now.Playing })
	time.Sleep(1500 * time.Millisecond) // let both bars draw
	screenshot(t, display, filepath.Join(art, "host-and-friend.png"))
	screenshotWindow(t, display, a.wid, filepath.Join(art, "host.png"))
	screenshotWindow(t, display, b.wid, filepath.Join(art, "friend.png"))
	a.aliveFor(t, time.Second)
	b.aliveFor(t, time.Second)
}

// dbusSend calls a method of the Tandem player on the session bus.
func dbusSend(t *testing.T, bus, method string, args ...string) string {
	t.Helper()
	cmd := exec.Command("dbus-send", append([]string{"--bus=" + bus, "--print-reply", "--dest=org.mpris.MediaPlayer2.tandem",
		"/org/mpris/MediaPlayer2", method}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dbus-send %s: %v: %s", method, err, out)
	}
	return string(out)
}

// mprisStatus reads the player's MPRIS PlaybackStatus.
func mprisStatus(t *testing.T, bus string) string {
	t.Helper()
	out := dbusSend(t, bus, "org.freedesktop.DBus.Properties.Get", "string:org.mpris.MediaPlayer2.Player", "string:PlaybackStatus")
	_, after, _ := strings.Cut(out, `string "`)
	status, _, _ := strings.Cut(after, `"`)
	return status
}
