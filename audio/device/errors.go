package device

import "errors"

// ErrNoDevice means no sound device could be opened; play muted instead.
var ErrNoDevice = errors.New("no audio output device")
