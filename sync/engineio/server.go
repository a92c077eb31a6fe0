package engineio

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Transport names.
const (
	Polling   = "polling"
	WebSocket = "websocket"
)

// DefaultUpgradeTimeout is how long a WebSocket may take to finish an
// upgrade from polling.
const DefaultUpgradeTimeout = 10 * time.Second

// Options configure a Server. Zero values take the reference server's
// defaults.
type Options struct {
	PingInterval   time.Duration // default 25 s
	PingTimeout    time.Duration // default 20 s
	MaxPayload     int64         // bytes per message or polling payload; default 1e6
	UpgradeTimeout time.Duration // default 10 s
	// SendQueue is how many packets may wait for a slow peer before it is
	// disconnected; default 1024.
	SendQueue int
	// Transports lists the transports served; default polling and websocket.
	Transports []string
	// AllowedOrigins lists the origins (scheme://host[:port]) that may
	// connect from a browser; "*" allows every origin. Allowed origins get
	// CORS headers on polling. A request with an Origin header outside the
	// list is refused with 403; with an empty list, only same-host origins
	// are allowed.
	AllowedOrigins []string
	// AllowRequest, when set, may refuse a request before the handshake.
	AllowRequest func(r *http.Request) error
	// ClientAddr, when set, names the client of each new connection from
	// its handshake request (its address, say); Conn.ClientAddr returns
	// it.
	ClientAddr func(r *http.Request) string
	// GoroutineReads reads each WebSocket on a goroutine of its own, as
	// on systems other than Linux. By default, on Linux, one readiness
	// loop (epoll) reads every WebSocket of the server, and an idle
	// connection holds no goroutine and no read buffer. TLS connections
	// served by net/http are always read by a goroutine.
	GoroutineReads bool
	// ReadWorkers bounds how many connections the readiness loop reads,
	// and hands messages from, at once; default 8 per CPU, at least 16.
	// A handler that blocks holds one of them.
	ReadWorkers int
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
	if o.UpgradeTimeout <= 0 {
		o.UpgradeTimeout = DefaultUpgradeTimeout
	}
	if o.SendQueue <= 0 {
		o.SendQueue = defaultSendQueue
	}
	if len(o.Transports) == 0 {
		o.Transports = []string{Polling, WebSocket}
	}
	if o.ReadWorkers <= 0 {
		o.ReadWorkers = max(16, 8*runtime.GOMAXPROCS(0))
	}
	return o
}

// Server accepts Engine.IO connections. It is an http.Handler, usually
// mounted at /socket.io/ or /engine.io/.
type Server struct {
	opts   Options
	log    *slog.Logger
	accept func(*Conn) Handler
	// frameBufs lends *[]byte buffers to the writes that do not block.
	frameBufs sync.Pool

	mu     sync.Mutex // guards the following
	conns  map[string]*Conn
	late   map[string]*Conn // sessions their clients closed, kept briefly for one late GET
	closed bool
	poll   *poller // the readiness loop, started with the first WebSocket it reads
	noPoll bool    // the loop could not start; goroutines read
}

// NewServer returns a server. accept is called for each new connection,
// before any message is read, and returns the connection's handler.
func NewServer(opts Options, log *slog.Logger, accept func(*Conn) Handler) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts = opts.withDefaults()
	s := &Server{opts: opts, log: log, accept: accept, conns: map[string]*Conn{}, late: map[string]*Conn{}}
	s.frameBufs.New = func() any { b := make([]byte, 0, inlineWriteMax); return &b }
	if !pollSupported || opts.GoroutineReads {
		s.noPoll = true
	}
	return s
}

// poller returns the readiness loop, starting it if needed, or nil when
// goroutines read.
func (s *Server) poller() *poller {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.noPoll || s.closed {
		return nil
	}
	if s.poll == nil {
		p, err := newPoller(s.log, s.opts.ReadWorkers)
		if err != nil {
			s.log.Warn("engineio: readiness loop unavailable; a goroutine reads each WebSocket", "err", err)
			s.noPoll = true
			return nil
		}
		s.poll = p
	}
	return s.poll
}

