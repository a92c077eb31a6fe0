package socketio

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Adapter keeps the rooms of one namespace and carries its broadcasts and
// the sessions of connection state recovery. The Server calls it; it
// reaches sockets only through the Local it was made with, by socket id,
// never by pointer, and broadcasts take an encoded packet, so that an
// implementation can span several servers (a NATS adapter is planned).
//
// An implementation must give these guarantees, and NewMemoryAdapter does:
//
//   - Every method is safe for concurrent use.
//   - Join, Leave and LeaveAll are atomic with respect to a broadcast: a
//     broadcast sees all of one call's changes or none of them.
//   - A broadcast never blocks on a slow socket: Local.Send never blocks.
//   - Broadcasts made one after the other (the second starts after the
//     first returned) reach each common recipient in that order. With
//     recovery on, recoverable broadcasts (Broadcast, not volatile) are
//     totally ordered: they reach every common recipient in the order of
//     their offsets, which increase.
//   - RestoreSession is atomic with respect to recoverable broadcasts: each
//     one that the session should get after its offset is either among the
//     missed packets handed to attach or sent to the socket after attach
//     returns, never both and never neither.
//   - Only Broadcast, BroadcastWithAck and RestoreSession call out (to
//     Local, and to attach), possibly holding the adapter's locks; Local
//     and attach must not call the Adapter back.
type Adapter interface {
	// Join adds the socket sid to rooms.
	Join(sid string, rooms ...string)
	// Leave removes the socket sid from rooms.
	Leave(sid string, rooms ...string)
	// LeaveAll removes the socket sid from every room.
	LeaveAll(sid string)
	// Rooms returns the rooms of the socket sid, in no particular order.
	Rooms(sid string) []string
	// Sockets returns the ids of the sockets in any of rooms, or of every
	// socket when no room is given, in no particular order.
	Sockets(rooms ...string) []string
	// Broadcast sends p to the sockets opts selects. With recovery on and
	// opts.Volatile false, it first assigns the packet an offset, appends
	// it to the event (EncodedPacket.WithOffset) and buffers the result
	// for RestoreSession.
	Broadcast(p EncodedPacket, opts BroadcastOptions)
	// BroadcastWithAck sends p, which carries the ack id id, like
	// Broadcast but never buffered, registering reply with each recipient
	// (SendOptions.Ack). It calls count exactly once, with the number of
	// recipients; replies may come before it.
	BroadcastWithAck(p EncodedPacket, id uint64, opts BroadcastOptions, count func(int), reply func([]json.RawMessage, error))
	// Offset returns the offset of the newest buffered packet, "" when
	// there is none or recovery is off. A socket's session starts there.
	Offset() string
	// PersistSession keeps the session of a socket that lost its
	// connection, for the recovery duration.
	PersistSession(s Session)
	// RestoreSession takes the session pid out of the store if it has not
	// expired and no packet after offset has been dropped (offset "" means
	// the session's Start). It then calls attach with the session and the
	// packets it missed, in order; if attach returns true it adds the
	// socket to the session's rooms and returns true. attach must not call
	// the Adapter.
	RestoreSession(pid, offset string, attach func(Session, []EncodedPacket) bool) bool
	// Close releases the adapter's resources.
	Close() error
}

// BroadcastOptions select the recipients of a broadcast.
type BroadcastOptions struct {
	Rooms    []string // members of any of these rooms; every socket when empty
	Except   []string // less the members of any of these rooms
	Volatile bool     // see Broadcast.Volatile
}

// Session is the state of a disconnected socket, kept for connection state
// recovery.
type Session struct {
	PID   string   // the private session id, known only to the client
	SID   string   // the socket id, public
	Rooms []string // the socket's rooms when it disconnected
	// Values are the socket's Set values, as they are in memory. An
	// adapter that stores sessions elsewhere must encode them (JSON), so
	// keep them plain data.
	Values         map[string]any
	Start          string    // the offset when the socket first connected
	DisconnectedAt time.Time // set by PersistSession
}

// Local is a namespace's sockets on this server, as an Adapter sees them.
type Local interface {
	// Send queues p to the socket sid if it is connected here. It never
	// blocks, and it reports whether the packet was queued: false when sid
	// is unknown, gone, or a volatile packet was dropped.
	Send(sid string, p EncodedPacket, opts SendOptions) bool
}

// SendOptions qualify one Local.Send.
type SendOptions struct {
	Volatile bool
	// With Ack set, p carries the ack id AckID, and Ack is called once with
	// the socket's ack arguments, or with ErrDisconnected if it leaves
	// before answering, unless the broadcast gave up waiting first.
	AckID uint64
	Ack   func(args []json.RawMessage, err error)
}

// AdapterConfig is what a new adapter is told about its namespace.
type AdapterConfig struct {
	Namespace string
	Local     Local
	// Recovery is how long sessions and broadcast packets are kept for
	// connection state recovery; 0 turns recovery off.
	Recovery time.Duration
	// MaxPackets bounds the buffer of broadcast packets; older packets are
	// dropped first.
	MaxPackets int
	Logger     *slog.Logger
	Now        func() time.Time // nil means time.Now
}

