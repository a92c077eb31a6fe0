package hub

import (
	"sync"
	"time"
)

// Per-connection rate limit: a token bucket per socket. A command over the
// limit gets an ELIMIT error ack and is not run; the connection stays up.

// Defaults of Config.RateLimit and Config.RateBurst.
const (
	DefaultRateLimit = 20 // commands per second, sustained
	DefaultRateBurst = 40 // commands at once
)

// DefaultConnectTimeout is Config.ConnectTimeout's default: a connection
// not let into the namespace within it is closed. A player sends its
// CONNECT right after the Engine.IO handshake; 20 s, less than Socket.IO's
// own 45 s, bounds what a connection that never authenticates holds.
const DefaultConnectTimeout = 20 * time.Second

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
