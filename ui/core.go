package ui

import (
	"tandem/player"
	"tandem/sync/event"
)

// Core is what the window needs from the player core. The real core lives in
// package player; tests use a small fake or the headless core itself.
// Methods are safe to call from any goroutine.
type Core interface {
	// Emitter is the player's local emitter. The UI emits player.ChangeTrack
	// and player.Playback with Origin Local on it, and listens to the Hub ones
	// and to player.State and player.Members.
	Emitter() *event.Emitter
	// Room is the room this player is in.
	Room() string
	// Playlists lists the playlists for the left pane. The first is selected
	// at start.
	Playlists() []PlaylistItem
	// Rows returns the entries of a playlist for the table.
	Rows(playlistID string) []Row
	// Friends lists who is in the room and what each is playing.
	Friends() []Friend
	// Now returns what is playing now.
	Now() NowPlaying
	// Status is a one-line status: where friends can join, whether audio is
	// muted because no output device could be opened, connection errors.
	Status() string
}

// View types, defined by the core and shown by the window.
type (
	PlaylistItem = player.PlaylistItem
	Row          = player.Row
	Friend       = player.Friend
	NowPlaying   = player.NowPlaying
)
