package hub

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"golang.org/x/text/unicode/norm"

	"tandem"
	"tandem/store"
	"tandem/sync/protocol"
	"tandem/sync/socketio"
)

// Rooms: who may enter, who may control, and the commands that change a
// room's membership. The timeline commands are in hub.go.

// newRoomCode returns a fresh room invite code: 80 random bits in
// unpadded base32 (16 characters), so that codes cannot be guessed.
func newRoomCode() string {
	b := make([]byte, 10)
	rand.Read(b) // never fails; see crypto/rand.Read
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
}

// validCode checks the shape of a room invite code.
func validCode(code string) error {
	if len(code) != 16 || strings.Trim(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
		return tandem.Errorf(tandem.EINVALID, "an invite code is 16 characters of A-Z and 2-7")
	}
	return nil
}

// mayEnter reports whether user belongs to room r.
func (h *Hub) mayEnter(r tandem.Room, user string) bool {
	return h.openRooms || r.Host == user || slices.Contains(r.Members, user)
}

// mayControl checks that user may change room r's playback or queue.
func mayControl(r tandem.Room, user string) error {
	if r.Policy == tandem.HostOnly && user != r.Host {
		return tandem.Errorf(tandem.EFORBIDDEN, "only the host, %s, controls room %q", r.Host, r.Name)
	}
	return nil
}

// isHost checks that user hosts room r.
func isHost(r tandem.Room, user, what string) error {
	if user != r.Host {
		return tandem.Errorf(tandem.EFORBIDDEN, "only the host, %s, may %s in room %q", r.Host, what, r.Name)
	}
	return nil
}

func validPolicy(p tandem.ControlPolicy) error {
	if p != tandem.Everyone && p != tandem.HostOnly {
		return tandem.Errorf(tandem.EINVALID, "policy must be %q or %q", tandem.Everyone, tandem.HostOnly)
	}
	return nil
}

// roomInfo describes a room for its members.
func roomInfo(r tandem.Room) protocol.RoomInfo {
	policy := r.Policy
	if policy == "" {
		policy = tandem.Everyone
	}
	members := slices.Clone(r.Members)
	if members == nil {
		members = []string{}
	}
	repeat := r.Repeat
	if repeat == "" {
		repeat = protocol.RepeatOff
	}
	return protocol.RoomInfo{Room: r.Name, Host: r.Host, Policy: policy, Code: r.Code, Members: members,
		Playlist: r.Fallback, Shuffle: r.Shuffle, Wait: r.Wait, Repeat: repeat, Version: r.Version}
}

// newRoom returns a new room hosted by host.
func (h *Hub) newRoom(name, host string, policy tandem.ControlPolicy) tandem.Room {
	if policy == "" {
		policy = tandem.Everyone
	}
	return tandem.Room{Name: name, Host: host, Code: newRoomCode(), Policy: policy, Members: []string{host},
		Queue: []tandem.Entry{}, Fallback: h.fallback, Playback: tandem.Playback{State: tandem.Stopped},
		CreatedAt: h.now().UTC()}
}

// load returns the live state of an existing room, found by its name as
// given or else by the name's NFC form (the form new rooms are stored
// under), or an ENOTFOUND error.
func (h *Hub) load(name string) (*liveRoom, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if lr, ok := h.rooms[name]; ok {
		return lr, nil
	}
	r, err := h.store.Room(name)
	if nfc := norm.NFC.String(name); tandem.ErrorCode(err) == tandem.ENOTFOUND && nfc != name {
		if lr, ok := h.rooms[nfc]; ok {
			return lr, nil
		}
		r, err = h.store.Room(nfc)
	}
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no room %q", name)
	}
	if err != nil {
		return nil, fmt.Errorf("hub: load room %q: %w", name, err)
	}
	return h.addLiveLocked(r), nil
}

// addLiveLocked makes a stored room live; h.mu must be held.
func (h *Hub) addLiveLocked(r tandem.Room) *liveRoom {
	if r.Code == "" { // a room stored before rooms had codes
		r.Code = newRoomCode()
	}
	if r.Host != "" && !slices.Contains(r.Members, r.Host) {
		r.Members = append(r.Members, r.Host)
	}
	lr := &liveRoom{room: r, members: map[string]*socketio.Socket{}}
	h.armEnd(lr) // a room stored while playing goes on where it is
	h.rooms[r.Name] = lr
	return lr
}

