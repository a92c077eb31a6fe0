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
	"sync"
	"time"

	"tandem/sync/engineio"
)

// DefaultConnectTimeout is how long a new connection may take to join a
// namespace before it is closed.
const DefaultConnectTimeout = 45 * time.Second

// Options configure a Server.
type Options struct {
	Engine         engineio.Options
	ConnectTimeout time.Duration // default 45 s
	Logger         *slog.Logger
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
// byte as sent. ack is nil unless the sender asked for an acknowledgement;
// calling it more than once sends only the first.
type EventHandler func(args []json.RawMessage, ack AckFunc)

// AckFunc answers an event with arguments.
type AckFunc func(args ...any) error

// Server is a Socket.IO server. It is an http.Handler for /socket.io/.
type Server struct {
	eio            *engineio.Server
	log            *slog.Logger
	connectTimeout time.Duration

	mu   sync.RWMutex // guards nsps
	nsps map[string]*Namespace
}

// NewServer returns a server with the main namespace "/" already defined.
func NewServer(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	s := &Server{log: opts.Logger, connectTimeout: opts.ConnectTimeout, nsps: map[string]*Namespace{}}
	s.eio = engineio.NewServer(opts.Engine, opts.Logger, s.accept)
	s.Of("/")
	return s
}

// ServeHTTP serves the Engine.IO endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.eio.ServeHTTP(w, r) }

// Of returns the namespace with the given name, creating it if needed.
func (s *Server) Of(name string) *Namespace {
	if name == "" {
		name = "/"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nsps[name]
	if !ok {
		n = &Namespace{name: name, log: s.log.With("nsp", name), sockets: map[string]*Socket{}, rooms: map[string]map[*Socket]struct{}{}}
		s.nsps[name] = n
	}
	return n
}

func (s *Server) lookup(name string) *Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nsps[name]
}

// Close disconnects every client and waits for their connections to end.
func (s *Server) Close() error { return s.eio.Close() }

// accept makes the session for a new Engine.IO connection.
func (s *Server) accept(c *engineio.Conn) engineio.Handler {
	ss := &session{srv: s, conn: c, log: s.log.With("eio", c.ID()), sockets: map[string]*Socket{}}
	ss.connectTimer = time.AfterFunc(s.connectTimeout, func() {
		ss.mu.Lock()
		n := len(ss.sockets)
		ss.mu.Unlock()
		if n == 0 {
			ss.log.Info("socketio: no namespace joined in time; closing")
			c.Close()
		}
	})
	return ss
}

// session is the Socket.IO state of one Engine.IO connection. Its methods
// OnMessage and OnClose run on the connection's reader goroutine.
type session struct {
	srv          *Server
	conn         *engineio.Conn
	log          *slog.Logger
	connectTimer *time.Timer

	mu      sync.Mutex // guards sockets
	sockets map[string]*Socket
}

func (ss *session) send(p Packet) error { return ss.conn.Send(p.Encode(), false) }

func (ss *session) OnMessage(data []byte, binary bool) {
	if binary {
		ss.log.Info("socketio: binary attachments are not supported yet; closing")
		ss.conn.Close()
		return
	}
	p, err := Decode(data)
	if err != nil {
		ss.log.Info("socketio: closing on bad packet", "err", err)
		ss.conn.Close()
		return
	}
	ss.mu.Lock()
	sock := ss.sockets[p.Namespace]
	ss.mu.Unlock()
	switch p.Type {
	case PacketConnect:
		ss.connect(p)
	case PacketDisconnect:
		if sock != nil {
			sock.close("client namespace disconnect", false)
		}
	case PacketEvent:
		if sock == nil {
			ss.log.Debug("socketio: event for a namespace not joined", "nsp", p.Namespace)
			return
		}
		name, args, err := splitEvent(p.Data)
		if err == nil && reservedEvent(name) {
			err = fmt.Errorf("%w: reserved event name %q", ErrParse, name)
		}
		if err != nil {
			ss.log.Info("socketio: closing on bad event", "err", err)
			ss.conn.Close()
			return
		}
		sock.dispatch(name, args, p)
	case PacketAck:
		if sock != nil {
			var args []json.RawMessage
			if err := json.Unmarshal(p.Data, &args); err != nil {
				ss.conn.Close()
				return
			}
			sock.acks.resolve(p.ID, args)
		}
	case PacketBinaryEvent, PacketBinaryAck:
		ss.log.Info("socketio: binary attachments are not supported yet; closing")
		ss.conn.Close()
	default:
		ss.log.Info("socketio: closing on unexpected packet", "type", p.Type)
		ss.conn.Close()
	}
}

func (ss *session) connect(p Packet) {
	n := ss.srv.lookup(p.Namespace)
	if n == nil {
		ss.connectError(p.Namespace, &ConnectError{Message: "Invalid namespace"})
		return
	}
	ss.mu.Lock()
	_, dup := ss.sockets[p.Namespace]
	ss.mu.Unlock()
	if dup {
		ss.log.Debug("socketio: duplicate CONNECT ignored", "nsp", p.Namespace)
		return
	}
	sock := &Socket{id: newID(), nsp: n, sess: ss, handlers: map[string]EventHandler{}, rooms: map[string]struct{}{}, acks: newAckTable()}
	for _, mw := range n.middlewares() {
		if err := mw(sock, p.Data); err != nil {
			var ce *ConnectError
			if !errors.As(err, &ce) {
				ce = &ConnectError{Message: err.Error()}
			}
			ss.connectError(p.Namespace, ce)
			return
		}
	}
	ss.mu.Lock()
	ss.sockets[p.Namespace] = sock
	ss.mu.Unlock()
	ss.connectTimer.Stop()
	n.add(sock)
	data, _ := json.Marshal(map[string]string{"sid": sock.id})
	_ = ss.send(Packet{Type: PacketConnect, Namespace: p.Namespace, Data: data})
	if fn := n.connectionHandler(); fn != nil {
		fn(sock)
	}
}

func (ss *session) connectError(nsp string, ce *ConnectError) {
	data, err := marshal(ce)
	if err != nil {
		data, _ = marshal(&ConnectError{Message: ce.Message})
	}
	_ = ss.send(Packet{Type: PacketConnectError, Namespace: nsp, Data: data})
}

func (ss *session) OnClose(reason string) {
	ss.connectTimer.Stop()
	ss.mu.Lock()
	socks := make([]*Socket, 0, len(ss.sockets))
	for _, s := range ss.sockets {
		socks = append(socks, s)
	}
	ss.mu.Unlock()
	for _, s := range socks {
		s.close(reason, false)
	}
}

func (ss *session) remove(nsp string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.sockets, nsp)
}

