package socketio

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// Namespace is a Socket.IO namespace: its middleware, its connection
// handler, its sockets on this server, and its Adapter, which keeps its
// rooms. A namespace made by a ParentNamespace is its child: the parent's
// middleware and connection handler run before the child's own.
type Namespace struct {
	name    string
	srv     *Server
	parent  *ParentNamespace // nil unless a dynamic child
	log     *slog.Logger
	adapter Adapter
	// ackIDs numbers the acks this server asks for in this namespace, so
	// that a broadcast's id is free in every socket's table.
	ackIDs atomic.Uint64

	mu           sync.RWMutex // guards the following
	mws          []Middleware
	onConnection func(*Socket)
	handlers     map[string]SocketHandler // shared by every socket
	anyHandler   func(s *Socket, event string, args []json.RawMessage, ack AckFunc)
	sockets      map[string]*Socket
	removed      bool // a dynamic child dropped once empty

	amu sync.Mutex // guards backs
	// backs holds the recipients of broadcasts with acks: ack id, socket
	// id, the function that takes its reply.
	backs map[uint64]map[string]func([]json.RawMessage, error)
}

func (s *Server) newNamespace(name string, parent *ParentNamespace) *Namespace {
	n := &Namespace{name: name, srv: s, parent: parent, log: s.log.With("nsp", name),
		sockets: map[string]*Socket{}, backs: map[uint64]map[string]func([]json.RawMessage, error){}}
	cfg := AdapterConfig{Namespace: name, Local: nsLocal{n}, Logger: n.log, Now: s.now}
	if s.recovery != nil {
		cfg.Recovery, cfg.MaxPackets = s.recovery.MaxDisconnectionDuration, s.recovery.MaxPackets
	}
	n.adapter = s.newAdapter(cfg)
	return n
}

// SocketHandler handles an event for any socket of a namespace.
type SocketHandler func(s *Socket, args []json.RawMessage, ack AckFunc)

// On sets the handler of an event for every socket of the namespace. A
// handler set on a socket with Socket.On takes precedence. Handlers set
// here cost nothing per socket, which matters with many connections.
func (n *Namespace) On(event string, h SocketHandler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.handlers == nil {
		n.handlers = map[string]SocketHandler{}
	}
	n.handlers[event] = h
}

// OnAny sets the catch-all handler for events that neither the socket nor
// the namespace has a handler for.
func (n *Namespace) OnAny(h func(s *Socket, event string, args []json.RawMessage, ack AckFunc)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.anyHandler = h
}

func (n *Namespace) handler(event string) (SocketHandler, func(*Socket, string, []json.RawMessage, AckFunc)) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.handlers[event], n.anyHandler
}

// Name returns the namespace's name, such as "/".
func (n *Namespace) Name() string { return n.name }

// Parent returns the parent of a dynamic namespace, or nil.
func (n *Namespace) Parent() *ParentNamespace { return n.parent }

// Adapter returns the namespace's adapter.
func (n *Namespace) Adapter() Adapter { return n.adapter }

// Use appends a middleware. Middleware runs in the order it was added,
// after the parent's for a dynamic namespace.
func (n *Namespace) Use(mw Middleware) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mws = append(n.mws, mw)
}

// OnConnection sets the handler called for each socket that joins. It runs
// where the connection delivers its messages, before any of the socket's events
// and before the client gets CONNECT (what it emits follows CONNECT);
// register the socket's event handlers and join its rooms there. For a
// dynamic namespace it runs after the parent's handler.
func (n *Namespace) OnConnection(fn func(*Socket)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.onConnection = fn
}