// create stores a new room under the NFC form of name and makes it live.
// A name that breaks the name rules (store.NormalizeName) gives EINVALID,
// a room of that name that exists ECONFLICT.
func (h *Hub) create(name, host string, policy tandem.ControlPolicy) (*liveRoom, error) {
	name, err := store.NormalizeName(name)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.rooms[name]; ok {
		return nil, tandem.Errorf(tandem.ECONFLICT, "room %q exists", name)
	}
	if _, err := h.store.Room(name); err == nil {
		return nil, tandem.Errorf(tandem.ECONFLICT, "room %q exists", name)
	} else if tandem.ErrorCode(err) != tandem.ENOTFOUND {
		return nil, fmt.Errorf("hub: create room %q: %w", name, err)
	}
	r := h.newRoom(name, host, policy)
	if err := h.store.PutRoom(r); err != nil {
		return nil, fmt.Errorf("hub: create room %q: %w", name, err)
	}
	return h.addLiveLocked(r), nil
}

func (h *Hub) createRoom(s *socketio.Socket, payload json.RawMessage) (any, error) {
	var req protocol.CreateRoomRequest
	if err := decode(payload, &req); err != nil {
		return nil, err
	}
	if err := validName(req.Room); err != nil {
		return nil, err
	}
	if req.Policy != "" {
		if err := validPolicy(req.Policy); err != nil {
			return nil, err
		}
	}
	lr, err := h.create(req.Room, userOf(s), req.Policy)
	if err != nil {
		return nil, err
	}
	return h.enter(s, lr, false)
}

// join enters a room by name, creating it (hosted by the caller) if there
// is none, or by invite code, which makes the caller a member.
func (h *Hub) join(s *socketio.Socket, payload json.RawMessage) (any, error) {
	var req protocol.JoinRequest
	if err := decode(payload, &req); err != nil {
		return nil, err
	}
	if (req.Room == "") == (req.Code == "") {
		return nil, tandem.Errorf(tandem.EINVALID, "give exactly one of room and code")
	}
	user := userOf(s)
	if req.Code != "" {
		if err := validCode(req.Code); err != nil {
			return nil, err
		}
		r, err := h.store.RoomByCode(req.Code)
		if err != nil {
			if tandem.ErrorCode(err) == tandem.ENOTFOUND {
				return nil, tandem.Errorf(tandem.ENOTFOUND, "no room has this invite code; ask the host for a new link")
			}
			return nil, err
		}
		lr, err := h.load(r.Name)
		if err != nil {
			return nil, err
		}
		return h.enter(s, lr, true)
	}
	if err := validName(req.Room); err != nil {
		return nil, err
	}
	lr, err := h.load(req.Room)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		lr, err = h.create(req.Room, user, "")
		if tandem.ErrorCode(err) == tandem.ECONFLICT {
			lr, err = h.load(req.Room) // created by someone else meanwhile
		}
	}
	if err != nil {
		return nil, err
	}
	return h.enter(s, lr, false)
}

// enter puts the socket in the room; byCode makes its user a member first.
func (h *Hub) enter(s *socketio.Socket, lr *liveRoom, byCode bool) (any, error) {
	user := userOf(s)
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if byCode && !slices.Contains(lr.room.Members, user) && lr.room.Host != user {
		r, err := h.update(lr, func(r *tandem.Room) error {
			r.Members = append(slices.Clone(r.Members), user)
			return nil
		})
		if err != nil {
			return nil, err
		}
		h.emit(r.Name, protocol.EventRoom, roomInfo(r))
	}
	if !h.mayEnter(lr.room, user) {
		return nil, tandem.Errorf(tandem.EFORBIDDEN, "you are not a member of room %q; ask its host for the invite link", lr.room.Name)
	}
	q, err := h.queue(lr.room)
	if err != nil {
		return nil, err
	}
	s.Join(roomKey(lr.room.Name))
	if !s.In(roomKey(lr.room.Name)) {
		return nil, tandem.Errorf(tandem.ECONFLICT, "the connection closed before the join")
	}
	first := true
	for _, other := range lr.members {
		if userOf(other) == user {
			first = false
		}
	}
	lr.members[s.ID()] = s
	state := &protocol.RoomState{Room: lr.room.Name, Info: roomInfo(lr.room), Queue: h.wireEntries(q),
		NowPlaying: wirePlayback(lr.room.Playback), Version: lr.room.Version, Members: lr.membersLocked(), You: user}
	h.presenceLocked(lr)
	h.friendsChanged()
	if first {
		h.record(tandem.Activity{User: user, Kind: tandem.ActivityListening, Room: lr.room.Name,
			Text: fmt.Sprintf("%s started listening in %s", user, lr.room.Name)})
	}
	return protocol.JoinAck{Ack: protocol.OK(), State: state}, nil
}

