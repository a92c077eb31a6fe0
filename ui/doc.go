// Package ui is Tandem's desktop window, built with Fyne: playlists on the
// left, the selected playlist's tracks in a table in the middle, the room's
// members on the right, and a now-playing bar and a status line at the bottom.
//
// The window talks to the player only through Core and the player's local
// emitter. User actions are emitted as player.ChangeTrack and player.Playback
// events with Origin Local; the now-playing bar follows only the hub's
// authoritative (Origin Hub) events, so what it shows is what the room hears.
//
// The package never creates a Fyne app: the caller passes in a fyne.Window,
// so the package builds and tests with CGO_ENABLED=0 through
// fyne.io/fyne/v2/test. Every change made from another goroutine goes through
// fyne.Do; build with -tags migrated_fynedo.
package ui
