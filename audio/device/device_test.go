package device

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem/assets"
	"tandem/audio"
)

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// pulseSink returns the default sink of a running PulseAudio (or
// PipeWire-Pulse) server, or skips the test when there is none.
func pulseSink(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("pactl"); err != nil {
		t.Skip("no audio device to test with: pactl is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "pactl", "info").Output()
	if err != nil {
		t.Skipf("no audio device to test with: no PulseAudio server (pactl info: %v); "+
			"start one with a null sink to run this test", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "Default Sink: "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Skip("no audio device to test with: PulseAudio has no default sink")
	return ""
}

// TestPlayThroughPulse plays a demo track through the sound card output
// while recording the sink's monitor, and checks that the recording is
// music, not silence. It needs a PulseAudio server, ideally with a null
// sink as default:
//
//	pulseaudio -n --daemonize=no --exit-idle-time=-1 -L module-native-protocol-unix \
//	    -L "module-null-sink sink_name=nullsink" -L module-always-sink
func TestPlayThroughPulse(t *testing.T) {
	sink := pulseSink(t)
	if _, err := exec.LookPath("parecord"); err != nil {
		t.Skip("parecord is not installed")
	}
	log := testLog(t)
	out, err := Open(context.Background(), log)
	if err != nil {
		t.Fatalf("PulseAudio runs (sink %s) but Open failed: %v", sink, err)
	}
	e := audio.New(log, out)
	defer e.Close()
	if e.Muted() {
		t.Fatal("engine is muted with a working device")
	}

	rec := filepath.Join(t.TempDir(), "rec.raw")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, "parecord", "--device="+sink+".monitor",
		"--raw", "--format=s16le", "--rate=44100", "--channels=2", rec)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 3 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let the recorder connect

	var track assets.DemoTrack
	for _, d := range assets.Demo() {
		if d.Name == "morning-tram.flac" {
			track = d
		}
	}
	if err := e.Load(track.ID(), bytes.NewReader(track.Data)); err != nil {
		t.Fatal(err)
	}
	e.Play()
	time.Sleep(2 * time.Second)
	e.Pause()
	cancel()
	_ = cmd.Wait() // parecord exits on the interrupt
	if e.Position() <= 0 {
		t.Errorf("Position() = %v after playing", e.Position())
	}

	data, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	n := len(data) / 2
	if n < 44100 { // stereo samples: at least half a second
		t.Fatalf("recorded only %d bytes from %s.monitor", len(data), sink)
	}
	var sum float64
	for i := 0; i < n; i++ {
		v := float64(int16(binary.LittleEndian.Uint16(data[2*i:]))) / 32768
		sum += v * v
	}
	rms := math.Sqrt(sum / float64(n))
	t.Logf("recorded %.2fs from %s.monitor, RMS %.4f", float64(n)/2/44100, sink, rms)
	if rms < 0.01 {
		t.Errorf("recording is silent (RMS %.4f)", rms)
	}
}

// TestOpenFailsWithoutDevice runs Open in a child process (oto allows one
// context per process) where no PulseAudio server can be reached, and
// checks that it fails with ErrNoDevice instead of hanging or pretending.
func TestOpenFailsWithoutDevice(t *testing.T) {
	if os.Getenv("TANDEM_DEVICE_CHILD") == "1" {
		_, err := Open(context.Background(), testLog(t))
		switch {
		case err == nil:
			// A real sound card is present; nothing to check.
			os.Exit(3)
		case errors.Is(err, ErrNoDevice):
			t.Logf("Open: %v", err)
			return
		default:
			t.Fatalf("Open: %v, want ErrNoDevice", err)
		}
	}
	if _, err := os.Stat("/dev/snd"); err == nil {
		t.Skip("this machine has sound devices (/dev/snd); cannot test the no-device path")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestOpenFailsWithoutDevice$", "-test.v")
	cmd.Env = append(os.Environ(), "TANDEM_DEVICE_CHILD=1",
		"PULSE_SERVER=unix:/nonexistent/pulse", "XDG_RUNTIME_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 3 {
		t.Skip("Open succeeded without PulseAudio: a sound card is present")
	}
	if err != nil {
		t.Fatalf("child: %v", err)
	}
}
