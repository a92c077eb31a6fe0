// Package clock estimates a hub's clock from a client's monotonic clock,
// NTP-style, with the four timestamps of clock:ping exchanges.
//
// An exchange gives t0 (client send, local), t1 (hub receive), t2 (hub
// send) and t3 (client receive, local). Its offset (hub minus local) is
// ((t1−t0)+(t2−t3))/2 and its delay, the round trip minus the hub's own
// time, is (t3−t0)−(t2−t1). Whatever the split of the delay between the
// two directions, the true offset lies within delay/2 of the sample's
// offset, so delay/2 is the sample's error bound.
//
// # The filter
//
// Queueing on the network and in the hub only ever adds delay, and added
// delay is what makes a sample wrong: a sample taken through an empty
// queue has a small delay and a small error bound. So the estimator keeps
// the last Window samples and uses the one with the lowest bound, not an
// average (an average would mix in the queued, biased ones). A spike of
// delay therefore never wins, a drop in delay is adopted at once, and a
// rise is adopted once the quick samples have left the window.
//
// Between the two clocks there is drift (skew: crystals differ by tens of
// parts per million), so an old sample's offset goes stale. Each sample's
// bound therefore grows with its age at a rate rho, and the sample's
// offset is carried forward with the estimated skew. The skew is the
// least-squares slope of the offset over local time, fitted through the
// lowest-delay sample of each group of four in the last History samples,
// once they span MinSkewSpan; rho is then three standard errors of that
// slope (at least 1 ppm), and MaxSkew before that. A slope beyond MaxSkew
// is not believed (a clock was stepped, or the samples are too noisy) and
// the skew stays unknown.
//
// A hub whose clock is stepped shows as new samples whose bounds do not
// overlap the estimate's; after StepAfter such samples in a row, the older
// samples are dropped.
//
// Local times are durations of a monotonic clock (Config.Now); hub times
// are Unix milliseconds as sent on the wire, converted to nanoseconds
// without going through a float64 of nanoseconds (which would round to
// 256 ns).
package clock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Config configures an Estimator. Zero fields take the defaults.
type Config struct {
	// Now is the local monotonic clock. Nil means time.Since of the
	// moment New was called.
	Now func() time.Duration
	// Window is how many recent samples compete for the estimate (16).
	Window int
	// History is how many recent samples the skew is fitted on (64).
	History int
	// MaxSkew is the largest believable drift between the two clocks,
	// as a fraction (200e-6, i.e. 200 ppm); it is also the rate at which
	// samples age while the skew is unknown.
	MaxSkew float64
	// MinSkewSpan is the local time the samples must span before the
	// skew is estimated (30 s).
	MinSkewSpan time.Duration
	// StepAfter is how many samples in a row that contradict the
	// estimate make the estimator start again from them (3).
	StepAfter int
	// BurstCount and BurstGap shape Burst: 8 samples 50 ms apart.
	BurstCount int
	BurstGap   time.Duration
	// Period and Jitter shape Follow: a sample every Period ± Jitter
	// (3 s ± 1 s), the jitter keeping clients from pinging in step.
	Period, Jitter time.Duration
	// PingTimeout bounds one exchange (2 s).
	PingTimeout time.Duration
	Logger      *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Now == nil {
		start := time.Now()
		c.Now = func() time.Duration { return time.Since(start) }
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Window, 16)
	def(&c.History, 64)
	def(&c.StepAfter, 3)
	def(&c.BurstCount, 8)
	c.History = max(c.History, c.Window)
	if c.MaxSkew <= 0 {
		c.MaxSkew = 200e-6
	}
	defd(&c.MinSkewSpan, 30*time.Second)
	defd(&c.BurstGap, 50*time.Millisecond)
	defd(&c.Period, 3*time.Second)
	if c.Jitter < 0 || c.Jitter >= c.Period {
		c.Jitter = 0
	} else if c.Jitter == 0 {
		c.Jitter = c.Period / 3
	}
	defd(&c.PingTimeout, 2*time.Second)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Sample is one clock:ping exchange.
type Sample struct {
	T0, T3 time.Duration // local monotonic send and receive times
	T1, T2 float64       // hub Unix milliseconds at receipt and reply
}

// Estimate is the estimator's view of the hub clock at a local time.
type Estimate struct {
	OK     bool          // false until a sample was added
	At     time.Duration // the local time it is for
	Offset time.Duration // hub Unix time minus local monotonic time
	Error  time.Duration // bound on |Offset − true offset|
	Delay  time.Duration // round trip of the chosen sample
	Age    time.Duration // local time since the chosen sample
	// Skew is the hub clock's rate relative to the local clock, minus 1
	// (1e-6 is one ppm fast); valid only if SkewOK.
	Skew    float64
	SkewOK  bool
	Samples int // samples held
}

// point is a sample reduced to the local time of its middle, its offset
// and its delay.
type point struct {
	mid, offset, delay time.Duration
}

// ErrBadSample is returned by Add for an impossible sample.
var ErrBadSample = errors.New("clock: bad sample")

// Estimator turns samples into an estimate of the hub clock. Its methods
// may be called from several goroutines.
type Estimator struct {
	cfg Config

	mu      sync.Mutex
	pts     []point // oldest first, at most cfg.History
	bad     int     // samples in a row that contradicted the estimate
	skew    float64
	skewOK  bool
	rho     float64 // growth of a sample's bound per unit of age
	changed chan struct{}
}

// New returns an estimator with no samples.
func New(cfg Config) *Estimator {
	cfg = cfg.withDefaults()
	return &Estimator{cfg: cfg, rho: cfg.MaxSkew, changed: make(chan struct{})}
}

// Now returns the local monotonic time.
func (e *Estimator) Now() time.Duration { return e.cfg.Now() }

// MsToDuration converts Unix milliseconds to nanoseconds since the Unix
// epoch, keeping the fraction of the millisecond.
func MsToDuration(ms float64) (time.Duration, bool) {
	if math.IsNaN(ms) || math.Abs(ms) > float64(math.MaxInt64/int64(time.Millisecond))-1 {
		return 0, false
	}
	whole := math.Floor(ms)
	frac := ms - whole // exact: ms and whole are within a factor of 2
	return time.Duration(whole)*time.Millisecond + time.Duration(math.Round(frac*1e6)), true
}

// DurationToMs converts nanoseconds since the Unix epoch to Unix
// milliseconds, rounding once.
func DurationToMs(d time.Duration) float64 {
	return float64(d/time.Millisecond) + float64(d%time.Millisecond)/1e6
}

// Offset returns the sample's offset (hub Unix time minus local time).
func (s Sample) Offset() (time.Duration, error) {
	p, err := s.point()
	return p.offset, err
}

// Delay returns the sample's round trip minus the hub's time.
func (s Sample) Delay() (time.Duration, error) {
	p, err := s.point()
	return p.delay, err
}

func (s Sample) point() (point, error) {
	t1, ok1 := MsToDuration(s.T1)
	t2, ok2 := MsToDuration(s.T2)
	switch {
	case !ok1 || !ok2 || s.T1 <= 0 || s.T2 <= 0:
		return point{}, fmt.Errorf("%w: hub times %v, %v", ErrBadSample, s.T1, s.T2)
	case s.T3 < s.T0:
		return point{}, fmt.Errorf("%w: received before sent (%v < %v)", ErrBadSample, s.T3, s.T0)
	case t2 < t1:
		return point{}, fmt.Errorf("%w: hub replied before receipt (%v < %v)", ErrBadSample, s.T2, s.T1)
	}
	// ((t1−t0)+(t2−t3))/2, arranged so that no sum of two Unix times
	// can overflow.
	rtt, hold := s.T3-s.T0, t2-t1
	offset := (t1 - s.T0) + (hold-rtt)/2
	// A hub whose clock ticks coarsely can report more time than the
	// round trip took: count that as no delay.
	delay := max(rtt-hold, 0)
	return point{mid: s.T0 + rtt/2, offset: offset, delay: delay}, nil
}

// Add adds a sample.
func (e *Estimator) Add(s Sample) error {
	p, err := s.point()
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if est := e.estimateLocked(p.mid); est.OK {
		d := p.offset - est.Offset
		if d < 0 {
			d = -d
		}
		if d > est.Error+p.delay/2 {
			e.bad++
		} else {
			e.bad = 0
		}
		if e.bad >= e.cfg.StepAfter {
			e.cfg.Logger.Info("clock: hub clock stepped; starting again", "was", est.Offset, "now", p.offset, "bound", est.Error)
			e.pts = slices.Clone(e.pts[len(e.pts)-(e.bad-1):])
			e.bad = 0
		}
	}
	e.pts = append(e.pts, p)
	if len(e.pts) > e.cfg.History {
		e.pts = slices.Delete(e.pts, 0, len(e.pts)-e.cfg.History)
	}
	e.fitSkewLocked()
	close(e.changed)
	e.changed = make(chan struct{})
	return nil
}

// Changed returns a channel closed at the next Add.
func (e *Estimator) Changed() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.changed
}

