package clock

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// unixBase is a realistic hub time (2025) at local time 0, with a
// sub-millisecond part, so that the tests see wire-sized numbers.
const unixBase = 1_750_000_000_123_456_789 * time.Nanosecond

// slack covers the rounding of hub times to a float64 of milliseconds on
// the wire (0.24 µs at today's Unix times) and the drift during one
// exchange.
const slack = 2 * time.Microsecond

// world is the true relation between the local and the hub clock.
type world struct {
	skew   float64       // hub rate / local rate − 1
	stepAt time.Duration // local time of a step of the hub clock, if stepBy != 0
	stepBy time.Duration
}

// hub returns the hub's Unix time at local time l.
func (w world) hub(l time.Duration) time.Duration {
	h := unixBase + l + time.Duration(w.skew*float64(l))
	if w.stepBy != 0 && l >= w.stepAt {
		h += w.stepBy
	}
	return h
}

func (w world) offset(l time.Duration) time.Duration { return w.hub(l) - l }

// exchange simulates one clock:ping sent at local t0.
func (w world) exchange(t0, up, down time.Duration) Sample {
	const hold = 100 * time.Microsecond
	return Sample{T0: t0, T1: DurationToMs(w.hub(t0 + up)), T2: DurationToMs(w.hub(t0 + up + hold)), T3: t0 + up + hold + down}
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// jitter returns an exponentially distributed queueing delay.
func jitter(r *rand.Rand, mean time.Duration) time.Duration {
	return time.Duration(r.ExpFloat64() * float64(mean))
}

// defaultWindow is the default Config.Window.
var defaultWindow = Config{}.withDefaults().Window

// step is the state after one sample of a scenario.
type step struct {
	i     int
	at    time.Duration // local time of the estimate (the sample's T3)
	est   Estimate
	truth time.Duration // the true offset at that time
}

func (s step) err() time.Duration { return s.est.Offset - s.truth }

func TestEstimator(t *testing.T) {
	const period = 3 * time.Second
	tests := []struct {
		name  string
		w     world
		n     int
		delay func(i int, r *rand.Rand) (up, down time.Duration)
		// covered: the bound must hold at every step from this index on.
		covered int
		check   func(t *testing.T, steps []step)
	}{
		{
			name: "symmetric delay",
			n:    40,
			delay: func(_ int, r *rand.Rand) (time.Duration, time.Duration) {
				d := 5*time.Millisecond + jitter(r, 2*time.Millisecond)
				return d, d
			},
			check: func(t *testing.T, steps []step) {
				for _, s := range steps {
					if abs(s.err()) > slack {
						t.Fatalf("sample %d: error %v with symmetric delays, want about 0", s.i, s.err())
					}
				}
				if last := steps[len(steps)-1]; last.est.Error > 6*time.Millisecond {
					t.Fatalf("bound %v, want at most half the lowest round trip (5 ms) plus aging", last.est.Error)
				}
			},
		},
		{
			name: "asymmetric delay",
			n:    40,
			delay: func(_ int, r *rand.Rand) (time.Duration, time.Duration) {
				return 30*time.Millisecond + jitter(r, time.Millisecond), 5 * time.Millisecond
			},
			check: func(t *testing.T, steps []step) {
				// Asymmetry cannot be seen from the client: the estimate
				// is off by half of it (12.5 ms), and the bound says so.
				last := steps[len(steps)-1]
				if e := last.err(); e < 12*time.Millisecond || e > 13*time.Millisecond {
					t.Fatalf("error %v, want about +12.5 ms", e)
				}
				if last.est.Error < 17*time.Millisecond || last.est.Error > 19*time.Millisecond {
					t.Fatalf("bound %v, want about half the 35 ms round trip", last.est.Error)
				}
			},
		},
		{
			name: "delay spike",
			n:    40,
			delay: func(i int, r *rand.Rand) (time.Duration, time.Duration) {
				if i == 20 {
					return 800 * time.Millisecond, 2 * time.Millisecond
				}
				d := 5*time.Millisecond + jitter(r, 2*time.Millisecond)
				return d, d + jitter(r, 500*time.Microsecond)
			},
			check: func(t *testing.T, steps []step) {
				before, spike := steps[19], steps[20]
				if spike.est.Delay > 50*time.Millisecond {
					t.Fatalf("the spike's sample (%v round trip) was chosen", spike.est.Delay)
				}
				if d := abs(spike.est.Offset - before.est.Offset); d > time.Millisecond {
					t.Fatalf("the spike moved the estimate by %v", d)
				}
				for _, s := range steps {
					if abs(s.err()) > time.Millisecond {
						t.Fatalf("sample %d: error %v", s.i, s.err())
					}
				}
			},
		},
		{
			name: "clock drift +100 ppm",
			w:    world{skew: 100e-6},
			n:    200, // 10 minutes: 60 ms of drift
			delay: func(_ int, r *rand.Rand) (time.Duration, time.Duration) {
				return 5*time.Millisecond + jitter(r, 2*time.Millisecond), 5*time.Millisecond + jitter(r, 2*time.Millisecond)
			},
			check: func(t *testing.T, steps []step) { checkDrift(t, steps, 100e-6) },
		},
		{
			name: "clock drift -40 ppm",
			w:    world{skew: -40e-6},
			n:    200,
			delay: func(_ int, r *rand.Rand) (time.Duration, time.Duration) {
				return 5*time.Millisecond + jitter(r, 2*time.Millisecond), 5*time.Millisecond + jitter(r, 2*time.Millisecond)
			},
			check: func(t *testing.T, steps []step) { checkDrift(t, steps, -40e-6) },
		},
		{
			name: "network delay steps up",
			n:    20 + defaultWindow + 5,
			delay: func(i int, r *rand.Rand) (time.Duration, time.Duration) {
				d := 5 * time.Millisecond
				if i >= 20 {
					d = 60 * time.Millisecond
				}
				d += jitter(r, time.Millisecond)
				return d, d
			},
			check: func(t *testing.T, steps []step) {
				for _, s := range steps {
					if abs(s.err()) > slack {
						t.Fatalf("sample %d: error %v", s.i, s.err())
					}
				}
				// The quick samples stay in use while in the window, then
				// the slower path's bound takes over.
				if d := steps[25].est.Delay; d > 20*time.Millisecond {
					t.Fatalf("5 samples after the step the chosen round trip is %v, want a quick one", d)
				}
				if d := steps[20+defaultWindow].est.Delay; d < 120*time.Millisecond {
					t.Fatalf("a window after the step the chosen round trip is %v, want the new one", d)
				}
			},
		},
		{
			name: "network delay steps down",
			n:    40,
			delay: func(i int, r *rand.Rand) (time.Duration, time.Duration) {
				d := 60 * time.Millisecond
				if i >= 20 {
					d = 5 * time.Millisecond
				}
				return d + jitter(r, time.Millisecond), d + jitter(r, time.Millisecond)
			},
			check: func(t *testing.T, steps []step) {
				if d := steps[20].est.Delay; d > 20*time.Millisecond {
					t.Fatalf("the first quick sample was not adopted: round trip %v", d)
				}
				if e := steps[20].est.Error; e > 10*time.Millisecond {
					t.Fatalf("bound after the quick sample %v", e)
				}
			},
		},
		{
			name: "upload path congested (asymmetric step)",
			n:    60,
			delay: func(i int, r *rand.Rand) (time.Duration, time.Duration) {
				up := 5 * time.Millisecond
				if i >= 20 {
					up = 45 * time.Millisecond
				}
				return up + jitter(r, time.Millisecond), 5*time.Millisecond + jitter(r, time.Millisecond)
			},
			check: func(t *testing.T, steps []step) {
				if e := abs(steps[len(steps)-1].err()); e > 21*time.Millisecond {
					t.Fatalf("error %v, want at most half the asymmetry", e)
				}
			},
		},
		{
			name:    "hub clock stepped by 2 s",
			w:       world{stepAt: 60 * time.Second, stepBy: 2 * time.Second},
			n:       40,
			covered: 24, // the step is at sample 20; 3 samples show it
			delay: func(_ int, r *rand.Rand) (time.Duration, time.Duration) {
				return 5*time.Millisecond + jitter(r, time.Millisecond), 5*time.Millisecond + jitter(r, time.Millisecond)
			},
			check: func(t *testing.T, steps []step) {
				if e := abs(steps[23].err()); e > 2*time.Millisecond {
					t.Fatalf("3 samples after the step the error is %v", e)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			e := New(Config{})
			var steps []step
			var worst time.Duration
			for i := range tc.n {
				t0 := time.Duration(i)*period + time.Duration(r.Int64N(int64(time.Second)))
				up, down := tc.delay(i, r)
				s := tc.w.exchange(t0, up, down)
				if err := e.Add(s); err != nil {
					t.Fatalf("sample %d: %v", i, err)
				}
				est := e.EstimateAt(s.T3)
				st := step{i: i, at: s.T3, est: est, truth: tc.w.offset(s.T3)}
				if !est.OK {
					t.Fatalf("sample %d: no estimate", i)
				}
				if i >= tc.covered && abs(st.err()) > est.Error+slack {
					t.Fatalf("sample %d: error %v outside the bound %v", i, st.err(), est.Error)
				}
				worst = max(worst, abs(st.err()))
				steps = append(steps, st)
			}
			last := steps[len(steps)-1]
			t.Logf("worst |error| %v; last: error %v, bound %v, round trip %v, skew %.2f ppm (known %v)",
				worst, last.err(), last.est.Error, last.est.Delay, last.est.Skew*1e6, last.est.SkewOK)
			tc.check(t, steps)
		})
	}
}

func checkDrift(t *testing.T, steps []step, skew float64) {
	t.Helper()
	last := steps[len(steps)-1]
	if !last.est.SkewOK || math.Abs(last.est.Skew-skew) > 5e-6 {
		t.Fatalf("skew %.2f ppm (known %v), want %.0f ± 5 ppm", last.est.Skew*1e6, last.est.SkewOK, skew*1e6)
	}
	var worst time.Duration
	for _, s := range steps[len(steps)/2:] {
		worst = max(worst, abs(s.err()))
	}
	if worst > time.Millisecond {
		t.Fatalf("in the second half the error reached %v; the clocks drifted %v in all",
			worst, abs(steps[len(steps)-1].truth-steps[0].truth))
	}
	// Between samples the skew carries the estimate: 3 s ahead it is
	// still within the bound.
	ahead := last.at + 3*time.Second
	e := last.est
	predicted := e.Offset + time.Duration(e.Skew*float64(3*time.Second))
	if d := abs(predicted - (world{skew: skew}).offset(ahead)); d > time.Millisecond {
		t.Fatalf("3 s after the last sample the prediction is off by %v", d)
	}
}

func TestMsConversion(t *testing.T) {
	tests := []time.Duration{
		0,
		time.Millisecond,
		1_750_000_000_123_456_789,
		1_750_000_000_123_999_999,
		-1_500_250, // before the epoch
	}
	for _, d := range tests {
		ms := DurationToMs(d)
		back, ok := MsToDuration(ms)
		if !ok || abs(back-d) > 250*time.Nanosecond {
			t.Errorf("%d ns -> %v ms -> %d ns (ok %v)", d, ms, back, ok)
		}
	}
	// A Unix time with a fraction of a millisecond keeps it.
	if got, _ := MsToDuration(1_750_000_000_123.5); got != 1_750_000_000_123_500_000 {
		t.Errorf("MsToDuration(…123.5) = %d", got)
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e300} {
		if _, ok := MsToDuration(bad); ok {
			t.Errorf("MsToDuration(%v) accepted", bad)
		}
	}
}

func TestBadSamples(t *testing.T) {
	tests := []struct {
		name string
		s    Sample
	}{
		{"received before sent", Sample{T0: 10 * time.Millisecond, T3: 5 * time.Millisecond, T1: 1e12, T2: 1e12}},
		{"hub replied before receipt", Sample{T0: 0, T3: 5 * time.Millisecond, T1: 1e12 + 1, T2: 1e12}},
		{"no hub time", Sample{T0: 0, T3: 5 * time.Millisecond}},
		{"NaN", Sample{T0: 0, T3: 5 * time.Millisecond, T1: math.NaN(), T2: 1e12}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := New(Config{})
			if err := e.Add(tc.s); !errors.Is(err, ErrBadSample) {
				t.Fatalf("Add = %v, want ErrBadSample", err)
			}
			if e.Estimate().OK {
				t.Fatal("a bad sample made an estimate")
			}
		})
	}
	// A hub that reports more time than the round trip took counts as
	// no delay, not as a negative one.
	e := New(Config{})
	if err := e.Add(Sample{T0: 0, T3: time.Millisecond, T1: 1e12, T2: 1e12 + 2}); err != nil {
		t.Fatal(err)
	}
	if d := e.EstimateAt(0).Delay; d != 0 {
		t.Fatalf("delay %v, want 0", d)
	}
}

func TestHubLocalConversion(t *testing.T) {
	var now time.Duration
	w := world{skew: 80e-6}
	e := New(Config{Now: func() time.Duration { return now }})
	if _, ok := e.Local(1e12); ok {
		t.Fatal("Local converted without samples")
	}
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 100 {
		now = time.Duration(i) * 3 * time.Second
		if err := e.Add(w.exchange(now, 4*time.Millisecond+jitter(r, time.Millisecond), 4*time.Millisecond+jitter(r, time.Millisecond))); err != nil {
			t.Fatal(err)
		}
	}
	now += 10 * time.Millisecond
	for _, l := range []time.Duration{now, now + 5*time.Second, now - 20*time.Second} {
		hubMs, ok := e.Hub(l)
		if !ok {
			t.Fatal("Hub: no estimate")
		}
		h, _ := MsToDuration(hubMs)
		if d := abs(h - w.hub(l)); d > time.Millisecond {
			t.Errorf("Hub(%v) off by %v", l, d)
		}
		back, ok := e.Local(hubMs)
		if !ok || abs(back-l) > time.Microsecond {
			t.Errorf("Local(Hub(%v)) = %v", l, back)
		}
	}
}

// TestRun drives Burst and Follow through a simulated network with time
// from testing/synctest: the burst's spacing, the period's jitter, the
// estimate following drift, and the exit on cancel.
func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		local := func() time.Duration { return time.Since(start) }
		w := world{skew: 60e-6}
		r := rand.New(rand.NewPCG(5, 6))
		var mu sync.Mutex
		var sent []time.Duration
		fails := 0
		ping := func(ctx context.Context, t0 float64) (float64, float64, error) {
			mu.Lock()
			sent = append(sent, local())
			up, down := 3*time.Millisecond+jitter(r, time.Millisecond), 3*time.Millisecond+jitter(r, time.Millisecond)
			fail := len(sent)%10 == 0
			mu.Unlock()
			if math.Abs(t0-float64(local())/1e6) > 1e-3 {
				return 0, 0, errors.New("t0 is not the local time in ms")
			}
			if fail { // a lost ack
				<-ctx.Done()
				mu.Lock()
				fails++
				mu.Unlock()
				return 0, 0, ctx.Err()
			}
			time.Sleep(up)
			t1 := DurationToMs(w.hub(local()))
			time.Sleep(100 * time.Microsecond)
			t2 := DurationToMs(w.hub(local()))
			time.Sleep(down)
			return t1, t2, nil
		}
		e := New(Config{Now: local})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx, ping) }()

		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		mu.Lock()
		burst := slices.Clone(sent)
		mu.Unlock()
		if len(burst) != 16 {
			t.Fatalf("%d pings in the first 500 ms, want a burst of 16", len(burst))
		}
		for i := 1; i < len(burst); i++ {
			// The burst does not wait for the answers.
			if gap := burst[i] - burst[i-1]; gap != 20*time.Millisecond {
				t.Fatalf("burst gap %v, want 20 ms", gap)
			}
		}
		// The burst's lost ack holds it until the ping's timeout.
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if est := e.Estimate(); !est.OK || abs(est.Offset-w.offset(local())) > est.Error {
			t.Fatalf("after the burst: %+v, true offset %v", est, w.offset(local()))
		}

		time.Sleep(10 * time.Minute)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if fails == 0 {
			t.Fatal("no ping failed; the test meant to lose some")
		}
		for i := 17; i < len(sent); i++ {
			gap := sent[i] - sent[i-1]
			if gap < 500*time.Millisecond || gap > time.Second+2*time.Second+50*time.Millisecond {
				t.Fatalf("period %d: %v, want 750 ms ± 250 ms (plus a 2 s timeout after a lost ack)", i, gap)
			}
		}
		n := len(sent) - 16
		if n < 600 || n > 1200 {
			t.Fatalf("%d periodic pings in 10 minutes", n)
		}
		est := e.Estimate()
		err := est.Offset - w.offset(local())
		t.Logf("after 10 min: %d pings, error %v, bound %v, skew %.2f ppm", len(sent), err, est.Error, est.Skew*1e6)
		if abs(err) > est.Error || abs(err) > time.Millisecond {
			t.Fatalf("error %v (bound %v); the clocks drifted %v", err, est.Error, w.offset(local())-w.offset(0))
		}
		if !est.SkewOK || math.Abs(est.Skew-60e-6) > 5e-6 {
			t.Fatalf("skew %.2f ppm, want 60", est.Skew*1e6)
		}
	})
}

