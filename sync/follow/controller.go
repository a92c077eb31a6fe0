package follow

import (
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"
)

// The control law.
//
// Let e be the error (sink position minus timeline position, seconds) and
// u the rate trim in force. Whatever the sink's own rate error d (its
// crystal against the Clock, plus any skew the Clock does not model),
// de/dt = d + u. The Controller sets
//
//	u = −d̂ − Gain·m,  clamped to ±MaxTrim,
//
// where m is the median of the last Window errors and d̂ is the estimated
// rate error: the least-squares slope, over the last DriftSpan, of the
// free-running error f = e − ∫u dt (the error the sink would have had
// without any trim). With d̂ = d the loop is de/dt = −Gain·e: a first-
// order decay with no overshoot at all. A textbook PI (an integral of e)
// cannot do that: for any initial error with no drift, its integral has to
// return to zero, so e must cross zero and overshoot. Here the integral
// acts on the rate error only (f does not move while the proportional term
// removes an initial error, since ∫u moves with e), which is why the
// initial error of a join or a clock step decays without overshoot while
// a steady drift is still cancelled exactly.
//
// Gain = 0.5/s: a time constant of 2 s. The median of 9 readings 50–100 ms
// apart lags by τ = 0.2–0.4 s; a first-order loop with a dead time stays
// monotone while Gain·τ < 1/e ≈ 0.37, and 0.5·0.4 = 0.2 leaves margin for
// a slower owner and for the sink's own reporting lag. It is also gentle:
// at 1 ms of error the trim is already the full 500 ppm, so the gain is
// as high as it usefully gets, and the noise of a 0.1 ms clock estimate
// becomes at most 50 ppm of rate wobble, far below audibility. Without
// d̂, a 100 ppm drift would settle at d/Gain = 0.2 ms; d̂ removes even that.
//
// A step of the error between two readings that neither the trim nor any
// plausible drift explains (beyond six robust standard deviations of the
// recent changes, and at least 50 µs) is a step of the clock estimate or a
// glitch of the sink's report: the proportional term corrects it, but it
// is taken out of f, so that the drift fit does not mistake it for a
// slope (an uncompensated 5 ms step would read as ~250 ppm of drift for
// the length of the fit's window).
//
// The drift estimate needs DriftMinSpan of readings since the last
// (re)schedule, which moves f; until then the previous d̂ (a property of
// the device, not of the timeline) is kept. It is clamped to ±MaxTrim/2,
// so that the proportional term always keeps half of the trim range.

const (
	// Gain is the proportional gain, per second of error per second.
	Gain = 0.5
	// DriftSpan is how far back the drift fit looks.
	DriftSpan = 30 * time.Second
	// DriftMinSpan is the span of readings the drift fit needs.
	DriftMinSpan = 10 * time.Second
	// minStep is the smallest change of the error between two readings
	// that counts as a step, and deltaWindow how many recent changes
	// scale the threshold beyond it.
	minStep     = 50e-6
	deltaWindow = 32
	// minTrimReadings is how many readings the median needs before the
	// trim acts on it.
	minTrimReadings = 3
)

// Controller keeps a Sink on a Timeline. Its methods may be called from
// several goroutines.
type Controller struct {
	sink    Sink
	clock   Clock
	log     *slog.Logger
	resync  time.Duration
	maxTrim float64
	window  int
	rate    float64 // sample rate

	mu      sync.Mutex
	tl      Timeline
	have    bool      // tl was set
	from    time.Time // local instant the current schedule took effect
	errs    []float64 // last window errors (s), oldest first
	frees   []reading // last window free-running errors
	hist    []reading // median-filtered free-running errors, within DriftSpan
	cum     float64   // ∫u dt since the schedule (s)
	steps   float64   // sum of the steps seen since the schedule (s)
	deltas  []float64 // recent |changes| of the error between readings, steps excluded
	prevErr float64   // the last reading's error
	lastAt  time.Time // time of the last reading
	trim    float64   // trim in force
	drift   float64   // d̂
	filtErr float64   // last median error (s)
	maxSeen float64
	resyncs int
}

type reading struct {
	at time.Time
	v  float64
}

