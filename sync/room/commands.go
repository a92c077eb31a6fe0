package room

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"tandem"
	"tandem/sync/protocol"
	"tandem/sync/socketio"
)

// The commands that change which room the client is in, the room's
// settings, the hub's playlists, and the friends' presence and feed.

// Connected reports whether the client is connected to the hub now.
func (c *Client) Connected() bool { return c.io.Connected() }

// NextAttempt returns when the next reconnection attempt starts, while
// the client waits for it; the zero time otherwise.
func (c *Client) NextAttempt() time.Time { return c.io.NextAttempt() }

// Retry reconnects now, if the client is waiting to reconnect.
func (c *Client) Retry() { c.io.Retry() }

// Join moves the client into the room called name, of which the user
// must be a member (a room that does not exist is created, hosted by the
// user). After reconnections the client rejoins that room. The room it
// was in before is left once the join succeeded; if the join fails, the
// client stays where it was.
func (c *Client) Join(ctx context.Context, name string) (protocol.RoomState, error) {
	return c.enter(ctx, protocol.RoomJoin, protocol.JoinRequest{Room: name})
}

// JoinCode moves the client into the room whose invite code this is,
// making the user a member.
func (c *Client) JoinCode(ctx context.Context, code string) (protocol.RoomState, error) {
	return c.enter(ctx, protocol.RoomJoin, protocol.JoinRequest{Code: code})
}

// Create creates a room hosted by the user, with the control policy
// ("" means everyone), and moves the client into it. A name in use is
// refused (ECONFLICT).
func (c *Client) Create(ctx context.Context, name string, policy tandem.ControlPolicy) (protocol.RoomState, error) {
	return c.enter(ctx, protocol.RoomCreate, protocol.CreateRoomRequest{Room: name, Policy: policy})
}

// enter sends a command that joins a room (room:join or room:create) and,
// once it succeeded, makes that room the client's, leaves the old one and
// calls Handlers.Joined.
func (c *Client) enter(ctx context.Context, event string, req any) (protocol.RoomState, error) {
	c.joinMu.Lock()
	defer c.joinMu.Unlock()
	old := c.RoomName()
	var ack protocol.JoinAck
	if err := c.call(ctx, event, req, &ack); err != nil {
		return protocol.RoomState{}, err
	}
	if ack.State == nil {
		return protocol.RoomState{}, fmt.Errorf("room: %s: ack without state", event)
	}
	st := *ack.State
	c.mu.Lock()
	c.room, c.code, c.state = st.Room, "", st
	c.mu.Unlock()
	if old != "" && old != st.Room {
		c.leaveOnHub(ctx, old)
	}
	if c.h.Joined != nil {
		c.h.Joined(st)
	}
	return st, nil
}

// Leave leaves the room: the client is then in no room (RoomName is ""),
// also after reconnections, until the next Join. The user stays a member.
func (c *Client) Leave(ctx context.Context) error {
	c.joinMu.Lock()
	defer c.joinMu.Unlock()
	old := c.RoomName()
	if old == "" {
		return nil
	}
	c.mu.Lock()
	c.room, c.code, c.state = "", "", protocol.RoomState{}
	c.mu.Unlock()
	c.leaveOnHub(ctx, old)
	return nil
}

// leaveOnHub tells the hub that the client left a room. Without a
// connection, the hub dropped the client from its rooms already; but a
// recovered connection gets its rooms back, so the room is left again
// after the next connection. c.joinMu must be held.
func (c *Client) leaveOnHub(ctx context.Context, room string) {
	var ack protocol.Ack
	err := c.call(ctx, protocol.RoomLeave, protocol.RoomRequest{Room: room}, &ack)
	if err == nil {
		return
	}
	var te *tandem.Error
	if errors.As(err, &te) {
		c.log.Debug("room: leave", "room", room, "err", err) // not joined there: nothing to undo
		return
	}
	c.mu.Lock()
	c.left = append(c.left, room)
	c.mu.Unlock()
}