// newID returns a random socket id.
func newID() string {
	var b [15]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand panics instead
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ackTable holds the callbacks of acks this side is waiting for.
type ackTable struct {
	mu      sync.Mutex // guards the following
	next    uint64
	waiting map[uint64]chan []json.RawMessage
}

func newAckTable() *ackTable { return &ackTable{waiting: map[uint64]chan []json.RawMessage{}} }

func (t *ackTable) register() (uint64, chan []json.RawMessage) {
	t.mu.Lock()
	defer t.mu.Unlock()
	id := t.next
	t.next++
	ch := make(chan []json.RawMessage, 1)
	t.waiting[id] = ch
	return id, ch
}

func (t *ackTable) cancel(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.waiting, id)
}

func (t *ackTable) resolve(id uint64, args []json.RawMessage) {
	t.mu.Lock()
	ch, ok := t.waiting[id]
	delete(t.waiting, id)
	t.mu.Unlock()
	if ok {
		ch <- args
	}
}

// ErrDisconnected is returned when the connection is gone.
var ErrDisconnected = errors.New("socketio: disconnected")

// waitAck waits for an ack, the context or the end of the connection.
func waitAck(ctx context.Context, t *ackTable, id uint64, ch chan []json.RawMessage, done <-chan struct{}) ([]json.RawMessage, error) {
	select {
	case args := <-ch:
		return args, nil
	case <-ctx.Done():
		t.cancel(id)
		return nil, fmt.Errorf("socketio: waiting for ack %d: %w", id, ctx.Err())
	case <-done:
		t.cancel(id)
		return nil, fmt.Errorf("socketio: waiting for ack %d: %w", id, ErrDisconnected)
	}
}

// ErrAckSent is returned by an AckFunc called a second time.
var ErrAckSent = errors.New("socketio: ack already sent")
