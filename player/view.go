package player

import "time"

// The view types: what the window (package ui) shows. The core builds them
// afresh on every call, so the window may keep and sort them freely.

// QueueID is the id under which the room's queue is listed among the
// playlists, and the playlist id that the edit commands take to mean "the
// room's queue".
const QueueID = "queue"

// LibraryID is the id of the user's own music (the local library) in the
// left pane.
const LibraryID = "library"

// PlaylistItem is one playlist in the window's left pane.
type PlaylistItem struct {
	ID            string
	Name          string
	Owner         string
	Collaborative bool
	// Editable: this user may add to and remove from it (the owner, or
	// anyone for a collaborative playlist).
	Editable bool
	// Mine: this user owns it, and so may rename and share it.
	Mine  bool
	Count int // entries
}

// RoomItem is one room in the left pane: the rooms this user is a member of.
type RoomItem struct {
	Name    string
	Host    string
	Current bool // the room this player is in
	Online  int  // members connected now (known for the current room only)
}

// Row is one line of the track table.
type Row struct {
	EntryID string // "" for a row of the local library
	TrackID string // the file's sha256; "" for a local file not yet shared
	Song    string
	Artist  string
	Album   string
	User    string        // who added the entry (the library: "")
	Date    time.Time     // when it was added (the library: the file's mtime)
	Length  time.Duration // the track's duration, 0 when unknown
	Path    string        // the local file, for library rows
}

// Friend is one line of the friends pane.
type Friend struct {
	Name      string
	Online    bool
	Room      string // the room the friend is in, "" when none
	Listening string // "Title — Artist", or "" when idle
	Buffering bool   // still getting the room's track ready
	InRoom    bool   // in the same room as this player
	// Since is when the friend's now-playing (or online state) last
	// changed, for "3 min ago"; zero when unknown.
	Since time.Time
}

// Activity is one item of the friends' activity feed.
type Activity struct {
	ID   string
	User string
	Kind string // "added", "listening", ...
	Text string
	At   time.Time
}

// RoomView is the room this player is in, for the room view and the bottom
// bar's "In Friday with 3 friends".
type RoomView struct {
	Name     string
	Host     string
	IsHost   bool // this user hosts the room
	HostOnly bool // only the host controls playback ("host" policy)
	Wait     bool // wait for everyone who is buffering
	Shuffle  bool
	Repeat   Repeat
	Code     string // the room's invite code
	Link     string // the invite link friends paste or click, tandem://…
	Members  []Friend
}

// Repeat is the room's repeat mode.
type Repeat string

// The repeat modes.
const (
	RepeatOff Repeat = "off"
	RepeatAll Repeat = "all" // after the last entry, the first
	RepeatOne Repeat = "one" // the same entry again
)

// NowPlaying is the state of the now-playing bar.
type NowPlaying struct {
	EntryID  string
	TrackID  string
	Title    string
	Artist   string
	Album    string
	HasArt   bool // the track has artwork; Core.Art fetches it
	Playing  bool
	Position time.Duration
	Duration time.Duration
}

// Connection is the state of the link to the hub, for the reconnect banner.
type Connection struct {
	Connected bool
	Error     string    // why the last attempt failed, "" when connected
	RetryAt   time.Time // when the next attempt starts; zero when unknown
	Pending   int       // edits made while disconnected, waiting to be sent
}

// SyncQuality says how well this player follows the room's clock.
type SyncQuality struct {
	Settled bool          // the hub clock's estimate has settled
	Error   time.Duration // bound on the clock error (± this)
	Offset  time.Duration // how far the audio is from the room's timeline now
}

// UploadItem is one file being added to the hub.
type UploadItem struct {
	ID      string
	Name    string // the file's base name
	Path    string
	Sent    int64 // bytes sent
	Size    int64
	State   UploadState
	Err     string // the reason, for UploadFailed
	TrackID string // once known (hashed)
}

// UploadState is where an upload is.
type UploadState string

// The states of an upload.
const (
	UploadQueued    UploadState = "queued"
	UploadHashing   UploadState = "hashing"
	UploadSending   UploadState = "uploading"
	UploadDone      UploadState = "done"
	UploadDuplicate UploadState = "already on the hub" // done at once, nothing sent
	UploadFailed    UploadState = "failed"
	UploadCanceled  UploadState = "canceled"
)

// Finished reports whether the upload has ended, well or not.
func (s UploadState) Finished() bool {
	switch s {
	case UploadDone, UploadDuplicate, UploadFailed, UploadCanceled:
		return true
	}
	return false
}
