//go:build linux

package engineio

import (
	"fmt"
	"runtime"
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
