package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem"
	"tandem/audio"
	"tandem/audio/device"
	"tandem/internal/testhub"
	"tandem/player"
	"tandem/store"
	"tandem/sync/follow"
	"tandem/sync/hub"
)

// The click track: a click every clickEvery, each a burst of a 2 kHz tone
// whose length (1–4 ms) cycles, so that clicks a period apart are told
// apart.
const (
	clickEvery  = 500 * time.Millisecond
	clickLength = 40 * time.Second
	clickLevel  = 0.8
	onsetLevel  = 0.3 // of full scale
	// syncBound was 20 ms while the null sink ran with rewinds, which left
	// the two streams holding 13 ms apart; with norewinds=1
	// (testhub.Pulse) they measure 0.7–1.4 ms apart, under load too.
	syncBound = 5 * time.Millisecond
)

func clickWAV() []byte {
	rate := int(audio.SampleRate)
	n := int(clickLength.Seconds() * float64(rate))
	every := int(clickEvery.Seconds() * float64(rate))
	pcm := make([]int16, n)
	for i := 0; i*every < n; i++ {
		burst := (1 + i%4) * rate / 1000
		for k := 0; k < burst && i*every+k < n; k++ {
			pcm[i*every+k] = int16(clickLevel * 32767 * math.Cos(2*math.Pi*2000*float64(k)/float64(rate)))
		}
	}
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + 4*n))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1))
	le(uint16(2))
	le(uint32(rate))
	le(uint32(4 * rate))
	le(uint16(4))
	le(uint16(16))
	b.WriteString("data")
	le(uint32(4 * n))
	for _, v := range pcm {
		le(v)
		le(v)
	}
	return b.Bytes()
}

// delayProxy forwards TCP connections to target, delaying every byte by
// delay in each direction: a link with a round trip of twice delay.
type delayProxy struct {
	ln     net.Listener
	target string
	delay  time.Duration
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
}

func newDelayProxy(t *testing.T, target string, delay time.Duration) *delayProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &delayProxy{ln: ln, target: target, delay: delay, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *delayProxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *delayProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

// pipe copies src to dst, each chunk delay after it was read; any error
// closes both.
func (p *delayProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	type chunk struct {
		b   []byte
		due time.Time
	}
	ch := make(chan chunk, 4096)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(ch)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				ch <- chunk{buf[:n], time.Now().Add(p.delay)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range ch {
		time.Sleep(time.Until(c.due))
		if _, err := dst.Write(c.b); err != nil {
			break
		}
	}
	p.forget(dst, src)
	for range ch { // let the reader finish
	}
}

func (p *delayProxy) forget(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(p.conns, c)
	}
}

// drop cuts every connection through the proxy.
func (p *delayProxy) drop() {
	p.mu.Lock()
	cs := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		cs = append(cs, c)
	}
	p.mu.Unlock()
	p.forget(cs...)
}

func (p *delayProxy) close() {
	p.ln.Close()
	p.drop()
	p.wg.Wait()
}

// childStats is what a child player reports every 200 ms.
type childStats struct {
	Sync        follow.Stats
	Status      string
	Connections int           // connection state changes seen
	Offset      time.Duration // the estimated hub clock minus the local one: truly 0 here
	ClockError  time.Duration
}

