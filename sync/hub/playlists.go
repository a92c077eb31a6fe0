package hub

import (
	"encoding/json"
	"fmt"
	"strings"

	"tandem"
	"tandem/sync/protocol"
	"tandem/sync/socketio"
)

// Shared playlists: list, open (and follow live), create and edit. The
// store applies each edit in one transaction and remembers its op id, so a
// retried command is answered again without being applied twice.

// maxOpIDLen bounds a client's op id.
const maxOpIDLen = 64

func playlistKey(id string) string { return "playlist:" + id }

// validOpID checks a client op id: 1 to 64 printable ASCII characters.
func validOpID(id string) error {
	if id == "" || len(id) > maxOpIDLen || strings.ContainsFunc(id, func(r rune) bool {
		return r < 0x21 || r > 0x7e
	}) {
		return tandem.Errorf(tandem.EINVALID, "opId must be 1 to %d printable ASCII characters, unique per command", maxOpIDLen)
	}
	return nil
}

// validTrackID checks a track id: a lowercase hex sha256.
func validTrackID(id string) error {
	if len(id) != 64 || strings.Trim(id, "0123456789abcdef") != "" {
		return tandem.Errorf(tandem.EINVALID, "trackId must be 64 lowercase hex digits (the file's sha256)")
	}
	return nil
}

func wirePlaylist(p tandem.Playlist) protocol.Playlist {
	return protocol.Playlist{ID: p.ID, Name: p.Name, Owner: p.Owner, Collaborative: p.Collaborative,
		Version: p.Version, CreatedAt: p.CreatedAt}
}

func (h *Hub) playlists(s *socketio.Socket, payload json.RawMessage) (any, error) {
	if err := decodeEmpty(payload); err != nil {
		return nil, err
	}
	ps, err := h.store.PlaylistSummaries()
	if err != nil {
		return nil, fmt.Errorf("hub: list playlists: %w", err)
	}
	out := make([]protocol.Playlist, 0, len(ps))
	for _, p := range ps {
		out = append(out, wirePlaylist(p))
	}
	return protocol.PlaylistsAck{Ack: protocol.OK(), Playlists: out}, nil
}

// openPlaylist answers with the whole playlist and subscribes the socket
// to its changes (playlist events) until playlist:close.
func (h *Hub) openPlaylist(s *socketio.Socket, payload json.RawMessage) (any, error) {
	var req protocol.PlaylistRequest
	if err := decode(payload, &req); err != nil {
		return nil, err
	}
	if err := validID("playlistId", req.PlaylistID, 'p'); err != nil {
		return nil, err
	}
	// Subscribe first: an edit that lands between the read and the join
	// then arrives as an event with a newer version, which the client
	// applies; one that landed before is in the read.
	s.Join(playlistKey(req.PlaylistID))
	p, err := h.store.Playlist(req.PlaylistID)
	if err != nil {
		s.Leave(playlistKey(req.PlaylistID))
		if tandem.ErrorCode(err) == tandem.ENOTFOUND {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "no playlist %q", req.PlaylistID)
		}
		return nil, err
	}
	wp := wirePlaylist(p)
	wp.Entries = h.wireEntries(p.Entries)
	return protocol.PlaylistAck{Ack: protocol.OK(), Playlist: wp}, nil
}

func (h *Hub) closePlaylist(s *socketio.Socket, payload json.RawMessage) (any, error) {
	var req protocol.PlaylistRequest
	if err := decode(payload, &req); err != nil {
		return nil, err
	}
	if err := validID("playlistId", req.PlaylistID, 'p'); err != nil {
		return nil, err
	}
	s.Leave(playlistKey(req.PlaylistID))
	return protocol.OK(), nil
}

func (h *Hub) createPlaylist(s *socketio.Socket, payload json.RawMessage) (any, error) {
	var req protocol.CreatePlaylistRequest
	if err := decode(payload, &req); err != nil {
		return nil, err
	}
	if err := validOpID(req.OpID); err != nil {
		return nil, err
	}
	if err := validName(req.Name); err != nil {
		return nil, err
	}
	user := userOf(s)
	p, _, err := h.store.NewPlaylist(tandem.Op{User: user, ID: req.OpID}, req.Name, user, req.Collaborative)
	if err != nil {
		return nil, err
	}
	wp := wirePlaylist(p)
	wp.Entries = []protocol.Entry{}
	return protocol.PlaylistAck{Ack: protocol.OK(), Playlist: wp}, nil
}