func (h *Hub) leave(s *socketio.Socket, payload json.RawMessage) (any, error) {
	var req protocol.RoomRequest
	if err := decode(payload, &req); err != nil {
		return nil, err
	}
	lr, err := h.member(s, req.Room)
	if err != nil {
		return nil, err
	}
	s.Leave(roomKey(req.Room))
	lr.mu.Lock()
	delete(lr.members, s.ID())
	h.readyLocked(lr, s.ID())
	h.presenceLocked(lr)
	lr.mu.Unlock()
	h.friendsChanged()
	return protocol.OK(), nil
}

// listRooms answers room:list with the rooms the caller belongs to.
func (h *Hub) listRooms(s *socketio.Socket, payload json.RawMessage) (any, error) {
	if err := decodeEmpty(payload); err != nil {
		return nil, err
	}
	stored, err := h.store.Rooms()
	if err != nil {
		return nil, fmt.Errorf("hub: list rooms: %w", err)
	}
	user := userOf(s)
	out := []protocol.RoomInfo{}
	for _, r := range stored {
		h.mu.Lock()
		lr := h.rooms[r.Name]
		h.mu.Unlock()
		if lr != nil { // the live state is newer than the stored one
			lr.mu.Lock()
			r = lr.room
			lr.mu.Unlock()
		}
		if h.mayEnter(r, user) {
			out = append(out, roomInfo(r))
		}
	}
	return protocol.RoomsAck{Ack: protocol.OK(), Rooms: out}, nil
}

// hostCommand runs fn on a room the caller hosts and has joined, then
// tells the room its new info.
// after, if set, runs once the change is stored, still under the room's
// lock.
func (h *Hub) hostCommand(s *socketio.Socket, room, what string, fn func(lr *liveRoom, r *tandem.Room) error,
	after func(lr *liveRoom, r tandem.Room)) (any, error) {
	lr, err := h.member(s, room)
	if err != nil {
		return nil, err
	}
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if err := isHost(lr.room, userOf(s), what); err != nil {
		return nil, err
	}
	r, err := h.update(lr, func(r *tandem.Room) error { return fn(lr, r) })
	if err != nil {
		return nil, err
	}
	if after != nil {
		after(lr, r)
	}
	h.emit(r.Name, protocol.EventRoom, roomInfo(r))
	return protocol.RoomInfoAck{Ack: protocol.OK(), Room: roomInfo(r)}, nil
}

func (h *Hub) setPolicy(s *socketio.Socket, payload json.RawMessage) (any, error) {
	var req protocol.PolicyRequest
	if err := decode(payload, &req); err != nil {
		return nil, err
	}
	if err := validPolicy(req.Policy); err != nil {
		return nil, err
	}
	return h.hostCommand(s, req.Room, "change who controls playback", func(_ *liveRoom, r *tandem.Room) error {
		r.Policy = req.Policy
		return nil
	}, nil)
}

func (h *Hub) rotateCode(s *socketio.Socket, payload json.RawMessage) (any, error) {
	var req protocol.RoomRequest
	if err := decode(payload, &req); err != nil {
		return nil, err
	}
	return h.hostCommand(s, req.Room, "change the invite link", func(_ *liveRoom, r *tandem.Room) error {
		r.Code = newRoomCode()
		return nil
	}, nil)
}

// removeMember takes a friend out of a room: out of its members, and its
// connections out of the room, each told with a "removed" event. To come
// back they need the room's invite link, which the host may rotate.
func (h *Hub) removeMember(s *socketio.Socket, payload json.RawMessage) (any, error) {
	var req protocol.RemoveRequest
	if err := decode(payload, &req); err != nil {
		return nil, err
	}
	if err := validName(req.User); err != nil {
		return nil, err
	}
	by := userOf(s)
	return h.hostCommand(s, req.Room, "remove members", func(lr *liveRoom, r *tandem.Room) error {
		if req.User == r.Host {
			return tandem.Errorf(tandem.EINVALID, "the host cannot remove themselves")
		}
		i := slices.Index(r.Members, req.User)
		online := false
		for _, m := range lr.members {
			online = online || userOf(m) == req.User
		}
		if i < 0 && !online {
			return tandem.Errorf(tandem.ENOTFOUND, "%s is not a member of room %q", req.User, r.Name)
		}
		if i >= 0 {
			r.Members = slices.Delete(slices.Clone(r.Members), i, i+1)
		}
		return nil
	}, func(lr *liveRoom, r tandem.Room) {
		for sid, m := range lr.members {
			if userOf(m) != req.User {
				continue
			}
			m.Leave(roomKey(r.Name))
			delete(lr.members, sid)
			h.readyLocked(lr, sid)
			if err := m.Emit(protocol.EventRemoved, protocol.Removed{Room: r.Name, By: by}); err != nil {
				h.log.Debug("hub: tell a removed member", "room", r.Name, "user", req.User, "err", err)
			}
		}
		h.presenceLocked(lr)
		h.friendsChanged()
	})
}

