package engineio

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Options configure a Server. Zero values take the reference server's
// defaults.
type Options struct {
	PingInterval time.Duration // default 25 s
	PingTimeout  time.Duration // default 20 s
	MaxPayload   int64         // bytes per message; default 1e6
	// CheckOrigin decides whether a WebSocket request's Origin is allowed.
	// nil allows requests with no Origin header and same-host origins.
	CheckOrigin func(r *http.Request) bool
	// AllowRequest, when set, may refuse a request before the handshake.
	AllowRequest func(r *http.Request) error
}

func (o Options) withDefaults() Options {
	if o.PingInterval <= 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = DefaultPingTimeout
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = DefaultMaxPayload
	}
	return o
}

// Server accepts Engine.IO connections. It is an http.Handler, usually
// mounted at /socket.io/.
type Server struct {
	opts     Options
	log      *slog.Logger
	accept   func(*Conn) Handler
	upgrader websocket.Upgrader

	mu     sync.Mutex // guards the following
	conns  map[string]*Conn
	closed bool
}

// NewServer returns a server. accept is called for each new connection,
// before any message is read, and returns the connection's handler.
func NewServer(opts Options, log *slog.Logger, accept func(*Conn) Handler) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts = opts.withDefaults()
	s := &Server{opts: opts, log: log, accept: accept, conns: map[string]*Conn{}}
	s.upgrader = websocket.Upgrader{
		ReadBufferSize:  4096,
		WriteBufferSize: 4096,
		CheckOrigin:     opts.CheckOrigin,
	}
	return s
}

// Options returns the server's options, with defaults filled in.
func (s *Server) Options() Options { return s.opts }

// httpError writes the Engine.IO error body with status 400 (or 403).
func httpError(w http.ResponseWriter, status, code int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, errorMessage(code)})
}

// ServeHTTP handles the Engine.IO handshake.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("EIO") != Protocol {
		httpError(w, http.StatusBadRequest, codeUnsupportedVersion)
		return
	}
	switch q.Get("transport") {
	case "websocket":
	default:
		httpError(w, http.StatusBadRequest, codeTransportUnknown)
		return
	}
	if q.Get("sid") != "" {
		// Upgrades from polling arrive with a sid; polling is not served yet.
		httpError(w, http.StatusBadRequest, codeUnknownSID)
		return
	}
	if r.Method != http.MethodGet || !websocket.IsWebSocketUpgrade(r) {
		httpError(w, http.StatusBadRequest, codeBadHandshakeMethod)
		return
	}
	if s.opts.AllowRequest != nil {
		if err := s.opts.AllowRequest(r); err != nil {
			s.log.Info("engineio: request refused", "remote", r.RemoteAddr, "err", err)
			httpError(w, http.StatusForbidden, codeForbidden)
			return
		}
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// Upgrade has already answered with an HTTP error.
		s.log.Info("engineio: websocket upgrade", "remote", r.RemoteAddr, "err", err)
		return
	}
	ws.SetReadLimit(s.opts.MaxPayload + 1) // + the packet type byte
	h := handshake{
		SID:          newSID(),
		Upgrades:     []string{},
		PingInterval: s.opts.PingInterval.Milliseconds(),
		PingTimeout:  s.opts.PingTimeout.Milliseconds(),
		MaxPayload:   s.opts.MaxPayload,
	}
	c := newConn(h.SID, ws, true, h, s.log)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ReasonServerClose), time.Now().Add(time.Second))
		ws.Close()
		return
	}
	s.conns[c.id] = c
	s.mu.Unlock()
	// The open packet goes first, before anything the handler queues.
	c.send <- frame{data: encodeOpen(h)}
	handler := s.accept(c)
	c.start(&serverHandler{Handler: handler, s: s, c: c})
}

// serverHandler forgets a connection when it closes.
type serverHandler struct {
	Handler
	s *Server
	c *Conn
}

func (h *serverHandler) OnClose(reason string) {
	h.s.mu.Lock()
	delete(h.s.conns, h.c.id)
	h.s.mu.Unlock()
	h.Handler.OnClose(reason)
}

// Len returns the number of open connections.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close closes every connection, refuses new ones and waits for the
// connections' goroutines to exit.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	conns := make([]*Conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.closeWith(ReasonServerClose)
	}
	for _, c := range conns {
		c.Wait()
	}
	return nil
}

// newSID returns a random session id.
func newSID() string {
	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(errors.Join(errors.New("engineio: crypto/rand failed"), err))
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}
