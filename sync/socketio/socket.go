package socketio

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// Socket is one client's membership of a namespace, on the server.
type Socket struct {
	nsp  *Namespace
	sess *session
	acks *ackTable
	auth json.RawMessage

	// Set before the socket is registered, then read-only.
	id        string
	pid       string // private session id; "" when recovery is off
	start     string // the adapter's offset when the session began
	recovered bool

	// ready is set once CONNECT and the held packets are queued, and
	// cleared when the socket closes; while it is not set, write holds
	// packets (connecting) or refuses them (closed), under mu.
	ready atomic.Bool

	// roomsMu serialises Join with close, so that a closed socket's rooms
	// stay empty. It is taken before any adapter lock.
	roomsMu sync.Mutex
	left    bool // guarded by roomsMu

	mu           sync.Mutex // guards the following
	handlers     map[string]EventHandler
	anyHandler   func(event string, args []json.RawMessage, ack AckFunc)
	onDisconnect []func(reason string)
	values       []socketValue // Set's values: a few at most, so a slice
	closed       bool
	held         []EncodedPacket
	heldFrames   int
}

func newSocket(n *Namespace, ss *session, auth json.RawMessage) *Socket {
	s := &Socket{nsp: n, sess: ss, auth: auth, id: newID(),
		acks: newAckTable(&n.ackIDs)}
	if ss.srv.recovery != nil {
		s.pid = newID()
	}
	return s
}

// ID returns the socket's id, which is also the name of its own room. A
// recovered socket has its previous id.
func (s *Socket) ID() string { return s.id }

// Namespace returns the socket's namespace.
func (s *Socket) Namespace() *Namespace { return s.nsp }

// Auth returns the CONNECT payload the client sent (nil when none). With
// recovery on it may include the client's "pid" and "offset".
func (s *Socket) Auth() json.RawMessage { return s.auth }

// ClientAddr returns what Options.ClientAddr named the client of the
// socket's connection at its handshake, or "".
func (s *Socket) ClientAddr() string { return s.sess.addr }

// Recovered reports whether connection state recovery restored this
// socket's previous session: its id, rooms and values, with the missed
// broadcasts replayed. The application's own state about the socket, which
// its disconnect handlers may have cleared, is not restored.
func (s *Socket) Recovered() bool { return s.recovered }

// Set stores a value on the socket, for example the user found by a
// middleware. Values survive connection state recovery.
func (s *Socket) Set(key string, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.values {
		if s.values[i].key == key {
			s.values[i].v = v
			return
		}
	}
	s.values = append(s.values, socketValue{key, v})
}

// socketValue is one value stored with Set.
type socketValue struct {
	key string
	v   any
}

// valueMap returns the values as a map, nil when there are none.
func valueMap(vs []socketValue) map[string]any {
	if len(vs) == 0 {
		return nil
	}
	m := make(map[string]any, len(vs))
	for _, kv := range vs {
		m[kv.key] = kv.v
	}
	return m
}

// valueSlice is valueMap's inverse.
func valueSlice(m map[string]any) []socketValue {
	var vs []socketValue
	for k, v := range m {
		vs = append(vs, socketValue{k, v})
	}
	return vs
}

// Get returns a value stored with Set.
func (s *Socket) Get(key string) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, kv := range s.values {
		if kv.key == key {
			return kv.v
		}
	}
	return nil
}

// On sets the handler of an event. Handlers run where the connection
// delivers its messages, one at a time, in arrival order; a slow handler
// delays this client's next events, and no other client's.
func (s *Socket) On(event string, h EventHandler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handlers == nil {
		s.handlers = map[string]EventHandler{}
	}
	s.handlers[event] = h
}

// OnAny sets the catch-all handler, for events that have no handler of
// their own.
func (s *Socket) OnAny(h func(event string, args []json.RawMessage, ack AckFunc)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.anyHandler = h
}

