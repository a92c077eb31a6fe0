package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"tandem"
	"tandem/store"
	"tandem/sync/clock"
	"tandem/sync/follow"
	"tandem/sync/hub"
	"tandem/sync/protocol"
	"tandem/sync/room"
)

// Config describes one lab run.
type Config struct {
	Profile   string
	Net       Net
	DriftPPM  float64       // followers' clocks drift evenly from −DriftPPM to +DriftPPM
	Offset    time.Duration // and are offset evenly from −Offset to +Offset
	Followers int           // members from the start, at least 2; one more joins late
	Duration  time.Duration
	Seed      uint64
	// Clock tunes the followers' hub-clock estimation; zero fields keep
	// the defaults that the player uses.
	Clock clock.Config
	Trace io.Writer    // if set, one line per sample: time, then each member's error and trim
	Log   *slog.Logger // progress and components' logs; nil discards
}

const (
	sampleRate = 48000
	roomName   = "lab"
	tickEvery  = 50 * time.Millisecond
	sampleGap  = 10 * time.Millisecond
)

// The scenarios, in the order they run.
var scenarioNames = []string{"play", "seek", "pause/resume", "changeTrack", "late join", "reconnect", "long run"}

// simClock is a follower's local clock: offset from the lab's true clock
// and running fast or slow by drift. Its times carry monotonic readings.
type simClock struct {
	origin, base time.Time
	rate         float64
}

func newSimClock(origin time.Time, offset time.Duration, drift float64) *simClock {
	return &simClock{origin: origin, base: origin.Add(offset), rate: 1 + drift}
}

// At is the local time at true time t.
func (s *simClock) At(t time.Time) time.Time {
	return s.base.Add(time.Duration(float64(t.Sub(s.origin)) * s.rate))
}

func (s *simClock) Now() time.Time { return s.At(time.Now()) }

// hubClock adapts a room client to follow.Clock.
type hubClock struct {
	sim *simClock
	c   *room.Client
}

func (h hubClock) Now() time.Time                { return h.sim.Now() }
func (h hubClock) Local(hubMs float64) time.Time { return h.c.Local(hubMs) }

// follower is one simulated member.
type follower struct {
	idx    int
	drift  float64
	offset time.Duration
	clk    *simClock
	sink   *follow.VirtualSink
	ctrl   *follow.Controller
	link   *link
	client *room.Client

	mu       sync.Mutex
	version  uint64
	joinedAt time.Time // true time of the first join, zero before
}

// apply hands a timeline from the hub to the follower's controller.
func (f *follower) apply(p protocol.Playback, version uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.joinedAt.IsZero() {
		f.joinedAt = time.Now()
	}
	if p.TrackID == "" || version < f.version {
		return
	}
	f.version = version
	f.sink.Load(p.TrackID)
	f.ctrl.Follow(follow.Timeline{Playing: p.State == tandem.Playing, Position: protocol.Dur(p.Position),
		StartAt: p.StartAt, Version: version})
}

func (f *follower) joined() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.joinedAt
}

// timeline is one of the hub's timelines, as the conductor received it.
type timeline struct {
	version uint64
	track   string
	playing bool
	posMs   float64
	startAt float64
}

// lab holds a run's shared state.
type lab struct {
	cfg   Config
	log   *slog.Logger
	start time.Time // true time of the first command

	tmu       sync.Mutex // guards timelines
	timelines []timeline

	phase atomic.Int32 // index into scenarioNames, -1 before the first

	smu     sync.Mutex  // guards the following
	skews   [][]float64 // per scenario: inter-member skew samples (s)
	abs     []float64   // |error| against the hub's true timeline (s), all members
	joinOff []offSample // the late joiner's offset from the others
	trimMin float64
	trimMax float64
}

type offSample struct {
	at  time.Time
	off float64
}

func (l *lab) record(p protocol.Playback, version uint64) {
	if p.TrackID == "" {
		return
	}
	l.tmu.Lock()
	defer l.tmu.Unlock()
	if n := len(l.timelines); n > 0 && l.timelines[n-1].version >= version {
		return
	}
	l.timelines = append(l.timelines, timeline{version: version, track: p.TrackID, playing: p.State == tandem.Playing,
		posMs: p.Position, startAt: p.StartAt})
}