func (n *Namespace) middlewares() []Middleware {
	var out []Middleware
	if n.parent != nil {
		n.parent.mu.RLock()
		out = append(out, n.parent.mws...)
		n.parent.mu.RUnlock()
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	return append(out, n.mws...)
}

func (n *Namespace) connected(s *Socket) {
	if n.parent != nil {
		n.parent.mu.RLock()
		fn := n.parent.onConnection
		n.parent.mu.RUnlock()
		if fn != nil {
			fn(s)
		}
	}
	n.mu.RLock()
	fn := n.onConnection
	n.mu.RUnlock()
	if fn != nil {
		fn(s)
	}
}

// add registers a new socket and puts it in its own room. It fails if the
// namespace was dropped.
func (n *Namespace) add(s *Socket) bool {
	n.mu.Lock()
	if n.removed {
		n.mu.Unlock()
		return false
	}
	n.sockets[s.id] = s
	n.mu.Unlock()
	n.adapter.Join(s.id, s.id)
	return true
}

// restore gives s the session pid if it can be recovered from offset: its
// id, rooms and values, and the packets it missed, held until s opens.
func (n *Namespace) restore(s *Socket, pid, offset string) bool {
	return n.adapter.RestoreSession(pid, offset, func(sess Session, missed []EncodedPacket) bool {
		frames := 0
		for _, p := range missed {
			frames += p.frames()
		}
		if frames > n.srv.replayLimit {
			n.log.Info("socketio: too many missed packets to recover", "packets", len(missed))
			return false
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		if _, taken := n.sockets[sess.SID]; taken || n.removed {
			return false
		}
		// s is not visible to any other goroutine before this registration.
		s.id, s.pid, s.start, s.recovered = sess.SID, sess.PID, sess.Start, true
		s.values = valueSlice(sess.Values)
		s.held = append(s.held, missed...)
		n.sockets[s.id] = s
		return true
	})
}

func (n *Namespace) remove(s *Socket) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sockets[s.id] == s {
		delete(n.sockets, s.id)
	}
}

// Len returns the number of sockets connected to this server.
func (n *Namespace) Len() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.sockets)
}

// Socket returns the socket with the given id connected to this server, or
// nil.
func (n *Namespace) Socket(id string) *Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.sockets[id]
}

// RoomMembers returns the ids of the sockets in a room, sorted.
func (n *Namespace) RoomMembers(room string) []string {
	ids := n.adapter.Sockets(room)
	sort.Strings(ids)
	return ids
}

// To returns a broadcast to the members of the given rooms.
func (n *Namespace) To(rooms ...string) *Broadcast { return (&Broadcast{nsp: n}).To(rooms...) }

// Except returns a broadcast to every socket but the members of rooms.
func (n *Namespace) Except(rooms ...string) *Broadcast {
	return (&Broadcast{nsp: n}).Except(rooms...)
}

// Volatile returns a volatile broadcast to every socket.
func (n *Namespace) Volatile() *Broadcast { return (&Broadcast{nsp: n}).Volatile() }

// Emit sends an event to every socket of the namespace.
func (n *Namespace) Emit(event string, args ...any) error {
	return (&Broadcast{nsp: n}).Emit(event, args...)
}

// EmitWithAck sends an event to every socket of the namespace and gathers
// their acks; see Broadcast.EmitWithAck.
func (n *Namespace) EmitWithAck(ctx context.Context, event string, args ...any) ([][]json.RawMessage, error) {
	return (&Broadcast{nsp: n}).EmitWithAck(ctx, event, args...)
}

// nsLocal is the Local that a namespace gives its adapter.
type nsLocal struct{ n *Namespace }

func (l nsLocal) Send(sid string, p EncodedPacket, o SendOptions) bool {
	n := l.n
	n.mu.RLock()
	s := n.sockets[sid]
	n.mu.RUnlock()
	if s == nil {
		return false
	}
	if o.Ack != nil {
		n.amu.Lock()
		m := n.backs[o.AckID]
		if m == nil {
			m = map[string]func([]json.RawMessage, error){}
			n.backs[o.AckID] = m
		}
		m[sid] = o.Ack
		n.amu.Unlock()
	}
	if s.write(p, o.Volatile) {
		return true
	}
	if o.Ack != nil {
		n.amu.Lock()
		delete(n.backs[o.AckID], sid)
		n.amu.Unlock()
	}
	return false
}

// broadcastAck hands a socket's ack to the broadcast waiting for it, and
// reports whether one was.
func (n *Namespace) broadcastAck(id uint64, sid string, args []json.RawMessage) bool {
	n.amu.Lock()
	fn := n.backs[id][sid]
	delete(n.backs[id], sid)
	n.amu.Unlock()
	if fn == nil {
		return false
	}
	fn(args, nil)
	return true
}