// readWebSocket starts reading a WebSocket of c, the transport or a probe
// that may become it: the readiness loop reads it when it can, else a
// goroutine.
func (s *Server) readWebSocket(c *Conn, ws *serverWS, probing bool) {
	if p := s.poller(); p != nil {
		err := p.watch(c, ws, s.opts.MaxPayload+1, probing, s.opts.UpgradeTimeout)
		if err == nil {
			return
		}
		s.log.Debug("engineio: websocket not pollable; a goroutine reads it", "sid", c.id, "err", err)
	}
	d := &wsDispatch{c: c, ws: ws}
	d.frames.limit = s.opts.MaxPayload + 1 // + the packet type byte
	if probing {
		d.startProbe(s.opts.UpgradeTimeout)
	}
	c.exited.Add(1)
	go func() {
		defer c.exited.Done()
		d.readLoop()
	}()
}

// Options returns the server's options, with defaults filled in.
func (s *Server) Options() Options { return s.opts }

// httpError writes the Engine.IO error body.
func httpError(w http.ResponseWriter, status, code int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, errorMessage(code)})
}

// originAllowed applies the allow-list to a request's Origin header.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if len(s.opts.AllowedOrigins) == 0 {
		// Same host only.
		_, host, _ := strings.Cut(origin, "://")
		return strings.EqualFold(host, r.Host)
	}
	return slices.Contains(s.opts.AllowedOrigins, "*") || slices.Contains(s.opts.AllowedOrigins, origin)
}

// ServeHTTP serves the Engine.IO endpoint: the handshake, polling GETs and
// POSTs, and WebSockets, new or upgrading from polling.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.originAllowed(r) {
		httpError(w, http.StatusForbidden, codeForbidden)
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Add("Vary", "Origin")
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET, POST")
			h.Set("Access-Control-Allow-Headers", "Content-Type")
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	q := r.URL.Query()
	if q.Get("EIO") != Protocol {
		httpError(w, http.StatusBadRequest, codeUnsupportedVersion)
		return
	}
	transport := q.Get("transport")
	if !slices.Contains(s.opts.Transports, transport) {
		httpError(w, http.StatusBadRequest, codeTransportUnknown)
		return
	}
	if sid := q.Get("sid"); sid != "" {
		s.mu.Lock()
		c := s.conns[sid]
		if c == nil {
			c = s.late[sid]
		}
		s.mu.Unlock()
		if c != nil && c.overdue() && transport == Polling && r.Method == http.MethodGet && c.takeLateGET() {
			// The GET the client sent with its close packet.
			w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
			_, _ = w.Write(encodePayload([]packet{{typ: typeNoop}}))
			return
		}
		if c == nil || c.overdue() {
			httpError(w, http.StatusBadRequest, codeUnknownSID)
			return
		}
		switch {
		case transport == WebSocket:
			s.upgrade(w, r, c)
		case r.Method == http.MethodGet:
			c.pollGET(w, r)
		case r.Method == http.MethodPost:
			c.pollPOST(w, r, s.opts.MaxPayload)
		default:
			httpError(w, http.StatusBadRequest, codeBadHandshakeMethod)
		}
		return
	}
	if r.Method != http.MethodGet || (transport == WebSocket && !websocket.IsWebSocketUpgrade(r)) {
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
	s.handshake(w, r, transport)
}

func (s *Server) handshake(w http.ResponseWriter, r *http.Request, transport string) {
	var ws *serverWS
	if transport == WebSocket {
		var err error
		if ws, err = acceptWebSocket(w, r, &s.frameBufs); err != nil {
			// acceptWebSocket has already answered with an HTTP error.
			s.log.Info("engineio: websocket upgrade", "remote", r.RemoteAddr, "err", err)
			return
		}
	}
	h := handshake{
		SID:          newSID(),
		Upgrades:     []string{},
		PingInterval: s.opts.PingInterval.Milliseconds(),
		PingTimeout:  s.opts.PingTimeout.Milliseconds(),
		MaxPayload:   s.opts.MaxPayload,
	}
	if transport == Polling && slices.Contains(s.opts.Transports, WebSocket) {
		h.Upgrades = []string{WebSocket}
	}
	c := newConn(h.SID, true, h, s.log)
	c.maxQueue = s.opts.SendQueue
	if s.opts.ClientAddr != nil {
		c.clientAddr = s.opts.ClientAddr(r)
	}
	if ws != nil {
		c.wake = nil // only polling GETs wait for it; signal skips a nil channel
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		if ws != nil {
			_ = ws.writeClose(closeGoingAway, ReasonServerClose, time.Now().Add(time.Second))
			ws.close()
		} else {
			httpError(w, http.StatusServiceUnavailable, codeBadRequest)
		}
		return
	}
	s.conns[c.id] = c
	s.mu.Unlock()
	// The open packet goes first, before anything the handler queues.
	c.queue = append(c.queue, packet{typ: typeOpen, data: encodeOpen(h)[1:]})
	handler := s.accept(c)
	c.start(&serverHandler{Handler: handler, s: s, c: c})
	if ws != nil {
		c.mu.Lock()
		c.setWebSocketLocked(ws)
		c.mu.Unlock()
		s.readWebSocket(c, ws, false)
		c.signal()
		return
	}
	c.pollGET(w, r)
}

