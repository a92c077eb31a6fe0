package testhub

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Tests that measure real time (sound heard through PulseAudio, two
// players' clicks) cannot hold their bounds while other work starves the
// machine of CPU: a starved player underruns, as it would on a friend's
// busy laptop, and the test would fail for the machine's sake, not the
// code's. Such a test runs its measurement as a Trial: it waits for a
// quiet moment first, and reads the kernel's CPU pressure (PSI) while it
// measures. A bound missed while the machine was quiet fails the test; a
// bound missed under load is measured again after a quiet moment, and
// when every attempt was under load the misses are logged, with the
// pressure, instead of failing the test.

// busyStall is the share of a trial's time in which some task waited for
// a CPU above which the trial counts as measured under load.
const busyStall = 0.10

// quietStall is the share of a second's waiting that counts as quiet.
const quietStall = 0.05

// cpuStall returns the kernel's running total of the time in which some
// runnable task waited for a CPU (/proc/pressure/cpu, "some"); ok is false
// where the kernel does not report it.
func cpuStall() (time.Duration, bool) {
	f, err := os.Open("/proc/pressure/cpu")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "some ") {
			continue
		}
		for _, field := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(field, "total="); ok {
				us, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return 0, false
				}
				return time.Duration(us) * time.Microsecond, true
			}
		}
	}
	return 0, false
}

// StallShare measures the share of d in which some task waited for a CPU.
// ok is false where the kernel does not report CPU pressure.
func StallShare(d time.Duration) (share float64, ok bool) {
	s0, ok := cpuStall()
	t0 := time.Now()
	time.Sleep(d)
	s1, ok1 := cpuStall()
	if !ok || !ok1 {
		return 0, false
	}
	return float64(s1-s0) / float64(time.Since(t0)), true
}

// WaitQuiet waits, up to max, for a second in which tasks waited for a CPU
// less than a twentieth of the time, and returns the last second's share.
func WaitQuiet(max time.Duration) float64 {
	deadline := time.Now().Add(max)
	for {
		share, ok := StallShare(time.Second)
		if !ok || share < quietStall || time.Now().After(deadline) {
			return share
		}
	}
}

// Trial is one attempt at a measurement. Its Errorf records a missed
// bound; whether that fails the test depends on the load during the
// attempt (see Measure). Errors that no load excuses go to the test's
// own t.Errorf or t.Fatalf.
type Trial struct {
	Attempt int
	errs    []string
}

// Errorf records a bound the measurement missed.
func (tr *Trial) Errorf(format string, args ...any) {
	tr.errs = append(tr.errs, fmt.Sprintf(format, args...))
}

// Failed reports whether the trial missed a bound so far.
func (tr *Trial) Failed() bool { return len(tr.errs) > 0 }

// Measure runs try, up to attempts times, each after waiting (up to 10 s)
// for a quiet moment. A trial that misses no bound ends it. A trial that
// misses one while the machine was quiet fails the test with its errors.
// A trial that misses one under load is tried again; when the last one
// was under load too, its errors are logged as unchecked.
func Measure(t testing.TB, attempts int, try func(tr *Trial)) {
	t.Helper()
	measure(t, attempts, try, cpuStall, func() float64 { return WaitQuiet(10 * time.Second) })
}

func measure(t testing.TB, attempts int, try func(tr *Trial), stall func() (time.Duration, bool), quiet func() float64) {
	t.Helper()
	for i := 1; i <= attempts; i++ {
		before := quiet()
		s0, ok := stall()
		t0 := time.Now()
		tr := &Trial{Attempt: i}
		try(tr)
		s1, ok1 := stall()
		share := 0.0
		if ok && ok1 {
			share = float64(s1-s0) / float64(time.Since(t0))
		}
		if !tr.Failed() {
			if i > 1 {
				t.Logf("measured on attempt %d of %d (CPU pressure %.0f%%)", i, attempts, 100*share)
			}
			return
		}
		loaded := ok && ok1 && share > busyStall
		if !loaded {
			for _, e := range tr.errs {
				t.Error(e)
			}
			t.Logf("attempt %d of %d, with CPU pressure %.0f%% (%.0f%% the second before)", i, attempts, 100*share, 100*before)
			return
		}
		for _, e := range tr.errs {
			t.Logf("attempt %d of %d under load (tasks waited for a CPU %.0f%% of the time): %s", i, attempts, 100*share, e)
		}
	}
	t.Logf("every attempt ran under CPU load; the bounds above were measured but not checked")
}
