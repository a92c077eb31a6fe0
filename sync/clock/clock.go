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
// Each sample is an interval, not a point: from the uplink, the true
// offset is at most t1−t0 (the request cannot arrive before it was sent),
// and from the downlink at least t2−t3. Queueing on the network and in
// the hub only ever adds delay, which widens a sample's interval but
// never moves it off the truth. So the estimator intersects the intervals
// of the last Window samples: the upper edge is the lowest of the uplink
// bounds, the lower edge the highest of the downlink bounds, each carried
// to the estimate's instant with the estimated skew. The estimate is the
// middle of the intersection and the error bound its half-width.
//
// The two edges are found independently, each by the quickest exchange in
// its own direction, so with random delays the intersection narrows as
// 1/n of the samples (the least of n one-way delays approaches the path's
// floor that fast), not as 1/√n as an average would, and without the
// average's weakness: a spike of delay widens nothing and never moves the
// estimate. The intersection is never wider than the single best sample's
// interval (delay/2, the previous filter), and it is honest for the same
// reason: every interval holds the truth, so their intersection does.
// What no client can see is a path slower one way than the other: the
// estimate is then off by half the difference, the bound says so, and
// every member of a room on similar paths shares the bias.
//
// Between the two clocks there is drift (skew: crystals differ by tens of
// parts per million), so an old sample's interval goes stale. Each
// sample's interval therefore widens with its age at a rate rho, and is
// carried forward with the estimated skew. The skew is fitted on the last
// History samples once they span MinSkewSpan, once for each direction, as
// the slope of the line under all the uplink bounds (over all the downlink
// bounds) that lies closest to them on average: the edge of their convex
// hull over the samples' mean time (the linear-programming fit of Moon et
// al.; like the intersection it follows the quick exchanges only). The
// skew is the mean of the two directions' slopes, and rho their
// difference plus the slope one sample's delay floor could tilt over the
// span (at least 1 ppm); before that, or if the slopes disagree by more
// than MaxSkew/4, or one is beyond MaxSkew (a clock was stepped, or the
// path changed), the skew is unknown and rho is MaxSkew.
//
// If the intervals do not intersect at all (a skew estimate was wrong, or
// the hub's clock was stepped), the estimate falls back to the one sample
// with the lowest bound.
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
	// Window is how many recent samples the estimate intersects (64).
	Window int
	// History is how many recent samples the skew is fitted on (128).
	History int
	// MaxSkew is the largest believable drift between the two clocks,
	// as a fraction (200e-6, i.e. 200 ppm); it is also the rate at which
	// samples age while the skew is unknown.
	MaxSkew float64
	// MinSkewSpan is the local time the samples must span before the
	// skew is estimated (20 s).
	MinSkewSpan time.Duration
	// StepAfter is how many samples in a row that contradict the
	// estimate make the estimator start again from them (3).
	StepAfter int
	// BurstCount and BurstGap shape Burst: 16 exchanges started 20 ms
	// apart, without waiting for each other's answers.
	BurstCount int
	BurstGap   time.Duration
	// Period and Jitter shape Follow: a sample every Period ± Jitter
	// (750 ms ± 250 ms, so never two within 500 ms), the jitter keeping
	// clients from pinging in step.
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
	def(&c.Window, 64)
	def(&c.History, 128)
	def(&c.StepAfter, 3)
	def(&c.BurstCount, 16)
	c.History = max(c.History, c.Window)
	if c.MaxSkew <= 0 {
		c.MaxSkew = 200e-6
	}
	defd(&c.MinSkewSpan, 20*time.Second)
	defd(&c.BurstGap, 20*time.Millisecond)
	defd(&c.Period, 750*time.Millisecond)
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

// hi and lo are the edges of the sample's interval: the true offset is at
// most hi (t1−t0, from the uplink) and at least lo (t2−t3).
func (p point) hi() time.Duration { return p.offset + p.delay/2 }
func (p point) lo() time.Duration { return p.offset - (p.delay - p.delay/2) }

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
	// Keep the samples in order of time: a burst's answers can arrive
	// out of order.
	i := len(e.pts)
	for i > 0 && e.pts[i-1].mid > p.mid {
		i--
	}
	e.pts = slices.Insert(e.pts, i, p)
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

// fitSkewLocked fits the skew on the history: the slope of each
// direction's hull line (see hullSlope), the two averaged.
func (e *Estimator) fitSkewLocked() {
	e.skew, e.skewOK, e.rho = 0, false, e.cfg.MaxSkew
	n := len(e.pts)
	if n < 24 || e.pts[n-1].mid-e.pts[0].mid < e.cfg.MinSkewSpan {
		return
	}
	// Times in seconds and bounds in seconds, relative to the newest
	// sample, so that float64 keeps its precision.
	// Only the quicker half takes part, as in the estimate.
	pts := quicker(e.pts)
	n = len(pts)
	ref := pts[n-1]
	xs, up, down := make([]float64, n), make([]float64, n), make([]float64, n)
	for i, p := range pts {
		xs[i] = (p.mid - ref.mid).Seconds()
		up[i] = (p.hi() - ref.offset).Seconds()
		down[i] = -(p.lo() - ref.offset).Seconds() // the downlink's upper hull, as a lower one
	}
	su, eu := hullSlope(xs, up)
	sd, ed := hullSlope(xs, down)
	sd = -sd
	slope := (su + sd) / 2
	diff := math.Abs(su - sd)
	if math.IsNaN(slope) || math.Abs(su) > e.cfg.MaxSkew || math.Abs(sd) > e.cfg.MaxSkew || diff > e.cfg.MaxSkew/4 {
		return
	}
	e.skew, e.skewOK = slope, true
	// The slopes' disagreement, and how much each could tilt.
	e.rho = min(max(diff+max(eu, ed), 1e-6), e.cfg.MaxSkew)
}

