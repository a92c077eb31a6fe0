// Package netguard keeps a hub's HTTP servers from holding connections
// that do nothing: keep-alive connections idle between requests, request
// bodies that stop arriving, and more connections from one source address
// than friends behind one NAT need. cmd/hub and the player's built-in hub
// serve every listener through one Guard.
//
// Request headers have their own limit (Config.HeaderTimeout, the TLS
// handshake included). A request body must keep arriving: each read waits
// at most Config.BodyTimeout for a byte, so a slow upload goes on as long
// as it makes progress, and a stalled one is cut off. Requests without a
// body (a long-polling GET, a WebSocket upgrade) are not limited here; a
// WebSocket, once upgraded, is left to the Engine.IO heartbeat.
package netguard

import (
	"cmp"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults.
const (
	// DefaultIdleTimeout is how long a keep-alive connection may wait for
	// its next request. A polling client's next request comes within the
	// Engine.IO ping interval (25 s).
	DefaultIdleTimeout = 60 * time.Second
	// DefaultHeaderTimeout is how long a request's headers, and a TLS
	// handshake, may take to arrive.
	DefaultHeaderTimeout = 10 * time.Second
	// DefaultBodyTimeout is how long a request body may deliver nothing
	// before the request is cut off.
	DefaultBodyTimeout = 30 * time.Second
	// DefaultMaxConnsPerIP bounds the connections open at once from one
	// source: an IPv4 address, or an IPv6 /64. A player holds one
	// connection, a few more while it uploads or downloads, so 128 lets
	// a few dozen friends in behind one NAT.
	DefaultMaxConnsPerIP = 128
	// refusalLogEvery spaces the log lines about refused connections, so
	// that a flood does not flood the log.
	refusalLogEvery = 10 * time.Second
)

// Config configures a Guard. Zero durations take the defaults above.
type Config struct {
	IdleTimeout   time.Duration
	HeaderTimeout time.Duration
	BodyTimeout   time.Duration
	// MaxConnsPerIP bounds the TCP connections open at once from one IPv4
	// address or IPv6 /64; 0 means no bound. A connection over it is
	// closed as soon as it is accepted.
	MaxConnsPerIP int
	// CapLoopback bounds loopback sources too. By default they are not
	// bounded: a reverse proxy on the same machine brings every friend
	// from 127.0.0.1.
	CapLoopback bool
	Logger      *slog.Logger
	// Now is the clock that spaces log lines; nil means time.Now.
	Now func() time.Time
}

// Guard applies a Config to listeners, handlers and servers, and counts
// what it refused.
type Guard struct {
	cfg      Config
	refused  atomic.Uint64
	stalls   atomic.Uint64
	openConn atomic.Int64

	mu     sync.Mutex // guards the following
	perSrc map[netip.Addr]int
	// The log of refusals: when the last line went out, and how many
	// refusals were not logged since.
	loggedAt time.Time
	unlogged uint64
}

// New returns a Guard.
func New(cfg Config) *Guard {
	cfg.IdleTimeout = cmp.Or(cfg.IdleTimeout, DefaultIdleTimeout)
	cfg.HeaderTimeout = cmp.Or(cfg.HeaderTimeout, DefaultHeaderTimeout)
	cfg.BodyTimeout = cmp.Or(cfg.BodyTimeout, DefaultBodyTimeout)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Guard{cfg: cfg, perSrc: map[netip.Addr]int{}}
}

// Refused returns how many connections were closed at once because their
// source had MaxConnsPerIP open.
func (g *Guard) Refused() uint64 { return g.refused.Load() }

// BodyStalls returns how many request bodies were cut off for delivering
// nothing for BodyTimeout.
func (g *Guard) BodyStalls() uint64 { return g.stalls.Load() }

// Open returns the TCP connections open now through the Guard's listeners.
func (g *Guard) Open() int { return int(g.openConn.Load()) }

// Server returns an http.Server for h with the Guard's timeouts, and h
// wrapped by Handler. errorLog may be nil.
func (g *Guard) Server(h http.Handler, errorLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           g.Handler(h),
		ReadHeaderTimeout: g.cfg.HeaderTimeout,
		IdleTimeout:       g.cfg.IdleTimeout,
		ErrorLog:          errorLog,
	}
}

