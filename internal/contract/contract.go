// Package contract checks at compile time that the player's parts fit the
// window's interfaces (package ui), so that a change on either side breaks
// the build here rather than in cmd/player's cgo build.
package contract

import (
	"tandem/player"
	"tandem/ui"
)

var _ ui.Core = (*player.Core)(nil)