// dropBroadcastAcks fails the broadcasts still waiting for sid's ack.
func (n *Namespace) dropBroadcastAcks(sid string) {
	var fns []func([]json.RawMessage, error)
	n.amu.Lock()
	for _, m := range n.backs {
		if fn := m[sid]; fn != nil {
			fns = append(fns, fn)
			delete(m, sid)
		}
	}
	n.amu.Unlock()
	for _, fn := range fns {
		fn(nil, ErrDisconnected)
	}
}

// Broadcast is an emit to several sockets: the members of some rooms (all
// sockets when no room is named), less the members of excepted rooms. Its
// methods return modified copies, so a Broadcast can be reused.
type Broadcast struct {
	nsp  *Namespace
	opts BroadcastOptions
}

// To adds rooms to send to.
func (b *Broadcast) To(rooms ...string) *Broadcast {
	c := *b
	c.opts.Rooms = append(slices.Clip(b.opts.Rooms), rooms...)
	return &c
}

// Except adds rooms whose members are left out.
func (b *Broadcast) Except(rooms ...string) *Broadcast {
	c := *b
	c.opts.Except = append(slices.Clip(b.opts.Except), rooms...)
	return &c
}

// Volatile makes the broadcast volatile: for each recipient, the packet is
// dropped rather than queued when the socket is not ready for it, that is
// (1) while it is still connecting (middleware running, CONNECT not sent),
// or (2) while its Engine.IO connection has messages queued that the
// transport has not taken yet, so that a slow client is skipped instead of
// filling its queue until it is disconnected. (2) needs the connection to
// report its queue (a Buffered() int method on engineio.Conn); without it
// only (1) applies. Volatile packets get no offset and are never replayed
// by connection state recovery. Use it for data that the next packet
// supersedes, such as positions.
func (b *Broadcast) Volatile() *Broadcast {
	c := *b
	c.opts.Volatile = true
	return &c
}

// Emit encodes the event once and queues it to every target socket. A
// socket whose queue is full is disconnected rather than blocking others.
func (b *Broadcast) Emit(event string, args ...any) error {
	p, err := encodePacket(PacketEvent, b.nsp.name, 0, false, event, args)
	if err != nil {
		return err
	}
	b.nsp.adapter.Broadcast(p, b.opts)
	return nil
}

// EmitWithAck sends the event, asking every recipient for an ack, and
// waits until all of them have answered; it returns their replies in
// arrival order. If ctx ends first, it returns the replies so far and an
// error wrapping ctx.Err(); if recipients disconnect before answering, it
// returns the others' replies once they are in and an error wrapping
// ErrDisconnected. Broadcasts with acks are never replayed by recovery.
func (b *Broadcast) EmitWithAck(ctx context.Context, event string, args ...any) ([][]json.RawMessage, error) {
	n := b.nsp
	id := n.ackIDs.Add(1) - 1
	p, err := encodePacket(PacketEvent, n.name, id, true, event, args)
	if err != nil {
		return nil, err
	}
	g := &gather{done: make(chan struct{})}
	defer func() {
		n.amu.Lock()
		delete(n.backs, id)
		n.amu.Unlock()
	}()
	n.adapter.BroadcastWithAck(p, id, b.opts, g.count, g.reply)
	select {
	case <-g.done:
	case <-ctx.Done():
	}
	return g.result(ctx)
}

// gather collects the replies of a broadcast with acks.
type gather struct {
	done chan struct{} // closed when every recipient answered or left

	mu      sync.Mutex // guards the following
	want    int
	counted bool
	replies [][]json.RawMessage
	failed  int
	over    bool
}

func (g *gather) count(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.want, g.counted = n, true
	g.check()
}

func (g *gather) reply(args []json.RawMessage, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.over {
		return
	}
	if err != nil {
		g.failed++
	} else {
		g.replies = append(g.replies, args)
	}
	g.check()
}

func (g *gather) check() {
	if g.counted && !g.over && len(g.replies)+g.failed >= g.want {
		g.over = true
		close(g.done)
	}
}

func (g *gather) result(ctx context.Context) ([][]json.RawMessage, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	replies := g.replies
	if !g.over {
		g.over = true
		return replies, fmt.Errorf("socketio: broadcast ack: %d of %d replies: %w", len(replies), g.want, ctx.Err())
	}
	if g.failed > 0 {
		return replies, fmt.Errorf("socketio: broadcast ack: %d of %d recipients left: %w", g.failed, g.want, ErrDisconnected)
	}
	return replies, nil
}

