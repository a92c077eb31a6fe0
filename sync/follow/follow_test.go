package follow

import (
	"bytes"
	"log/slog"
	"math"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const rate = 48000

// world is a driven true time (the hub's clock), a member's local clock
// (offset and drifting from it) and that member's estimate of the hub
// clock, off by bias.
type world struct {
	t          time.Time // true time = hub time
	origin     time.Time
	localBase  time.Time
	localDrift float64
	bias       time.Duration
}

func newWorld(offset time.Duration, localDrift float64) *world {
	o := time.Unix(1_800_000_000, 0)
	return &world{t: o, origin: o, localBase: o.Add(offset), localDrift: localDrift}
}

func (w *world) localAt(t time.Time) time.Time {
	return w.localBase.Add(time.Duration(float64(t.Sub(w.origin)) * (1 + w.localDrift)))
}

// Now implements Clock.
func (w *world) Now() time.Time { return w.localAt(w.t) }

// Local implements Clock: the true conversion, shifted by the bias.
func (w *world) Local(hubMs float64) time.Time {
	return w.localAt(time.Unix(0, int64(math.Round(hubMs*1e6)))).Add(w.bias)
}

func hubMs(t time.Time) float64 { return float64(t.UnixNano()) / 1e6 }

// event is something that happens to the member at a time since the start.
type event struct {
	at   time.Duration
	tl   *Timeline     // Follow this (StartAt relative to the event: see lead)
	lead time.Duration // StartAt = now + lead
	bias *time.Duration
}

func tlAt(playing bool, pos time.Duration, version uint64) *Timeline {
	return &Timeline{Playing: playing, Position: pos, Version: version}
}

func dur(d time.Duration) *time.Duration { return &d }

type result struct {
	errs    []time.Duration // the error as the member's clock sees it, per tick while audible
	times   []time.Duration // since the start
	silent  []time.Duration // ticks with nothing audible
	stats   Stats
	logText string
}

// run drives a Controller for total, ticking every tick.
func run(t *testing.T, w *world, sinkDrift float64, tick, total time.Duration, events []event) result {
	t.Helper()
	var logBuf bytes.Buffer
	sink := NewVirtualSink(rate, w.Now, sinkDrift)
	c := New(Config{Sink: sink, Clock: w, Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	var res result
	var cur Timeline
	start := w.t
	next := 0
	for el := time.Duration(0); el <= total; el += tick {
		w.t = start.Add(el)
		for next < len(events) && events[next].at <= el {
			ev := events[next]
			next++
			if ev.bias != nil {
				w.bias = *ev.bias
			}
			if ev.tl != nil {
				tl := *ev.tl
				tl.StartAt = hubMs(w.t.Add(ev.lead))
				if tl.Version >= cur.Version {
					cur = tl
				}
				c.Follow(tl)
			}
		}
		c.Tick()
		if st := c.Stats(); st.MaxTrim > DefaultMaxTrim+1e-12 {
			t.Fatalf("at %v: trim %v beyond MaxTrim", el, st.MaxTrim)
		}
		_, f, ok := sink.At(w.Now())
		if !ok {
			res.silent = append(res.silent, el)
			continue
		}
		if !cur.Playing {
			continue
		}
		// The timeline's position by the member's view of the hub clock.
		view := w.t.Add(-w.bias)
		want := cur.Position.Seconds() + (hubMs(view)-cur.StartAt)/1000
		if want < cur.Position.Seconds() {
			continue // before its start: the previous timeline still plays
		}
		res.errs = append(res.errs, seconds(f/rate-want))
		res.times = append(res.times, el)
	}
	res.stats = c.Stats()
	res.logText = logBuf.String()
	return res
}

// maxAbs is the largest |error| from time from on.
func (r result) maxAbs(from time.Duration) time.Duration {
	var m time.Duration
	for i, e := range r.errs {
		if r.times[i] >= from {
			m = max(m, e.Abs())
		}
	}
	return m
}

func TestController(t *testing.T) {
	play := func(version uint64) event { return event{tl: tlAt(true, 0, version), lead: 400 * time.Millisecond} }
	const ms = time.Millisecond
	tests := []struct {
		name       string
		offset     time.Duration
		localDrift float64
		sinkDrift  float64
		tick       time.Duration
		total      time.Duration
		events     []event
		resyncs    int
		settle     time.Duration // from then on ...
		within     time.Duration // ... |error| stays within this
		overall    time.Duration // |error| bound over the whole run
		drift      float64       // expected Stats.Drift (±10 ppm), if not NaN
	}{
		{name: "steady", tick: 50 * ms, total: 30 * time.Second, events: []event{play(1)},
			settle: 0, within: 30 * time.Microsecond, overall: 30 * time.Microsecond, drift: 0},
		{name: "offset and local drift, perfect clock", offset: 480 * ms, localDrift: -100e-6, tick: 50 * ms,
			total: 60 * time.Second, events: []event{play(1)}, settle: 40 * time.Second, within: 50 * time.Microsecond,
			overall: 400 * time.Microsecond, drift: -100e-6}, // the sink runs on the local clock
		{name: "sink +100 ppm", sinkDrift: 100e-6, tick: 50 * ms, total: 120 * time.Second, events: []event{play(1)},
			settle: 40 * time.Second, within: 50 * time.Microsecond, overall: 400 * time.Microsecond, drift: 100e-6},
		{name: "sink -100 ppm, local +100 ppm, offset", sinkDrift: -100e-6, localDrift: 100e-6, offset: -500 * ms,
			tick: 50 * ms, total: 120 * time.Second, events: []event{play(1)},
			settle: 40 * time.Second, within: 50 * time.Microsecond, overall: 50 * time.Microsecond, drift: -0.01e-6},
		{name: "sink +100 ppm, tick 100 ms", sinkDrift: 100e-6, tick: 100 * ms, total: 120 * time.Second,
			events: []event{play(1)}, settle: 40 * time.Second, within: 50 * time.Microsecond,
			overall: 500 * time.Microsecond, drift: 100e-6},
		{name: "clock step +5 ms", tick: 50 * ms, total: 40 * time.Second,
			events: []event{play(1), {at: 10 * time.Second, bias: dur(5 * ms)}},
			settle: 30 * time.Second, within: 50 * time.Microsecond, overall: 5*ms + 50*time.Microsecond, drift: 0},
		{name: "clock step -20 ms", tick: 50 * ms, total: 70 * time.Second,
			events: []event{play(1), {at: 5 * time.Second, bias: dur(-20 * ms)}},
			settle: 60 * time.Second, within: 50 * time.Microsecond, overall: 20*ms + 50*time.Microsecond, drift: 0},
		{name: "clock step 100 ms resyncs", tick: 50 * ms, total: 20 * time.Second,
			events: []event{play(1), {at: 5 * time.Second, bias: dur(100 * ms)}}, resyncs: 1,
			settle: 6 * time.Second, within: 50 * time.Microsecond, overall: 100*ms + 50*time.Microsecond, drift: 0},
		{name: "late join", sinkDrift: 50e-6, tick: 50 * ms, total: 20 * time.Second,
			events: []event{{tl: tlAt(true, 10*time.Second, 7), lead: -30 * time.Second}},
			settle: 15 * time.Second, within: 50 * time.Microsecond, overall: 150 * time.Microsecond, drift: 50e-6},
		{name: "seek", tick: 50 * ms, total: 20 * time.Second,
			events: []event{play(1), {at: 8 * time.Second, tl: tlAt(true, 95*time.Second, 2), lead: 400 * ms}},
			within: 30 * time.Microsecond, overall: 30 * time.Microsecond, drift: 0},
		{name: "pause and resume", sinkDrift: -80e-6, tick: 50 * ms, total: 60 * time.Second,
			events: []event{play(1),
				{at: 20 * time.Second, tl: tlAt(false, 20*time.Second, 2), lead: 400 * ms},
				{at: 30 * time.Second, tl: tlAt(true, 20*time.Second, 3), lead: 400 * ms}},
			settle: 45 * time.Second, within: 50 * time.Microsecond, overall: 400 * time.Microsecond, drift: math.NaN()},
		{name: "stale timeline ignored", tick: 50 * ms, total: 10 * time.Second,
			events: []event{play(5), {at: 3 * time.Second, tl: tlAt(true, 60*time.Second, 4), lead: 400 * ms}},
			within: 30 * time.Microsecond, overall: 30 * time.Microsecond, drift: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(tc.offset, tc.localDrift)
			r := run(t, w, tc.sinkDrift, tc.tick, tc.total, tc.events)
			if len(r.errs) == 0 {
				t.Fatal("nothing audible")
			}
			if r.stats.Resyncs != tc.resyncs {
				t.Errorf("resyncs = %d, want %d\n%s", r.stats.Resyncs, tc.resyncs, r.logText)
			}
			if m := r.maxAbs(tc.settle); m > tc.within {
				t.Errorf("|error| after %v up to %v, want ≤ %v", tc.settle, m, tc.within)
			}
			if m := r.maxAbs(0); m > tc.overall {
				t.Errorf("|error| up to %v, want ≤ %v", m, tc.overall)
			}
			if !math.IsNaN(tc.drift) && math.Abs(r.stats.Drift-tc.drift) > 10e-6 {
				t.Errorf("drift = %.1f ppm, want %.1f", r.stats.Drift*1e6, tc.drift*1e6)
			}
			if !math.IsNaN(tc.drift) && math.Abs(r.stats.Trim+tc.drift) > 10e-6 {
				t.Errorf("trim = %.1f ppm, want %.1f", r.stats.Trim*1e6, -tc.drift*1e6)
			}
		})
	}
}

// A step of the clock estimate is corrected without overshoot: the error
// moves from the step towards zero and never beyond it.
func TestNoOvershoot(t *testing.T) {
	for _, step := range []time.Duration{300 * time.Microsecond, 2 * time.Millisecond, -8 * time.Millisecond, 35 * time.Millisecond} {
		for _, tick := range []time.Duration{50 * time.Millisecond, 100 * time.Millisecond} {
			w := newWorld(0, 0)
			at := 5 * time.Second
			r := run(t, w, 0, tick, 120*time.Second, []event{
				{tl: tlAt(true, 0, 1), lead: 400 * time.Millisecond},
				{at: at, bias: &step},
			})
			if r.stats.Resyncs != 0 {
				t.Errorf("step %v: %d resyncs", step, r.stats.Resyncs)
			}
			// The sink is now ahead of the view by step; that decays.
			sign := float64(step) / math.Abs(float64(step))
			prev := math.Inf(1)
			const slack = 25 * time.Microsecond // half a frame, plus the trim's rounding
			for i, e := range r.errs {
				if r.times[i] <= at {
					continue
				}
				v := float64(e) * sign // positive while not yet corrected
				if v < -float64(slack) {
					t.Fatalf("step %v, tick %v: overshoot to %v at %v", step, tick, e, r.times[i])
				}
				if v > prev+float64(slack) {
					t.Fatalf("step %v, tick %v: error grew from %v to %v at %v", step, tick, time.Duration(prev*sign), e, r.times[i])
				}
				prev = min(prev, v)
			}
			if last := r.errs[len(r.errs)-1]; last.Abs() > slack {
				t.Errorf("step %v, tick %v: error %v at the end", step, tick, last)
			}
		}
	}
}

// A pause silences the sink at the timeline's instant, and Tick then
// leaves it alone.
func TestPauseSilences(t *testing.T) {
	w := newWorld(100*time.Millisecond, 30e-6)
	r := run(t, w, 0, 50*time.Millisecond, 12*time.Second, []event{
		{tl: tlAt(true, 0, 1), lead: 400 * time.Millisecond},
		{at: 5 * time.Second, tl: tlAt(false, 5*time.Second, 2), lead: 400 * time.Millisecond},
	})
	for _, s := range r.silent {
		if s > 1*time.Second && s < 5400*time.Millisecond {
			t.Errorf("silent at %v, while playing", s)
		}
	}
	if n := len(r.silent); n == 0 || r.silent[n-1] != 12*time.Second {
		t.Errorf("still audible at the end")
	}
	if r.stats.Playing || r.stats.Timeline.Version != 2 || r.stats.Resyncs != 0 {
		t.Errorf("stats = %+v", r.stats)
	}
}

// A timeline equal to the current one but for its version (the room
// changed, not its playback) does not reschedule.
func TestSameTimelineNewVersion(t *testing.T) {
	w := newWorld(0, 0)
	sink := &countingSink{VirtualSink: NewVirtualSink(rate, w.Now, 0)}
	c := New(Config{Sink: sink, Clock: w})
	tl := Timeline{Playing: true, Position: time.Second, StartAt: hubMs(w.t), Version: 3}
	c.Follow(tl)
	tl.Version = 4
	c.Follow(tl)
	if sink.schedules != 1 {
		t.Errorf("%d schedules, want 1", sink.schedules)
	}
	if v := c.Stats().Timeline.Version; v != 4 {
		t.Errorf("version = %d, want 4", v)
	}
}

type countingSink struct {
	*VirtualSink
	schedules int
}

func (s *countingSink) Schedule(frame int64, at time.Time) error {
	s.schedules++
	return s.VirtualSink.Schedule(frame, at)
}