// NewMemoryAdapter returns the default adapter, which keeps everything in
// this process.
func NewMemoryAdapter(cfg AdapterConfig) Adapter {
	a := &memoryAdapter{
		local:    cfg.Local,
		keep:     cfg.Recovery,
		max:      cfg.MaxPackets,
		now:      cfg.Now,
		rooms:    map[string]map[string]struct{}{},
		sids:     map[string][]string{},
		sessions: map[string]Session{},
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.max <= 0 {
		a.max = DefaultMaxPackets
	}
	var e [4]byte
	_, _ = rand.Read(e[:]) // never fails: crypto/rand panics instead
	a.epoch = hex.EncodeToString(e[:])
	return a
}

// memoryAdapter is the in-process Adapter. Lock order: bmu, then mu, then
// whatever Local takes.
type memoryAdapter struct {
	local Local
	keep  time.Duration // 0: recovery off
	max   int
	now   func() time.Time
	epoch string // distinguishes this adapter's offsets from any other's

	// Every socket is in a room named after its id, alone as a rule; to
	// spare a map per socket, that membership is kept in sids only. A
	// socket's rooms are a slice, as it joins only a few.
	mu    sync.RWMutex                   // guards rooms and sids
	rooms map[string]map[string]struct{} // room -> socket ids, except each socket's own room
	sids  map[string][]string            // socket id -> rooms

	// bmu serialises recoverable broadcasts and restores, and guards the
	// following.
	bmu       sync.Mutex
	seq       uint64 // sequence number of the newest buffered packet
	dropped   uint64 // packets up to this sequence number are gone
	packets   []storedPacket
	sessions  map[string]Session // by pid
	lastSweep time.Time
}

type storedPacket struct {
	seq    uint64
	at     time.Time
	p      EncodedPacket
	rooms  []string
	except []string
}

func (a *memoryAdapter) Join(sid string, rooms ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	mine, ok := a.sids[sid]
	if !ok {
		mine = make([]string, 0, 2) // its own room and one more, as a rule
	}
	for _, r := range rooms {
		if slices.Contains(mine, r) {
			continue
		}
		mine = append(mine, r)
		if r == sid {
			continue
		}
		m := a.rooms[r]
		if m == nil {
			m = map[string]struct{}{}
			a.rooms[r] = m
		}
		m[sid] = struct{}{}
	}
	a.sids[sid] = mine
}

func (a *memoryAdapter) Leave(sid string, rooms ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range rooms {
		if mine, ok := a.sids[sid]; ok {
			if i := slices.Index(mine, r); i >= 0 {
				a.sids[sid] = slices.Delete(mine, i, i+1)
			}
		}
		a.dropMemberLocked(sid, r)
	}
}

// dropMemberLocked removes sid from room's members; a.mu must be held.
func (a *memoryAdapter) dropMemberLocked(sid, room string) {
	if m := a.rooms[room]; m != nil {
		delete(m, sid)
		if len(m) == 0 {
			delete(a.rooms, room)
		}
	}
}

func (a *memoryAdapter) LeaveAll(sid string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.sids[sid] {
		a.dropMemberLocked(sid, r)
	}
	delete(a.sids, sid)
}

func (a *memoryAdapter) Rooms(sid string) []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return append(make([]string, 0, len(a.sids[sid])), a.sids[sid]...)
}

func (a *memoryAdapter) Sockets(rooms ...string) []string {
	var out []string
	a.apply(BroadcastOptions{Rooms: rooms}, func(sid string) { out = append(out, sid) })
	return out
}

// inRoomLocked reports whether sid is in room; a.mu must be held.
func (a *memoryAdapter) inRoomLocked(room, sid string) bool {
	if room == sid {
		return slices.Contains(a.sids[sid], room)
	}
	_, ok := a.rooms[room][sid]
	return ok
}

// eachMemberLocked calls fn for each member of room; a.mu must be held.
func (a *memoryAdapter) eachMemberLocked(room string, fn func(sid string)) {
	for sid := range a.rooms[room] {
		fn(sid)
	}
	if slices.Contains(a.sids[room], room) {
		fn(room) // the socket of that id, in its own room
	}
}

// apply calls fn for each socket opts selects, under a read lock.
func (a *memoryAdapter) apply(opts BroadcastOptions, fn func(sid string)) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	excluded := func(sid string) bool {
		for _, r := range opts.Except {
			if a.inRoomLocked(r, sid) {
				return true
			}
		}
		return false
	}
	switch len(opts.Rooms) {
	case 0:
		for sid := range a.sids {
			if !excluded(sid) {
				fn(sid)
			}
		}
	case 1:
		a.eachMemberLocked(opts.Rooms[0], func(sid string) {
			if !excluded(sid) {
				fn(sid)
			}
		})
	default:
		seen := map[string]struct{}{}
		for _, r := range opts.Rooms {
			a.eachMemberLocked(r, func(sid string) {
				if _, dup := seen[sid]; dup || excluded(sid) {
					return
				}
				seen[sid] = struct{}{}
				fn(sid)
			})
		}
	}
}