// leaveLeft leaves, after a (re)connection, the rooms left while the
// connection was down. c.joinMu must be held.
func (c *Client) leaveLeft(ctx context.Context) {
	c.mu.Lock()
	left, current := c.left, c.room
	c.left = nil
	c.mu.Unlock()
	for _, room := range left {
		if room == current {
			continue
		}
		var ack protocol.Ack
		if err := c.call(ctx, protocol.RoomLeave, protocol.RoomRequest{Room: room}, &ack); err != nil {
			c.log.Debug("room: leave after reconnecting", "room", room, "err", err)
		}
	}
}

// ListRooms lists the rooms the user is a member of.
func (c *Client) ListRooms(ctx context.Context) ([]protocol.RoomInfo, error) {
	var ack protocol.RoomsAck
	err := c.call(ctx, protocol.RoomList, struct{}{}, &ack)
	return ack.Rooms, err
}

// SetPolicy sets the room's control policy (host only).
func (c *Client) SetPolicy(ctx context.Context, policy tandem.ControlPolicy) (protocol.RoomInfo, error) {
	return c.infoCall(ctx, protocol.RoomPolicy, protocol.PolicyRequest{Room: c.RoomName(), Policy: policy})
}

// RotateCode replaces the room's invite code (host only); the old one
// stops working.
func (c *Client) RotateCode(ctx context.Context) (protocol.RoomInfo, error) {
	return c.infoCall(ctx, protocol.RoomCode, protocol.RoomRequest{Room: c.RoomName()})
}

// RemoveMember takes a friend out of the room (host only).
func (c *Client) RemoveMember(ctx context.Context, user string) (protocol.RoomInfo, error) {
	return c.infoCall(ctx, protocol.RoomRemove, protocol.RemoveRequest{Room: c.RoomName(), User: user})
}

// infoCall sends a host command answered with the room's info, and keeps
// that info.
func (c *Client) infoCall(ctx context.Context, event string, req any) (protocol.RoomInfo, error) {
	var ack protocol.RoomInfoAck
	if err := c.call(ctx, event, req, &ack); err != nil {
		return protocol.RoomInfo{}, err
	}
	c.mu.Lock()
	if ack.Room.Room == c.room && ack.Room.Version >= c.state.Info.Version {
		c.state.Info = ack.Room
		c.state.Version = max(c.state.Version, ack.Room.Version)
	}
	c.mu.Unlock()
	return ack.Room, nil
}

// SetShuffle turns the room's shuffle on (a new play order) or off.
func (c *Client) SetShuffle(ctx context.Context, on bool) (uint64, error) {
	var ack protocol.VersionAck
	err := c.call(ctx, protocol.RoomShuffle, protocol.ShuffleRequest{Room: c.RoomName(), Shuffle: on}, &ack)
	return ack.Version, err
}

// SetWait turns the room's "wait for everyone" on or off.
func (c *Client) SetWait(ctx context.Context, on bool) (uint64, error) {
	var ack protocol.VersionAck
	err := c.call(ctx, protocol.RoomWait, protocol.WaitRequest{Room: c.RoomName(), Wait: on}, &ack)
	return ack.Version, err
}

// SetRepeat sets the room's repeat mode: protocol.RepeatOff, RepeatAll or
// RepeatOne.
func (c *Client) SetRepeat(ctx context.Context, mode string) (uint64, error) {
	var ack protocol.VersionAck
	err := c.call(ctx, protocol.RoomRepeat, protocol.RepeatRequest{Room: c.RoomName(), Repeat: mode}, &ack)
	return ack.Version, err
}

// SetPlaylist makes a playlist the room's queue ("" clears it).
func (c *Client) SetPlaylist(ctx context.Context, playlistID string) (uint64, error) {
	var ack protocol.VersionAck
	err := c.call(ctx, protocol.RoomPlaylist, protocol.RoomPlaylistRequest{Room: c.RoomName(), PlaylistID: playlistID}, &ack)
	return ack.Version, err
}

// Place says where an edit puts an entry: right after the entry After,
// right before the entry Before, at the Start, or (the zero Place) at
// the end.
type Place struct {
	After, Before string
	Start         bool
}

// CreatePlaylist creates a playlist owned by the user. opID makes the
// command idempotent: sent again with the same op id, it is not applied
// twice, and the answer is the first one's.
func (c *Client) CreatePlaylist(ctx context.Context, opID, name string, collaborative bool) (protocol.Playlist, error) {
	var ack protocol.PlaylistAck
	err := c.call(ctx, protocol.PlaylistCreate, protocol.CreatePlaylistRequest{OpID: opID, Name: name, Collaborative: collaborative}, &ack)
	return ack.Playlist, err
}

