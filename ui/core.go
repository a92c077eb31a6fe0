package ui

import (
	"time"

	"tandem/player"
	"tandem/sync/event"
)

// Core is what the window needs from the player core (package player).
// Tests use a fake. Every method is safe to call from any goroutine and
// returns at once: none waits on the network. Commands run in the
// background; their outcome arrives as player.State events (re-read the
// core) and, when refused, as event.Error on the emitter.
type Core interface {
	// Emitter is the player's local emitter. The UI emits player.ChangeTrack
	// and player.Playback with Origin Local on it, and listens to the Hub
	// ones, to player.State and player.Members, and to event.Error.
	Emitter() *event.Emitter

	// Room is the name of the room this player is in.
	Room() string
	// RoomView is that room: host, policy, code, link, members.
	RoomView() RoomView
	// Rooms lists the rooms this user is a member of.
	Rooms() []RoomItem
	// Playlists lists the room's queue (QueueID) first, then the hub's
	// playlists.
	Playlists() []PlaylistItem
	// Rows returns the entries of a playlist (or of the queue, QueueID)
	// for the table. The local library's rows come from Library.
	Rows(playlistID string) []Row
	// Friends lists every friend the hub knows, online first.
	Friends() []Friend
	// Activity is the friends' activity feed, newest last.
	Activity() []Activity
	// Now returns what is playing now.
	Now() NowPlaying
	// Connection is the state of the link to the hub.
	Connection() Connection
	// Sync says how well the clock and the audio follow the room.
	Sync() SyncQuality
	// Status is a one-line status: where friends can join, whether audio is
	// muted because no output device could be opened, the last error.
	Status() string
	// Art fetches a track's artwork in the background and calls done with
	// the image's bytes (nil when there is none), on any goroutine.
	Art(trackID string, done func([]byte))
	// TrackLink is a link to a track, for "Copy link".
	TrackLink(trackID string) string

	// Transport. Play, pause and picking a track go through the emitter.
	Next()
	Previous()
	Seek(pos time.Duration)
	SetShuffle(on bool)
	SetRepeat(r player.Repeat)
	// Volume is the volume from 0 to 1 on the perceptual curve.
	Volume() float64
	SetVolume(v float64)
	Muted() bool
	SetMuted(m bool)

	// Playlists. playlistID QueueID means the room's queue.
	CreatePlaylist(name string)
	AddTracks(playlistID string, trackIDs []string)
	RemoveEntries(playlistID string, entryIDs []string)
	// MoveEntries moves entries, in the order given, to right after the
	// entry after ("" for the start).
	MoveEntries(playlistID string, entryIDs []string, after string)
	// RenamePlaylist and SharePlaylist change a playlist of this user's.
	RenamePlaylist(playlistID, name string)
	SharePlaylist(playlistID string, collaborative bool)

	// Rooms.
	HostRoom(name string, hostOnly bool) // create a room, hosted by this user, and move into it
	SwitchRoom(name string)              // move into a room this user is a member of
	// JoinLink joins a room from its invite link or bare code. A link to
	// another hub is refused with an error saying to open it with the
	// player (it restarts on that hub).
	JoinLink(link string) error
	LeaveRoom()
	SetHostOnly(on bool)
	SetWait(on bool)
	RemoveMember(name string)
	RotateCode()
	// Retry reconnects to the hub now, instead of waiting for the backoff.
	Retry()
}

// Uploads adds the user's files to the hub (package player/uploads).
// Changes are announced with player.State "uploads" on the core's emitter.
type Uploads interface {
	// Add queues files and folders (walked for music files). When
	// playlistID is not "", each file is added to that playlist once on
	// the hub (QueueID: the room's queue). With play, the first file is
	// played in the room as soon as the hub has it.
	Add(paths []string, playlistID string, play bool)
	Cancel(id string)
	// Clear forgets the finished uploads.
	Clear()
	Items() []UploadItem
}

// Library is the user's own music: the music folders, scanned into the
// local store (package player/library). Changes are announced with
// player.State "library" on the core's emitter.
type Library interface {
	Rows() []Row
	Folders() []string
	// SetFolders sets the music folders, saves them and rescans.
	SetFolders(dirs []string)
	// Rescan scans the folders again in the background (by size and
	// modification time: only changed files are read).
	Rescan()
	// Scanning reports whether a scan runs, and how many files it has seen.
	Scanning() (bool, int)
	// Err is the last problem, in plain words (a refused folder, a scan
	// that could not finish), or "".
	Err() string
}

// View types, defined by the core and shown by the window.
type (
	PlaylistItem = player.PlaylistItem
	RoomItem     = player.RoomItem
	RoomView     = player.RoomView
	Row          = player.Row
	Friend       = player.Friend
	Activity     = player.Activity
	NowPlaying   = player.NowPlaying
	Connection   = player.Connection
	SyncQuality  = player.SyncQuality
	UploadItem   = player.UploadItem
)

// QueueID and LibraryID are the special playlist ids.
const (
	QueueID   = player.QueueID
	LibraryID = player.LibraryID
)