// errorOf is a member's error (s) at true time tMs (hub Unix ms) against
// the hub's timeline of its track that explains its position best: the
// one in force, or, right around a change, the one before (a member that
// switches 0.3 ms after the others is 0.3 ms late, not a seek apart).
func (l *lab) errorOf(track string, pos float64, tMs float64) (float64, bool) {
	l.tmu.Lock()
	defer l.tmu.Unlock()
	best, ok := 0.0, false
	seen := 0
	for i := len(l.timelines) - 1; i >= 0 && seen < 3; i-- {
		tl := l.timelines[i]
		if tl.track != track || !tl.playing {
			continue
		}
		seen++
		e := pos - (tl.posMs+tMs-tl.startAt)/1000
		if !ok || math.Abs(e) < math.Abs(best) {
			best, ok = e, true
		}
	}
	return best, ok
}

// Run runs the lab and returns its figures.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Followers < 2 {
		return nil, errors.New("synclab: at least 2 followers")
	}
	members := cfg.Followers + 1 // the last joins late
	if cfg.Duration < 5*time.Second {
		return nil, errors.New("synclab: duration below 5 s")
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := os.MkdirTemp("", "synclab-")
	if err != nil {
		return nil, fmt.Errorf("synclab: temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	db, err := store.Open(filepath.Join(dir, "data"), store.Options{})
	if err != nil {
		return nil, fmt.Errorf("synclab: open store: %w", err)
	}
	defer db.Close()

	// Two long tracks, so that none ends during the run.
	var tracks [2]string
	for i := range tracks {
		sum := sha256.Sum256(fmt.Appendf(nil, "synclab track %d", i))
		tracks[i] = hex.EncodeToString(sum[:])
		t := tandem.Track{ID: tracks[i], Title: fmt.Sprintf("Lab Tone %d", i+1), Artist: "synclab",
			Duration: 3 * time.Hour, Format: "wav", Size: 1 << 30, Uploader: "synclab"}
		if err := db.PutTrack(t); err != nil {
			return nil, fmt.Errorf("synclab: put track: %w", err)
		}
	}
	tokens := make([]string, members+1) // the last is the conductor's
	for i := range tokens {
		name := fmt.Sprintf("member%d", i)
		if i == members {
			name = "conductor"
		}
		if tokens[i], err = db.CreateToken(name); err != nil {
			return nil, fmt.Errorf("synclab: token: %w", err)
		}
	}

	h := hub.New(hub.Config{Store: db, OpenRooms: true, Logger: log.With("c", "hub")})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("synclab: listen: %w", err)
	}
	srv := &http.Server{Handler: h.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	defer func() {
		h.Close()
		srv.Close()
		<-served
	}()
	hubURL := "http://" + ln.Addr().String()

	l := &lab{cfg: cfg, log: log, skews: make([][]float64, len(scenarioNames)), trimMin: math.Inf(1), trimMax: math.Inf(-1)}
	l.phase.Store(-1)

	// The conductor issues the commands over a direct connection.
	conductor := room.New(room.Options{URL: hubURL, Token: tokens[members], Room: roomName, Logger: log.With("c", "conductor")},
		room.Handlers{
			Joined:      func(st protocol.RoomState) { l.record(st.NowPlaying, st.Version) },
			ChangeTrack: func(ev protocol.ChangeTrack, _ time.Time) { l.record(changeTrackPlayback(ev), ev.Version) },
			Playback:    func(ev protocol.PlaybackEvent, _ time.Time) { l.record(ev.Playback, ev.Version) },
		})
	defer conductor.Close()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = conductor.Connect(cctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("synclab: conductor: %w", err)
	}

	// The followers.
	origin := time.Now()
	fs := make([]*follower, members)
	for i := range fs {
		frac := 2*float64(i)/float64(members-1) - 1 // −1 … +1
		f := &follower{idx: i, drift: frac * cfg.DriftPPM * 1e-6, offset: time.Duration(-frac * float64(cfg.Offset))}
		f.clk = newSimClock(origin, f.offset, f.drift)
		f.sink = follow.NewVirtualSink(sampleRate, f.clk.Now, 0)
		if f.link, err = newLink(ln.Addr().String(), cfg.Net, cfg.Seed+uint64(i)*7919, log.With("c", "link", "member", i)); err != nil {
			closeFollowers(fs)
			return nil, err
		}
		mlog := log.With("c", "member", "member", i)
		f.client = room.New(room.Options{URL: f.link.URL(), Token: tokens[i], Room: roomName, Logger: mlog, Now: f.clk.Now, Clock: cfg.Clock,
			ReconnectDelay: 300 * time.Millisecond, ReconnectDelayMax: time.Second},
			room.Handlers{
				Joined:      func(st protocol.RoomState) { f.apply(st.NowPlaying, st.Version) },
				ChangeTrack: func(ev protocol.ChangeTrack, _ time.Time) { f.apply(changeTrackPlayback(ev), ev.Version) },
				Playback:    func(ev protocol.PlaybackEvent, _ time.Time) { f.apply(ev.Playback, ev.Version) },
			})
		f.ctrl = follow.New(follow.Config{Sink: f.sink, Clock: hubClock{sim: f.clk, c: f.client}, Logger: mlog})
		fs[i] = f
	}
	defer closeFollowers(fs)

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	for _, f := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick(runCtx, f.ctrl)
		}()
	}
	connect := func(f *follower) error {
		cctx, cancel := context.WithTimeout(runCtx, 30*time.Second)
		defer cancel()
		if err := f.client.Connect(cctx); err != nil {
			return fmt.Errorf("synclab: member %d: %w", f.idx, err)
		}
		return nil
	}
	var errs []error
	var emu sync.Mutex
	var cwg sync.WaitGroup
	for _, f := range fs[:len(fs)-1] {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			if err := connect(f); err != nil {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
			}
		}()
	}
	cwg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	l.start = time.Now()
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.sample(runCtx, fs)
	}()
	late := fs[len(fs)-1]
	lateErr := make(chan error, 1)
	if err := l.drive(runCtx, conductor, tracks, fs, func() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lateErr <- connect(late)
		}()
	}); err != nil {
		return nil, err
	}
	stop()
	wg.Wait()
	select {
	case err := <-lateErr:
		if err != nil {
			return nil, err
		}
	default:
	}
	return l.result(fs), nil
}

