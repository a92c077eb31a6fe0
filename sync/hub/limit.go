package hub

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"tandem"
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

// Failed sign-ins: unknown tokens (a Socket.IO CONNECT, a bearer token on
// the HTTP API) and refused invite codes. Each client address may fail
// AuthFailures times, and that budget comes back at AuthFailures per
// AuthWindow; with none left, each further attempt from the address is
// refused unchecked (CONNECT_ERROR with code ELIMIT, HTTP 429 with
// Retry-After) until a failure's worth has come back. Successes spend
// nothing and restore nothing; other addresses are not affected.

// Defaults of Config.AuthFailures and Config.AuthWindow.
const (
	DefaultAuthFailures = 10
	DefaultAuthWindow   = time.Minute
)

// maxAuthAddrs bounds the addresses whose failures are remembered (about
// 100 bytes each); past it, addresses whose budget is whole again are
// forgotten, then the least spent of a few.
const maxAuthAddrs = 10_000

// Sign-in kinds, the label of the failure metrics.
const (
	signInSocket = "socket"
	signInHTTP   = "http"
	signInInvite = "invite"
)

// signInLimited is the CONNECT_ERROR message of a refused sign-in from an
// address with no failures left.
const signInLimited = "too many failed sign-ins"

type authBudget struct {
	max  float64 // failures in a row
	rate float64 // failures a second that come back
	cap  int
	now  func() time.Time

	mu    sync.Mutex
	addrs map[string]*bucket // budget key -> what is left
	swept time.Time
}

func newAuthBudget(failures int, window time.Duration, now func() time.Time) *authBudget {
	return &authBudget{max: float64(failures), rate: float64(failures) / window.Seconds(), cap: maxAuthAddrs,
		now: now, addrs: map[string]*bucket{}}
}

func (b *authBudget) left(e *bucket, now time.Time) float64 {
	return min(b.max, e.tokens+now.Sub(e.last).Seconds()*b.rate)
}

// wait returns how long key must wait before its next attempt, 0 if it
// may try now.
func (b *authBudget) wait(key string) time.Duration {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.addrs[key]
	if e == nil {
		return 0
	}
	if left := b.left(e, now); left < 1 {
		return time.Duration((1 - left) / b.rate * float64(time.Second))
	}
	return 0
}

// fail spends one of key's failures and reports whether none is left.
func (b *authBudget) fail(key string) (exhausted bool) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.addrs[key]
	if e == nil {
		b.makeRoom(now)
		e = &bucket{tokens: b.max, last: now}
		b.addrs[key] = e
	}
	e.tokens, e.last = b.left(e, now)-1, now
	return e.tokens < 1
}

// makeRoom keeps the map under its cap; b.mu must be held. A flood from
// many addresses thus costs a bounded map and, at most once a second, a
// sweep of it.
func (b *authBudget) makeRoom(now time.Time) {
	if len(b.addrs) < b.cap {
		return
	}
	if now.Sub(b.swept) >= time.Second || now.Before(b.swept) {
		b.swept = now
		for k, e := range b.addrs {
			if b.left(e, now) >= b.max {
				delete(b.addrs, k)
			}
		}
	}
	for len(b.addrs) >= b.cap {
		victim, most, n := "", -1.0, 0
		for k, e := range b.addrs { // random order: a few of them
			if left := b.left(e, now); left > most {
				victim, most = k, left
			}
			if n++; n == 8 {
				break
			}
		}
		delete(b.addrs, victim)
	}
}

func (b *authBudget) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.addrs)
}

// budgetKey is the key of an address's budget: the address, or for IPv6
// its /64, which one host usually has whole.
func budgetKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is6() || a.Is4In6() {
		return addr
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}

// loopback is the default of Config.TrustedProxies.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// clientAddr returns the address of a request's client: the peer's, or,
// when the peer is a trusted proxy, the last address in X-Forwarded-For
// that is not a trusted proxy's.
func (h *Hub) clientAddr(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	addr := ap.Addr().Unmap()
	if !h.trustedProxy(addr) {
		return addr.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		a, err := netip.ParseAddr(hop)
		if err != nil {
			ap, perr := netip.ParseAddrPort(hop) // some proxies add the port
			if perr != nil {
				break // not an address: trust nothing further left
			}
			a = ap.Addr()
		}
		addr = a.Unmap()
		if !h.trustedProxy(addr) {
			break
		}
	}
	return addr.String()
}

func (h *Hub) trustedProxy(a netip.Addr) bool {
	for _, p := range h.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// signInWait returns how long addr must wait before it may try to sign in
// again (0: now), and counts and logs a refusal.
func (h *Hub) signInWait(kind, addr string) time.Duration {
	if h.auth == nil {
		return 0
	}
	d := h.auth.wait(budgetKey(addr))
	if d > 0 {
		h.ops.metrics.authThrottled.WithLabelValues(kind).Inc()
		h.logLimited(slog.LevelInfo, "sign-in refused", "hub: sign-in refused unchecked: too many failures from the address",
			"kind", kind, "addr", addr, "retryAfter", retrySeconds(d))
	}
	return d
}

// signInFailed counts, logs and charges a failed sign-in from addr; tried
// says what was tried, never with the secret itself.
func (h *Hub) signInFailed(kind, addr, tried string) {
	h.ops.metrics.authFailures.WithLabelValues(kind).Inc()
	h.logLimited(slog.LevelInfo, "sign-in failed", "hub: sign-in failed", "kind", kind, "addr", addr, "tried", tried)
	if h.auth != nil && h.auth.fail(budgetKey(addr)) {
		h.logLimited(slog.LevelWarn, "sign-in limit", "hub: too many failed sign-ins from an address; refusing its sign-ins for a while",
			"addr", addr, "failures", int(h.auth.max), "window", time.Duration(h.auth.max/h.auth.rate*float64(time.Second)))
	}
}

// retrySeconds is a wait in whole seconds, rounded up, for Retry-After.
func retrySeconds(d time.Duration) int { return int(max(1, math.Ceil(d.Seconds()))) }

// signInLimitError is what a refused sign-in is told.
func signInLimitError(d time.Duration) *tandem.Error {
	return tandem.Errorf(tandem.ELIMIT, "too many failed sign-ins from your address; try again in %d s", retrySeconds(d))
}

// tried describes a token for the log without showing it.
func triedToken(tok string) string {
	if tok == "" {
		return "no token"
	}
	return fmt.Sprintf("a token of %d characters", len(tok))
}

// serveHTTP serves the hub's routes; requests to the HTTP API that carry
// a token go through the sign-in limit.
func (h *Hub) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == RedeemPath || r.Header.Get("Authorization") == "" {
		h.mux.ServeHTTP(w, r)
		return
	}
	addr := h.clientAddr(r)
	if d := h.signInWait(signInHTTP, addr); d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(d)))
		opsJSON(w, http.StatusTooManyRequests, apiError{Error: signInLimitError(d)})
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	h.mux.ServeHTTP(sw, r)
	if sw.status == http.StatusUnauthorized {
		h.signInFailed(signInHTTP, addr, "a bearer token on "+r.Method+" "+clip(r.URL.Path))
	}
}

// statusWriter notes the status of an answer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ReadFrom keeps the connection's own ReadFrom (sendfile) for downloads.
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{w.ResponseWriter}, r)
}

func (w *statusWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
