//go:build !cgo && (linux || freebsd || netbsd)

// Package device plays the audio engine's PCM on the computer's sound card
// through oto. This build has no cgo, which oto needs here, so Open always
// fails and the player runs muted.
package device

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"tandem/audio"
)

// Open fails: sound needs cgo on this platform.
func Open(ctx context.Context, log *slog.Logger) (audio.Output, error) {
	return nil, fmt.Errorf("device: open: %w: built without cgo", ErrNoDevice)
}

// Options are the buffer sizes of a sound card output; see the cgo build.
type Options struct {
	DeviceBuffer time.Duration
	PlayerBuffer time.Duration
}

// OpenWith fails as Open does.
func OpenWith(ctx context.Context, log *slog.Logger, _ Options) (audio.Output, error) {
	return Open(ctx, log)
}

// The default buffer sizes, as in the cgo build.
const (
	DefaultPlayerBuffer = 50 * time.Millisecond
	DefaultDeviceBuffer = 40 * time.Millisecond
)