// New returns a Controller for cfg.Sink; zero fields of cfg take their
// defaults. It does nothing until the first Follow.
func New(cfg Config) *Controller {
	c := &Controller{sink: cfg.Sink, clock: cfg.Clock, log: cfg.Logger,
		resync: cfg.Resync, maxTrim: cfg.MaxTrim, window: cfg.Window}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.resync <= 0 {
		c.resync = DefaultResync
	}
	if c.maxTrim <= 0 {
		c.maxTrim = DefaultMaxTrim
	}
	if c.window <= 0 {
		c.window = DefaultWindow
	}
	c.rate = float64(c.sink.SampleRate())
	return c
}

// Follow hands the Controller a new timeline from the hub. A timeline
// older than the current one (by Version) is ignored, and so is one equal
// to it but for a newer Version (the room changed, not its playback).
// Otherwise the sink is scheduled: the frame the timeline reaches at its
// start, at the local instant of the start; or, if that instant is past
// (a late join, a reconnection), the frame it reaches now, now. A timeline
// that is not playing stops the sink at its start.
func (c *Controller) Follow(tl Timeline) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.have && tl.Version < c.tl.Version {
		c.log.Debug("follow: stale timeline ignored", "version", tl.Version, "have", c.tl.Version)
		return
	}
	if c.have && tl.Playing == c.tl.Playing && tl.Position == c.tl.Position && tl.StartAt == c.tl.StartAt {
		c.tl.Version = tl.Version
		return
	}
	c.tl, c.have = tl, true
	c.resetLocked()
	if !tl.Playing {
		at := c.clock.Now()
		if tl.StartAt != 0 {
			at = c.clock.Local(tl.StartAt)
		}
		c.sink.Stop(at)
		c.log.Debug("follow: stop", "version", tl.Version, "at", at)
		return
	}
	at := c.clock.Local(tl.StartAt)
	if now := c.clock.Now(); at.Before(now) {
		at = now
	}
	c.scheduleLocked(at)
	c.setTrimLocked(c.clampTrim(-c.drift))
	c.log.Debug("follow: schedule", "version", tl.Version, "position", tl.Position, "at", at)
}

// Tick measures the error and corrects it; call it every 50–100 ms.
func (c *Controller) Tick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.have || !c.tl.Playing {
		return
	}
	frame, at, ok := c.sink.Audible()
	if !ok || at.Before(c.from) {
		return // nothing plays yet, or still the previous schedule
	}
	e := float64(frame)/c.rate - c.positionLocked(at)
	if !c.lastAt.IsZero() {
		moved := c.trim * at.Sub(c.lastAt).Seconds()
		c.cum += moved
		// A jump between two readings that neither the trim nor any
		// plausible drift explains is a step (of the clock estimate, or
		// a glitch of the sink's report): the trim corrects it, but the
		// drift fit must not mistake it for a slope.
		d := e - c.prevErr - moved
		if math.Abs(d) > c.stepThresholdLocked() {
			c.steps += d
		} else {
			c.deltas = push(c.deltas, math.Abs(d), deltaWindow)
		}
	}
	c.lastAt, c.prevErr = at, e
	c.errs = push(c.errs, e, c.window)
	c.frees = pushReading(c.frees, reading{at, e - c.cum - c.steps}, c.window)
	m := median(c.errs)
	c.filtErr = m

	// The drift: the slope of the median-filtered free-running error,
	// each median placed at the time of the middle reading.
	fm := reading{c.frees[len(c.frees)/2].at, median(values(c.frees))}
	c.hist = append(c.hist, fm)
	cut := 0
	for cut < len(c.hist) && fm.at.Sub(c.hist[cut].at) > DriftSpan {
		cut++
	}
	c.hist = c.hist[cut:]
	if len(c.hist) >= 8 && fm.at.Sub(c.hist[0].at) >= DriftMinSpan {
		if s, ok := slope(c.hist); ok {
			c.drift = max(min(s, c.maxTrim/2), -c.maxTrim/2)
		}
	}

	if len(c.errs) >= c.window && math.Abs(m) > c.resync.Seconds() {
		now := c.clock.Now()
		c.log.Info("follow: resync", "error", seconds(m), "version", c.tl.Version)
		c.resyncs++
		c.resetLocked()
		c.scheduleLocked(now)
		c.setTrimLocked(c.clampTrim(-c.drift))
		return
	}
	if len(c.errs) >= minTrimReadings {
		c.setTrimLocked(c.clampTrim(-c.drift - Gain*m))
	}
}

