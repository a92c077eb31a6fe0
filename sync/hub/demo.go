package hub

import (
	"fmt"
	"time"

	"tandem"
)

// DemoPlaylist is the name of the demo playlist.
const DemoPlaylist = "Demo"

// demoUser is the name shown as the adder of the demo entries.
const demoUser = "Tandem"

// Seeder is the storage SeedDemo needs.
type Seeder interface {
	PutTrack(t tandem.Track) error
	PlaylistByName(name string) (tandem.Playlist, error)
	NewPlaylist(op tandem.Op, name, owner string, collaborative bool) (tandem.Playlist, bool, error)
	AddEntry(playlistID, trackID, addedBy string, at time.Time) (tandem.Entry, error)
}

// SeedDemo stores the demo tracks and, on first run, creates the Demo
// playlist with them. It returns the playlist. Running it again changes
// nothing but the tracks' metadata.
func SeedDemo(st Seeder, tracks []tandem.Track) (tandem.Playlist, error) {
	for _, t := range tracks {
		if err := st.PutTrack(t); err != nil {
			return tandem.Playlist{}, fmt.Errorf("hub: seed demo track %q: %w", t.Title, err)
		}
	}
	pl, err := st.PlaylistByName(DemoPlaylist)
	if err == nil {
		return pl, nil
	}
	if tandem.ErrorCode(err) != tandem.ENOTFOUND {
		return tandem.Playlist{}, fmt.Errorf("hub: seed demo: %w", err)
	}
	// Collaborative, so that every friend can add to it.
	if pl, _, err = st.NewPlaylist(tandem.Op{}, DemoPlaylist, demoUser, true); err != nil {
		return tandem.Playlist{}, fmt.Errorf("hub: seed demo playlist: %w", err)
	}
	for _, t := range tracks {
		e, err := st.AddEntry(pl.ID, t.ID, demoUser, time.Time{})
		if err != nil {
			return tandem.Playlist{}, fmt.Errorf("hub: seed demo entry %q: %w", t.Title, err)
		}
		pl.Entries = append(pl.Entries, e)
	}
	return pl, nil
}
