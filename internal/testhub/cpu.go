package testhub

import (
	"syscall"
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
