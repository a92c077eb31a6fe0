// Package protocol holds Tandem's application protocol over Socket.IO: the
// names of events and the JSON shapes of commands, acks and hub events.
// docs/PROTOCOL.md describes the same in prose; the hub (package hub) and
// the room client (package room) both speak it through these types.
//
// Times on the wire are hub clock times in Unix milliseconds (float, so
// sub-millisecond precision survives); durations and positions are in
// milliseconds.
package protocol

import (
	"time"

	"tandem"
)

// Client commands. Each is an event with an ack.
const (
	RoomJoin            = "room:join"
	RoomLeave           = "room:leave"
	PlaybackChangeTrack = "playback:changeTrack"
	PlaybackPlay        = "playback:play"
	PlaybackPause       = "playback:pause"
	PlaybackSeek        = "playback:seek"
	PlaylistList        = "playlist:list"
	ClockPing           = "clock:ping"

	RoomCreate   = "room:create"
	RoomList     = "room:list"
	RoomPolicy   = "room:policy"
	RoomRemove   = "room:remove"
	RoomCode     = "room:code"
	RoomPlaylist = "room:playlist"

	PlaylistCreate = "playlist:create"
	PlaylistOpen   = "playlist:open"
	PlaylistClose  = "playlist:close"
	PlaylistAdd    = "playlist:add"
	PlaylistMove   = "playlist:move"
	PlaylistRemove = "playlist:remove"
	PlaylistRename = "playlist:rename"
	PlaylistShare  = "playlist:share"

	ActivityList = "activity:list"
	FriendsList  = "friends:list"

	PlaybackNext      = "playback:next"
	PlaybackPrevious  = "playback:previous"
	RoomShuffle       = "room:shuffle"
	RoomRepeat        = "room:repeat"
	ClockReport       = "clock:report"
	RoomWait          = "room:wait"
	PlaybackBuffering = "playback:buffering"
)

// Hub events, sent to every member of a room, the sender included.
const (
	EventChangeTrack = "changeTrack"
	EventPlayback    = "playback"
	EventPresence    = "presence"
	EventRoom        = "room"     // a room's host, policy or members changed
	EventRemoved     = "removed"  // the host removed you from a room
	EventQueue       = "queue"    // a room's queue changed
	EventPlaylist    = "playlist" // a playlist you opened changed
	EventActivity    = "activity" // a new item of the friends' feed
	EventFriends     = "friends"  // friends' presence changed
	EventShutdown    = "shutdown" // the hub is stopping; clients reconnect
)

// Shutdown is the event a hub sends to every client as it stops. The
// transports close right after; clients reconnect as after any lost
// connection, and so find the hub again when it restarts.
type Shutdown struct {
	Reason string `json:"reason"`
}

// Auth is the CONNECT payload.
type Auth struct {
	Token string `json:"token"`
	// Name is the display name of a friend who uses a shared guest token;
	// the hub ignores it for personal tokens.
	Name string `json:"name,omitempty"`
}

// Unauthorized is the CONNECT_ERROR message for a missing or bad token.
const Unauthorized = "unauthorized"

// Ack is the shape of every ack: OK, or an error with a stable code.
type Ack struct {
	OK    bool          `json:"ok"`
	Error *tandem.Error `json:"error,omitempty"`
}

// RoomRequest names a room; it is the payload of room:leave,
// playback:play, playback:pause and room:code.
type RoomRequest struct {
	Room string `json:"room"`
}

// JoinRequest is the payload of room:join: a room by name, or by its
// invite code, which makes the user a member.
type JoinRequest struct {
	Room string `json:"room,omitempty"`
	Code string `json:"code,omitempty"`
}

// CreateRoomRequest is the payload of room:create.
type CreateRoomRequest struct {
	Room   string               `json:"room"`
	Policy tandem.ControlPolicy `json:"policy,omitempty"`
}

// PolicyRequest is the payload of room:policy.
type PolicyRequest struct {
	Room   string               `json:"room"`
	Policy tandem.ControlPolicy `json:"policy"`
}

