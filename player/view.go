package player

import "time"

// PlaylistItem is one playlist in the window's left pane.
type PlaylistItem struct {
	ID   string
	Name string
}

// Row is one line of the track table.
type Row struct {
	EntryID string
	TrackID string
	Song    string
	Artist  string
	User    string    // who added the entry
	Date    time.Time // when it was added
}

// Friend is one line of the friends pane.
type Friend struct {
	Name      string
	Listening string // "Title — Artist", or "" when idle
	Buffering bool   // still getting the room's track ready
}

// NowPlaying is the state of the now-playing bar.
type NowPlaying struct {
	EntryID  string
	Title    string
	Artist   string
	Playing  bool
	Position time.Duration
	Duration time.Duration
}
