//go:build !linux

package main

import (
	"errors"
	"time"
)

// threadCPU needs Linux's RUSAGE_THREAD.
func threadCPU() (user, sys time.Duration, err error) {
	return 0, 0, errors.New("floor: a thread's CPU time is read on Linux only")
}
