package main

import (
	"fmt"
	"syscall"
	"time"
)

// threadCPU returns the calling thread's user and system time.
func threadCPU() (user, sys time.Duration, err error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0, 0, fmt.Errorf("floor: getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), nil
}
