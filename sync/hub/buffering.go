package hub

import (
	"encoding/json"
	"time"

	"tandem"
	"tandem/sync/protocol"
	"tandem/sync/socketio"
)

// Buffering: members tell the hub while they get the current track's audio
// ready (playback:buffering). Everyone sees who is buffering (presence).
// By default the room plays on, and a late member joins in at the right
// place once ready. A room with Wait set holds the group in the Waiting
// state instead, until everyone is ready or the wait runs out, and then
// goes on without the laggards.

// How long a room waits for buffering members: longer for the room's first
// track, when a player may still be starting.
const (
	WaitFirstLoad = 30 * time.Second
	WaitLoad      = 10 * time.Second
)

// isBuffering reports whether a socket is getting the current track ready;
// lr.mu must be held.
func (lr *liveRoom) isBuffering(sid string) bool {
	id, ok := lr.buffering[sid]
	return ok && id == lr.room.Playback.TrackID
}

func (lr *liveRoom) anyBuffering() bool {
	for sid := range lr.buffering {
		if lr.isBuffering(sid) {
			return true
		}
	}
	return false
}

func (h *Hub) bufferingReport(s *socketio.Socket, payload json.RawMessage) (any, error) {
	var req protocol.BufferingRequest
	if err := decode(payload, &req); err != nil {
		return nil, err
	}
	if err := validTrackID(req.TrackID); err != nil {
		return nil, err
	}
	if req.EntryID != "" {
		if err := validID("entryId", req.EntryID, 'e'); err != nil {
			return nil, err
		}
	}
	lr, err := h.member(s, req.Room)
	if err != nil {
		return nil, err
	}
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if req.TrackID != lr.room.Playback.TrackID {
		return protocol.OK(), nil // about a track the room has left: nothing to do
	}
	if lr.buffering == nil {
		lr.buffering = map[string]string{}
	}
	if req.Buffering {
		lr.buffering[s.ID()] = req.TrackID
		if lr.room.Wait && lr.room.Playback.State == tandem.Playing {
			if err := h.holdLocked(lr); err != nil {
				return nil, err
			}
		}
	} else {
		h.readyLocked(lr, s.ID())
	}
	h.presenceLocked(lr)
	return protocol.OK(), nil
}

// holdLocked puts a playing room in the Waiting state, a lead from now,
// and arms the end of the wait; lr.mu must be held.
func (h *Hub) holdLocked(lr *liveRoom) error {
	at := h.now().Add(h.leadLocked(lr))
	r, err := h.update(lr, func(r *tandem.Room) error {
		p := r.Playback
		p.Position, p.StartAt, p.State = p.PositionAt(at), at, tandem.Waiting
		r.Playback = p
		return nil
	})
	if err != nil {
		return err
	}
	h.emit(r.Name, protocol.EventPlayback, protocol.PlaybackEvent{Room: r.Name, Playback: wirePlayback(r.Playback), Version: r.Version})
	wait := h.waits[1]
	if !lr.loadedOne {
		wait = h.waits[0]
	}
	if lr.waitEnd != nil {
		lr.waitEnd.Stop()
	}
	name, version := r.Name, r.Version
	lr.waitEnd = time.AfterFunc(wait, func() { h.waitOver(name, version) })
	return nil
}

// readyLocked notes that a socket has the current track ready (or left),
// and resumes a waiting room once nobody is buffering; lr.mu must be held.
func (h *Hub) readyLocked(lr *liveRoom, sid string) {
	delete(lr.buffering, sid)
	if lr.room.Playback.State != tandem.Waiting || lr.anyBuffering() {
		return
	}
	h.resumeLocked(lr)
}

// waitOver ends a wait that has run out: the room goes on without the
// members still buffering, who join in when they are ready.
func (h *Hub) waitOver(name string, version uint64) {
	h.mu.Lock()
	lr, closed := h.rooms[name], h.closed
	h.mu.Unlock()
	if closed || lr == nil {
		return
	}
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if lr.room.Version != version || lr.room.Playback.State != tandem.Waiting {
		return
	}
	h.log.Info("hub: wait over; playing on without the members still buffering", "room", name)
	h.resumeLocked(lr)
}

// resumeLocked plays a waiting room on from where it waited; lr.mu must be
// held.
func (h *Hub) resumeLocked(lr *liveRoom) {
	if lr.waitEnd != nil {
		lr.waitEnd.Stop()
		lr.waitEnd = nil
	}
	lr.loadedOne = true
	at := h.now().Add(h.leadLocked(lr))
	r, err := h.update(lr, func(r *tandem.Room) error {
		r.Playback.State, r.Playback.StartAt = tandem.Playing, at
		return nil
	})
	if err != nil {
		h.log.Error("hub: resume after a wait", "room", lr.room.Name, "err", err)
		return
	}
	h.emit(r.Name, protocol.EventPlayback, protocol.PlaybackEvent{Room: r.Name, Playback: wirePlayback(r.Playback), Version: r.Version})
}

// setWait turns "wait for everyone" on or off.
func (h *Hub) setWait(s *socketio.Socket, payload json.RawMessage) (any, error) {
	var req protocol.WaitRequest
	if err := decode(payload, &req); err != nil {
		return nil, err
	}
	return h.controlled(s, req.Room, nil, func(lr *liveRoom) (any, error) {
		r, err := h.update(lr, func(r *tandem.Room) error {
			r.Wait = req.Wait
			return nil
		})
		if err != nil {
			return nil, err
		}
		h.emit(r.Name, protocol.EventRoom, roomInfo(r))
		if !req.Wait && r.Playback.State == tandem.Waiting {
			h.resumeLocked(lr)
		}
		return protocol.VersionAck{Ack: protocol.OK(), Version: lr.room.Version}, nil
	})
}
