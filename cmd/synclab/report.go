package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Dist summarises skew samples, in milliseconds.
type Dist struct {
	Samples int     `json:"samples"`
	P50     float64 `json:"p50_ms"`
	P99     float64 `json:"p99_ms"`
	Max     float64 `json:"max_ms"`
}

func dist(v []float64) Dist {
	if len(v) == 0 {
		return Dist{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	q := func(p float64) float64 { return s[min(int(math.Ceil(p*float64(len(s))))-1, len(s)-1)] * 1e3 }
	return Dist{Samples: len(s), P50: q(0.5), P99: q(0.99), Max: s[len(s)-1] * 1e3}
}

// Member is one follower's set-up and what its controller did.
type Member struct {
	DriftPPM   float64 `json:"drift_ppm"`
	OffsetMs   float64 `json:"offset_ms"`
	Resyncs    int     `json:"resyncs"`
	MaxTrimPPM float64 `json:"max_trim_ppm"`
	EstDrift   float64 `json:"est_drift_ppm"` // the controller's estimate of the rate error it cancels
	LastErrMs  float64 `json:"last_error_ms"` // its last filtered error, as it sees it
}

// Result is a run's figures. Skews are between members at the same true
// instant; Abs is each member's error against the hub's own timeline,
// which includes the asymmetry's unmeasurable bias of Asym/2.
type Result struct {
	Profile   string  `json:"profile"`
	DelayMs   float64 `json:"delay_ms"`
	JitterMs  float64 `json:"jitter_ms"`
	AsymMs    float64 `json:"asym_ms"`
	Loss      float64 `json:"loss"`
	DriftPPM  float64 `json:"drift_ppm"`
	OffsetMs  float64 `json:"offset_ms"`
	Followers int     `json:"followers"`
	DurationS float64 `json:"duration_s"`
	// The followers' hub-clock tuning; 0 means the player's default.
	ClockPeriodS float64 `json:"clock_period_s"`
	ClockWindow  int     `json:"clock_window"`
	ClockBurst   int     `json:"clock_burst"`

	Scenarios map[string]Dist `json:"scenarios"`
	Overall   Dist            `json:"overall"`
	Abs       Dist            `json:"abs_error"`
	// ConvergenceMs is the time from the late joiner's join (its join
	// answer) until its offset from the others' mean stays within
	// ConvergeMs for the rest of the late-join scenario; -1 if it never
	// did.
	ConvergenceMs float64    `json:"convergence_ms"`
	ConvergeMs    float64    `json:"converge_threshold_ms"`
	TrimPPMMax    float64    `json:"trim_ppm_max"`
	TrimPPMRange  [2]float64 `json:"trim_ppm_range"`
	Resyncs       int        `json:"resyncs"`
	ResyncsPerH   float64    `json:"resyncs_per_hour"` // per member-hour
	TargetP99Ms   float64    `json:"target_p99_ms"`
	Pass          bool       `json:"pass"`
	Members       []Member   `json:"members"`
}

// target is a profile's p99 skew target (ms), and the convergence
// threshold.
func target(profile string) float64 {
	switch profile {
	case "lan":
		return 1
	case "wifi":
		return 2
	}
	return 5
}

func (l *lab) result(fs []*follower) *Result {
	l.smu.Lock()
	defer l.smu.Unlock()
	cfg := l.cfg
	r := &Result{Profile: cfg.Profile, DelayMs: ms(cfg.Net.Delay), JitterMs: ms(cfg.Net.Jitter), AsymMs: ms(cfg.Net.Asym),
		Loss: cfg.Net.Loss, DriftPPM: cfg.DriftPPM, OffsetMs: ms(cfg.Offset), Followers: cfg.Followers,
		DurationS: cfg.Duration.Seconds(), ClockPeriodS: cfg.Clock.Period.Seconds(), ClockWindow: cfg.Clock.Window,
		ClockBurst: cfg.Clock.BurstCount, Scenarios: map[string]Dist{}, TargetP99Ms: target(cfg.Profile)}
	var all []float64
	for i, name := range scenarioNames {
		r.Scenarios[name] = dist(l.skews[i])
		all = append(all, l.skews[i]...)
	}
	r.Overall = dist(all)
	r.Abs = dist(l.abs)
	r.ConvergeMs = r.TargetP99Ms
	r.ConvergenceMs = -1
	if j := fs[len(fs)-1].joined(); !j.IsZero() && len(l.joinOff) > 0 {
		thr := r.ConvergeMs / 1e3
		last := -1 // the last sample beyond the threshold
		for i, s := range l.joinOff {
			if math.Abs(s.off) > thr {
				last = i
			}
		}
		switch {
		case last == len(l.joinOff)-1:
		case last < 0:
			r.ConvergenceMs = max(ms(l.joinOff[0].at.Sub(j)), 0)
		default:
			r.ConvergenceMs = max(ms(l.joinOff[last+1].at.Sub(j)), 0)
		}
	}
	if !math.IsInf(l.trimMin, 0) {
		r.TrimPPMRange = [2]float64{l.trimMin * 1e6, l.trimMax * 1e6}
	}
	for _, f := range fs {
		st := f.ctrl.Stats()
		r.Members = append(r.Members, Member{DriftPPM: f.drift * 1e6, OffsetMs: ms(f.offset), Resyncs: st.Resyncs,
			MaxTrimPPM: st.MaxTrim * 1e6, EstDrift: st.Drift * 1e6, LastErrMs: ms(st.Error)})
		r.Resyncs += st.Resyncs
		r.TrimPPMMax = max(r.TrimPPMMax, st.MaxTrim*1e6)
	}
	r.ResyncsPerH = float64(r.Resyncs) / (float64(len(fs)) * cfg.Duration.Hours())
	r.Pass = r.Overall.Samples > 0 && r.Overall.P99 <= r.TargetP99Ms && r.ConvergenceMs >= 0 && r.ConvergenceMs <= 1000 &&
		r.TrimPPMMax <= 500+1e-6
	return r
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// WriteTable writes the result for people.
func (r *Result) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "synclab: profile %s: delay %.1f ± %.1f ms, asymmetry %.1f ms (bias %.1f ms, unmeasurable), loss %.2f%%\n",
		r.Profile, r.DelayMs, r.JitterMs, r.AsymMs, r.AsymMs/2, r.Loss*100)
	fmt.Fprintf(&b, "         %d followers + 1 late joiner, clocks ±%.0f ppm, offsets ±%.0f ms, %.0f s\n", r.Followers, r.DriftPPM, r.OffsetMs, r.DurationS)
	if r.ClockPeriodS > 0 || r.ClockWindow > 0 || r.ClockBurst > 0 {
		fmt.Fprintf(&b, "         hub clock tuned: period %gs, window %d, burst %d (0: default)\n", r.ClockPeriodS, r.ClockWindow, r.ClockBurst)
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tsamples\tskew p50 ms\tp99 ms\tmax ms\t")
	row := func(name string, d Dist) {
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.3f\t%.3f\t\n", name, d.Samples, d.P50, d.P99, d.Max)
	}
	for _, name := range scenarioNames {
		row(name, r.Scenarios[name])
	}
	row("overall", r.Overall)
	row("|error| vs hub", r.Abs)
	tw.Flush()
	conv := "never"
	if r.ConvergenceMs >= 0 {
		conv = fmt.Sprintf("%.0f ms", r.ConvergenceMs)
	}
	fmt.Fprintf(&b, "\nconvergence after the late join (within %.0f ms of the others): %s\n", r.ConvergeMs, conv)
	fmt.Fprintf(&b, "trim: max |trim| %.0f ppm, range [%.0f, %.0f] ppm; hard resyncs %d (%.1f per member-hour)\n",
		r.TrimPPMMax, r.TrimPPMRange[0], r.TrimPPMRange[1], r.Resyncs, r.ResyncsPerH)
	fmt.Fprintf(&b, "members:")
	for i, m := range r.Members {
		fmt.Fprintf(&b, " [%d: clock %+.0f ppm %+.0f ms, est. drift %+.1f ppm, max trim %.0f ppm, resyncs %d]",
			i, m.DriftPPM, m.OffsetMs, m.EstDrift, m.MaxTrimPPM, m.Resyncs)
	}
	verdict := "FAIL"
	if r.Pass {
		verdict = "PASS"
	}
	fmt.Fprintf(&b, "\ntarget: p99 skew ≤ %.0f ms, convergence ≤ 1 s, |trim| ≤ 500 ppm: %s\n", r.TargetP99Ms, verdict)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the result as one JSON object.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
