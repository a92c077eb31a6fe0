package mpris

import (
	"fmt"
	"time"
)

// Player is what the server controls. The player core implements it; the
// server calls it from D-Bus goroutines, so every method must be safe for
// concurrent use and must return at once: queue the work (for UI work, hand
// it to fyne.Do) rather than doing it before returning. The server never
// holds a lock of its own while it calls a Player method.
//
// After any change that State would show (a new track, play or pause, a
// seek, volume, shuffle, loop), the player calls Server.Update. A command
// that the player ignores (Next at the end of the queue, say) needs no
// Update.
type Player interface {
	// State returns a snapshot of what is playing now. It is called on every
	// property read over D-Bus, so it must be cheap.
	State() State

	Play()
	Pause()
	Stop()
	Next()
	Previous()
	// Seek moves to an absolute position within the current track. The
	// server has already clamped pos to [0, Length].
	Seek(pos time.Duration)
	// SetVolume sets the output volume, 0 (silent) to 1 (full); the server
	// clamps the value into that range.
	SetVolume(v float64)
	SetShuffle(on bool)
	SetLoop(l Loop)
	// OpenURI opens a tandem:// link, such as an invite to a room. The
	// server passes on only URIs whose scheme is tandem. An error (a link
	// this player cannot open, such as one to another hub) goes back to the
	// caller as a D-Bus error, so that HandOff starts another player.
	OpenURI(uri string) error
	// Raise brings the player's window to the front.
	Raise()
	// Quit closes the player.
	Quit()
}

// State is a snapshot of the player, as MPRIS clients see it.
type State struct {
	Status Status
	// TrackID names the current track or queue entry uniquely within the
	// player; any string will do, the server turns it into a D-Bus object
	// path. Empty means that nothing is loaded.
	TrackID string
	Title   string
	Artist  []string // performers, in credit order
	Album   string
	ArtURL  string        // cover art as a file:// or http(s):// URL; may be empty
	Length  time.Duration // duration of the track; 0 when unknown
	// Position is how far into the track playback is now.
	Position time.Duration
	Volume   float64 // 0 (silent) to 1 (full)
	Shuffle  bool
	Loop     Loop
	// CanControl says whether this member may control playback now (the
	// room's control policy). When false, MPRIS clients show the track but
	// every command is a no-op.
	CanControl bool
}

// Status is the playback state.
type Status int

// Playback states.
const (
	Stopped Status = iota
	Playing
	Paused
)

// String returns the MPRIS name of the status: "Stopped", "Playing" or
// "Paused".
func (s Status) String() string {
	switch s {
	case Playing:
		return "Playing"
	case Paused:
		return "Paused"
	case Stopped:
		return "Stopped"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Loop is the repeat mode.
type Loop int

// Repeat modes.
const (
	LoopNone     Loop = iota // play the queue once
	LoopTrack                // repeat the current track
	LoopPlaylist             // repeat the whole queue
)

// String returns the MPRIS name of the mode: "None", "Track" or "Playlist".
func (l Loop) String() string {
	switch l {
	case LoopNone:
		return "None"
	case LoopTrack:
		return "Track"
	case LoopPlaylist:
		return "Playlist"
	}
	return fmt.Sprintf("Loop(%d)", int(l))
}

// ParseLoop parses an MPRIS loop status name.
func ParseLoop(s string) (Loop, error) {
	switch s {
	case "None":
		return LoopNone, nil
	case "Track":
		return LoopTrack, nil
	case "Playlist":
		return LoopPlaylist, nil
	}
	return 0, fmt.Errorf("mpris: unknown loop status %q", s)
}