// serverHandler forgets a connection when it closes.
type serverHandler struct {
	Handler
	s *Server
	c *Conn
}

func (h *serverHandler) OnClose(reason string) {
	h.c.mu.Lock()
	late := h.c.lateGET
	h.c.mu.Unlock()
	h.s.mu.Lock()
	delete(h.s.conns, h.c.id)
	if late && !h.s.closed {
		// Keep the session's id known a little longer for its late GET
		// (see pollingCloseLocked); it answers nothing else.
		h.s.late[h.c.id] = h.c
		time.AfterFunc(lateGETGrace, func() {
			h.s.mu.Lock()
			delete(h.s.late, h.c.id)
			h.s.mu.Unlock()
		})
	}
	h.s.mu.Unlock()
	h.Handler.OnClose(reason)
}

// lateGETGrace is how long a session closed by its client stays known for
// the GET it may have sent with its close packet.
const lateGETGrace = 2 * time.Second

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
	s.mu.Lock()
	p := s.poll
	s.mu.Unlock()
	if p != nil {
		p.close() // waits for the loop's workers, which hand messages over
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

// pollGET answers a polling GET with everything queued, waiting for
// something to send. A second GET while one waits is an error that closes
// the session; the waiting one gets the close packet.
func (c *Conn) pollGET(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	if c.ws != nil {
		c.mu.Unlock()
		httpError(w, http.StatusBadRequest, codeBadRequest)
		return
	}
	if c.getBusy {
		if !c.closed {
			c.queueCloseLocked()
		}
		c.mu.Unlock()
		c.closeWith(ReasonOverlap)
		httpError(w, http.StatusBadRequest, codeBadRequest)
		return
	}
	c.getBusy = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.getBusy = false
		c.mu.Unlock()
	}()
	noop := []packet{{typ: typeNoop}}
	var hold <-chan time.Time
	for {
		var ps []packet
		c.mu.Lock()
		upgraded, upgrading := c.ws != nil, c.upgrading
		switch {
		case upgraded:
		case upgrading:
			// Hold the GET briefly, as the reference server does, so that
			// an upgrade completing meanwhile answers it 400; else a noop.
			if hold == nil {
				hold = time.After(upgradeHold)
			}
		case len(c.queue) > 0:
			ps, c.queue = c.queue, nil
		case c.closed:
			ps = noop
		}
		c.mu.Unlock()
		if upgraded {
			httpError(w, http.StatusBadRequest, codeBadRequest)
			return
		}
		if ps != nil {
			w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
			_, _ = w.Write(encodePayload(ps))
			return
		}
		select {
		case <-c.wake:
		case <-c.done:
		case <-hold:
			w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
			_, _ = w.Write(encodePayload(noop))
			return
		case <-r.Context().Done():
			return
		}
	}
}

// upgradeHold is how long a polling GET waits during an upgrade before it
// is answered with a noop.
const upgradeHold = 100 * time.Millisecond

