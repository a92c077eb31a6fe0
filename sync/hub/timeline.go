package hub

import (
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"tandem"
	"tandem/sync/protocol"
	"tandem/sync/socketio"
)

// The room's timeline: how far ahead commands are scheduled, the play
// order (shuffle), stale commands, next and previous, the repeat mode, and
// the gapless move to the next entry.

// Bounds of the adaptive lead.
const (
	// MinLead is the shortest lead: enough for a member on a LAN to get
	// the event, load the track and fill its output buffer.
	MinLead = 250 * time.Millisecond
	// MaxLead is the longest: a command should still feel like a reaction.
	MaxLead = 2 * time.Second
	// leadMargin is added to the slowest member's round trip: loading a
	// track and an output buffer take about this long.
	leadMargin = 200 * time.Millisecond
	// assumedRTT is the round trip of a member that has not reported one
	// (a client other than Tandem's, which does not send clock:report).
	assumedRTT = 100 * time.Millisecond
)

// rtts holds the round trips that sockets reported with clock:report.
type rtts struct {
	mu  sync.Mutex
	rtt map[string]time.Duration // socket id -> round trip
}

func (r *rtts) set(sid string, d time.Duration) {
	r.mu.Lock()
	r.rtt[sid] = d
	r.mu.Unlock()
}

func (r *rtts) forget(sid string) {
	r.mu.Lock()
	delete(r.rtt, sid)
	r.mu.Unlock()
}

func (r *rtts) get(sid string) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d, ok := r.rtt[sid]; ok {
		return d
	}
	return assumedRTT
}

// leadLocked is how far ahead the room's next command is scheduled: the
// slowest connected member's round trip plus leadMargin, within MinLead
// and MaxLead. A round trip covers the event's way out (half of it) with
// as much again for jitter. Config.Lead, when set, fixes it. lr.mu must be
// held.
func (h *Hub) leadLocked(lr *liveRoom) time.Duration {
	if h.lead > 0 {
		return h.lead
	}
	slowest := time.Duration(0)
	for sid := range lr.members {
		slowest = max(slowest, h.rtt.get(sid))
	}
	return min(max(slowest+leadMargin, MinLead), MaxLead)
}

// clockReport records the round trip a client measured to the hub.
func (h *Hub) clockReport(s *socketio.Socket, payload json.RawMessage) (any, error) {
	var req protocol.ClockReportRequest
	if err := decode(payload, &req); err != nil {
		return nil, err
	}
	if req.RTT < 0 || req.RTT > 60_000 {
		return nil, tandem.Errorf(tandem.EINVALID, "rtt must be between 0 and 60000 ms")
	}
	h.rtt.set(s.ID(), protocol.Dur(req.RTT))
	lead := h.lead
	if lead <= 0 {
		lead = min(max(protocol.Dur(req.RTT)+leadMargin, MinLead), MaxLead)
	}
	return protocol.LeadAck{Ack: protocol.OK(), Lead: protocol.Ms(lead)}, nil
}

// controlled runs fn on a room the caller has joined and may control,
// under the room's lock, once the command's base version (nil: none) is
// checked: the common part of every command that changes what a room plays.
func (h *Hub) controlled(s *socketio.Socket, room string, version *uint64, fn func(lr *liveRoom) (any, error)) (any, error) {
	lr, err := h.member(s, room)
	if err != nil {
		return nil, err
	}
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if err := mayControl(lr.room, userOf(s)); err != nil {
		return nil, err
	}
	if err := stale(lr.room, version); err != nil {
		return nil, err
	}
	return fn(lr)
}

// stale refuses a command based on another version of the room.
func stale(r tandem.Room, version *uint64) error {
	if version != nil && *version != r.Version {
		return tandem.Errorf(tandem.ECONFLICT, "stale command: room %q is at version %d, and the command was based on version %d; apply the newer events and try again",
			r.Name, r.Version, *version)
	}
	return nil
}

