package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// 100 on every Linux that Go supports).
const clockTick = 10 * time.Millisecond

// procSample is a server process's CPU time and memory at one instant.
type procSample struct {
	CPU     time.Duration // user + system time, all threads
	RSSKB   int64         // VmRSS
	HWMKB   int64         // VmHWM, the peak RSS
	Threads int
	Writes  int64 // write-family system calls so far (syscw in /proc/PID/io)
	WBytes  int64 // bytes passed to them (wchar)
}

// readProc samples a process from /proc/PID/stat and /proc/PID/status.
func readProc(pid int) (procSample, error) {
	var s procSample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("sample pid %d: %w", pid, err)
	}
	// The command name, in parentheses, may hold spaces; fields follow it.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("sample pid %d: malformed stat", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("sample pid %d: short stat", pid)
	}
	// f[0] is field 3 (state), so utime (14) and stime (15) are f[11], f[12].
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("sample pid %d: bad utime/stime", pid)
	}
	s.CPU = time.Duration(utime+stime) * clockTick
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("sample pid %d: %w", pid, err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		val = strings.TrimSuffix(strings.TrimSpace(val), " kB")
		switch key {
		case "VmRSS":
			s.RSSKB, _ = strconv.ParseInt(val, 10, 64)
		case "VmHWM":
			s.HWMKB, _ = strconv.ParseInt(val, 10, 64)
		case "Threads":
			s.Threads, _ = strconv.Atoi(val)
		}
	}
	// /proc/PID/io may be unreadable (another user's process): then the
	// write counts stay 0.
	if io, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid)); err == nil {
		for line := range strings.SplitSeq(string(io), "\n") {
			key, val, _ := strings.Cut(line, ":")
			n, _ := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
			switch key {
			case "syscw":
				s.Writes = n
			case "wchar":
				s.WBytes = n
			}
		}
	}
	return s, nil
}

// selfCPU returns this process's user + system time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAvg returns the 1-minute load average, or 0.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