// AddTrack adds a track to a playlist, at a place; opID as for
// CreatePlaylist.
func (c *Client) AddTrack(ctx context.Context, opID, playlistID, trackID string, at Place) (protocol.EditAck, error) {
	return c.edit(ctx, protocol.PlaylistAdd, protocol.EditRequest{OpID: opID, PlaylistID: playlistID, TrackID: trackID,
		After: at.After, Before: at.Before, Start: at.Start})
}

// MoveEntry moves an entry of a playlist to a place.
func (c *Client) MoveEntry(ctx context.Context, opID, playlistID, entryID string, at Place) (protocol.EditAck, error) {
	return c.edit(ctx, protocol.PlaylistMove, protocol.EditRequest{OpID: opID, PlaylistID: playlistID, EntryID: entryID,
		After: at.After, Before: at.Before, Start: at.Start})
}

// RenamePlaylist renames a playlist (its owner only).
func (c *Client) RenamePlaylist(ctx context.Context, opID, playlistID, name string) (protocol.EditAck, error) {
	return c.edit(ctx, protocol.PlaylistRename, protocol.EditRequest{OpID: opID, PlaylistID: playlistID, Name: name})
}

// SharePlaylist makes a playlist collaborative or not (its owner only).
func (c *Client) SharePlaylist(ctx context.Context, opID, playlistID string, collaborative bool) (protocol.EditAck, error) {
	return c.edit(ctx, protocol.PlaylistShare, protocol.EditRequest{OpID: opID, PlaylistID: playlistID, Collaborative: &collaborative})
}

// RemoveEntry removes an entry from a playlist.
func (c *Client) RemoveEntry(ctx context.Context, opID, playlistID, entryID string) (protocol.EditAck, error) {
	return c.edit(ctx, protocol.PlaylistRemove, protocol.EditRequest{OpID: opID, PlaylistID: playlistID, EntryID: entryID})
}

func (c *Client) edit(ctx context.Context, event string, req protocol.EditRequest) (protocol.EditAck, error) {
	var ack protocol.EditAck
	err := c.call(ctx, event, req, &ack)
	return ack, err
}

// Friends lists every friend the hub knows, sorted by name.
func (c *Client) Friends(ctx context.Context) ([]protocol.Friend, error) {
	var ack protocol.FriendsEvent
	err := c.call(ctx, protocol.FriendsList, struct{}{}, &ack)
	return ack.Friends, err
}

// Activity returns the newest limit items of the friends' feed (0: the
// hub's default, 50; at most 500), oldest first.
func (c *Client) Activity(ctx context.Context, limit int) ([]tandem.Activity, error) {
	var ack protocol.ActivityAck
	err := c.call(ctx, protocol.ActivityList, protocol.ActivityRequest{Limit: limit}, &ack)
	return ack.Items, err
}

func (c *Client) onRemoved(args []json.RawMessage, _ socketio.AckFunc) {
	var ev protocol.Removed
	if len(args) == 0 || json.Unmarshal(args[0], &ev) != nil {
		return
	}
	c.mu.Lock()
	if ev.Room != c.room {
		c.mu.Unlock()
		return
	}
	c.room, c.code, c.state = "", "", protocol.RoomState{}
	c.mu.Unlock()
	if c.h.Removed != nil {
		c.h.Removed(ev)
	}
}

func (c *Client) onFriends(args []json.RawMessage, _ socketio.AckFunc) {
	var ev protocol.FriendsEvent
	if len(args) == 0 || json.Unmarshal(args[0], &ev) != nil {
		return
	}
	if c.h.Friends != nil {
		c.h.Friends(ev.Friends)
	}
}

func (c *Client) onActivity(args []json.RawMessage, _ socketio.AckFunc) {
	var ev protocol.ActivityEvent
	if len(args) == 0 || json.Unmarshal(args[0], &ev) != nil {
		return
	}
	if c.h.Activity != nil && len(ev.Items) > 0 {
		c.h.Activity(ev.Items)
	}
}