// editCommand returns the handler of one kind of playlist edit.
func (h *Hub) editCommand(kind tandem.EditKind) command {
	return func(s *socketio.Socket, payload json.RawMessage) (any, error) {
		var req protocol.EditRequest
		if err := decode(payload, &req); err != nil {
			return nil, err
		}
		e, err := editOf(kind, req)
		if err != nil {
			return nil, err
		}
		user := userOf(s)
		res, err := h.store.EditPlaylist(tandem.Op{User: user, ID: req.OpID}, req.PlaylistID, e)
		if err != nil {
			return nil, err
		}
		ack := protocol.EditAck{Ack: protocol.OK(), Version: res.Playlist.Version}
		if res.Entry.ID != "" {
			we := h.wireEntry(res.Entry)
			ack.Entry = &we
		}
		if !res.Duplicate { // a retry's changes went out the first time
			h.publishEdit(kind, user, res, ack.Entry)
		}
		return ack, nil
	}
}

// editOf checks an edit request's fields for its kind: every field it
// needs, and none it does not use.
func editOf(kind tandem.EditKind, req protocol.EditRequest) (tandem.Edit, error) {
	if err := validOpID(req.OpID); err != nil {
		return tandem.Edit{}, err
	}
	if err := validID("playlistId", req.PlaylistID, 'p'); err != nil {
		return tandem.Edit{}, err
	}
	e := tandem.Edit{Kind: kind, TrackID: req.TrackID, EntryID: req.EntryID,
		Position: tandem.Position{After: req.After, Before: req.Before, Start: req.Start}}
	placed := req.After != "" || req.Before != "" || req.Start
	unused := func(ok bool, field string) error {
		if !ok {
			return tandem.Errorf(tandem.EINVALID, "%s does not apply to playlist:%s", field, kind)
		}
		return nil
	}
	var errs []error
	switch kind {
	case tandem.EditAdd:
		errs = append(errs, validTrackID(req.TrackID), unused(req.EntryID == "", "entryId"))
	case tandem.EditMove:
		errs = append(errs, validID("entryId", req.EntryID, 'e'), unused(req.TrackID == "", "trackId"))
	case tandem.EditRemove:
		errs = append(errs, validID("entryId", req.EntryID, 'e'), unused(req.TrackID == "", "trackId"),
			unused(!placed, "a place (after, before, start)"))
	case tandem.EditRename:
		errs = append(errs, validName(req.Name), unused(req.TrackID == "" && req.EntryID == "" && !placed, "an entry or place"))
		e.Name = req.Name
	case tandem.EditShare:
		if req.Collaborative == nil {
			errs = append(errs, tandem.Errorf(tandem.EINVALID, "playlist:share needs collaborative: true or false"))
		} else {
			e.Collaborative = *req.Collaborative
		}
		errs = append(errs, unused(req.TrackID == "" && req.EntryID == "" && !placed, "an entry or place"))
	}
	if kind != tandem.EditRename {
		errs = append(errs, unused(req.Name == "", "name"))
	}
	if kind != tandem.EditShare {
		errs = append(errs, unused(req.Collaborative == nil, "collaborative"))
	}
	if req.After != "" {
		errs = append(errs, validID("after", req.After, 'e'))
	}
	if req.Before != "" {
		errs = append(errs, validID("before", req.Before, 'e'))
	}
	errs = append(errs, e.Position.Valid())
	for _, err := range errs {
		if err != nil {
			return tandem.Edit{}, err
		}
	}
	return e, nil
}

// publishEdit sends a playlist change to everyone who opened the playlist
// and to the rooms that play it, and the feed item it made to everyone.
func (h *Hub) publishEdit(kind tandem.EditKind, by string, res tandem.EditResult, entry *protocol.Entry) {
	id := res.Playlist.ID
	ev := protocol.PlaylistEvent{PlaylistID: id, Kind: string(kind), Version: res.Playlist.Version, By: by,
		Playlist: wirePlaylist(res.Playlist), Entry: entry}
	if res.Renumbered != nil {
		ev.Kind = "renumber"
		ev.Entries = h.wireEntries(res.Renumbered)
	}
	// The rooms that play the playlist as their queue get it too. Their
	// end-of-track timers read the queue when they fire, so the next
	// track follows the edit with nothing more to do.
	targets := []string{playlistKey(id)}
	h.mu.Lock()
	rooms := make([]*liveRoom, 0, len(h.rooms))
	for _, lr := range h.rooms {
		rooms = append(rooms, lr)
	}
	h.mu.Unlock()
	for _, lr := range rooms {
		lr.mu.Lock()
		if lr.room.Fallback == id && len(lr.room.Queue) == 0 {
			targets = append(targets, roomKey(lr.room.Name))
		}
		lr.mu.Unlock()
	}
	h.emitTo(targets, protocol.EventPlaylist, ev)
	if res.Activity != nil {
		h.publishActivity(*res.Activity)
	}
}

// wireEntry converts one entry, with its track.
func (h *Hub) wireEntry(e tandem.Entry) protocol.Entry {
	we := protocol.Entry{ID: e.ID, TrackID: e.TrackID, AddedBy: e.AddedBy, AddedAt: e.AddedAt, Order: e.Order}
	if t, err := h.track(e.TrackID); err == nil {
		we.Track = protocol.WireTrack(t)
	}
	return we
}
