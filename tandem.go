// Package tandem holds Tandem's domain types and errors: tracks, playlists and
// their entries, rooms, members, the playback timeline and activity. It uses
// only the standard library; every other package of the module may import it,
// and it imports none of them.
package tandem

import "time"

// Track is one piece of music. Its ID is the lowercase hex sha256 of the file.
type Track struct {
	ID         string        `json:"id"`
	Title      string        `json:"title"`
	Artist     string        `json:"artist"`
	Album      string        `json:"album,omitempty"`
	Duration   time.Duration `json:"duration"` // nanoseconds on the wire
	Format     string        `json:"format"`   // "wav", "flac", ...
	Size       int64         `json:"size"`     // bytes
	Uploader   string        `json:"uploader,omitempty"`
	UploadedAt time.Time     `json:"uploadedAt,omitzero"`
	// Art is the MIME type of the artwork embedded in the file, or "" if
	// it has none.
	Art string `json:"art,omitempty"`
}

// Entry is one track's place in a playlist or a room's queue: who added it
// and when. Order sorts entries; it is a string key so that concurrent
// inserts can converge.
type Entry struct {
	ID      string    `json:"id"`
	TrackID string    `json:"trackId"`
	AddedBy string    `json:"addedBy"`
	AddedAt time.Time `json:"addedAt"`
	Order   string    `json:"order"`
}

// Playlist is a named, shared list of entries. A collaborative playlist
// takes edits from every friend; any other only from its owner. Version
// counts the playlist's changes.
type Playlist struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	Owner         string    `json:"owner"`
	Collaborative bool      `json:"collaborative,omitempty"`
	Version       uint64    `json:"version"`
	CreatedAt     time.Time `json:"createdAt"`
	Entries       []Entry   `json:"entries"`
}

// User is a friend known to a hub.
type User struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

// PlayState is the state of a room's timeline.
type PlayState string

// The states of a timeline.
const (
	Stopped PlayState = "stopped"
	Playing PlayState = "playing"
	Paused  PlayState = "paused"
	Waiting PlayState = "waiting"
)

// Playback is a room's timeline: which entry, in which state, and the
// position Position at hub time StartAt. While playing, the position at hub
// time t is Position + (t - StartAt).
type Playback struct {
	EntryID  string        `json:"entryId,omitempty"`
	TrackID  string        `json:"trackId,omitempty"`
	State    PlayState     `json:"state"`
	Position time.Duration `json:"position"` // nanoseconds
	StartAt  time.Time     `json:"startAt,omitzero"`
}

// PositionAt returns the timeline's position at hub time t.
func (p Playback) PositionAt(t time.Time) time.Duration {
	if p.State != Playing || p.StartAt.IsZero() {
		return p.Position
	}
	pos := p.Position + t.Sub(p.StartAt)
	if pos < 0 {
		return 0
	}
	return pos
}

// ControlPolicy says who may control a room's playback.
type ControlPolicy string

// The control policies of a room.
const (
	Everyone ControlPolicy = "everyone" // every member (the default)
	HostOnly ControlPolicy = "host"     // only the host
)

// Room is a group listening together. Its queue is a list of entries; a room
// with an empty queue plays a playlist (Fallback) as its queue. Members are
// the friends let in: the host, and whoever joined with the room's invite
// Code.
type Room struct {
	Name    string        `json:"name"`
	Host    string        `json:"host,omitempty"`
	Code    string        `json:"code,omitempty"`
	Policy  ControlPolicy `json:"policy,omitempty"` // "" means Everyone
	Members []string      `json:"members,omitempty"`
	// Shuffle plays the queue in an order of the hub's, drawn from Seed,
	// the same for every member.
	Shuffle bool   `json:"shuffle,omitempty"`
	Seed    uint64 `json:"seed,omitempty"`
	// Wait makes the room wait for members who are buffering (in the
	// Waiting state, for a bounded time) rather than play on without them.
	Wait bool `json:"wait,omitempty"`
	// Repeat is the room's repeat mode: "off", "all" (after the last entry
	// of the play order, the first) or "one" (the same entry again). ""
	// (a room stored before repeat existed) means off.
	Repeat    string    `json:"repeat,omitempty"`
	Queue     []Entry   `json:"queue"`
	Fallback  string    `json:"fallback,omitempty"` // playlist ID
	Playback  Playback  `json:"playback"`
	Version   uint64    `json:"version"`
	CreatedAt time.Time `json:"createdAt"`
}

// Member is a friend connected to a room, with what they are playing.
type Member struct {
	Name       string `json:"name"`
	NowPlaying string `json:"nowPlaying,omitempty"` // track ID
	// Buffering: the friend does not have the room's audio ready yet.
	Buffering bool `json:"buffering,omitempty"`
}

// Activity records who did what, and when: one item of the friends'
// activity feed. Text is the whole sentence as a feed shows it, e.g.
// "ann added Song to Road trip"; the other fields let a client link it.
type Activity struct {
	ID         string    `json:"id"`
	User       string    `json:"user"`
	Kind       string    `json:"kind"` // ActivityAdded, ActivityListening
	Text       string    `json:"text"`
	TrackID    string    `json:"trackId,omitempty"`
	PlaylistID string    `json:"playlistId,omitempty"`
	Room       string    `json:"room,omitempty"`
	At         time.Time `json:"at"`
}

// Kinds of activity.
const (
	ActivityAdded     = "added"     // added a track to a playlist
	ActivityListening = "listening" // started listening in a room
)
