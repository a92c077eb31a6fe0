//go:build linux

package engineio

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestPollReadsByDefault(t *testing.T) {
	ts, handlers, s := pollServer(t, Options{})
	ws, _ := dialRaw(t, ts)
	e := <-handlers
	_ = ws.WriteMessage(websocket.TextMessage, []byte("4hi"))
	if got := readText(t, ws); got != "4hi" {
		t.Fatalf("echo %q", got)
	}
	e.c.mu.Lock()
	watched := e.c.watch != nil
	e.c.mu.Unlock()
	if !watched || s.poll == nil {
		t.Fatal("the readiness loop does not read the connection")
	}
}

// TestIdleConnectionsHoldNoGoroutine: 200 idle WebSockets add no goroutine
// on the server; the same with GoroutineReads adds one each.
func TestIdleConnectionsHoldNoGoroutine(t *testing.T) {
	for _, tt := range []struct {
		goroutineReads bool
		min, max       int // extra goroutines for 200 connections
	}{
		{false, 0, 5},
		{true, 200, 205},
	} {
		t.Run(fmt.Sprintf("GoroutineReads=%v", tt.goroutineReads), func(t *testing.T) {
			ts, handlers, _ := pollServer(t, Options{GoroutineReads: tt.goroutineReads})
			// One connection first, so that the loop is running.
			ws, _ := dialRaw(t, ts)
			<-handlers
			_ = ws.WriteMessage(websocket.TextMessage, []byte("4warm"))
			readText(t, ws)
			before := settledGoroutines()
			for range 200 {
				dialRaw(t, ts) // reads the open packet
				<-handlers
			}
			extra := settledGoroutines() - before
			t.Logf("200 idle connections: %d more goroutines", extra)
			if extra < tt.min || extra > tt.max {
				t.Fatalf("%d more goroutines for 200 idle connections, want %d to %d", extra, tt.min, tt.max)
			}
		})
	}
}

// settledGoroutines counts goroutines once short-lived ones (HTTP
// handlers, flushers, workers) have exited.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 100 {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return n
		}
		n = m
	}
	return n
}

// checkNoReaders fails if the readiness loop still watches a connection.
func checkNoReaders(t *testing.T, s *Server) {
	t.Helper()
	s.mu.Lock()
	p := s.poll
	s.mu.Unlock()
	if p == nil {
		return
	}
	p.mu.Lock()
	n := len(p.readers)
	p.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d connections still watched", n)
	}
}

// TestWritesThatDoNotBlock: over a socket with small buffers, which takes
// frames only in part or not at all, messages sent while no flusher runs
// are written on the sender's goroutine and the rest by the flusher, and
// the peer gets every frame whole and in order.
func TestWritesThatDoNotBlock(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096)
		_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		f := os.NewFile(uintptr(fd), "socketpair")
		conns[i], err = net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	defer conns[1].Close()
	var bufs sync.Pool
	bufs.New = func() any { b := make([]byte, 0, inlineWriteMax); return &b }
	ws := &serverWS{nc: conns[0], bufs: &bufs}
	ws.rc, _ = conns[0].(syscall.Conn).SyscallConn()
	c := newConn("test", true, handshake{PingInterval: 60_000, PingTimeout: 60_000}, slog.New(slog.DiscardHandler))
	c.maxQueue = 10_000
	c.start(nopHandler{})
	c.mu.Lock()
	c.setWebSocketLocked(ws)
	c.mu.Unlock()
	defer func() {
		c.Close()
		c.Wait()
	}()
	msg := func(i int) string {
		return fmt.Sprintf("%04d:%s", i, strings.Repeat(string(rune('a'+i%26)), 3000+i*37%9000))
	}
	const n = 300
	go func() {
		for i := range n {
			// Wait for the flusher to be done, so that this Send writes
			// inline, into a socket the slow reader keeps almost full.
			for {
				c.mu.Lock()
				idle := !c.flushing
				c.mu.Unlock()
				if idle {
					break
				}
				time.Sleep(50 * time.Microsecond)
			}
			if c.Send([]byte(msg(i)), false) != nil {
				return
			}
		}
	}()
	br := bufio.NewReaderSize(slowReader{conns[1]}, 16)
	_ = conns[1].SetReadDeadline(time.Now().Add(20 * time.Second))
	for i := range n {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		size := int(h[1])
		if size == 126 {
			var l [2]byte
			_, _ = io.ReadFull(br, l[:])
			size = int(binary.BigEndian.Uint16(l[:]))
		}
		payload := make([]byte, size)
		if _, err := io.ReadFull(br, payload); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if want := "4" + msg(i); h[0] != 0x81 || string(payload) != want {
			t.Fatalf("frame %d: %#x, %d bytes %.12q…; want a text frame of %d bytes %.12q…", i, h[0], len(payload), payload, len(want), want)
		}
	}
}

// slowReader reads at most 1 KB at a time, and takes its time.
type slowReader struct{ r io.Reader }

func (s slowReader) Read(b []byte) (int, error) {
	time.Sleep(20 * time.Microsecond)
	return s.r.Read(b[:min(len(b), 1024)])
}