// setRoomPlaylist makes a playlist the room's queue ("" clears it).
func (h *Hub) setRoomPlaylist(s *socketio.Socket, payload json.RawMessage) (any, error) {
	var req protocol.RoomPlaylistRequest
	if err := decode(payload, &req); err != nil {
		return nil, err
	}
	if req.PlaylistID != "" {
		if err := validID("playlistId", req.PlaylistID, 'p'); err != nil {
			return nil, err
		}
		if _, err := h.store.Playlist(req.PlaylistID); err != nil {
			if tandem.ErrorCode(err) == tandem.ENOTFOUND {
				return nil, tandem.Errorf(tandem.ENOTFOUND, "no playlist %q", req.PlaylistID)
			}
			return nil, err
		}
	}
	return h.controlled(s, req.Room, nil, func(lr *liveRoom) (any, error) {
		r, err := h.update(lr, func(r *tandem.Room) error {
			r.Fallback = req.PlaylistID
			return nil
		})
		if err != nil {
			return nil, err
		}
		if err := h.emitQueueLocked(lr); err != nil {
			return nil, err
		}
		return protocol.VersionAck{Ack: protocol.OK(), Version: r.Version}, nil
	})
}

// emitQueueLocked tells a room its queue; lr.mu must be held.
func (h *Hub) emitQueueLocked(lr *liveRoom) error {
	q, err := h.queue(lr.room)
	if err != nil {
		return err
	}
	h.emit(lr.room.Name, protocol.EventQueue, protocol.QueueEvent{Room: lr.room.Name, PlaylistID: lr.room.Fallback,
		Queue: h.wireEntries(q), Version: lr.room.Version})
	return nil
}

// validID checks an id of the form prefix + decimal number.
func validID(field, id string, prefix byte) error {
	if len(id) < 2 || len(id) > 21 || id[0] != prefix || id[1] == '0' || strings.Trim(id[1:], "0123456789") != "" {
		return tandem.Errorf(tandem.EINVALID, "%s must look like %c123", field, prefix)
	}
	return nil
}

// decodeEmpty accepts an absent, null or empty-object payload.
func decodeEmpty(payload json.RawMessage) error {
	if len(payload) == 0 || string(payload) == "null" {
		return nil
	}
	var empty struct{}
	return decode(payload, &empty)
}

// RoomLinks returns a room's invite links: tandem://HOST:PORT/join/CODE
// for the player and http(s)://HOST:PORT/join/CODE for a browser. base is
// the hub's public address.
func RoomLinks(base, code string) (app, web string, err error) {
	return links(base, "/join/", code)
}

// joinPage serves GET /join/CODE: a plain page that tells a friend who
// opened a room's link in a browser how to join with the player. It does
// not look the code up.
func (h *Hub) joinPage(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	if validCode(code) != nil {
		http.NotFound(w, r)
		return
	}
	app, _, err := RoomLinks(h.publicBase(r), code)
	if err != nil {
		h.log.Error("hub: join page", "err", err)
		http.Error(w, "this hub's public address is misconfigured", http.StatusInternalServerError)
		return
	}
	plainPage(w)
	fmt.Fprintf(w, `You are invited to listen together in a Tandem room.

If you already use this hub, start the Tandem player with:

    player --join %s

If you are new to this hub, ask for a hub invite first, then:

    player --invite HUB-INVITE-LINK --name YOUR-NAME --join %s
`, app, app)
}

// publicBase is the hub's address for friends: Config.PublicURL, or the
// address the request came to.
func (h *Hub) publicBase(r *http.Request) string {
	if h.ops.publicURL != "" {
		return h.ops.publicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
