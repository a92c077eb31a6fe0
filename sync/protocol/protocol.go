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
)

// Hub events, sent to every member of a room, the sender included.
const (
	EventChangeTrack = "changeTrack"
	EventPlayback    = "playback"
	EventPresence    = "presence"
)

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

// RoomRequest names a room; it is the payload of room:join, room:leave,
// playback:play and playback:pause.
type RoomRequest struct {
	Room string `json:"room"`
}

// ChangeTrackRequest is the payload of playback:changeTrack: an entry of
// the room's queue, or a track by id.
type ChangeTrackRequest struct {
	Room    string `json:"room"`
	EntryID string `json:"entryId,omitempty"`
	TrackID string `json:"trackId,omitempty"`
}

// SeekRequest is the payload of playback:seek, and optionally of play.
type SeekRequest struct {
	Room     string   `json:"room"`
	Position *float64 `json:"position,omitempty"` // ms
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
}

// Entry is a queue or playlist entry with its track.
type Entry struct {
	ID      string    `json:"id"`
	TrackID string    `json:"trackId"`
	AddedBy string    `json:"addedBy"`
	AddedAt time.Time `json:"addedAt"`
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
	Queue      []Entry         `json:"queue"`
	NowPlaying Playback        `json:"nowPlaying"`
	Version    uint64          `json:"version"`
	Members    []tandem.Member `json:"members"`
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

// Playlist is a playlist on the wire.
type Playlist struct {
	ID      string  `json:"id"`
	Name    string  `json:"name"`
	Owner   string  `json:"owner"`
	Entries []Entry `json:"entries"`
}

// PlaylistsAck answers playlist:list.
type PlaylistsAck struct {
	Ack
	Playlists []Playlist `json:"playlists,omitempty"`
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
	return &Track{ID: t.ID, Title: t.Title, Artist: t.Artist, Album: t.Album, Duration: Ms(t.Duration), Format: t.Format, Size: t.Size}
}

// Fail returns the error ack for err.
func Fail(err error) Ack {
	return Ack{Error: &tandem.Error{Code: tandem.ErrorCode(err), Message: tandem.ErrorMessage(err)}}
}

// OK is the success ack.
func OK() Ack { return Ack{OK: true} }