// clickChild runs one headless player core on the sound card, in a child
// process: oto allows one sound device per process, and each child's
// sound goes to its own PulseAudio sink (PULSE_SINK).
func clickChild(t *testing.T) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	wav, err := os.ReadFile(os.Getenv("TANDEM_CLICK_WAV"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := device.Open(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	eng := audio.New(log, out)
	defer eng.Close()
	lib := audio.MemLibrary{os.Getenv("TANDEM_CLICK_ID"): wav}
	core := player.New(player.Config{HubURL: os.Getenv("TANDEM_CLICK_HUB"), Token: os.Getenv("TANDEM_CLICK_TOKEN"),
		Room: "lounge", Audio: eng, Library: lib, Logger: log,
		ReconnectDelay: 100 * time.Millisecond, ReconnectDelayMax: 300 * time.Millisecond})
	defer core.Close()
	var mu sync.Mutex
	conns := 0
	player.State.On(core.Emitter(), func(what string) {
		if what == "connection" {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	})
	if err := core.Start(ctx); err != nil {
		t.Fatal(err)
	}
	fmt.Println("CLICK ready")
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin) // the parent closes stdin to stop us
		close(done)
	}()
	tk := time.NewTicker(200 * time.Millisecond)
	defer tk.Stop()
	for {
		select {
		case <-done:
			return
		case <-tk.C:
		}
		mu.Lock()
		st := childStats{Sync: core.SyncStats(), Status: core.Status(), Connections: conns,
			Offset: core.RoomClient().Offset(), ClockError: core.RoomClient().ClockError()}
		mu.Unlock()
		b, _ := json.Marshal(st)
		fmt.Printf("CLICK stats %s\n", b)
	}
}

// child is a running child player as the parent sees it.
type child struct {
	name  string
	pid   int
	mu    sync.Mutex
	ready bool
	stats childStats
	log   testhub.LockedBuffer
}

func (c *child) last() (childStats, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats, c.ready
}

func startChild(t *testing.T, name, sink, pulseDir, hubURL, token, wavPath, trackID string) *child {
	t.Helper()
	c := &child{name: name}
	cmd := exec.Command(os.Args[0], "-test.run=^TestClickSync$")
	cmd.Env = append(os.Environ(), "TANDEM_CLICK_CHILD=1", "TANDEM_CLICK_HUB="+hubURL, "TANDEM_CLICK_TOKEN="+token,
		"TANDEM_CLICK_WAV="+wavPath, "TANDEM_CLICK_ID="+trackID, "PULSE_SINK="+sink,
		"XDG_RUNTIME_DIR="+pulseDir, "HOME="+pulseDir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &c.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.pid = cmd.Process.Pid
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "CLICK ready":
				c.mu.Lock()
				c.ready = true
				c.mu.Unlock()
			case strings.HasPrefix(line, "CLICK stats "):
				var st childStats
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "CLICK stats ")), &st) == nil {
					c.mu.Lock()
					c.stats = st
					c.mu.Unlock()
				}
			default:
				fmt.Fprintln(&c.log, line)
			}
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		<-read
		if t.Failed() {
			t.Logf("%s's log:\n%s", name, c.log.String())
		}
	})
	waitUntil(t, name+" to join", 30*time.Second, func() bool { _, ok := c.last(); return ok })
	return c
}

// recordStereo records d of the null sink's monitor.
func recordStereo(t *testing.T, pulseDir string, d time.Duration) [][2]float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, "parecord", "--device=nullsink.monitor", "--raw",
		"--format=s16le", "--rate=44100", "--channels=2")
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+pulseDir, "HOME="+pulseDir)
	out, _ := cmd.Output() // killed at the deadline, by design
	if len(out) < 4*44100 {
		t.Fatalf("recorded only %d bytes in %v", len(out), d)
	}
	frames := make([][2]float64, len(out)/4)
	for i := range frames {
		frames[i][0] = float64(int16(binary.LittleEndian.Uint16(out[4*i:]))) / 32768
		frames[i][1] = float64(int16(binary.LittleEndian.Uint16(out[4*i+2:]))) / 32768
	}
	return frames
}

// bufferLatency returns PulseAudio's "Buffer Latency" of the stream that
// process pid plays: PCM the player has written that the server holds
// before its sink. The player cannot see it through oto (no
// snd_pcm_delay), so it is not in the engine's Latency.
func bufferLatency(t *testing.T, env []string, pid int) (time.Duration, bool) {
	t.Helper()
	cmd := exec.Command("pactl", "list", "sink-inputs")
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Logf("pactl list sink-inputs: %v", err)
		return 0, false
	}
	for _, block := range strings.Split(string(out), "Sink Input #") {
		if !strings.Contains(block, fmt.Sprintf("application.process.id = \"%d\"", pid)) {
			continue
		}
		for _, line := range strings.Split(block, "\n") {
			var us int64
			if _, err := fmt.Sscanf(strings.TrimSpace(line), "Buffer Latency: %d usec", &us); err == nil {
				return time.Duration(us) * time.Microsecond, true
			}
		}
	}
	return 0, false
}

// click is a click found in a recording: its onset (frame) and length.
type click struct {
	at, length int
}