// RemoveRequest is the payload of room:remove.
type RemoveRequest struct {
	Room string `json:"room"`
	User string `json:"user"`
}

// RoomPlaylistRequest is the payload of room:playlist; "" clears it.
type RoomPlaylistRequest struct {
	Room       string `json:"room"`
	PlaylistID string `json:"playlistId"`
}

// RoomInfo describes a room: who hosts it, who may control it, who belongs.
type RoomInfo struct {
	Room     string               `json:"room"`
	Host     string               `json:"host"`
	Policy   tandem.ControlPolicy `json:"policy"`
	Code     string               `json:"code,omitempty"`
	Members  []string             `json:"members"`
	Playlist string               `json:"playlistId,omitempty"`
	Shuffle  bool                 `json:"shuffle,omitempty"`
	Wait     bool                 `json:"wait,omitempty"`
	// Repeat is the room's repeat mode: RepeatOff ("" on the wire is
	// the same), RepeatAll or RepeatOne.
	Repeat  string `json:"repeat,omitempty"`
	Version uint64 `json:"version"`
}

// RoomsAck answers room:list.
type RoomsAck struct {
	Ack
	Rooms []RoomInfo `json:"rooms"`
}

// RoomInfoAck answers room:policy, room:code and room:remove.
type RoomInfoAck struct {
	Ack
	Room RoomInfo `json:"room"`
}

// Removed is the event a member gets when the host removes them.
type Removed struct {
	Room string `json:"room"`
	By   string `json:"by"`
}

// QueueEvent is the hub event for a change of a room's queue.
type QueueEvent struct {
	Room       string  `json:"room"`
	PlaylistID string  `json:"playlistId,omitempty"`
	Queue      []Entry `json:"queue"`
	Version    uint64  `json:"version"`
}

// ChangeTrackRequest is the payload of playback:changeTrack: an entry of
// the room's queue, or a track by id. Version, when given, is the room
// version the command is based on: a stale one is refused (ECONFLICT).
type ChangeTrackRequest struct {
	Room    string  `json:"room"`
	EntryID string  `json:"entryId,omitempty"`
	TrackID string  `json:"trackId,omitempty"`
	Version *uint64 `json:"version,omitempty"`
}

// SeekRequest is the payload of playback:seek, and of play and pause
// (position optional).
type SeekRequest struct {
	Room     string   `json:"room"`
	Position *float64 `json:"position,omitempty"` // ms
	Version  *uint64  `json:"version,omitempty"`
}

// StepRequest is the payload of playback:next and playback:previous.
type StepRequest struct {
	Room    string  `json:"room"`
	Version *uint64 `json:"version,omitempty"`
}

// WaitRequest is the payload of room:wait.
type WaitRequest struct {
	Room string `json:"room"`
	Wait bool   `json:"wait"`
}

// BufferingRequest is the payload of playback:buffering: whether the
// client is still getting the audio of the room's current entry ready.
type BufferingRequest struct {
	Room      string `json:"room"`
	EntryID   string `json:"entryId,omitempty"`
	TrackID   string `json:"trackId"`
	Buffering bool   `json:"buffering"`
}

// RepeatRequest is the payload of room:repeat.
type RepeatRequest struct {
	Room   string `json:"room"`
	Repeat string `json:"repeat"`
}

// The repeat modes of a room (RepeatRequest, RoomInfo.Repeat).
const (
	RepeatOff = "off"
	RepeatAll = "all" // after the last entry of the play order, the first
	RepeatOne = "one" // the same entry again
)

// ShuffleRequest is the payload of room:shuffle.
type ShuffleRequest struct {
	Room    string `json:"room"`
	Shuffle bool   `json:"shuffle"`
}

// ClockReportRequest is the payload of clock:report: the client's round
// trip to the hub (its clock estimate's delay), from which the hub sets how
// far ahead it schedules the room's commands.
type ClockReportRequest struct {
	RTT float64 `json:"rtt"` // ms
}