// pollPOST delivers the packets of a polling POST and answers "ok".
func (c *Conn) pollPOST(w http.ResponseWriter, r *http.Request, maxPayload int64) {
	if c.Transport() == WebSocket {
		httpError(w, http.StatusBadRequest, codeBadRequest)
		return
	}
	tooLarge := func() {
		c.log.Info("engineio: polling payload over maxPayload; closing", "sid", c.id, "max", maxPayload, "declared", r.ContentLength)
		c.closeWith(ReasonPayloadTooLarge)
		w.Header().Set("Connection", "close") // the body is not read
		httpError(w, http.StatusRequestEntityTooLarge, codeBadRequest)
	}
	if r.ContentLength > maxPayload {
		// Answered before reading: with "Expect: 100-continue" the
		// client sends nothing more.
		tooLarge()
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPayload))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			tooLarge()
			return
		}
		c.closeWith(ReasonTransportError)
		httpError(w, http.StatusBadRequest, codeBadRequest)
		return
	}
	ps, err := decodePayload(body)
	if err == nil {
		for _, p := range ps {
			if p.typ == typeOpen || p.typ == typeUpgrade {
				err = errPacket
			}
		}
	}
	if err != nil {
		c.log.Debug("engineio: bad polling payload; closing", "sid", c.id, "err", err)
		c.closeWith(ReasonParseError)
		httpError(w, http.StatusBadRequest, codeBadRequest)
		return
	}
	for _, p := range ps {
		c.receive(p)
	}
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	_, _ = w.Write([]byte("ok"))
}

// upgrade takes a WebSocket that probes a polling session: "2probe" is
// answered "3probe", polling then gets only noops, and "5" makes the
// WebSocket the transport. A session already upgraded or upgrading refuses
// another WebSocket.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, c *Conn) {
	c.mu.Lock()
	busy := c.ws != nil || c.probing || c.closed
	probeEnd := c.probeEnd // while another WebSocket probes
	if !busy {
		c.startProbeLocked()
	}
	c.mu.Unlock()
	if r.Method != http.MethodGet || !websocket.IsWebSocketUpgrade(r) {
		httpError(w, http.StatusBadRequest, codeBadRequest)
		if !busy {
			c.mu.Lock()
			c.endProbeLocked()
			c.mu.Unlock()
		}
		return
	}
	if busy {
		if probeEnd != nil {
			// Let the probe under way settle first, so that what its
			// client sent before this WebSocket came is answered first.
			t := time.NewTimer(s.opts.UpgradeTimeout)
			select {
			case <-probeEnd:
			case <-c.done:
			case <-r.Context().Done():
			case <-t.C:
			}
			t.Stop()
		}
		// Accept, then close at once: WebSocket clients take a refused
		// handshake as an error, and a close as the answer.
		if ws, err := acceptWebSocket(w, r, &s.frameBufs); err == nil {
			_ = ws.writeClose(closePolicyViolation, "session already upgraded", time.Now().Add(time.Second))
			ws.close()
		}
		return
	}
	ws, err := acceptWebSocket(w, r, &s.frameBufs)
	if err != nil {
		c.mu.Lock()
		c.endProbeLocked()
		c.mu.Unlock()
		return
	}
	c.mu.Lock()
	closed := c.closed
	if !closed {
		c.probeWS = ws
	}
	c.mu.Unlock()
	if closed {
		c.probeFailed(ws)
		return
	}
	s.readWebSocket(c, ws, true)
}

// probeMessage handles one message of a WebSocket that probes a polling
// session. It reports whether the probe goes on, and whether "5" has just
// made ws the transport.
func (c *Conn) probeMessage(ws *serverWS, binary bool, data []byte) (more, upgraded bool) {
	if binary {
		return false, false
	}
	switch string(data) {
	case "2probe":
		if ws.writePackets([]packet{{typ: typePong, data: []byte("probe")}}, time.Now().Add(writeWait)) != nil {
			return false, false
		}
		c.mu.Lock()
		c.upgrading = true
		c.mu.Unlock()
		c.signal() // a waiting GET answers a noop
		return true, false
	case "5":
		c.mu.Lock()
		ready := c.upgrading && !c.closed && c.probeWS == ws
		if ready {
			c.setWebSocketLocked(ws)
		}
		c.mu.Unlock()
		if ready {
			c.signal()
		}
		return false, ready
	default:
		return false, false
	}
}

// probeFailed gives up a probe that has not upgraded the session.
func (c *Conn) probeFailed(ws *serverWS) {
	ws.close()
	c.mu.Lock()
	if c.probeWS == ws {
		c.probeWS = nil
	}
	c.endProbeLocked()
	c.upgrading = false
	c.mu.Unlock()
	c.signal()
}
