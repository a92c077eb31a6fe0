// Package audio decodes, tags and plays music for the Tandem player.
//
// Decode turns a WAV, FLAC, MP3 or Ogg Vorbis file into a beep stream at
// the engine's rate; ReadTags reads a file's title, artist, album and
// duration with small parsers of its own, and Probe validates an untrusted
// file (the hub's uploads) and reads its tags and artwork. An Engine plays one track at a time: it renders 16-bit
// little-endian stereo PCM at SampleRate into an io.Reader and hands that
// reader to an Output, which pulls from it at the pace of a sound card.
//
// The package is pure Go and builds with CGO_ENABLED=0. The real sound card
// output lives in the subpackage audio/device (cgo, oto); Muted is the
// fallback that keeps time when there is no sound card.
package audio

import (
	"errors"
	"time"

	"github.com/gopxl/beep/v2"
)

// The engine's PCM format.
const (
	SampleRate    beep.SampleRate = 44100 // Hz
	Channels                      = 2
	BytesPerFrame                 = 2 * Channels // 16-bit samples
)

// File formats, as they appear in Tags.Format and tandem.Track.Format.
const (
	FormatWAV  = "wav"
	FormatFLAC = "flac"
	FormatMP3  = "mp3" // MPEG-1/2/2.5 Layer III
	FormatOgg  = "ogg" // Ogg Vorbis
)

// Errors.
var (
	// ErrUnknownFormat means the bytes are not WAV, FLAC, MP3 or Ogg
	// Vorbis.
	ErrUnknownFormat = errors.New("audio: unknown format")
	// ErrMalformed means a file claims to be in one of those formats but
	// its structure is broken or hostile (e.g. an absurd chunk size), or
	// its audio does not decode.
	ErrMalformed = errors.New("audio: malformed file")
	// ErrNoTrack means the engine has no track loaded.
	ErrNoTrack = errors.New("audio: no track loaded")
	// ErrClosed means the engine or output is closed.
	ErrClosed = errors.New("audio: closed")
)

// framesToDuration converts a number of frames at rate Hz to a duration,
// saturating instead of overflowing.
func framesToDuration(frames uint64, rate uint64) time.Duration {
	if rate == 0 {
		return 0
	}
	secs := frames / rate
	const maxSecs = uint64(1<<63-1) / uint64(time.Second)
	if secs >= maxSecs {
		return time.Duration(1<<63 - 1)
	}
	rem := frames % rate
	return time.Duration(secs)*time.Second + time.Duration(rem*uint64(time.Second)/rate)
}
