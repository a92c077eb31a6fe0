package player

import (
	"time"

	"tandem"
	"tandem/sync/event"
	"tandem/sync/follow"
)

// Origin says where a local event came from. The sync bridge forwards only
// Local events to the hub and emits only Hub events locally, so it never
// echoes an event back to where it came from.
type Origin int

// The origins of local events.
const (
	Local Origin = iota // the user, in this player
	Hub                 // the hub, authoritative
)

// TrackChange is the payload of ChangeTrack.
type TrackChange struct {
	Origin  Origin
	Room    string
	EntryID string
	TrackID string
	By      string    // who changed the track (Hub origin)
	Version uint64    // the room's version after the change (Hub origin)
	StartAt time.Time // local clock time at which position 0 plays (Hub origin)
	// Timeline is the room's timeline as the hub scheduled it, in hub
	// time (Hub origin): playing from 0 for a hub changeTrack; on joining
	// a room, whatever the room is doing, paused included.
	Timeline follow.Timeline
}

// PlaybackChange is the payload of Playback: play, pause or seek.
type PlaybackChange struct {
	Origin   Origin
	Room     string
	State    tandem.PlayState
	Position time.Duration // position at StartAt
	StartAt  time.Time     // local clock time (Hub origin)
	By       string
	Version  uint64
	// Timeline is the room's timeline as the hub scheduled it, in hub
	// time (Hub origin).
	Timeline follow.Timeline
}

// Local event topics of the player's emitter.
var (
	// ChangeTrack: the UI emits it with Origin Local when the user picks a
	// track; the bridge emits it with Origin Hub when the hub switches the
	// room's track. The audio engine and the now-playing bar act on Hub ones.
	ChangeTrack = event.NewTopic[TrackChange]("changeTrack")
	// Playback: play, pause or seek, with the same origin rules.
	Playback = event.NewTopic[PlaybackChange]("playback")
	// Members: the room's members and what each is playing (Hub origin).
	Members = event.NewTopic[[]tandem.Member]("presence")
	// State: the core's view changed (queue, playlists, connection, audio);
	// listeners should re-read the core. The payload says what changed.
	State = event.NewTopic[string]("state")
)
