package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"time"
)

// FloorResult is what `hubbench floor` measured: the CPU that one small
// write(2) to a loopback TCP connection costs the writing thread, when the
// reader on the other end sleeps in the netpoller between writes, as every
// recipient of a broadcast does. On loopback the kernel runs the whole
// receive path and the reader's wake-up inside the writer's system call, so
// this is the least CPU a server can spend on one delivery that it sends
// with one write, whatever its language.
type FloorResult struct {
	Conns       int     `json:"conns"`
	Group       int     `json:"group"`
	Writes      int     `json:"writes"`
	Size        int     `json:"size"`
	ThreadCPUus float64 `json:"threadCpuUsPerWrite"` // user + system of the writing thread, per write
	SysShare    float64 `json:"sysShare"`            // system time's share of it
	Ceiling     float64 `json:"ceilingDeliveriesPerCpuSecond"`
}

func (f FloorResult) String() string {
	return fmt.Sprintf("write floor: %d writes of %d B, %d a round, to %d loopback connections: %.1f µs of the writer's CPU per write (%.0f%% in the kernel)\n"+
		"ceiling with one write per delivery and nothing else: %.0f deliveries per CPU-second\n",
		f.Writes, f.Size, f.Group, f.Conns, f.ThreadCPUus, 100*f.SysShare, f.Ceiling)
}

// floor runs `hubbench floor`.
func floor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hubbench floor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conns := fs.Int("conns", 1000, "loopback connections, each with a reader goroutine")
	group := fs.Int("group", 100, "connections written in one round (a room); rounds take the groups in turn")
	rounds := fs.Int("rounds", 200, "rounds; each round writes once to every connection of the next group")
	size := fs.Int("size", 120, "bytes per write (a changeTrack frame is about 120)")
	pause := fs.Duration("pause", 5*time.Millisecond, "pause between rounds, so that readers are asleep again")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *conns < 1 || *rounds < 1 || *group < 1 || *group > *conns || *size < 1 || *size > 1<<16 {
		return errors.New("floor: --conns, --group and --rounds must be at least 1, --group at most --conns, --size between 1 and 65536")
	}
	res, err := measureFloor(ctx, *conns, *group, *rounds, *size, *pause)
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, res.String())
	return err
}

// measureFloor dials conns loopback connections, has a goroutine read each
// one, and writes size bytes rounds times to every connection of a group of
// them, the groups in turn, from one goroutine locked to its thread, whose
// CPU time it reads around the writes.
func measureFloor(ctx context.Context, conns, group, rounds, size int, pause time.Duration) (FloorResult, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return FloorResult{}, fmt.Errorf("floor: listen: %w", err)
	}
	defer ln.Close()
	var (
		wg      sync.WaitGroup
		writers = make([]net.Conn, 0, conns)
		readers = make([]net.Conn, 0, conns)
	)
	defer func() {
		for _, c := range writers {
			c.Close()
		}
		for _, c := range readers {
			c.Close()
		}
		wg.Wait()
	}()
	for range conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return FloorResult{}, fmt.Errorf("floor: dial: %w", err)
		}
		readers = append(readers, c)
		s, err := ln.Accept()
		if err != nil {
			return FloorResult{}, fmt.Errorf("floor: accept: %w", err)
		}
		writers = append(writers, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = 'a' + byte(i%26)
	}
	type out struct {
		user, sys time.Duration
		err       error
	}
	done := make(chan out, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		u0, s0, err := threadCPU()
		if err != nil {
			done <- out{err: err}
			return
		}
		var user, sys time.Duration
		for r := range rounds {
			if ctx.Err() != nil {
				done <- out{err: ctx.Err()}
				return
			}
			first := (r * group) % conns
			for i := range group {
				w := writers[(first+i)%conns]
				if _, err := w.Write(msg); err != nil {
					done <- out{err: fmt.Errorf("floor: write: %w", err)}
					return
				}
			}
			// The pause is not counted: read the clock around the writes only.
			u1, s1, err := threadCPU()
			if err != nil {
				done <- out{err: err}
				return
			}
			user, sys = user+u1-u0, sys+s1-s0
			if r < rounds-1 {
				time.Sleep(pause)
			}
			u0, s0, _ = threadCPU()
		}
		done <- out{user: user, sys: sys}
	}()
	o := <-done
	if o.err != nil {
		return FloorResult{}, o.err
	}
	n := group * rounds
	total := o.user + o.sys
	res := FloorResult{Conns: conns, Group: group, Writes: n, Size: size}
	res.ThreadCPUus = float64(total.Microseconds()) / float64(n)
	if total > 0 {
		res.SysShare = float64(o.sys) / float64(total)
		res.Ceiling = float64(n) / total.Seconds()
	}
	return res, nil
}
