// Package assets holds Tandem's embedded files: the icons and the demo
// library, a handful of short tracks that assets/gen synthesises, so that a
// new player has music to play before anyone uploads any. It imports no UI
// toolkit; the ui package wraps the bytes in resources.
package assets

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"path"
	"sort"
)

//go:generate go run ./gen -out demo

// Icons as SVG. The play and pause glyphs are black on transparent, on a
// 24×24 view box, so a theme can recolour them; the app icon has its own
// colours.
var (
	//go:embed icons/app.svg
	AppIcon []byte
	//go:embed icons/play.svg
	PlayIcon []byte
	//go:embed icons/pause.svg
	PauseIcon []byte
)

//go:embed demo/*.wav demo/*.flac
var demoFS embed.FS

// DemoTrack is one file of the demo library.
type DemoTrack struct {
	Name string // file name, e.g. "morning-tram.flac"
	Data []byte // the whole file (a fresh copy for each call of Demo)
}

// ID returns the track's ID: the lowercase hex sha256 of its bytes.
func (t DemoTrack) ID() string {
	sum := sha256.Sum256(t.Data)
	return hex.EncodeToString(sum[:])
}

// Ext returns the file's format as its extension without the dot: "wav"
// or "flac".
func (t DemoTrack) Ext() string {
	e := path.Ext(t.Name)
	if e == "" {
		return ""
	}
	return e[1:]
}

// Demo returns the demo library, sorted by file name. Titles, artists and
// album are in the files' own tags (read them with audio.ReadTags).
func Demo() []DemoTrack {
	entries, err := fs.ReadDir(demoFS, "demo")
	if err != nil {
		// The directory is embedded at build time; it cannot be missing.
		panic("assets: embedded demo directory: " + err.Error())
	}
	tracks := make([]DemoTrack, 0, len(entries))
	for _, e := range entries {
		data, err := demoFS.ReadFile("demo/" + e.Name())
		if err != nil {
			panic("assets: embedded demo file: " + err.Error())
		}
		tracks = append(tracks, DemoTrack{Name: e.Name(), Data: data})
	}
	sort.Slice(tracks, func(i, j int) bool { return tracks[i].Name < tracks[j].Name })
	return tracks
}

// DemoFS returns the demo library as a file system, with the files at its
// root.
func DemoFS() fs.FS {
	sub, err := fs.Sub(demoFS, "demo")
	if err != nil {
		panic("assets: embedded demo directory: " + err.Error())
	}
	return sub
}
