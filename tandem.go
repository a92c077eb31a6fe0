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

// Playlist is a named, shared list of entries.
type Playlist struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Owner     string    `json:"owner"`
	CreatedAt time.Time `json:"createdAt"`
	Entries   []Entry   `json:"entries"`
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

// Room is a group listening together. Its queue is a list of entries; a room
// with an empty queue may fall back to a playlist (Fallback).
type Room struct {
	Name      string    `json:"name"`
	Host      string    `json:"host,omitempty"`
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
}

// Activity records who did what, and when.
type Activity struct {
	User   string    `json:"user"`
	Kind   string    `json:"kind"`
	Detail string    `json:"detail,omitempty"`
	At     time.Time `json:"at"`
}