// LeadAck answers clock:report with the lead the hub now uses for the
// client's rooms.
type LeadAck struct {
	Ack
	Lead float64 `json:"lead"` // ms
}

// ClockPingRequest is the payload of clock:ping: the client's send time.
type ClockPingRequest struct {
	T0 float64 `json:"t0"` // client clock, ms
}

// ClockPingAck answers clock:ping with the hub's receive and send times.
type ClockPingAck struct {
	Ack
	T0 float64 `json:"t0"`
	T1 float64 `json:"t1"` // hub clock at receipt, Unix ms
	T2 float64 `json:"t2"` // hub clock at reply, Unix ms
}

// Track is a track's metadata on the wire.
type Track struct {
	ID       string  `json:"id"`
	Title    string  `json:"title"`
	Artist   string  `json:"artist"`
	Album    string  `json:"album,omitempty"`
	Duration float64 `json:"duration"` // ms
	Format   string  `json:"format"`
	Size     int64   `json:"size"`
	// Art is the MIME type of the track's embedded artwork, "" when it
	// has none; GET /api/tracks/{id}/art serves it.
	Art string `json:"art,omitempty"`
}

// Entry is a queue or playlist entry with its track. Order sorts a
// playlist's entries (bytewise); see docs/PROTOCOL.md.
type Entry struct {
	ID      string    `json:"id"`
	TrackID string    `json:"trackId"`
	AddedBy string    `json:"addedBy"`
	AddedAt time.Time `json:"addedAt"`
	Order   string    `json:"order,omitempty"`
	Track   *Track    `json:"track,omitempty"`
}

// Playback is a room's timeline on the wire.
type Playback struct {
	EntryID  string           `json:"entryId,omitempty"`
	TrackID  string           `json:"trackId,omitempty"`
	State    tandem.PlayState `json:"state"`
	Position float64          `json:"position"`          // ms, at StartAt
	StartAt  float64          `json:"startAt,omitempty"` // hub Unix ms
}

// RoomState is a room as a member sees it on joining.
type RoomState struct {
	Room       string          `json:"room"`
	Info       RoomInfo        `json:"info"`
	Queue      []Entry         `json:"queue"`
	NowPlaying Playback        `json:"nowPlaying"`
	Version    uint64          `json:"version"`
	Members    []tandem.Member `json:"members"`
	// You is the joining user's name as the hub knows it (a guest's
	// name with " (guest)"), so a client can tell whether it hosts the
	// room.
	You string `json:"you,omitempty"`
}

// JoinAck answers room:join.
type JoinAck struct {
	Ack
	State *RoomState `json:"state,omitempty"`
}

// VersionAck answers playback commands with the room's new version.
type VersionAck struct {
	Ack
	Version uint64 `json:"version,omitempty"`
}

// Playlist is a playlist on the wire. playlist:list leaves Entries out
// (nil); an empty playlist opened or made has "entries":[] (empty, not nil).
type Playlist struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	Owner         string    `json:"owner"`
	Collaborative bool      `json:"collaborative"`
	Version       uint64    `json:"version"`
	CreatedAt     time.Time `json:"createdAt"`
	Entries       []Entry   `json:"entries,omitzero"`
}

// PlaylistsAck answers playlist:list.
type PlaylistsAck struct {
	Ack
	Playlists []Playlist `json:"playlists"`
}

// PlaylistAck answers playlist:open and playlist:create.
type PlaylistAck struct {
	Ack
	Playlist Playlist `json:"playlist"`
}

// PlaylistRequest is the payload of playlist:open and playlist:close.
type PlaylistRequest struct {
	PlaylistID string `json:"playlistId"`
}

// CreatePlaylistRequest is the payload of playlist:create.
type CreatePlaylistRequest struct {
	OpID          string `json:"opId"`
	Name          string `json:"name"`
	Collaborative bool   `json:"collaborative,omitempty"`
}

