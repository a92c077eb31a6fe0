// Package settings keeps the player's preferences in a JSON file: the hub
// and display name, the cache size, the music folders, the theme,
// notifications, and what the window remembers (its size, the last room,
// the volume and the table's sort order).
package settings

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"tandem/internal/atomicfile"
)

// Themes.
const (
	ThemeSystem = "system"
	ThemeLight  = "light"
	ThemeDark   = "dark"
)

// Settings are the player's preferences. The zero value is valid: every
// field falls back to a default.
type Settings struct {
	Hub           string   `json:"hub,omitempty"`  // the hub to join at start; "" runs the built-in hub
	Name          string   `json:"name,omitempty"` // display name
	CacheMB       int64    `json:"cacheMB,omitempty"`
	MusicFolders  []string `json:"musicFolders,omitempty"`
	Theme         string   `json:"theme,omitempty"` // ThemeSystem, ThemeLight or ThemeDark
	Notifications bool     `json:"notifications,omitempty"`

	Width    float32 `json:"width,omitempty"`
	Height   float32 `json:"height,omitempty"`
	LastRoom string  `json:"lastRoom,omitempty"`
	// Volume is from 0 to 1; nil means never set (full volume).
	Volume   *float64 `json:"volume,omitempty"`
	SortCol  int      `json:"sortColumn,omitempty"` // the table's sort column plus one; 0 for the playlist's order
	SortDesc bool     `json:"sortDesc,omitempty"`
}

// File is a Settings stored in a file, safe for concurrent use.
type File struct {
	path string
	mu   sync.Mutex
	s    Settings
}

// DefaultPath is settings.json in the user's configuration directory.
func DefaultPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("settings: %w", err)
	}
	return filepath.Join(dir, "tandem", "settings.json"), nil
}

// Open reads the settings in path; a missing file gives the defaults. A
// damaged file is an error, so that it is not overwritten unseen.
func Open(path string) (*File, error) {
	f := &File{path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	if err := json.Unmarshal(b, &f.s); err != nil {
		return nil, fmt.Errorf("settings: %s is damaged (move it away to start afresh): %w", path, err)
	}
	return f, nil
}

// Get returns a copy of the settings.
func (f *File) Get() Settings {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.s
	s.MusicFolders = append([]string(nil), f.s.MusicFolders...)
	return s
}

// Update changes the settings with fn and saves them (internal/atomicfile:
// a crash leaves the old file or the new one).
func (f *File) Update(fn func(*Settings)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.s
	s.MusicFolders = append([]string(nil), f.s.MusicFolders...)
	fn(&s)
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	if err := atomicfile.Write(f.path, append(b, '\n'), 0o600, 0o700); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	f.s = s
	return nil
}
