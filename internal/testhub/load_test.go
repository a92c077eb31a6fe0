package testhub

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that records errors and logs.
type recorder struct {
	testing.TB
	errors, logs []string
}

func (r *recorder) Helper()                    {}
func (r *recorder) Error(args ...any)          { r.errors = append(r.errors, fmt.Sprint(args...)) }
func (r *recorder) Logf(f string, args ...any) { r.logs = append(r.logs, fmt.Sprintf(f, args...)) }

// fakeStall advances by share of the real time between readings.
func fakeStall(share float64) func() (time.Duration, bool) {
	start := time.Now()
	return func() (time.Duration, bool) {
		return time.Duration(share * float64(time.Since(start))), true
	}
}

func TestMeasure(t *testing.T) {
	miss := func(tr *Trial) { time.Sleep(5 * time.Millisecond); tr.Errorf("missed on attempt %d", tr.Attempt) }
	quiet := func() float64 { return 0 }

	// A miss on a quiet machine fails at once.
	r := &recorder{TB: t}
	tries := 0
	measure(r, 3, func(tr *Trial) { tries++; miss(tr) }, fakeStall(0.01), quiet)
	if tries != 1 || len(r.errors) != 1 || !strings.Contains(r.errors[0], "missed on attempt 1") {
		t.Fatalf("quiet miss: %d tries, errors %q", tries, r.errors)
	}

	// Misses under load are tried again, then logged, not failed.
	r = &recorder{TB: t}
	tries = 0
	measure(r, 3, func(tr *Trial) { tries++; miss(tr) }, fakeStall(0.9), quiet)
	if tries != 3 || len(r.errors) != 0 || !strings.Contains(strings.Join(r.logs, "\n"), "not checked") {
		t.Fatalf("loaded misses: %d tries, errors %q, logs %q", tries, r.errors, r.logs)
	}

	// A pass ends the trials.
	r = &recorder{TB: t}
	tries = 0
	measure(r, 3, func(tr *Trial) {
		tries++
		if tries == 1 {
			miss(tr)
		}
	}, fakeStall(0.9), quiet)
	if tries != 2 || len(r.errors) != 0 {
		t.Fatalf("pass on the second: %d tries, errors %q", tries, r.errors)
	}
}

func TestStallShare(t *testing.T) {
	share, ok := StallShare(100 * time.Millisecond)
	if !ok {
		t.Skip("this kernel does not report CPU pressure (/proc/pressure/cpu)")
	}
	if share < 0 || share > 2.5 { // per CPU tasks may wait at once; never negative
		t.Fatalf("stall share %v", share)
	}
}
