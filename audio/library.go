package audio

import (
	"bytes"
	"fmt"
	"io"

	"tandem"
	"tandem/assets"
)

// DemoTracks returns the embedded demo library's tracks, with their tags.
// A file whose tags cannot be read keeps its file name as title.
func DemoTracks() []tandem.Track {
	demo := assets.Demo()
	out := make([]tandem.Track, 0, len(demo))
	for _, d := range demo {
		t := tandem.Track{ID: d.ID(), Title: d.Name, Format: d.Ext(), Size: int64(len(d.Data)), Uploader: "Tandem"}
		if tags, err := ReadTags(bytes.NewReader(d.Data)); err == nil {
			if tags.Title != "" {
				t.Title = tags.Title
			}
			t.Artist, t.Album, t.Duration = tags.Artist, tags.Album, tags.Duration
		}
		out = append(out, t)
	}
	return out
}

// MemLibrary is a library of tracks held in memory, by track id.
type MemLibrary map[string][]byte

// DemoLibrary returns the demo library as a MemLibrary.
func DemoLibrary() MemLibrary {
	lib := MemLibrary{}
	for _, d := range assets.Demo() {
		lib[d.ID()] = d.Data
	}
	return lib
}

// Open returns a reader of the track's bytes.
func (l MemLibrary) Open(trackID string) (io.ReadSeeker, error) {
	b, ok := l[trackID]
	if !ok {
		return nil, fmt.Errorf("audio: track %s is not in the local library: %w", trackID,
			tandem.Errorf(tandem.ENOTFOUND, "track not available on this player"))
	}
	return bytes.NewReader(b), nil
}