// gateOf returns the median round trip of pts (above all of them if
// there are two or fewer): the slowest that takes part in the filter.
func gateOf(pts []point) time.Duration {
	if len(pts) <= 2 {
		return time.Duration(math.MaxInt64)
	}
	ds := make([]time.Duration, len(pts))
	for i, p := range pts {
		ds[i] = p.delay
	}
	slices.Sort(ds)
	return ds[(len(ds)-1)/2]
}

// quicker returns the points at or below the gate of pts, in order.
func quicker(pts []point) []point {
	gate := gateOf(pts)
	var q []point
	for _, p := range pts {
		if p.delay <= gate {
			q = append(q, p)
		}
	}
	return q
}

// hullSlope returns the slope of the line under all the points (xs
// ascending) whose mean distance above them is least: the edge of their
// lower convex hull that spans their mean x. It also returns how much
// that edge could tilt if its ends sat above the points' floor.
func hullSlope(xs, ys []float64) (slope, tilt float64) {
	var hull []int
	cross := func(o, a, b int) float64 {
		return (xs[a]-xs[o])*(ys[b]-ys[o]) - (ys[a]-ys[o])*(xs[b]-xs[o])
	}
	var mx float64
	for i := range xs {
		mx += xs[i]
		for len(hull) >= 2 && cross(hull[len(hull)-2], hull[len(hull)-1], i) <= 0 {
			hull = hull[:len(hull)-1]
		}
		hull = append(hull, i)
	}
	mx /= float64(len(xs))
	if len(hull) < 2 {
		return math.NaN(), 0
	}
	k := 1
	for k < len(hull)-1 && xs[hull[k]] < mx {
		k++
	}
	a, b := hull[k-1], hull[k]
	if xs[b] == xs[a] {
		return math.NaN(), 0
	}
	slope = (ys[b] - ys[a]) / (xs[b] - xs[a])
	// How much the edge could tilt: n points spread over a range of
	// delays w put the quickest of them about w/n above the path's floor,
	// so each end of the edge may sit that high, over its own length.
	var w float64
	for i := range xs {
		w = max(w, ys[i]-ys[a]-slope*(xs[i]-xs[a]))
	}
	tilt = 2 * w / float64(len(xs)) / (xs[b] - xs[a])
	return slope, tilt
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
	// The intersection of the samples' intervals, each carried to at
	// with the skew and widened with its age; and, for Delay and Age and
	// in case the intervals contradict each other, the sample with the
	// lowest bound on its own.
	//
	// Only the quicker half of the samples (by round trip) take part in
	// the intersection: a slow exchange with one quick direction (a
	// congested uplink, say, and a reply that overtook the usual floor of
	// its path) tells little about that floor and would pull the estimate
	// towards itself. Leaving samples out keeps the intersection honest.
	gate := gateOf(win)
	var hi, lo, single time.Duration
	first := true
	for _, p := range win {
		age := at - p.mid
		carry := time.Duration(e.skew * float64(age))
		grow := time.Duration(e.rho * float64(max(age, -age)))
		h, l := p.hi()+carry+grow, p.lo()+carry-grow
		bound := p.delay/2 + grow
		if !est.OK || bound < single {
			est.OK, single, est.Delay, est.Age = true, bound, p.delay, age
			est.Offset, est.Error = p.offset+carry, bound
		}
		if p.delay > gate {
			continue
		}
		if first || h < hi {
			hi = h
		}
		if first || l > lo {
			lo = l
		}
		first = false
	}
	if est.OK && hi >= lo {
		est.Offset, est.Error = lo+(hi-lo)/2, (hi-lo+1)/2
	}
	// The bound must not rest on the skew's fit, which a few unlucky
	// exchanges can tilt: it is the distance from the estimate to the
	// edges of the intersection made without the skew, every interval
	// widened at MaxSkew, which holds the truth whatever the skew (up to
	// MaxSkew). The estimate is kept inside it.
	var hiB, loB time.Duration
	for i, p := range win {
		age := at - p.mid
		grow := time.Duration(e.cfg.MaxSkew * float64(max(age, -age)))
		if h := p.hi() + grow; i == 0 || h < hiB {
			hiB = h
		}
		if l := p.lo() - grow; i == 0 || l > loB {
			loB = l
		}
	}
	if est.OK && hiB >= loB {
		est.Offset = min(max(est.Offset, loB), hiB)
		est.Error = max(est.Error, est.Offset-loB, hiB-est.Offset)
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

// Burst takes BurstCount samples, starting one every BurstGap without
// waiting for the answers (so that a long round trip does not stretch it),
// and returns when all have ended. It fails only if none succeeded, or
// ctx ended.
func (e *Estimator) Burst(ctx context.Context, ping Ping) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		last error
		got  int
	)
	var stopped error
	for i := range e.cfg.BurstCount {
		if i > 0 {
			if err := sleep(ctx, e.cfg.BurstGap); err != nil {
				stopped = err
				break
			}
		}
		wg.Go(func() {
			_, err := e.Sample(ctx, ping)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				last = err
				return
			}
			got++
		})
	}
	wg.Wait()
	if stopped != nil {
		return stopped
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if got == 0 {
		return fmt.Errorf("clock: burst: no sample: %w", last)
	}
	if last != nil {
		e.cfg.Logger.Debug("clock: burst sample", "err", last)
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