func changeTrackPlayback(ev protocol.ChangeTrack) protocol.Playback {
	return protocol.Playback{EntryID: ev.EntryID, TrackID: ev.TrackID, State: tandem.Playing, StartAt: ev.StartAt}
}

func closeFollowers(fs []*follower) {
	for _, f := range fs {
		if f == nil {
			continue
		}
		if f.client != nil {
			f.client.Close()
		}
		if f.link != nil {
			f.link.Close()
		}
	}
}

func tick(ctx context.Context, c *follow.Controller) {
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.Tick()
		case <-ctx.Done():
			return
		}
	}
}

// away is how long a member stays away in the reconnect scenario: 20 s,
// or a fifth of the run if that is shorter.
func away(d time.Duration) time.Duration { return min(20*time.Second, d/5) }

// drive runs the scenarios. The run is laid out in fractions of its
// duration D: play at 0, seek at 0.08, pause at 0.16 and resume at 0.20,
// changeTrack at 0.26, a late join at 0.34, member 0 away at 0.42 for
// away(D), the reconnect window until 0.08 D after its return, then the
// long run to the end.
func (l *lab) drive(ctx context.Context, c *room.Client, tracks [2]string, fs []*follower, lateJoin func()) error {
	d := l.cfg.Duration
	at := func(frac float64) time.Time { return l.start.Add(time.Duration(frac * float64(d))) }
	wait := func(t time.Time) error {
		tm := time.NewTimer(time.Until(t))
		defer tm.Stop()
		select {
		case <-tm.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	cmd := func(name string, fn func(ctx context.Context) (uint64, error)) error {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := fn(cctx); err != nil {
			return fmt.Errorf("synclab: %s: %w", name, err)
		}
		l.log.Info("synclab: "+name, "t", time.Since(l.start).Round(time.Millisecond))
		return nil
	}
	setPhase := func(i int) { l.phase.Store(int32(i)) }

	setPhase(0)
	if err := cmd("changeTrack", func(ctx context.Context) (uint64, error) { return c.ChangeTrack(ctx, "", tracks[0]) }); err != nil {
		return err
	}
	if err := wait(at(0.08)); err != nil {
		return err
	}
	setPhase(1)
	if err := cmd("seek", func(ctx context.Context) (uint64, error) { return c.Seek(ctx, 60*time.Second) }); err != nil {
		return err
	}
	if err := wait(at(0.16)); err != nil {
		return err
	}
	setPhase(2)
	if err := cmd("pause", c.Pause); err != nil {
		return err
	}
	if err := wait(at(0.20)); err != nil {
		return err
	}
	if err := cmd("play", c.Play); err != nil {
		return err
	}
	if err := wait(at(0.26)); err != nil {
		return err
	}
	setPhase(3)
	if err := cmd("changeTrack", func(ctx context.Context) (uint64, error) { return c.ChangeTrack(ctx, "", tracks[1]) }); err != nil {
		return err
	}
	if err := wait(at(0.34)); err != nil {
		return err
	}
	setPhase(4)
	l.log.Info("synclab: late join", "member", len(fs)-1, "t", time.Since(l.start).Round(time.Millisecond))
	lateJoin()
	if err := wait(at(0.42)); err != nil {
		return err
	}
	setPhase(5)
	aw := away(d)
	l.log.Info("synclab: member 0 away", "for", aw)
	fs[0].link.SetDown(true)
	if err := wait(at(0.42).Add(aw)); err != nil {
		return err
	}
	fs[0].link.SetDown(false)
	l.log.Info("synclab: member 0 back")
	if err := wait(at(0.42 + 0.08).Add(aw)); err != nil {
		return err
	}
	setPhase(6)
	return wait(at(1))
}

// sample measures, every sampleGap, each member's audible position at one
// true instant.
func (l *lab) sample(ctx context.Context, fs []*follower) {
	t := time.NewTicker(sampleGap)
	defer t.Stop()
	late := len(fs) - 1
	errs := make([]float64, len(fs))
	have := make([]bool, len(fs))
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		phase := int(l.phase.Load())
		now := time.Now()
		nowMs := float64(now.UnixNano()) / 1e6
		var present []float64
		for i, f := range fs {
			have[i] = false
			track, frame, ok := f.sink.At(f.clk.At(now))
			if !ok {
				continue
			}
			e, ok := l.errorOf(track, frame/sampleRate, nowMs)
			if !ok {
				continue
			}
			errs[i], have[i] = e, true
			present = append(present, e)
		}
		var trims []float64
		for _, f := range fs {
			trims = append(trims, f.ctrl.Stats().Trim)
		}
		if l.cfg.Trace != nil {
			line := fmt.Sprintf("%.3f %d", now.Sub(l.start).Seconds(), phase)
			for i := range fs {
				e := math.NaN()
				if have[i] {
					e = errs[i] * 1e3
				}
				line += fmt.Sprintf(" %.4f %.1f", e, trims[i]*1e6)
			}
			fmt.Fprintln(l.cfg.Trace, line)
		}
		l.smu.Lock()
		for _, tr := range trims {
			l.trimMin, l.trimMax = min(l.trimMin, tr), max(l.trimMax, tr)
		}
		for _, e := range present {
			l.abs = append(l.abs, math.Abs(e))
		}
		if len(present) >= 2 && phase >= 0 {
			l.skews[phase] = append(l.skews[phase], slices.Max(present)-slices.Min(present))
		}
		if phase == 4 && have[late] {
			var others []float64
			for i := range fs {
				if i != late && have[i] {
					others = append(others, errs[i])
				}
			}
			if len(others) > 0 {
				l.joinOff = append(l.joinOff, offSample{now, errs[late] - mean(others)})
			}
		}
		l.smu.Unlock()
	}
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
