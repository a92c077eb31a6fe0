package tandem

// Playlist edits: the commands that change a playlist, shared by the hub
// and its store.

// Op identifies a client's command, so that a retry of a command whose ack
// was lost is recognised and answered with the first answer rather than
// applied twice. The zero Op turns this off.
type Op struct {
	User string // who sent the command
	ID   string // the client's op id, unique for the user
}

// Position says where an added or moved entry goes: right after the entry
// After, right before the entry Before, at the start (Start), or, when all
// are zero, at the end. At most one may be set.
type Position struct {
	After  string `json:"after,omitempty"`
	Before string `json:"before,omitempty"`
	Start  bool   `json:"start,omitempty"`
}

// Valid checks that at most one place is given; the error is EINVALID.
func (p Position) Valid() error {
	n := 0
	for _, set := range []bool{p.After != "", p.Before != "", p.Start} {
		if set {
			n++
		}
	}
	if n > 1 {
		return Errorf(EINVALID, "give at most one of after, before and start")
	}
	return nil
}

// EditKind names a playlist edit.
type EditKind string

// The playlist edits.
const (
	EditAdd    EditKind = "add"    // add TrackID at Position
	EditMove   EditKind = "move"   // move EntryID to Position
	EditRemove EditKind = "remove" // remove EntryID
	EditRename EditKind = "rename" // rename to Name (owner only)
	EditShare  EditKind = "share"  // set Collaborative (owner only)
)

// Edit is one change to a playlist.
type Edit struct {
	Kind          EditKind
	TrackID       string   // add
	EntryID       string   // move, remove
	Position      Position // add, move
	Name          string   // rename
	Collaborative bool     // share
}

// EditResult is what an edit did.
type EditResult struct {
	// Playlist is the playlist after the edit, without its entries.
	Playlist Playlist `json:"playlist"`
	// Entry is the entry added, moved (with its new Order) or removed.
	Entry Entry `json:"entry,omitzero"`
	// Renumbered, when set, holds every entry of the playlist in order:
	// the edit gave all entries new order keys (rarely: after thousands of
	// inserts at one place), so clients should take the whole list.
	Renumbered []Entry `json:"renumbered,omitempty"`
	// Activity is the feed item the edit recorded, if any.
	Activity *Activity `json:"activity,omitempty"`
	// Duplicate reports that the edit's op had been applied before; the
	// rest of the result is the first application's.
	Duplicate bool `json:"-"`
}