// Handler gives each request body that h reads a deadline that moves with
// progress: a read that gets nothing for BodyTimeout fails, and the
// connection is closed. Requests without a body pass as they are.
func (g *Guard) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			h.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		// Set now, so that a body the handler leaves unread is bounded
		// too while net/http discards it after the handler.
		if err := rc.SetReadDeadline(time.Now().Add(g.cfg.BodyTimeout)); err != nil {
			h.ServeHTTP(w, r) // a ResponseWriter without deadlines
			return
		}
		// A shallow copy, as WithContext makes: net/http keeps looking at
		// its own request's body after the handler.
		r2 := r.WithContext(r.Context())
		r2.Body = &body{ReadCloser: r.Body, rc: rc, g: g, remote: r.RemoteAddr, path: r.URL.Path}
		h.ServeHTTP(w, r2)
	})
}

// body is a request body whose reads move its connection's read deadline.
// Only the handler's goroutine reads it.
type body struct {
	io.ReadCloser
	rc           *http.ResponseController
	g            *Guard
	remote, path string
	done         bool // EOF or an error: the deadline is left as it is
}

func (b *body) Read(p []byte) (int, error) {
	if b.done {
		return b.ReadCloser.Read(p)
	}
	_ = b.rc.SetReadDeadline(time.Now().Add(b.g.cfg.BodyTimeout))
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		// net/http now reads the connection in the background, to see
		// the client go; that read must not time out while the handler
		// works.
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	case errors.Is(err, os.ErrDeadlineExceeded):
		b.done = true
		b.g.stalls.Add(1)
		b.g.cfg.Logger.Debug("request body stalled; cut off", "remote", b.remote, "path", b.path, "timeout", b.g.cfg.BodyTimeout)
	case err != nil:
		b.done = true
	}
	return n, err
}

// Listener returns ln counting the connections open from each source, and
// closing those over MaxConnsPerIP as soon as they are accepted. Accept
// errors are returned as they are, so that http.Server backs off on
// temporary ones, such as running out of file descriptors.
func (g *Guard) Listener(ln net.Listener) net.Listener { return &listener{Listener: ln, g: g} }

type listener struct {
	net.Listener
	g *Guard
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc, ok := c.(*net.TCPConn)
		if !ok {
			return c, nil // unix sockets and the like: nothing to count
		}
		src, capped := l.g.source(tc)
		if !l.g.admit(src, capped) {
			_ = tc.SetLinger(0) // reset: keep no TIME_WAIT for a flood
			_ = tc.Close()
			continue
		}
		l.g.openConn.Add(1)
		return &conn{TCPConn: tc, g: l.g, src: src, capped: capped}, nil
	}
}

// source returns the key a connection counts under, and whether it is
// bounded at all.
func (g *Guard) source(c *net.TCPConn) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}, false
	}
	a := sourceKey(ap.Addr())
	return a, g.cfg.MaxConnsPerIP > 0 && (g.cfg.CapLoopback || !a.IsLoopback())
}

// sourceKey is an IPv4 address as it is, and an IPv6 address's /64: one
// household or host usually gets a whole /64.
func sourceKey(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// admit counts a new connection from src, or refuses it when src has
// MaxConnsPerIP open.
func (g *Guard) admit(src netip.Addr, capped bool) bool {
	if !capped {
		return true
	}
	g.mu.Lock()
	n := g.perSrc[src]
	if n < g.cfg.MaxConnsPerIP {
		g.perSrc[src] = n + 1
		g.mu.Unlock()
		return true
	}
	g.refused.Add(1)
	now := g.cfg.Now()
	logIt := g.loggedAt.IsZero() || now.Sub(g.loggedAt) >= refusalLogEvery
	unlogged := g.unlogged
	if logIt {
		g.loggedAt, g.unlogged = now, 0
	} else {
		g.unlogged++
	}
	g.mu.Unlock()
	if logIt {
		g.cfg.Logger.Warn("too many connections from one address; refusing more",
			"source", src.String(), "max", g.cfg.MaxConnsPerIP, "refused_total", g.refused.Load(), "unlogged", unlogged)
	}
	return false
}

// release uncounts a connection from src.
func (g *Guard) release(src netip.Addr, capped bool) {
	g.openConn.Add(-1)
	if !capped {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := g.perSrc[src]; n > 1 {
		g.perSrc[src] = n - 1
	} else {
		delete(g.perSrc, src)
	}
}

// conn is an accepted TCP connection, uncounted when it closes. It embeds
// *net.TCPConn so that what net/http and the Engine.IO server look for
// (SyscallConn, CloseRead, ReadFrom) stays in reach.
type conn struct {
	*net.TCPConn
	g      *Guard
	src    netip.Addr
	capped bool
	once   sync.Once
}

func (c *conn) Close() error {
	err := c.TCPConn.Close()
	c.once.Do(func() { c.g.release(c.src, c.capped) })
	return err
}
