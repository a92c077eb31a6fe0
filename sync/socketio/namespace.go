package socketio

import (
	"log/slog"
	"sort"
	"sync"
)

// Namespace is a Socket.IO namespace: its middleware, its connection
// handler, and its sockets and rooms. The room registry is the in-memory
// adapter; a pluggable Adapter interface comes with multi-hub relaying.
type Namespace struct {
	name string
	log  *slog.Logger

	mu           sync.RWMutex // guards the following
	mws          []Middleware
	onConnection func(*Socket)
	sockets      map[string]*Socket
	rooms        map[string]map[*Socket]struct{}
}

// Name returns the namespace's name, such as "/".
func (n *Namespace) Name() string { return n.name }

// Use appends a middleware. Middleware runs in the order it was added.
func (n *Namespace) Use(mw Middleware) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mws = append(n.mws, mw)
}

// OnConnection sets the handler called for each socket that joins. It runs
// on the connection's reader goroutine, before any of the socket's events;
// register the socket's event handlers there.
func (n *Namespace) OnConnection(fn func(*Socket)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.onConnection = fn
}

func (n *Namespace) middlewares() []Middleware {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.mws
}

func (n *Namespace) connectionHandler() func(*Socket) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.onConnection
}

func (n *Namespace) add(s *Socket) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sockets[s.id] = s
	s.rooms[s.id] = struct{}{}
	n.rooms[s.id] = map[*Socket]struct{}{s: {}}
}

func (n *Namespace) remove(s *Socket) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.sockets, s.id)
	for r := range s.rooms {
		n.leaveLocked(s, r)
	}
}

func (n *Namespace) leaveLocked(s *Socket, room string) {
	delete(s.rooms, room)
	if m := n.rooms[room]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(n.rooms, room)
		}
	}
}

// Len returns the number of connected sockets.
func (n *Namespace) Len() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.sockets)
}

// RoomMembers returns the ids of the sockets in a room, sorted.
func (n *Namespace) RoomMembers(room string) []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	ids := make([]string, 0, len(n.rooms[room]))
	for s := range n.rooms[room] {
		ids = append(ids, s.id)
	}
	sort.Strings(ids)
	return ids
}

// To returns a broadcast to the members of the given rooms.
func (n *Namespace) To(rooms ...string) *Broadcast {
	return (&Broadcast{nsp: n}).To(rooms...)
}

// Emit sends an event to every socket of the namespace.
func (n *Namespace) Emit(event string, args ...any) error {
	return (&Broadcast{nsp: n}).Emit(event, args...)
}

// Broadcast is an emit to several sockets: the members of some rooms (all
// sockets when no room is named), less the members of excepted rooms.
type Broadcast struct {
	nsp    *Namespace
	rooms  []string
	except []string
}

// To adds rooms to send to.
func (b *Broadcast) To(rooms ...string) *Broadcast {
	c := *b
	c.rooms = append(append([]string(nil), b.rooms...), rooms...)
	return &c
}

// Except adds rooms whose members are left out.
func (b *Broadcast) Except(rooms ...string) *Broadcast {
	c := *b
	c.except = append(append([]string(nil), b.except...), rooms...)
	return &c
}

// Emit encodes the event once and queues it to every target socket. A
// socket whose queue is full is disconnected rather than blocking others.
func (b *Broadcast) Emit(event string, args ...any) error {
	data, err := encodeArgs(event, args)
	if err != nil {
		return err
	}
	frame := Packet{Type: PacketEvent, Namespace: b.nsp.name, Data: data}.Encode()
	for _, s := range b.targets() {
		_ = s.sess.conn.Send(frame, false)
	}
	return nil
}

func (b *Broadcast) targets() []*Socket {
	n := b.nsp
	n.mu.RLock()
	defer n.mu.RUnlock()
	excluded := func(s *Socket) bool {
		for _, r := range b.except {
			if _, ok := n.rooms[r][s]; ok {
				return true
			}
		}
		return false
	}
	var out []*Socket
	if len(b.rooms) == 0 {
		for _, s := range n.sockets {
			if !excluded(s) {
				out = append(out, s)
			}
		}
		return out
	}
	seen := map[*Socket]struct{}{}
	for _, r := range b.rooms {
		for s := range n.rooms[r] {
			if _, dup := seen[s]; dup || excluded(s) {
				continue
			}
			seen[s] = struct{}{}
			out = append(out, s)
		}
	}
	return out
}