// playOrder returns the queue in the order the room plays it: as it is,
// or, with shuffle on, sorted by a hash of the room's seed and each
// entry's id. Every member thus sees the same "up next", and an entry
// added to the playlist lands at a place of its own without moving the
// others.
func playOrder(r tandem.Room, q []tandem.Entry) []tandem.Entry {
	if !r.Shuffle || len(q) < 2 {
		return q
	}
	key := func(id string) uint64 {
		f := fnv.New64a()
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], r.Seed)
		f.Write(b[:])
		f.Write([]byte(id))
		return f.Sum64()
	}
	out := slices.Clone(q)
	keys := make(map[string]uint64, len(out))
	for _, e := range out {
		keys[e.ID] = key(e.ID)
	}
	slices.SortStableFunc(out, func(a, b tandem.Entry) int {
		switch ka, kb := keys[a.ID], keys[b.ID]; {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
	return out
}

// setShuffle turns shuffle on (with a new order) or off.
func (h *Hub) setShuffle(s *socketio.Socket, payload json.RawMessage) (any, error) {
	var req protocol.ShuffleRequest
	if err := decode(payload, &req); err != nil {
		return nil, err
	}
	return h.controlled(s, req.Room, nil, func(lr *liveRoom) (any, error) {
		r, err := h.update(lr, func(r *tandem.Room) error {
			r.Shuffle = req.Shuffle
			if req.Shuffle {
				r.Seed = rand.Uint64()
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		h.emit(r.Name, protocol.EventRoom, roomInfo(r))
		if err := h.emitQueueLocked(lr); err != nil {
			return nil, err
		}
		return protocol.VersionAck{Ack: protocol.OK(), Version: r.Version}, nil
	})
}

// setRepeat sets the room's repeat mode: off, all or one.
func (h *Hub) setRepeat(s *socketio.Socket, payload json.RawMessage) (any, error) {
	var req protocol.RepeatRequest
	if err := decode(payload, &req); err != nil {
		return nil, err
	}
	switch req.Repeat {
	case protocol.RepeatOff, protocol.RepeatAll, protocol.RepeatOne:
	default:
		return nil, tandem.Errorf(tandem.EINVALID, "repeat must be %q, %q or %q",
			protocol.RepeatOff, protocol.RepeatAll, protocol.RepeatOne)
	}
	return h.controlled(s, req.Room, nil, func(lr *liveRoom) (any, error) {
		r, err := h.update(lr, func(r *tandem.Room) error {
			r.Repeat = req.Repeat
			return nil
		})
		if err != nil {
			return nil, err
		}
		h.emit(r.Name, protocol.EventRoom, roomInfo(r))
		return protocol.VersionAck{Ack: protocol.OK(), Version: r.Version}, nil
	})
}

// afterEnd picks what room r plays when its track ends, given its play
// order q: with repeat one, the same entry again (or the same track, if it
// was played by id); otherwise the next entry, and with repeat all the
// first after the last. An entry no longer in the queue, or a track played
// by id, has no next: the room stops, as it does after the last entry.
func afterEnd(r tandem.Room, q []tandem.Entry) (tandem.Entry, bool) {
	p := r.Playback
	if p.TrackID == "" {
		return tandem.Entry{}, false
	}
	i := -1
	if p.EntryID != "" {
		i = slices.IndexFunc(q, func(e tandem.Entry) bool { return e.ID == p.EntryID })
	}
	switch {
	case r.Repeat == protocol.RepeatOne && (p.EntryID == "" || i >= 0):
		return tandem.Entry{ID: p.EntryID, TrackID: p.TrackID}, true
	case i < 0:
		return tandem.Entry{}, false
	case i+1 < len(q):
		return q[i+1], true
	case r.Repeat == protocol.RepeatAll:
		return q[0], true
	}
	return tandem.Entry{}, false
}

func (h *Hub) next(s *socketio.Socket, payload json.RawMessage) (any, error) {
	return h.step(s, payload, +1)
}

func (h *Hub) previous(s *socketio.Socket, payload json.RawMessage) (any, error) {
	return h.step(s, payload, -1)
}

// restartAfter: playback:previous within this much of a track's start
// goes to the previous entry; later, it restarts the track.
const restartAfter = 3 * time.Second

// step moves the room to the next (+1) or previous (-1) entry of its play
// order, scheduled after the lead.
func (h *Hub) step(s *socketio.Socket, payload json.RawMessage, dir int) (any, error) {
	var req protocol.StepRequest
	if err := decode(payload, &req); err != nil {
		return nil, err
	}
	return h.controlled(s, req.Room, req.Version, func(lr *liveRoom) (any, error) {
		return h.stepLocked(s, lr, req.Room, dir)
	})
}

// stepLocked is step on a room whose lock is held.
func (h *Hub) stepLocked(s *socketio.Socket, lr *liveRoom, room string, dir int) (any, error) {
	q, err := h.queue(lr.room)
	if err != nil {
		return nil, err
	}
	if len(q) == 0 {
		return nil, tandem.Errorf(tandem.ECONFLICT, "room %q has an empty queue", room)
	}
	p := lr.room.Playback
	at := h.now().Add(h.leadLocked(lr))
	i := slices.IndexFunc(q, func(e tandem.Entry) bool { return e.ID == p.EntryID })
	var target tandem.Entry
	switch {
	case dir < 0 && p.TrackID != "" && p.PositionAt(at) > restartAfter:
		target = tandem.Entry{ID: p.EntryID, TrackID: p.TrackID} // restart
	case i < 0:
		target = q[0]
	case i+dir < 0:
		target = q[i] // before the first: restart it
	case i+dir >= len(q) && lr.room.Repeat == protocol.RepeatAll:
		target = q[0] // repeat all: after the last, the first
	case i+dir >= len(q):
		return nil, tandem.Errorf(tandem.ECONFLICT, "no entry after the last one in room %q", room)
	default:
		target = q[i+dir]
	}
	r, err := h.switchTrackAt(lr, target.ID, target.TrackID, userOf(s), at)
	if err != nil {
		return nil, err
	}
	return protocol.VersionAck{Ack: protocol.OK(), Version: r.Version}, nil
}
