package socketio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"tandem/sync/engineio"
)

// Defaults.
const (
	// DefaultConnectTimeout is how long a new connection may take to join
	// a namespace before it is closed.
	DefaultConnectTimeout = 45 * time.Second
	// DefaultMaxDisconnectionDuration is how long a session and the
	// broadcasts it may miss are kept for connection state recovery.
	DefaultMaxDisconnectionDuration = 2 * time.Minute
	// DefaultMaxPackets bounds each namespace's buffer of broadcasts kept
	// for recovery (packets).
	DefaultMaxPackets = 10_000
)

// Options configure a Server.
type Options struct {
	Engine         engineio.Options
	ConnectTimeout time.Duration // default 45 s
	Logger         *slog.Logger
	// Recovery turns connection state recovery on when not nil; see
	// RecoveryOptions and docs/PROTOCOL.md ("Connection state recovery").
	Recovery *RecoveryOptions
	// Adapter makes each namespace's adapter; nil means NewMemoryAdapter.
	Adapter func(AdapterConfig) Adapter
	// CleanupEmptyChildren drops a dynamic namespace when its last socket
	// leaves (with any sessions kept for its recovery); a later connection
	// creates it anew. Without it, children stay until Close.
	CleanupEmptyChildren bool
	// Now is the clock of recovery's expiry; nil means time.Now.
	Now func() time.Time
	// ClientAddr, when set, names the client of each new connection from
	// its handshake request (its address, say, for a limit on failed
	// sign-ins); Socket.ClientAddr returns it. Without it, ClientAddr is
	// "".
	ClientAddr func(r *http.Request) string
}

// RecoveryOptions configure connection state recovery.
//
// With recovery on, the server gives each socket a private session id
// (pid, sent in CONNECT next to sid) and appends an offset, a string, as
// the last argument of every broadcast event that is neither volatile nor
// waiting for acks. When a socket's connection is lost (not when either
// side disconnects it from its namespace), its session is kept for
// MaxDisconnectionDuration. A client that reconnects in time with
// {"pid": ..., "offset": <last offset it received>} in its CONNECT auth
// gets its socket id, rooms and Set values back, and the broadcasts it
// missed are sent again, in order, right after CONNECT. The Go Client does
// this by itself. What cannot be recovered is listed in docs/PROTOCOL.md,
// under "Connection state recovery".
type RecoveryOptions struct {
	MaxDisconnectionDuration time.Duration // default 2 min
	// SkipMiddlewares lets a recovered socket in without running the
	// namespace's middleware again. By default middleware runs, so a
	// revoked token cannot come back through recovery.
	SkipMiddlewares bool
	MaxPackets      int // per namespace; default DefaultMaxPackets
}

// Middleware runs when a client joins a namespace, with its auth payload
// (nil when none was sent). An error refuses the connection: the client gets
// CONNECT_ERROR with the error's message, and with Data when the error is a
// *ConnectError.
type Middleware func(s *Socket, auth json.RawMessage) error