// clicks finds the clicks of one channel: onsets where the level first
// exceeds onsetLevel after at least 100 ms below it.
func clicks(rec [][2]float64, ch int) []click {
	var out []click
	quiet := int(audio.SampleRate) / 10
	last := -quiet
	for i, f := range rec {
		if math.Abs(f[ch]) < onsetLevel {
			continue
		}
		if i-last >= quiet {
			out = append(out, click{at: i})
		}
		out[len(out)-1].length = i - out[len(out)-1].at
		last = i
	}
	return out
}

// offsets pairs each left click with the right click nearest to it, of
// the same length, and returns the right one's lateness.
func offsets(rec [][2]float64) []time.Duration {
	left, right := clicks(rec, 0), clicks(rec, 1)
	var out []time.Duration
	half := int(clickEvery.Seconds()*float64(audio.SampleRate)) / 2
	for _, l := range left {
		for _, r := range right {
			if d := r.at - l.at; d > -half && d < half && math.Abs(float64(r.length-l.length)) < 0.5e-3*float64(audio.SampleRate) {
				out = append(out, audio.SampleRate.D(max(d, -d))*time.Duration(sign(d)))
			}
		}
	}
	return out
}

func sign(d int) int {
	if d < 0 {
		return -1
	}
	return 1
}

