package socketio

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
)

// Socket is one client's membership of a namespace, on the server.
type Socket struct {
	id   string
	nsp  *Namespace
	sess *session
	acks *ackTable

	mu           sync.Mutex // guards the following
	handlers     map[string]EventHandler
	onDisconnect []func(reason string)
	values       map[string]any
	closed       bool

	rooms map[string]struct{} // guarded by nsp.mu
}

// ID returns the socket's id, which is also the name of its own room.
func (s *Socket) ID() string { return s.id }

// Namespace returns the socket's namespace.
func (s *Socket) Namespace() *Namespace { return s.nsp }

// Set stores a value on the socket, for example the user found by a
// middleware.
func (s *Socket) Set(key string, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.values == nil {
		s.values = map[string]any{}
	}
	s.values[key] = v
}

// Get returns a value stored with Set.
func (s *Socket) Get(key string) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.values[key]
}

// On sets the handler of an event. Handlers run on the connection's reader
// goroutine, one at a time, in arrival order; a slow handler delays this
// client's next events, and no other client's.
func (s *Socket) On(event string, h EventHandler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[event] = h
}

// OnAny sets the handler for events that have no handler of their own.
func (s *Socket) OnAny(h func(event string, args []json.RawMessage, ack AckFunc)) {
	s.On("", func(args []json.RawMessage, ack AckFunc) {
		var name string
		_ = json.Unmarshal(args[0], &name)
		h(name, args[1:], ack)
	})
}

// OnDisconnect adds a function called once when the socket leaves, with
// the reason.
func (s *Socket) OnDisconnect(fn func(reason string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onDisconnect = append(s.onDisconnect, fn)
}

func (s *Socket) dispatch(name string, args []json.RawMessage, p Packet) {
	s.mu.Lock()
	h, ok := s.handlers[name]
	if !ok {
		if h, ok = s.handlers[""]; ok {
			nameJSON, _ := marshal(name)
			args = append([]json.RawMessage{nameJSON}, args...)
		}
	}
	s.mu.Unlock()
	var ack AckFunc
	if p.HasID {
		ack = newAck(p, s.sess.send)
	}
	if !ok {
		s.nsp.log.Debug("socketio: no handler", "event", name)
		return
	}
	h(args, ack)
}

// Emit sends an event to this socket.
func (s *Socket) Emit(event string, args ...any) error {
	data, err := encodeArgs(event, args)
	if err != nil {
		return err
	}
	return s.sess.send(Packet{Type: PacketEvent, Namespace: s.nsp.name, Data: data})
}

// EmitWithAck sends an event and waits for the client's ack, the context's
// end or the disconnection.
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	data, err := encodeArgs(event, args)
	if err != nil {
		return nil, err
	}
	id, ch := s.acks.register()
	if err := s.sess.send(Packet{Type: PacketEvent, Namespace: s.nsp.name, ID: id, HasID: true, Data: data}); err != nil {
		s.acks.cancel(id)
		return nil, err
	}
	return waitAck(ctx, s.acks, id, ch, s.sess.conn.Done())
}

// Join adds the socket to rooms.
func (s *Socket) Join(rooms ...string) {
	n := s.nsp
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, live := n.sockets[s.id]; !live {
		return
	}
	for _, r := range rooms {
		s.rooms[r] = struct{}{}
		m := n.rooms[r]
		if m == nil {
			m = map[*Socket]struct{}{}
			n.rooms[r] = m
		}
		m[s] = struct{}{}
	}
}

// Leave removes the socket from a room.
func (s *Socket) Leave(room string) {
	n := s.nsp
	n.mu.Lock()
	defer n.mu.Unlock()
	n.leaveLocked(s, room)
}

// In reports whether the socket is in a room.
func (s *Socket) In(room string) bool {
	s.nsp.mu.RLock()
	defer s.nsp.mu.RUnlock()
	_, ok := s.rooms[room]
	return ok
}

// Rooms returns the socket's rooms, sorted.
func (s *Socket) Rooms() []string {
	s.nsp.mu.RLock()
	defer s.nsp.mu.RUnlock()
	out := make([]string, 0, len(s.rooms))
	for r := range s.rooms {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// To returns a broadcast to the rooms that leaves this socket out.
func (s *Socket) To(rooms ...string) *Broadcast {
	return s.nsp.To(rooms...).Except(s.id)
}

// Disconnect removes the socket from its namespace and tells the client.
// With closeConn the whole underlying connection is closed too.
func (s *Socket) Disconnect(closeConn bool) {
	_ = s.sess.send(Packet{Type: PacketDisconnect, Namespace: s.nsp.name})
	s.close("server namespace disconnect", closeConn)
}

func (s *Socket) close(reason string, closeConn bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	fns := s.onDisconnect
	s.mu.Unlock()
	s.nsp.remove(s)
	s.sess.remove(s.nsp.name)
	for _, fn := range fns {
		fn(reason)
	}
	if closeConn {
		s.sess.conn.Close()
	}
}

// newAck returns the AckFunc that answers the event p through send. Only
// its first call sends; later ones return ErrAckSent.
func newAck(p Packet, send func(Packet) error) AckFunc {
	var once sync.Once
	return func(args ...any) error {
		err := ErrAckSent
		once.Do(func() {
			var data json.RawMessage
			if data, err = encodeArgs("", args); err == nil {
				err = send(Packet{Type: PacketAck, Namespace: p.Namespace, ID: p.ID, HasID: true, Data: data})
			}
		})
		return err
	}
}
