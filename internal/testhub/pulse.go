package testhub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// PulseSink is the null sink Pulse creates; record its monitor,
// PulseSink + ".monitor", to hear what was played.
const PulseSink = "nullsink"

// Pulse runs a private PulseAudio server with a null sink as its default
// sink, stopped at cleanup, and returns its runtime directory: give it to
// clients as XDG_RUNTIME_DIR (and HOME). Without pulseaudio the test is
// skipped, or fails when TANDEM_REQUIRE_PULSE=1 (as under make test, which
// installs it).
//
// The sink is loaded with norewinds=1. A null sink has no clock of its
// own: with rewinds it renders up to 2 s ahead of real time while no
// client asks for low latency, and a stream that connects or recovers
// from an underrun then gets nothing pulled until real time catches up,
// a stall of up to 2 s that no sound card or PipeWire shows.
func Pulse(t testing.TB) string {
	t.Helper()
	dir, stop, err := StartPulse()
	if errors.Is(err, exec.ErrNotFound) {
		if os.Getenv("TANDEM_REQUIRE_PULSE") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		out := stop()
		if t.Failed() {
			t.Logf("pulseaudio output:\n%s", out)
		}
	})
	return dir
}

// StartPulse is Pulse for a caller without a test, such as a TestMain: it
// returns the runtime directory and a function that stops the server and
// returns what it printed. The error wraps exec.ErrNotFound when
// pulseaudio is not installed.
func StartPulse() (dir string, stop func() string, err error) {
	bin, err := exec.LookPath("pulseaudio")
	if err != nil {
		return "", nil, fmt.Errorf("pulseaudio (the Debian packages pulseaudio and pulseaudio-utils): %w", err)
	}
	// A short directory: unix socket paths are limited to about 100 bytes.
	dir, err = os.MkdirTemp("", "pulse")
	if err != nil {
		return "", nil, fmt.Errorf("pulseaudio: %w", err)
	}
	env := append(os.Environ(), "XDG_RUNTIME_DIR="+dir, "HOME="+dir)
	cmd := exec.Command(bin, "-n", "--daemonize=no", "--exit-idle-time=-1",
		"-L", "module-native-protocol-unix",
		"-L", "module-null-sink sink_name="+PulseSink+" norewinds=1",
		"-L", "module-always-sink")
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("start pulseaudio: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop = func() string {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		os.RemoveAll(dir)
		return out.String()
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		info := exec.CommandContext(ctx, "pactl", "info")
		info.Env = env
		err := info.Run()
		cancel()
		if err == nil {
			return dir, stop, nil
		}
		select {
		case <-exited:
			return "", nil, fmt.Errorf("pulseaudio exited at start: %s", stop())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", nil, fmt.Errorf("pulseaudio did not answer pactl info in 15 s (last: %v): %s", err, stop())
		}
	}
}
