//go:build !cgo && (linux || freebsd || netbsd)

// Package device plays the audio engine's PCM on the computer's sound card
// through oto. This build has no cgo, which oto needs here, so Open always
// fails and the player runs muted.
package device

import (
	"context"
	"fmt"
	"log/slog"

	"tandem/audio"
)

// Open fails: sound needs cgo on this platform.
func Open(ctx context.Context, log *slog.Logger) (audio.Output, error) {
	return nil, fmt.Errorf("device: open: %w: built without cgo", ErrNoDevice)
}