// Stats returns what the Controller measured and did.
func (c *Controller) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{
		Error:    seconds(c.filtErr),
		Trim:     c.trim,
		MaxTrim:  c.maxSeen,
		Resyncs:  c.resyncs,
		Playing:  c.have && c.tl.Playing,
		Timeline: c.tl,
		Drift:    c.drift,
	}
}

// resetLocked forgets the readings of the previous schedule; the drift
// estimate is kept.
func (c *Controller) resetLocked() {
	c.errs, c.frees, c.hist = c.errs[:0], c.frees[:0], c.hist[:0]
	c.cum, c.steps, c.lastAt, c.filtErr = 0, 0, time.Time{}, 0
}

// stepThresholdLocked is the change of the error between two readings
// beyond which it counts as a step: six robust standard deviations of
// the recent changes (1.4826·MAD of changes whose median is ≈ 0), and at
// least minStep, which no drift reaches between two ticks (200 ppm over
// 100 ms is 20 µs).
func (c *Controller) stepThresholdLocked() float64 {
	if len(c.deltas) < deltaWindow/2 {
		return minStep
	}
	return max(6*1.4826*median(c.deltas), minStep)
}

// scheduleLocked makes the sink play, from local instant at, the frame
// the timeline reaches then.
func (c *Controller) scheduleLocked(at time.Time) {
	frame := int64(math.Round(c.positionLocked(at) * c.rate))
	if frame < 0 {
		frame = 0
	}
	if err := c.sink.Schedule(frame, at); err != nil {
		c.log.Error("follow: schedule", "frame", frame, "at", at, "err", err)
	}
	c.from = at
}

func (c *Controller) clampTrim(u float64) float64 {
	return max(min(u, c.maxTrim), -c.maxTrim)
}

func (c *Controller) setTrimLocked(u float64) {
	if u == c.trim {
		return
	}
	c.trim = u
	c.maxSeen = max(c.maxSeen, math.Abs(u))
	c.sink.SetRate(1 + u)
}

// positionLocked returns the timeline's position (seconds) at local time
// at. The hub time of at is found by inverting Clock.Local, which is
// linear with a slope of 1/(1+skew): the first step is off by skew times
// the time since StartAt (360 ms after an hour at 100 ppm), the second by
// its square.
func (c *Controller) positionLocked(at time.Time) float64 {
	h := c.tl.StartAt
	for range 2 {
		h += float64(at.Sub(c.clock.Local(h))) / float64(time.Millisecond)
	}
	return c.tl.Position.Seconds() + (h-c.tl.StartAt)/1000
}

func push(s []float64, v float64, n int) []float64 {
	if len(s) == n {
		s = append(s[:0], s[1:]...)
	}
	return append(s, v)
}

func pushReading(s []reading, r reading, n int) []reading {
	if len(s) == n {
		s = append(s[:0], s[1:]...)
	}
	return append(s, r)
}

func values(rs []reading) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = r.v
	}
	return out
}

func median(s []float64) float64 {
	if len(s) == 0 {
		return 0
	}
	t := slices.Clone(s)
	slices.Sort(t)
	n := len(t)
	if n%2 == 1 {
		return t[n/2]
	}
	return (t[n/2-1] + t[n/2]) / 2
}

// slope is the least-squares slope of v over time.
func slope(rs []reading) (float64, bool) {
	ref := rs[0].at
	n := float64(len(rs))
	var sx, sy float64
	for _, r := range rs {
		sx += r.at.Sub(ref).Seconds()
		sy += r.v
	}
	mx, my := sx/n, sy/n
	var sxx, sxy float64
	for _, r := range rs {
		x := r.at.Sub(ref).Seconds() - mx
		sxx += x * x
		sxy += x * (r.v - my)
	}
	if sxx == 0 {
		return 0, false
	}
	return sxy / sxx, true
}

func seconds(s float64) time.Duration { return time.Duration(math.Round(s * 1e9)) }