// ConnectError is the payload of CONNECT_ERROR.
type ConnectError struct {
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

// Error implements error.
func (e *ConnectError) Error() string { return "socketio: connect refused: " + e.Message }

// EventHandler handles an event. args are the event's arguments, byte for
// byte as sent (binary attachments as inline placeholders, see Binary).
// ack is nil unless the sender asked for an acknowledgement; calling it more
// than once sends only the first.
type EventHandler func(args []json.RawMessage, ack AckFunc)

// AckFunc answers an event with arguments. []byte arguments become binary
// attachments.
type AckFunc func(args ...any) error

// Server is a Socket.IO server. It is an http.Handler for /socket.io/.
type Server struct {
	eio             *engineio.Server
	log             *slog.Logger
	connectTimeout  time.Duration
	recovery        *RecoveryOptions // nil: off
	newAdapter      func(AdapterConfig) Adapter
	cleanupChildren bool
	now             func() time.Time
	closing         atomic.Bool
	// Limits on what a connecting socket queues at once, below the
	// Engine.IO send queue, which would disconnect the client: half of it
	// for the missed packets a recovery replays, three quarters for those
	// and the broadcasts held during middleware (messages).
	replayLimit, holdLimit int

	mu      sync.RWMutex // guards the following
	nsps    map[string]*Namespace
	parents []*ParentNamespace
}

// NewServer returns a server with the main namespace "/" already defined.
func NewServer(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.Adapter == nil {
		opts.Adapter = NewMemoryAdapter
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{log: opts.Logger, connectTimeout: opts.ConnectTimeout, newAdapter: opts.Adapter,
		cleanupChildren: opts.CleanupEmptyChildren, now: opts.Now, nsps: map[string]*Namespace{}}
	if opts.Recovery != nil {
		r := *opts.Recovery
		if r.MaxDisconnectionDuration <= 0 {
			r.MaxDisconnectionDuration = DefaultMaxDisconnectionDuration
		}
		if r.MaxPackets <= 0 {
			r.MaxPackets = DefaultMaxPackets
		}
		s.recovery = &r
	}
	if opts.ClientAddr != nil {
		opts.Engine.ClientAddr = opts.ClientAddr
	}
	s.eio = engineio.NewServer(opts.Engine, opts.Logger, s.accept)
	q := s.eio.Options().SendQueue
	s.replayLimit, s.holdLimit = q/2, q*3/4
	s.Of("/")
	return s
}

// ServeHTTP serves the Engine.IO endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.eio.ServeHTTP(w, r) }

// Of returns the namespace with the given name, creating it if needed. A
// name without a leading slash gets one.
func (s *Server) Of(name string) *Namespace {
	if name == "" || name[0] != '/' {
		name = "/" + name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nsps[name]
	if !ok {
		n = s.newNamespace(name, nil)
		s.nsps[name] = n
	}
	return n
}

// namespaceFor finds the namespace a CONNECT asks for: a static one or an
// existing child, else a new child of the first parent that matches.
func (s *Server) namespaceFor(name string, auth json.RawMessage) *Namespace {
	s.mu.RLock()
	n := s.nsps[name]
	parents := s.parents
	s.mu.RUnlock()
	if n != nil {
		return n
	}
	for _, p := range parents {
		if p.match(name, auth) {
			return p.child(name)
		}
	}
	return nil
}

// Close disconnects every client and waits for their connections to end.
// Sessions are not kept for recovery.
func (s *Server) Close() error {
	s.closing.Store(true)
	err := s.eio.Close()
	s.mu.RLock()
	nsps := make([]*Namespace, 0, len(s.nsps))
	for _, n := range s.nsps {
		nsps = append(nsps, n)
	}
	s.mu.RUnlock()
	for _, n := range nsps {
		err = errors.Join(err, n.adapter.Close())
	}
	return err
}

// accept makes the session for a new Engine.IO connection.
func (s *Server) accept(c *engineio.Conn) engineio.Handler {
	ss := &session{srv: s, conn: c, log: s.log, addr: c.ClientAddr()}
	ss.connectTimer = time.AfterFunc(s.connectTimeout, func() {
		ss.mu.Lock()
		n := len(ss.sockets)
		ss.mu.Unlock()
		if n == 0 {
			ss.log.Info("socketio: no namespace joined in time; closing", "eio", ss.conn.ID())
			c.Close()
		}
	})
	return ss
}

// session is the Socket.IO state of one Engine.IO connection. Engine.IO
// calls its OnMessage and OnClose one at a time.
type session struct {
	srv          *Server
	conn         *engineio.Conn
	addr         string // Options.ClientAddr of the handshake
	log          *slog.Logger
	connectTimer *time.Timer
	dec          reassembler // used by OnMessage only
	sendMu       sync.Mutex  // keeps each packet's messages together
	forceBusy    bool        // guarded by sendMu: busy reports true (tests)
	mu           sync.Mutex  // guards sockets and connectTimer
	// sockets are the session's sockets, one per namespace joined: a
	// slice, as a session rarely joins more than one or two.
	sockets []*Socket
}

// socketLocked returns the session's socket in namespace nsp, or nil;
// ss.mu must be held.
func (ss *session) socketLocked(nsp string) *Socket {
	for _, s := range ss.sockets {
		if s.nsp.name == nsp {
			return s
		}
	}
	return nil
}

// busy reports whether messages are queued that the transport has not
// taken; volatile packets are dropped then. ss.sendMu must be held.
func (ss *session) busy() bool { return ss.forceBusy || ss.conn.Buffered() > 0 }

// write queues an encoded packet's messages, together. A volatile packet
// is dropped when the connection is busy. It reports whether the packet
// was queued.
func (ss *session) write(p EncodedPacket, volatile bool) bool {
	ss.sendMu.Lock()
	defer ss.sendMu.Unlock()
	if volatile && ss.busy() {
		return false
	}
	if ss.conn.Send(p.Text, false) != nil {
		return false
	}
	for _, b := range p.Attachments {
		if ss.conn.Send(b, true) != nil {
			return false
		}
	}
	return true
}

func (ss *session) writePacket(p Packet) { ss.write(EncodedPacket{Text: p.Encode()}, false) }

func (ss *session) OnMessage(data []byte, binary bool) {
	p, ok, err := ss.dec.add(data, binary)
	if err != nil {
		ss.log.Info("socketio: closing on bad packet", "eio", ss.conn.ID(), "err", err)
		ss.conn.Close()
		return
	}
	if !ok {
		return
	}
	ss.mu.Lock()
	sock := ss.socketLocked(p.Namespace)
	ss.mu.Unlock()
	switch p.Type {
	case PacketConnect:
		ss.connect(p)
	case PacketDisconnect:
		if sock != nil {
			sock.close(reasonClientDisconnect, false)
		}
	case PacketEvent, PacketBinaryEvent:
		name, args, err := splitEvent(p.Data)
		if err == nil && reservedEvent(name) {
			err = fmt.Errorf("%w: reserved event name %q", ErrParse, name)
		}
		if err != nil {
			ss.log.Info("socketio: closing on bad event", "eio", ss.conn.ID(), "err", err)
			ss.conn.Close()
			return
		}
		if sock == nil {
			ss.log.Debug("socketio: event for a namespace not joined", "eio", ss.conn.ID(), "nsp", p.Namespace)
			return
		}
		sock.dispatch(name, args, p)
	case PacketAck, PacketBinaryAck:
		args, err := splitArray(p.Data)
		if err != nil {
			ss.conn.Close()
			return
		}
		if sock != nil {
			sock.ackReceived(p.ID, args)
		}
	default:
		ss.log.Info("socketio: closing on unexpected packet", "eio", ss.conn.ID(), "type", p.Type)
		ss.conn.Close()
	}
}

// recoveryAuth is what a client that wants its session back adds to its
// CONNECT auth.
type recoveryAuth struct {
	PID    string `json:"pid"`
	Offset string `json:"offset"`
}

func (ss *session) connect(p Packet) {
	ss.mu.Lock()
	dup := ss.socketLocked(p.Namespace) != nil
	ss.mu.Unlock()
	if dup {
		ss.log.Debug("socketio: duplicate CONNECT ignored", "eio", ss.conn.ID(), "nsp", p.Namespace)
		return
	}
	var ra recoveryAuth
	if ss.srv.recovery != nil && len(p.Data) > 0 {
		_ = json.Unmarshal(p.Data, &ra) // a payload of other types simply has no pid
	}
	var sock *Socket
	// A dynamic namespace may be dropped between lookup and registration;
	// then look it up again.
	for range 3 {
		n := ss.srv.namespaceFor(p.Namespace, p.Data)
		if n == nil {
			break
		}
		s := newSocket(n, ss, p.Data)
		if ra.PID != "" && n.restore(s, ra.PID, ra.Offset) {
			sock = s
			break
		}
		s.start = n.adapter.Offset()
		if n.add(s) {
			sock = s
			break
		}
	}
	if sock == nil {
		ss.connectError(p.Namespace, &ConnectError{Message: "Invalid namespace"})
		return
	}
	n := sock.nsp
	if skip := sock.recovered && ss.srv.recovery.SkipMiddlewares; !skip {
		for _, mw := range n.middlewares() {
			if err := mw(sock, p.Data); err != nil {
				var ce *ConnectError
				if !errors.As(err, &ce) {
					ce = &ConnectError{Message: err.Error()}
				}
				sock.abort()
				ss.connectError(p.Namespace, ce)
				return
			}
		}
	}
	ss.mu.Lock()
	ss.sockets = append(ss.sockets, sock)
	ss.stopConnectTimerLocked()
	ss.mu.Unlock()
	hello := map[string]string{"sid": sock.id}
	if sock.pid != "" {
		hello["pid"] = sock.pid
	}
	data, _ := json.Marshal(hello)
	// The connection handler runs first: its joins count before the
	// client knows it is connected, and what it emits is held until CONNECT.
	n.connected(sock)
	sock.open(EncodedPacket{Text: Packet{Type: PacketConnect, Namespace: p.Namespace, Data: data}.Encode()})
}

func (ss *session) connectError(nsp string, ce *ConnectError) {
	data, err := marshal(ce)
	if err != nil {
		data, _ = marshal(&ConnectError{Message: ce.Message})
	}
	ss.writePacket(Packet{Type: PacketConnectError, Namespace: nsp, Data: data})
}

// stopConnectTimerLocked stops the connect timeout and lets it go; ss.mu
// must be held.
func (ss *session) stopConnectTimerLocked() {
	if ss.connectTimer != nil {
		ss.connectTimer.Stop()
		ss.connectTimer = nil
	}
}

func (ss *session) OnClose(reason string) {
	ss.mu.Lock()
	ss.stopConnectTimerLocked()
	socks := slices.Clone(ss.sockets)
	ss.mu.Unlock()
	for _, s := range socks {
		s.close(reason, false)
	}
}

func (ss *session) remove(nsp string, s *Socket) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if i := slices.Index(ss.sockets, s); i >= 0 && s.nsp.name == nsp {
		ss.sockets = slices.Delete(ss.sockets, i, i+1)
	}
}

// newID returns a random id for sockets and sessions.
func newID() string {
	var b [15]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand panics instead
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ackTable holds the callbacks of acks this side is waiting for.
type ackTable struct {
	ids *atomic.Uint64 // the source of ack ids, possibly shared

	mu      sync.Mutex // guards waiting
	waiting map[uint64]ackEntry
}

type ackEntry struct {
	ch  chan ackResult
	tag any // what the packet was sent on (the client's connection); nil: not sent yet
}

type ackResult struct {
	args []json.RawMessage
	err  error
}

// newAckTable returns a table that takes its ids from ids, or from its own
// counter when ids is nil.
func newAckTable(ids *atomic.Uint64) *ackTable {
	if ids == nil {
		ids = new(atomic.Uint64)
	}
	return &ackTable{ids: ids} // waiting is made by the first register: most sockets never wait
}

func (t *ackTable) register(tag any) (uint64, chan ackResult) {
	id := t.ids.Add(1) - 1
	ch := make(chan ackResult, 1)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.waiting == nil {
		t.waiting = map[uint64]ackEntry{}
	}
	t.waiting[id] = ackEntry{ch: ch, tag: tag}
	return id, ch
}

// retag records what a registered ack's packet was sent on.
func (t *ackTable) retag(id uint64, tag any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.waiting[id]; ok {
		e.tag = tag
		t.waiting[id] = e
	}
}

func (t *ackTable) cancel(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.waiting, id)
}

// resolve delivers an ack and reports whether anyone waited for it.
func (t *ackTable) resolve(id uint64, args []json.RawMessage) bool {
	t.mu.Lock()
	e, ok := t.waiting[id]
	delete(t.waiting, id)
	t.mu.Unlock()
	if ok {
		e.ch <- ackResult{args: args}
	}
	return ok
}

// failAll fails every waiting ack.
func (t *ackTable) failAll(err error) { t.fail(func(any) bool { return true }, err) }

// fail fails the waiting acks whose tag matches.
func (t *ackTable) fail(match func(tag any) bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, e := range t.waiting {
		if match(e.tag) {
			delete(t.waiting, id)
			e.ch <- ackResult{err: err}
		}
	}
}

// wait waits for the ack id or the end of ctx.
func (t *ackTable) wait(ctx context.Context, id uint64, ch chan ackResult) ([]json.RawMessage, error) {
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("socketio: waiting for ack %d: %w", id, r.err)
		}
		return r.args, nil
	case <-ctx.Done():
		t.cancel(id)
		return nil, fmt.Errorf("socketio: waiting for ack %d: %w", id, ctx.Err())
	}
}

// ErrDisconnected is returned when the connection is gone.
var ErrDisconnected = errors.New("socketio: disconnected")

// ErrAckSent is returned by an AckFunc called a second time.
var ErrAckSent = errors.New("socketio: ack already sent")
