package device

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"tandem/audio"
	"tandem/internal/testhub"
)

func TestMain(m *testing.M) {
	code := m.Run()
	closeShared()
	if code == 0 {
		// oto's device context lives as long as the process (one per
		// process, no Close): its mixing loop and its ALSA writer stay.
		if err := goleak.Find(
			goleak.IgnoreAnyFunction("github.com/ebitengine/oto/v3/internal/mux.(*Mux).loop"),
			goleak.IgnoreAnyFunction("github.com/ebitengine/oto/v3.(*context).readAndWrite"),
		); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// The sound card output's tests and benchmarks share one engine, on one
// private PulseAudio server: oto allows one device context per process.
var shared struct {
	once sync.Once
	e    *audio.Engine
	stop func() string
	err  error
}

// pulseEngine returns the process's engine on the sound card output,
// playing into a private PulseAudio null sink (testhub.StartPulse) started
// at the first call. Without pulseaudio it skips, or fails when
// TANDEM_REQUIRE_PULSE=1. Each caller sets the engine's state it needs.
func pulseEngine(tb testing.TB) *audio.Engine {
	tb.Helper()
	shared.once.Do(func() {
		dir, stop, err := testhub.StartPulse()
		if err != nil {
			shared.err = err
			return
		}
		shared.stop = stop
		for k, v := range map[string]string{"XDG_RUNTIME_DIR": dir, "HOME": dir,
			"PULSE_SERVER": "unix:" + filepath.Join(dir, "pulse", "native")} {
			if err := os.Setenv(k, v); err != nil {
				shared.err = err
				return
			}
		}
		out, err := Open(context.Background(), nil)
		if err != nil {
			shared.err = fmt.Errorf("PulseAudio runs but Open failed: %w", err)
			return
		}
		shared.e = audio.New(nil, out)
	})
	if errors.Is(shared.err, exec.ErrNotFound) && os.Getenv("TANDEM_REQUIRE_PULSE") != "1" {
		tb.Skip(shared.err)
	}
	if shared.err != nil {
		tb.Fatal(shared.err)
	}
	if _, err := exec.LookPath("parecord"); err != nil {
		tb.Fatalf("parecord is not installed (the Debian package pulseaudio-utils): %v", err)
	}
	return shared.e
}

// closeShared closes the shared engine and stops its PulseAudio.
func closeShared() {
	if shared.e != nil {
		if err := shared.e.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "close the shared engine:", err)
		}
	}
	if shared.stop != nil {
		shared.stop()
	}
}
