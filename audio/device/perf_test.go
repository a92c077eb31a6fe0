package device

import (
	"bytes"
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"tandem/assets"
	"tandem/audio"
	"tandem/internal/testhub"
)

// cpuTime returns this process's user + system time, C threads included
// (oto's ALSA writer, the pulse plugin's thread).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIdle measures the process's CPU, C included, while the engine
// is paused on the sound card output, playing into a private PulseAudio
// null sink (issue 6 target: under 1%). It reports "%cpu-paused", the
// first seconds after the pause while the stream is still fed silence, and
// "%cpu", each second of b.N once the engine has rested the device.
func BenchmarkIdle(b *testing.B) {
	dir := testhub.Pulse(b)
	b.Setenv("XDG_RUNTIME_DIR", dir)
	b.Setenv("HOME", dir)
	b.Setenv("PULSE_SERVER", "unix:"+filepath.Join(dir, "pulse", "native"))
	out, err := Open(context.Background(), nil)
	if err != nil {
		b.Fatal(err)
	}
	e := audio.New(nil, out)
	defer e.Close()
	track := assets.Demo()[0]
	if err := e.Load(track.ID(), bytes.NewReader(track.Data)); err != nil {
		b.Fatal(err)
	}
	e.Play()
	time.Sleep(500 * time.Millisecond)
	e.Pause()
	time.Sleep(200 * time.Millisecond)
	paused := audio.IdleAfter - time.Second
	start := cpuTime()
	time.Sleep(paused)
	pausedCPU := cpuTime() - start
	if e.Idle() {
		b.Fatal("the engine rested the device before IdleAfter")
	}
	time.Sleep(time.Second + 300*time.Millisecond)
	if !e.Idle() {
		b.Fatal("the engine did not rest the device after IdleAfter")
	}
	var idle time.Duration
	start = cpuTime()
	for b.Loop() {
		time.Sleep(time.Second)
		idle += time.Second
	}
	b.ReportMetric(100*float64(pausedCPU)/float64(paused), "%cpu-paused")
	b.ReportMetric(100*float64(cpuTime()-start)/float64(idle), "%cpu")
}