// Reset drops all samples.
func (e *Estimator) Reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pts, e.bad = nil, 0
	e.fitSkewLocked()
}

// fitSkewLocked fits the skew through the lowest-delay sample of each
// group of four, newest groups first.
func (e *Estimator) fitSkewLocked() {
	e.skew, e.skewOK, e.rho = 0, false, e.cfg.MaxSkew
	const group = 4
	var env []point
	for end := len(e.pts); end > 0; end -= group {
		g := e.pts[max(end-group, 0):end]
		env = append(env, slices.MinFunc(g, func(a, b point) int { return cmpDur(a.delay, b.delay) }))
	}
	n := len(env)
	if n < 4 || env[0].mid-env[n-1].mid < e.cfg.MinSkewSpan {
		return
	}
	// Least squares of offset over time, both relative to the newest
	// point, in seconds, so that float64 keeps its precision.
	ref := env[0]
	var sx, sy float64
	xs, ys := make([]float64, n), make([]float64, n)
	for i, p := range env {
		xs[i] = (p.mid - ref.mid).Seconds()
		ys[i] = (p.offset - ref.offset).Seconds()
		sx += xs[i]
		sy += ys[i]
	}
	mx, my := sx/float64(n), sy/float64(n)
	var sxx, sxy float64
	for i := range xs {
		sxx += (xs[i] - mx) * (xs[i] - mx)
		sxy += (xs[i] - mx) * (ys[i] - my)
	}
	slope := sxy / sxx
	var ssr float64
	for i := range xs {
		r := ys[i] - my - slope*(xs[i]-mx)
		ssr += r * r
	}
	se := math.Sqrt(ssr / float64(n-2) / sxx)
	if math.IsNaN(slope) || math.Abs(slope) > e.cfg.MaxSkew {
		return
	}
	e.skew, e.skewOK = slope, true
	e.rho = min(max(3*se, 1e-6), e.cfg.MaxSkew)
}

