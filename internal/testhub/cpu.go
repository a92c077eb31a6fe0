package testhub

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// ProcessCPU returns this process's user + system time, every thread
// included (C ones too, such as an audio library's), or 0 if the system
// will not say. Benchmarks of idle CPU read it before and after.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ReportIdleCPU runs b's loop, sleeping a second an iteration, and reports
// the process's CPU over those seconds as "%cpu" of one core.
func ReportIdleCPU(b *testing.B) {
	runtime.GC()
	var idle time.Duration
	start := ProcessCPU()
	for b.Loop() {
		time.Sleep(time.Second)
		idle += time.Second
	}
	b.ReportMetric(100*float64(ProcessCPU()-start)/float64(idle), "%cpu")
}
