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
	"testing"
	"time"

	"tandem/assets"
	"tandem/audio"
	"tandem/internal/testhub"
)

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// TestPlayThroughPulse plays through the sound card output into a private
// PulseAudio server's null sink (testhub.Pulse), recording the sink's
// monitor. oto allows one device context per process, so the checks on
// that one device are subtests, in order.
func TestPlayThroughPulse(t *testing.T) {
	dir := testhub.Pulse(t)
	if _, err := exec.LookPath("parecord"); err != nil {
		t.Fatalf("parecord is not installed (the Debian package pulseaudio-utils): %v", err)
	}
	t.Setenv("XDG_RUNTIME_DIR", dir)
	t.Setenv("HOME", dir)
	t.Setenv("PULSE_SERVER", "unix:"+filepath.Join(dir, "pulse", "native"))
	log := testLog(t)
	out, err := Open(context.Background(), log)
	if err != nil {
		t.Fatalf("PulseAudio runs but Open failed: %v", err)
	}
	e := audio.New(log, out)
	defer e.Close()
	if e.Muted() {
		t.Fatal("engine is muted with a working device")
	}
	var track assets.DemoTrack
	for _, d := range assets.Demo() {
		if d.Name == "morning-tram.flac" {
			track = d
		}
	}
	if err := e.Load(track.ID(), bytes.NewReader(track.Data)); err != nil {
		t.Fatal(err)
	}

	t.Run("music", func(t *testing.T) {
		stop := record(t)
		e.Play()
		time.Sleep(2 * time.Second)
		e.Pause()
		if e.Position() <= 0 {
			t.Errorf("Position() = %v after playing", e.Position())
		}
		if rms := rmsOf(t, stop()); rms < 0.01 {
			t.Errorf("recording is silent (RMS %.4f)", rms)
		}
	})

	// Paused, the engine rests the device IdleAfter later; a Schedule
	// wakes it, and the stream must run again at once: oto's reads of the
	// engine keep pace with the clock from the cue on, with no start-up
	// stall, and the music is heard.
	t.Run("idle and wake", func(t *testing.T) {
		e.Pause()
		deadline := time.Now().Add(audio.IdleAfter + 3*time.Second)
		for !e.Idle() {
			if time.Now().After(deadline) {
				t.Fatalf("the engine did not rest the device within %v of the pause", audio.IdleAfter+3*time.Second)
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(time.Second) // the stream underruns while resting
		stop := record(t)
		cue := time.Now().Add(300 * time.Millisecond)
		if err := e.Schedule(0, cue); err != nil {
			t.Fatal(err)
		}
		if e.Idle() {
			t.Fatal("Schedule did not wake the device")
		}
		time.Sleep(300*time.Millisecond + time.Second)
		// Rendered: a second of the track, plus what the buffers hold
		// ahead (under 0.2 s); a stalled stream would be near 0.
		if pos := e.Position(); pos < 900*time.Millisecond || pos > 1300*time.Millisecond {
			t.Errorf("Position() = %v a second after the cue, want about 1 s: the stream did not run at once after waking", pos)
		}
		frame, at, ok := e.Audible()
		if !ok {
			t.Fatal("Audible() not ok a second after the cue")
		}
		want := int64(audio.SampleRate.N(at.Sub(cue)))
		if d := frame - want; d < -int64(audio.SampleRate)/50 || d > int64(audio.SampleRate)/50 {
			t.Errorf("Audible() = frame %d, %v after the cue; want frame %d ± 20 ms (%d frames off)", frame, at.Sub(cue), want, d)
		}
		e.Pause()
		if rms := rmsOf(t, stop()); rms < 0.01 {
			t.Errorf("recording after waking is silent (RMS %.4f)", rms)
		}
	})
}

// record starts recording the null sink's monitor and returns a function
// that stops it and returns the 16-bit stereo PCM recorded.
func record(t *testing.T) func() []byte {
	t.Helper()
	rec := filepath.Join(t.TempDir(), "rec.raw")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "parecord", "--device="+testhub.PulseSink+".monitor",
		"--raw", "--format=s16le", "--rate=44100", "--channels=2", rec)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 3 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	time.Sleep(300 * time.Millisecond) // let the recorder connect
	return func() []byte {
		cancel()
		_ = cmd.Wait() // parecord exits on the interrupt
		data, err := os.ReadFile(rec)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) < 2*44100 { // half a second of stereo samples
			t.Fatalf("recorded only %d bytes from the monitor", len(data))
		}
		return data
	}
}

// rmsOf returns the RMS level (0 to 1) of 16-bit PCM.
func rmsOf(t *testing.T, data []byte) float64 {
	t.Helper()
	n := len(data) / 2
	var sum float64
	for i := range n {
		v := float64(int16(binary.LittleEndian.Uint16(data[2*i:]))) / 32768
		sum += v * v
	}
	rms := math.Sqrt(sum / float64(n))
	t.Logf("recorded %.2fs, RMS %.4f", float64(n)/2/44100, rms)
	return rms
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