// TestBurstFails: a hub that never answers fails the burst, and a
// cancelled context ends it at once.
func TestBurstFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		refuse := func(context.Context, float64) (float64, float64, error) { return 0, 0, errors.New("refused") }
		e := New(Config{})
		if err := e.Burst(t.Context(), refuse); err == nil {
			t.Fatal("Burst succeeded with no answer")
		}
		ctx, cancel := context.WithCancel(t.Context())
		hang := func(ctx context.Context, _ float64) (float64, float64, error) {
			cancel()
			<-ctx.Done()
			return 0, 0, ctx.Err()
		}
		if err := e.Burst(ctx, hang); !errors.Is(err, context.Canceled) {
			t.Fatalf("Burst = %v, want context.Canceled", err)
		}
	})
}

// uniform returns a delay of d ± j, uniformly.
func uniform(r *rand.Rand, d, j time.Duration) time.Duration {
	return d - j + time.Duration(r.Int64N(int64(2*j)+1))
}

// TestFilterUniformJitter: under symmetric uniform jitter (the sync lab's
// wifi and wan paths), the intersection's error shrinks as samples are
// added, far below the single quickest sample's ±0.35 × jitter, and the
// bound covers it throughout, also with a slower uplink and with drift.
func TestFilterUniformJitter(t *testing.T) {
	tests := []struct {
		name          string
		w             world
		delay, jitter time.Duration
		asym          time.Duration
	}{
		{"wifi 5 ± 5 ms", world{}, 5 * time.Millisecond, 5 * time.Millisecond, 0},
		{"wan 80 ± 30 ms", world{}, 80 * time.Millisecond, 30 * time.Millisecond, 0},
		{"wan, uplink 10 ms slower, +90 ppm", world{skew: 90e-6}, 80 * time.Millisecond, 30 * time.Millisecond, 10 * time.Millisecond},
		{"wifi, -70 ppm", world{skew: -70e-6}, 5 * time.Millisecond, 5 * time.Millisecond, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const runs = 40
			checkpoints := []int{4, 16, 64}
			sum := make([]float64, len(checkpoints)) // mean |error| beyond the asymmetry's bias
			for run := range runs {
				r := rand.New(rand.NewPCG(uint64(run), 99))
				e := New(Config{})
				c := 0
				for i := range checkpoints[len(checkpoints)-1] {
					t0 := time.Duration(i)*750*time.Millisecond + time.Duration(r.Int64N(int64(250*time.Millisecond)))
					s := tc.w.exchange(t0, uniform(r, tc.delay+tc.asym, tc.jitter), uniform(r, tc.delay, tc.jitter))
					if err := e.Add(s); err != nil {
						t.Fatal(err)
					}
					est := e.EstimateAt(s.T3)
					err := est.Offset - tc.w.offset(s.T3)
					if abs(err) > est.Error+slack {
						t.Fatalf("run %d, sample %d: error %v outside the bound %v (skew %.2f ppm, rho %.2f ppm)", run, i, err, est.Error, est.Skew*1e6, e.rho*1e6)
					}
					if i+1 == checkpoints[c] {
						sum[c] += math.Abs(float64(err - tc.asym/2))
						c++
					}
				}
			}
			var prev float64
			for c, n := range checkpoints {
				mean := time.Duration(sum[c] / runs)
				t.Logf("%d samples: mean |error| %v (jitter %v)", n, mean, tc.jitter)
				// From 4 to 16 samples the error must fall well; from 16
				// to 64 (48 s) the wan paths gain little, as the skew
				// fitted over 20–48 s of ±30 ms jitter limits how far
				// old samples carry, but it must not grow.
				if c == 1 && float64(mean) > 0.75*prev || c > 1 && float64(mean) > prev {
					t.Errorf("%d samples: mean |error| %v, want below the %v of %d", n, mean, time.Duration(prev), checkpoints[c-1])
				}
				prev = float64(mean)
			}
			// With 64 samples, a tenth of the jitter: the single quickest
			// sample's error was ±0.35 × jitter.
			if last := time.Duration(prev); last > tc.jitter/10 {
				t.Errorf("64 samples: mean |error| %v, want below %v", last, tc.jitter/10)
			}
		})
	}
}

// TestFilterQuickerHalf: a slow exchange with one unusually quick
// direction does not pull the estimate, and the bound never exceeds the
// best single sample's.
func TestFilterQuickerHalf(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var w world
	e := New(Config{})
	for i := range 20 {
		t0 := time.Duration(i) * time.Second
		d := 5*time.Millisecond + jitter(r, time.Millisecond)
		if err := e.Add(w.exchange(t0, d, d)); err != nil {
			t.Fatal(err)
		}
	}
	before := e.EstimateAt(20 * time.Second)
	// 300 ms up, 1 ms down: its downlink beat the path's 5 ms floor.
	if err := e.Add(w.exchange(20*time.Second, 300*time.Millisecond, time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	after := e.EstimateAt(20*time.Second + 301*time.Millisecond)
	if d := abs(after.Offset - before.Offset); d > 100*time.Microsecond {
		t.Fatalf("the slow exchange moved the estimate by %v", d)
	}
	if after.Error > after.Delay/2+time.Duration(float64(after.Age)*e.cfg.MaxSkew)+time.Microsecond {
		t.Fatalf("bound %v wider than the best sample's (round trip %v, age %v)", after.Error, after.Delay, after.Age)
	}
}