// OnDisconnect adds a function called once when the socket leaves, with
// the reason, after it has left its rooms.
func (s *Socket) OnDisconnect(fn func(reason string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onDisconnect = append(s.onDisconnect, fn)
}

func (s *Socket) dispatch(name string, args []json.RawMessage, p Packet) {
	s.mu.Lock()
	h := s.handlers[name]
	anyH := s.anyHandler
	s.mu.Unlock()
	var ack AckFunc
	if p.HasID {
		ack = newAck(p, func(q EncodedPacket) error {
			if !s.sess.write(q, false) {
				return ErrDisconnected
			}
			return nil
		})
	}
	if h != nil {
		h(args, ack)
		return
	}
	nh, nAny := s.nsp.handler(name)
	switch {
	case nh != nil:
		nh(s, args, ack)
	case anyH != nil:
		anyH(name, args, ack)
	case nAny != nil:
		nAny(s, name, args, ack)
	default:
		s.nsp.log.Debug("socketio: no handler", "event", name)
	}
}

// ackReceived hands an ACK from the client to whoever waits for it.
func (s *Socket) ackReceived(id uint64, args []json.RawMessage) {
	if !s.acks.resolve(id, args) && !s.nsp.broadcastAck(id, s.id, args) {
		s.nsp.log.Debug("socketio: ack nobody waits for", "id", id)
	}
}

// write queues an encoded packet, or holds it while the socket is
// connecting. It reports whether the packet was queued or held.
func (s *Socket) write(p EncodedPacket, volatile bool) bool {
	if !s.ready.Load() {
		s.mu.Lock()
		if !s.ready.Load() {
			defer s.mu.Unlock()
			if volatile || s.closed {
				return false
			}
			if s.heldFrames+p.frames() > s.sess.srv.holdLimit {
				s.nsp.log.Info("socketio: too many packets for a connecting socket; closing", "sid", s.id)
				s.sess.conn.Close()
				return false
			}
			s.held = append(s.held, p)
			s.heldFrames += p.frames()
			return true
		}
		s.mu.Unlock()
	}
	return s.sess.write(p, volatile)
}

// open queues CONNECT, then the packets held while connecting, and makes
// the socket ready.
func (s *Socket) open(connect EncodedPacket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sess.write(connect, false)
	for _, p := range s.held {
		s.sess.write(p, false)
	}
	s.held, s.heldFrames = nil, 0
	if !s.closed {
		s.ready.Store(true)
	}
}

// Emit sends an event to this socket. []byte arguments become binary
// attachments.
func (s *Socket) Emit(event string, args ...any) error {
	p, err := encodePacket(PacketEvent, s.nsp.name, 0, false, event, args)
	if err != nil {
		return err
	}
	if !s.write(p, false) {
		return ErrDisconnected
	}
	return nil
}

// EmitVolatile sends an event to this socket unless the socket is not
// ready for it, as Broadcast.Volatile defines. It reports whether the
// event was queued.
func (s *Socket) EmitVolatile(event string, args ...any) (bool, error) {
	p, err := encodePacket(PacketEvent, s.nsp.name, 0, false, event, args)
	if err != nil {
		return false, err
	}
	return s.write(p, true), nil
}

// EmitWithAck sends an event and waits for the client's ack, the end of
// ctx (give it a deadline to time out) or the disconnection
// (ErrDisconnected).
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	id, ch := s.acks.register(nil)
	p, err := encodePacket(PacketEvent, s.nsp.name, id, true, event, args)
	if err != nil {
		s.acks.cancel(id)
		return nil, err
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed || !s.write(p, false) {
		s.acks.cancel(id)
		return nil, ErrDisconnected
	}
	return s.acks.wait(ctx, id, ch)
}

// Join adds the socket to rooms. It does nothing once the socket has left.
func (s *Socket) Join(rooms ...string) {
	s.roomsMu.Lock()
	defer s.roomsMu.Unlock()
	if s.left {
		return
	}
	s.nsp.adapter.Join(s.id, rooms...)
}

// Leave removes the socket from a room.
func (s *Socket) Leave(room string) {
	s.roomsMu.Lock()
	defer s.roomsMu.Unlock()
	s.nsp.adapter.Leave(s.id, room)
}

// In reports whether the socket is in a room.
func (s *Socket) In(room string) bool { return slices.Contains(s.nsp.adapter.Rooms(s.id), room) }

// Rooms returns the socket's rooms, sorted.
func (s *Socket) Rooms() []string {
	out := s.nsp.adapter.Rooms(s.id)
	sort.Strings(out)
	return out
}

// To returns a broadcast to the rooms that leaves this socket out.
func (s *Socket) To(rooms ...string) *Broadcast { return s.nsp.To(rooms...).Except(s.id) }

// Broadcast returns a broadcast to every other socket of the namespace.
func (s *Socket) Broadcast() *Broadcast { return s.nsp.Except(s.id) }

// Disconnect removes the socket from its namespace and tells the client.
// With closeConn the whole underlying connection is closed too. Such a
// socket cannot be recovered.
func (s *Socket) Disconnect(closeConn bool) {
	s.write(EncodedPacket{Text: Packet{Type: PacketDisconnect, Namespace: s.nsp.name}.Encode()}, false)
	s.close(reasonServerDisconnect, closeConn)
}

// Disconnect reasons that end a session for good: no recovery follows.
const (
	reasonClientDisconnect = "client namespace disconnect"
	reasonServerDisconnect = "server namespace disconnect"
)

func (s *Socket) close(reason string, closeConn bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	wasReady := s.ready.Swap(false) // later writes fail
	fns := s.onDisconnect
	values := valueMap(s.values)
	s.mu.Unlock()

	n := s.nsp
	n.remove(s)
	s.roomsMu.Lock()
	s.left = true
	rooms := n.adapter.Rooms(s.id)
	n.adapter.LeaveAll(s.id)
	s.roomsMu.Unlock()
	if wasReady && s.pid != "" && reason != reasonClientDisconnect && reason != reasonServerDisconnect && !s.sess.srv.closing.Load() {
		n.adapter.PersistSession(Session{PID: s.pid, SID: s.id, Rooms: rooms, Values: values, Start: s.start})
	}
	s.acks.failAll(ErrDisconnected)
	n.dropBroadcastAcks(s.id)
	s.sess.remove(n.name, s)
	if n.parent != nil && s.sess.srv.cleanupChildren {
		n.parent.dropIfEmpty(n)
	}
	for _, fn := range fns {
		fn(reason)
	}
	if closeConn {
		s.sess.conn.Close()
	}
}

// abort undoes the registration of a socket that middleware refused. Its
// session, if it was a recovery, is gone.
func (s *Socket) abort() {
	s.mu.Lock()
	s.closed = true
	s.held, s.heldFrames = nil, 0
	s.mu.Unlock()
	n := s.nsp
	n.remove(s)
	s.roomsMu.Lock()
	s.left = true
	n.adapter.LeaveAll(s.id)
	s.roomsMu.Unlock()
	s.acks.failAll(ErrDisconnected)
	n.dropBroadcastAcks(s.id)
	if n.parent != nil && s.sess.srv.cleanupChildren {
		n.parent.dropIfEmpty(n)
	}
}

// newAck returns the AckFunc that answers the event p through send. Only
// its first call sends; later ones return ErrAckSent.
func newAck(p Packet, send func(EncodedPacket) error) AckFunc {
	var once sync.Once
	return func(args ...any) error {
		err := ErrAckSent
		once.Do(func() {
			var q EncodedPacket
			if q, err = encodePacket(PacketAck, p.Namespace, p.ID, true, "", args); err == nil {
				err = send(q)
			}
		})
		return err
	}
}