// EditRequest is the payload of playlist:add, playlist:move,
// playlist:remove, playlist:rename and playlist:share; each uses its own
// fields. A place is After an entry, Before one, at the Start, or (none of
// these) at the end.
type EditRequest struct {
	OpID          string `json:"opId"`
	PlaylistID    string `json:"playlistId"`
	TrackID       string `json:"trackId,omitempty"`
	EntryID       string `json:"entryId,omitempty"`
	After         string `json:"after,omitempty"`
	Before        string `json:"before,omitempty"`
	Start         bool   `json:"start,omitempty"`
	Name          string `json:"name,omitempty"`
	Collaborative *bool  `json:"collaborative,omitempty"`
}

// EditAck answers a playlist edit.
type EditAck struct {
	Ack
	Version uint64 `json:"version"`
	Entry   *Entry `json:"entry,omitempty"`
}

// PlaylistEvent is the hub event for one change of a playlist, sent to
// everyone who opened it and to the rooms that play it. Kind is add, move,
// remove, rename, share or renumber; Entry is the entry concerned (with
// its new order key), Entries the whole list after a renumber.
type PlaylistEvent struct {
	PlaylistID string   `json:"playlistId"`
	Kind       string   `json:"kind"`
	Version    uint64   `json:"version"`
	By         string   `json:"by"`
	Playlist   Playlist `json:"playlist"`
	Entry      *Entry   `json:"entry,omitempty"`
	Entries    []Entry  `json:"entries,omitempty"`
}

// ActivityRequest is the payload of activity:list.
type ActivityRequest struct {
	Limit int `json:"limit,omitempty"`
}

// ActivityEvent carries new feed items, oldest first.
type ActivityEvent struct {
	Items []tandem.Activity `json:"items"`
}

// ActivityAck answers activity:list, oldest first.
type ActivityAck struct {
	Ack
	Items []tandem.Activity `json:"items"`
}

// Friend is one friend's presence.
type Friend struct {
	Name       string `json:"name"`
	Online     bool   `json:"online"`
	Room       string `json:"room,omitempty"`
	NowPlaying string `json:"nowPlaying,omitempty"` // track ID
}

// FriendsEvent lists every friend's presence; it is both the event and
// the answer of friends:list.
type FriendsEvent struct {
	Ack
	Friends []Friend `json:"friends"`
}

// ChangeTrack is the hub event that switches a room's track.
type ChangeTrack struct {
	Room    string  `json:"room"`
	EntryID string  `json:"entryId,omitempty"`
	TrackID string  `json:"trackId"`
	By      string  `json:"by"`
	Version uint64  `json:"version"`
	StartAt float64 `json:"startAt"` // hub Unix ms at which position 0 plays
}

// PlaybackEvent is the hub event for play, pause and seek.
type PlaybackEvent struct {
	Room string `json:"room"`
	Playback
	By      string `json:"by"`
	Version uint64 `json:"version"`
}

// Presence is the hub event listing a room's members.
type Presence struct {
	Room    string          `json:"room"`
	Members []tandem.Member `json:"members"`
}

// Millis converts a time to Unix milliseconds; the zero time gives 0.
func Millis(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e6
}

// FromMillis converts Unix milliseconds to a time; 0 gives the zero time.
func FromMillis(ms float64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(ms*1e6))
}

// Ms converts a duration to milliseconds.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Dur converts milliseconds to a duration.
func Dur(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

// WireTrack converts a domain track.
func WireTrack(t tandem.Track) *Track {
	return &Track{ID: t.ID, Title: t.Title, Artist: t.Artist, Album: t.Album, Duration: Ms(t.Duration), Format: t.Format, Size: t.Size, Art: t.Art}
}

// Fail returns the error ack for err.
func Fail(err error) Ack {
	return Ack{Error: &tandem.Error{Code: tandem.ErrorCode(err), Message: tandem.ErrorMessage(err)}}
}

// OK is the success ack.
func OK() Ack { return Ack{OK: true} }