// ParentNamespace makes dynamic namespaces: the first client to connect to
// a name it matches creates a child Namespace of that name, which stays
// (unless Options.CleanupEmptyChildren). The match only decides whether the
// child is created; once it exists, connections to it do not consult the
// match again, so authorise in middleware.
type ParentNamespace struct {
	srv   *Server
	match func(name string, auth json.RawMessage) bool

	createMu sync.Mutex // serialises the creation of children

	mu           sync.RWMutex // guards the following
	mws          []Middleware
	onConnection func(*Socket)
	onChild      func(*Namespace)
	children     map[string]*Namespace
}

// OfFunc returns a parent of the namespaces whose names match accepts,
// which also sees the CONNECT auth payload (nil when none). Parents are
// tried in the order they were made, after the static namespaces.
func (s *Server) OfFunc(match func(name string, auth json.RawMessage) bool) *ParentNamespace {
	p := &ParentNamespace{srv: s, match: match, children: map[string]*Namespace{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.parents = append(s.parents, p)
	return p
}

// OfRegexp returns a parent of the namespaces whose names re matches.
// Anchor the pattern (^...$): an unanchored one matches substrings.
func (s *Server) OfRegexp(re *regexp.Regexp) *ParentNamespace {
	return s.OfFunc(func(name string, _ json.RawMessage) bool { return re.MatchString(name) })
}

// Use appends a middleware that runs for every child, before the child's
// own.
func (p *ParentNamespace) Use(mw Middleware) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mws = append(p.mws, mw)
}

// OnConnection sets the handler called for each socket that joins any
// child, before the child's own handler.
func (p *ParentNamespace) OnConnection(fn func(*Socket)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.onConnection = fn
}

// OnChild sets a function called with each new child before its first
// socket's middleware runs: give the child its own middleware and handler
// there.
func (p *ParentNamespace) OnChild(fn func(*Namespace)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.onChild = fn
}

// Children returns the current children, sorted by name.
func (p *ParentNamespace) Children() []*Namespace {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]*Namespace, 0, len(p.children))
	for _, n := range p.children {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *Namespace) int {
		if a.name < b.name {
			return -1
		}
		if a.name > b.name {
			return 1
		}
		return 0
	})
	return out
}

// Emit sends an event to every socket of every child.
func (p *ParentNamespace) Emit(event string, args ...any) error {
	for _, n := range p.Children() {
		if err := n.Emit(event, args...); err != nil {
			return err
		}
	}
	return nil
}

// child returns the child called name, creating it.
func (p *ParentNamespace) child(name string) *Namespace {
	p.createMu.Lock()
	defer p.createMu.Unlock()
	s := p.srv
	s.mu.RLock()
	n := s.nsps[name]
	s.mu.RUnlock()
	if n != nil {
		return n
	}
	n = s.newNamespace(name, p)
	p.mu.RLock()
	hook := p.onChild
	p.mu.RUnlock()
	if hook != nil {
		hook(n)
	}
	s.mu.Lock()
	if existing := s.nsps[name]; existing != nil {
		s.mu.Unlock()
		_ = n.adapter.Close()
		return existing
	}
	s.nsps[name] = n
	s.mu.Unlock()
	p.mu.Lock()
	p.children[name] = n
	p.mu.Unlock()
	return n
}

// dropIfEmpty removes a dynamic child that has no socket left, when the
// server cleans up empty children.
func (p *ParentNamespace) dropIfEmpty(n *Namespace) {
	p.createMu.Lock()
	defer p.createMu.Unlock()
	n.mu.Lock()
	if len(n.sockets) > 0 || n.removed {
		n.mu.Unlock()
		return
	}
	n.removed = true
	n.mu.Unlock()
	s := p.srv
	s.mu.Lock()
	if s.nsps[n.name] == n {
		delete(s.nsps, n.name)
	}
	s.mu.Unlock()
	p.mu.Lock()
	if p.children[n.name] == n {
		delete(p.children, n.name)
	}
	p.mu.Unlock()
	_ = n.adapter.Close()
}
