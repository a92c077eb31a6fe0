package hub

import (
	"context"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"
)

// Per-connection rate limit: a token bucket per socket. Every event a
// client sends takes a token, a command or an unknown event, with an ack
// or without; one over the limit gets an ELIMIT error ack (when it asked
// for one) and is not run. The connection stays up.

// Defaults of Config.RateLimit and Config.RateBurst.
const (
	DefaultRateLimit = 20 // commands per second, sustained
	DefaultRateBurst = 40 // commands at once
)

type bucket struct {
	tokens float64
	last   time.Time
}

type limiter struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket // socket id -> bucket
}

func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// allow takes a token for the socket, and reports false when there is none.
func (l *limiter) allow(sid string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[sid]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[sid] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// forget drops a closed socket's bucket.
func (l *limiter) forget(sid string) {
	l.mu.Lock()
	delete(l.buckets, sid)
	l.mu.Unlock()
}

// logGate keeps a flood out of the log: each kind of line passes at most
// n times a period; the rest are counted, and the next line of the kind
// that passes reports how many were left out. Kinds are the hub's own
// constants, so the map stays small.
type logGate struct {
	n      int
	period time.Duration

	mu    sync.Mutex
	kinds map[string]*gateWindow
}

type gateWindow struct {
	start         time.Time
	sent, dropped int
}

// Log lines of one kind that pass per period (logGate).
const (
	gateLines  = 20
	gatePeriod = time.Minute
)

func newLogGate(n int, period time.Duration) *logGate {
	return &logGate{n: n, period: period, kinds: map[string]*gateWindow{}}
}

// pass reports whether a line of the kind may be logged now, and how many
// were left out before it.
func (g *logGate) pass(kind string) (ok bool, suppressed int) {
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.kinds[kind]
	if w == nil {
		w = &gateWindow{start: now}
		g.kinds[kind] = w
	}
	if now.Sub(w.start) >= g.period {
		w.start, w.sent = now, 0
	}
	if w.sent >= g.n {
		w.dropped++
		return false, 0
	}
	w.sent++
	suppressed, w.dropped = w.dropped, 0
	return true, suppressed
}

// logLimited logs msg at level unless too many lines of its kind came
// lately (logGate); a line after some were left out says how many.
func (h *Hub) logLimited(level slog.Level, kind, msg string, args ...any) {
	ok, suppressed := h.logs.pass(kind)
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	h.log.Log(context.Background(), level, msg, args...)
}

// clip shortens a client's string for the log.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	for i := max; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return s[:max] + "…"
}