func (a *memoryAdapter) Broadcast(p EncodedPacket, opts BroadcastOptions) {
	send := SendOptions{Volatile: opts.Volatile}
	if a.keep == 0 || opts.Volatile {
		a.apply(opts, func(sid string) { a.local.Send(sid, p, send) })
		return
	}
	a.bmu.Lock()
	defer a.bmu.Unlock()
	a.seq++
	p = p.WithOffset(a.offset(a.seq))
	now := a.now()
	a.packets = append(a.packets, storedPacket{seq: a.seq, at: now, p: p,
		rooms: slices.Clone(opts.Rooms), except: slices.Clone(opts.Except)})
	a.trimLocked(now)
	a.apply(opts, func(sid string) { a.local.Send(sid, p, send) })
}

func (a *memoryAdapter) BroadcastWithAck(p EncodedPacket, id uint64, opts BroadcastOptions, count func(int), reply func([]json.RawMessage, error)) {
	send := SendOptions{Volatile: opts.Volatile, AckID: id, Ack: reply}
	n := 0
	a.apply(opts, func(sid string) {
		if a.local.Send(sid, p, send) {
			n++
		}
	})
	count(n)
}

// offset formats a sequence number as an offset of this adapter.
func (a *memoryAdapter) offset(seq uint64) string {
	return a.epoch + "-" + strconv.FormatUint(seq, 36)
}

// parseOffset returns the sequence number of one of this adapter's offsets.
func (a *memoryAdapter) parseOffset(o string) (uint64, bool) {
	epoch, seq, ok := strings.Cut(o, "-")
	if !ok || epoch != a.epoch {
		return 0, false
	}
	n, err := strconv.ParseUint(seq, 36, 64)
	return n, err == nil
}

// trimLocked drops packets older than the recovery duration, and the
// oldest beyond the maximum count, and sweeps expired sessions now and
// then. a.bmu must be held.
func (a *memoryAdapter) trimLocked(now time.Time) {
	cut := 0
	for cut < len(a.packets) && (len(a.packets)-cut > a.max || now.Sub(a.packets[cut].at) > a.keep) {
		cut++
	}
	if cut > 0 {
		a.dropped = a.packets[cut-1].seq
		clear(a.packets[:cut]) // let the packets' bytes go
		a.packets = a.packets[cut:]
	}
	if now.Sub(a.lastSweep) > a.keep/2 {
		a.lastSweep = now
		for pid, s := range a.sessions {
			if now.Sub(s.DisconnectedAt) > a.keep {
				delete(a.sessions, pid)
			}
		}
	}
}

func (a *memoryAdapter) Offset() string {
	if a.keep == 0 {
		return ""
	}
	a.bmu.Lock()
	defer a.bmu.Unlock()
	return a.offset(a.seq)
}

func (a *memoryAdapter) PersistSession(s Session) {
	if a.keep == 0 {
		return
	}
	a.bmu.Lock()
	defer a.bmu.Unlock()
	now := a.now()
	s.DisconnectedAt = now
	a.sessions[s.PID] = s
	a.trimLocked(now)
}

func (a *memoryAdapter) RestoreSession(pid, offset string, attach func(Session, []EncodedPacket) bool) bool {
	if a.keep == 0 || pid == "" {
		return false
	}
	a.bmu.Lock()
	defer a.bmu.Unlock()
	s, ok := a.sessions[pid]
	if !ok {
		return false
	}
	delete(a.sessions, pid)
	now := a.now()
	a.trimLocked(now)
	if now.Sub(s.DisconnectedAt) > a.keep {
		return false
	}
	if offset == "" {
		offset = s.Start
	}
	seq, ok := a.parseOffset(offset)
	if !ok || seq < a.dropped || seq > a.seq {
		return false
	}
	var missed []EncodedPacket
	i, _ := slices.BinarySearchFunc(a.packets, seq+1, func(p storedPacket, want uint64) int {
		return cmp.Compare(p.seq, want)
	})
	for _, sp := range a.packets[i:] {
		if shouldGet(s.Rooms, sp.rooms, sp.except) {
			missed = append(missed, sp.p)
		}
	}
	if !attach(s, missed) {
		return false
	}
	a.Join(s.SID, s.Rooms...)
	return true
}

// shouldGet reports whether a socket in rooms is among the recipients of a
// broadcast to to, except except.
func shouldGet(rooms, to, except []string) bool {
	in := len(to) == 0
	for _, r := range rooms {
		if slices.Contains(except, r) {
			return false
		}
		if !in && slices.Contains(to, r) {
			in = true
		}
	}
	return in
}

func (a *memoryAdapter) Close() error {
	a.bmu.Lock()
	defer a.bmu.Unlock()
	a.packets, a.sessions = nil, map[string]Session{}
	return nil
}