// TestClickSync plays a click track on two headless players with sound,
// one behind a 5 ms link and one behind a 60 ms link (each way), each
// into one channel of PulseAudio's null sink, records the sink, pairs the
// two players' clicks and measures how far apart they are heard: after a
// change of track, after a seek, and after the slow player reconnects.
func TestClickSync(t *testing.T) {
	if os.Getenv("TANDEM_CLICK_CHILD") == "1" {
		clickChild(t)
		return
	}
	need(t, "pulseaudio", "pactl", "parecord")
	pulseDir := startPulse(t)
	penv := append(os.Environ(), "XDG_RUNTIME_DIR="+pulseDir, "HOME="+pulseDir)
	for _, s := range []struct{ name, ch string }{{"left", "front-left"}, {"right", "front-right"}} {
		cmd := exec.Command("pactl", "load-module", "module-remap-sink", "sink_name="+s.name, "master=nullsink",
			"channels=1", "master_channel_map="+s.ch, "channel_map=mono", "remix=no")
		cmd.Env = penv
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pactl load-module remap %s: %v: %s", s.name, err, out)
		}
	}

	wav := clickWAV()
	sum := sha256.Sum256(wav)
	id := hex.EncodeToString(sum[:])
	wavPath := filepath.Join(t.TempDir(), "clicks.wav")
	if err := os.WriteFile(wavPath, wav, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pl, err := hub.SeedDemo(db, []tandem.Track{{ID: id, Title: "Clicks", Artist: "Metronome", Duration: clickLength,
		Format: audio.FormatWAV, Size: int64(len(wav)), Uploader: "Tandem"}})
	if err != nil {
		t.Fatal(err)
	}
	h := hub.New(hub.Config{Store: db, FallbackPlaylist: pl.ID, OpenRooms: true})
	ts := httptest.NewServer(h.Handler())
	defer ts.Close()
	defer h.Close()
	fast := newDelayProxy(t, ts.Listener.Addr().String(), 5*time.Millisecond)
	slowDelay := 60 * time.Millisecond
	if ms := os.Getenv("TANDEM_CLICK_SLOW_MS"); ms != "" { // to compare links
		d, err := time.ParseDuration(ms + "ms")
		if err != nil {
			t.Fatal(err)
		}
		slowDelay = d
	}
	slow := newDelayProxy(t, ts.Listener.Addr().String(), slowDelay)

	token := func(name string) string {
		tok, err := db.CreateToken(name)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	a := startChild(t, "ann (5 ms, left)", "left", pulseDir, fast.url(), token("ann"), wavPath, id)
	b := startChild(t, "bob (60 ms, right)", "right", pulseDir, slow.url(), token("bob"), wavPath, id)

	// The remote control: a muted core on the hub's own address.
	eng := audio.New(nil, audio.NewMuted())
	defer eng.Close()
	ctl := player.New(player.Config{HubURL: ts.URL, Token: token("cleo"), Room: "lounge", Audio: eng,
		Library: audio.MemLibrary{id: wav}})
	defer ctl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ctl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	rows := ctl.Rows("queue")
	if len(rows) != 1 || rows[0].TrackID != id {
		t.Fatalf("queue = %+v, want the click track", rows)
	}

	version := func() uint64 { return ctl.RoomClient().State().Version }
	settled := func(what string, v uint64) {
		waitUntil(t, what, 15*time.Second, func() bool {
			for _, c := range []*child{a, b} {
				st, _ := c.last()
				if !st.Sync.Playing || st.Sync.Timeline.Version < v {
					return false
				}
			}
			return true
		})
		time.Sleep(700 * time.Millisecond) // past the hub's lead: both play
	}
	var report []string
	// measure brings the room to a phase with setup, then records both
	// players. A player starved of CPU underruns; the bound is checked on
	// a recording made while the machine was not (testhub.Measure), and
	// each attempt sets the phase up again, since the track moves on.
	measure := func(phase string, setup func()) {
		testhub.Measure(t, 3, func(tr *testhub.Trial) {
			setup()
			rec := recordStereo(t, pulseDir, 3*time.Second)
			offs := offsets(rec)
			sa, _ := a.last()
			sb, _ := b.last()
			if len(offs) < 3 {
				tr.Errorf("%s: only %d click pairs in 3 s (left %d clicks, right %d)", phase, len(offs), len(clicks(rec, 0)), len(clicks(rec, 1)))
				return
			}
			sorted := slices.Clone(offs)
			slices.Sort(sorted)
			worst := max(-sorted[0], sorted[len(sorted)-1])
			median := sorted[len(sorted)/2]
			la, okA := bufferLatency(t, penv, a.pid)
			lb, okB := bufferLatency(t, penv, b.pid)
			pulse := "PulseAudio's stream buffers not found"
			if okA && okB {
				pulse = fmt.Sprintf("PulseAudio holds %v / %v in the streams' buffers; less that difference, the median is %v",
					la, lb, median-(lb-la))
			}
			line := fmt.Sprintf("%s: %d pairs, right (60 ms link) minus left (5 ms link): median %v, range [%v, %v]; "+
				"controller errors %v / %v, trims %+.0f / %+.0f ppm, resyncs %d / %d; hub clock offsets %v / %v (error bounds %v / %v); %s",
				phase, len(offs), median, sorted[0], sorted[len(sorted)-1],
				sa.Sync.Error, sb.Sync.Error, sa.Sync.Trim*1e6, sb.Sync.Trim*1e6, sa.Sync.Resyncs, sb.Sync.Resyncs, sa.Offset, sb.Offset, sa.ClockError, sb.ClockError, pulse)
			t.Log(line)
			report = append(report, line)
			if worst > syncBound {
				tr.Errorf("%s: the players' clicks are up to %v apart, want within %v", phase, worst, syncBound)
			}
		})
	}

	changeTrack := func() {
		v := version()
		player.ChangeTrack.Emit(ctl.Emitter(), player.TrackChange{Origin: player.Local, Room: "lounge", EntryID: rows[0].EntryID, TrackID: id})
		waitUntil(t, "the change of track", 10*time.Second, func() bool { return version() > v })
		settled("both to play", version())
	}
	seek := func(to time.Duration) {
		v := version()
		player.Playback.Emit(ctl.Emitter(), player.PlaybackChange{Origin: player.Local, Room: "lounge", Position: to})
		waitUntil(t, "the seek", 10*time.Second, func() bool { return version() > v })
		settled("both to follow the seek", version())
	}
	measure("after changeTrack", changeTrack)
	measure("after seek", func() { seek(20*time.Second + 123*time.Millisecond) })
	measure("after bob's reconnection", func() {
		seek(5 * time.Second) // room for the reconnection and the recording
		before, _ := b.last()
		slow.drop()
		waitUntil(t, "bob to reconnect", 20*time.Second, func() bool {
			st, _ := b.last()
			return st.Connections >= before.Connections+2 && !strings.HasPrefix(st.Status, "hub:")
		})
		time.Sleep(time.Second)
	})
	t.Logf("summary:\n%s", strings.Join(report, "\n"))
}