func cmpDur(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Estimate returns the estimate for now.
func (e *Estimator) Estimate() Estimate { return e.EstimateAt(e.Now()) }

// EstimateAt returns the estimate for a local time.
func (e *Estimator) EstimateAt(local time.Duration) Estimate {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.estimateLocked(local)
}

func (e *Estimator) estimateLocked(at time.Duration) Estimate {
	est := Estimate{At: at, Skew: e.skew, SkewOK: e.skewOK, Samples: len(e.pts)}
	win := e.pts[max(len(e.pts)-e.cfg.Window, 0):]
	for _, p := range win {
		age := at - p.mid
		if age < 0 {
			age = -age
		}
		bound := p.delay/2 + time.Duration(e.rho*float64(age))
		if !est.OK || bound < est.Error {
			est.OK, est.Error, est.Delay, est.Age = true, bound, p.delay, at-p.mid
			est.Offset = p.offset + time.Duration(e.skew*float64(at-p.mid))
		}
	}
	return est
}

// Offset returns the estimated hub Unix time minus the local time, now,
// and its error bound; ok is false before the first sample.
func (e *Estimator) Offset() (offset, bound time.Duration, ok bool) {
	est := e.Estimate()
	return est.Offset, est.Error, est.OK
}

// Hub converts a local monotonic time to hub Unix milliseconds, with the
// estimate for now carried to that time by the skew; Local is its
// inverse.
func (e *Estimator) Hub(local time.Duration) (hubMs float64, ok bool) {
	est := e.Estimate()
	return DurationToMs(local + est.Offset + time.Duration(est.Skew*float64(local-est.At))), est.OK
}

// Local converts hub Unix milliseconds to the local monotonic time, using
// the skew to reach times away from now.
func (e *Estimator) Local(hubMs float64) (time.Duration, bool) {
	h, ok := MsToDuration(hubMs)
	if !ok {
		return 0, false
	}
	est := e.Estimate()
	if !est.OK {
		return 0, false
	}
	// h = l + Offset + skew·(l − At), solved for l.
	d := h - est.Offset - est.At
	return est.At + time.Duration(float64(d)/(1+est.Skew)), true
}

// Ping performs one clock:ping exchange: it sends t0, the local time in
// milliseconds, and returns the hub's t1 and t2.
type Ping func(ctx context.Context, t0 float64) (t1, t2 float64, err error)

// Sample performs one exchange and adds it.
func (e *Estimator) Sample(ctx context.Context, ping Ping) (Sample, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.PingTimeout)
	defer cancel()
	t0 := e.Now()
	t1, t2, err := ping(ctx, float64(t0)/float64(time.Millisecond))
	t3 := e.Now()
	if err != nil {
		return Sample{}, fmt.Errorf("clock: ping: %w", err)
	}
	s := Sample{T0: t0, T1: t1, T2: t2, T3: t3}
	if err := e.Add(s); err != nil {
		return s, err
	}
	return s, nil
}

