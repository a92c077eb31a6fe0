package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSyncLabShort runs the whole lab briefly on the lan profile. Its
// bounds are generous, so that a loaded machine cannot fail it: the
// targets are for the benchmark and real runs.
func TestSyncLabShort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"--profile", "lan", "--followers", "2", "--duration", "6s", "--json"}, &out, &errOut); err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	var r Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("decode: %v\n%s", err, out.String())
	}
	for _, name := range scenarioNames {
		d := r.Scenarios[name]
		if d.Samples == 0 {
			t.Errorf("scenario %q: no skew samples", name)
		}
		if d.P99 > 20 {
			t.Errorf("scenario %q: p99 skew %.3f ms, want < 20", name, d.P99)
		}
	}
	if r.Overall.P99 <= 0 || r.Overall.P99 > 20 || r.Overall.Max < r.Overall.P99 {
		t.Errorf("overall = %+v", r.Overall)
	}
	if r.ConvergenceMs < 0 || r.ConvergenceMs > 3000 {
		t.Errorf("convergence %.0f ms, want within 3 s", r.ConvergenceMs)
	}
	if r.TrimPPMMax > 500+1e-6 {
		t.Errorf("trim %.1f ppm beyond 500", r.TrimPPMMax)
	}
	if r.Resyncs != 0 {
		t.Errorf("%d hard resyncs on a LAN", r.Resyncs)
	}
	if len(r.Members) != 3 {
		t.Errorf("%d members, want 2 + the late joiner", len(r.Members))
	}
}

func TestParseArgs(t *testing.T) {
	cfg, asJSON, err := ParseArgs([]string{"--profile", "wan", "--jitter", "1ms", "--loss", "0.01", "--json"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !asJSON || cfg.Net.Delay != 80*time.Millisecond || cfg.Net.Jitter != time.Millisecond || cfg.Net.Asym != 10*time.Millisecond || cfg.Net.Loss != 0.01 {
		t.Errorf("cfg = %+v, json %v", cfg, asJSON)
	}
	if _, _, err := ParseArgs([]string{"--profile", "moon"}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "moon") {
		t.Errorf("unknown profile: err = %v", err)
	}
}

// BenchmarkSyncLab runs a short lab per profile and reports its skew.
// Run it with -benchtime=1x: every iteration is a whole run.
func BenchmarkSyncLab(b *testing.B) {
	for _, profile := range []string{"lan", "wifi", "wan"} {
		b.Run(profile, func(b *testing.B) {
			cfg, _, err := ParseArgs([]string{"--profile", profile, "--followers", "3", "--duration", "20s"}, &bytes.Buffer{})
			if err != nil {
				b.Fatal(err)
			}
			var r *Result
			for b.Loop() {
				if r, err = Run(b.Context(), cfg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(r.Overall.P50, "p50-ms")
			b.ReportMetric(r.Overall.P99, "p99-ms")
			b.ReportMetric(r.Overall.Max, "max-ms")
			b.ReportMetric(r.ConvergenceMs, "convergence-ms")
			b.ReportMetric(r.TrimPPMMax, "trim-ppm-max")
			b.ReportMetric(r.ResyncsPerH, "resyncs/h")
		})
	}
}