// Burst takes BurstCount samples BurstGap apart. It fails only if none
// succeeded, or ctx ended.
func (e *Estimator) Burst(ctx context.Context, ping Ping) error {
	var last error
	got := 0
	for i := range e.cfg.BurstCount {
		if i > 0 {
			if err := sleep(ctx, e.cfg.BurstGap); err != nil {
				return err
			}
		}
		if _, err := e.Sample(ctx, ping); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			e.cfg.Logger.Debug("clock: burst sample", "err", err)
			last = err
			continue
		}
		got++
	}
	if got == 0 {
		return fmt.Errorf("clock: burst: no sample: %w", last)
	}
	est := e.Estimate()
	e.cfg.Logger.Debug("clock: burst", "samples", got, "offset", est.Offset, "error", est.Error, "delay", est.Delay)
	return nil
}

// Follow takes a sample every Period ± Jitter until ctx ends, and then
// returns ctx's error. Failed samples are logged and skipped.
func (e *Estimator) Follow(ctx context.Context, ping Ping) error {
	for {
		wait := e.cfg.Period
		if e.cfg.Jitter > 0 {
			wait += time.Duration(rand.Int64N(int64(2*e.cfg.Jitter))) - e.cfg.Jitter
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		if _, err := e.Sample(ctx, ping); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			e.cfg.Logger.Debug("clock: sample", "err", err)
			continue
		}
		est := e.Estimate()
		e.cfg.Logger.Debug("clock: sample", "offset", est.Offset, "error", est.Error, "delay", est.Delay, "skew", est.Skew, "skewOK", est.SkewOK)
	}
}

// Run runs Burst, then Follow, until ctx ends. A failed burst is logged
// and Follow goes on.
func (e *Estimator) Run(ctx context.Context, ping Ping) error {
	if err := e.Burst(ctx, ping); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		e.cfg.Logger.Warn("clock: burst", "err", err)
	}
	return e.Follow(ctx, ping)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
