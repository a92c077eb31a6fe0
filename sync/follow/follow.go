// Package follow keeps one member's audio on its room's timeline.
//
// The hub owns the timeline: while playing, the track position at hub time
// t is Position + (t − StartAt). A Controller turns that into instructions
// for a Sink, the member's audio output: start this frame at that local
// instant, stop, play a hair faster or slower. It then keeps measuring the
// error between the frame the Sink says is audible and the frame the
// timeline says should be, and corrects it: a sample-accurate resync for a
// large error, an inaudible rate trim (at most ±MaxTrim) for a small one.
//
// The same Controller drives the player's real audio engine (package audio)
// and the sync lab's virtual sinks (cmd/synclab).
//
// All local times are time.Time values read from the Clock (with a
// monotonic reading in real use); hub times are Unix milliseconds, as on
// the wire.
package follow

import (
	"log/slog"
	"time"
)

// Sink is the audio output a Controller steers. Frames count from the
// start of the current track, at SampleRate frames a second. The owner
// loads the track into the Sink before it hands the Controller a timeline
// for it.
type Sink interface {
	// SampleRate is the sink's frames per second.
	SampleRate() int
	// Audible reports which frame of the track is heard at local time at:
	// the frames handed to the device minus its output latency, as of a
	// recent reading. ok is false while nothing plays.
	Audible() (frame int64, at time.Time, ok bool)
	// Schedule makes frame the frame heard at local time at, sample
	// accurately: silence until then, then the track from that frame. An
	// instant in the past starts at once, from the frame the timeline has
	// reached by then.
	Schedule(frame int64, at time.Time) error
	// Stop silences the output from local time at (now, if past).
	Stop(at time.Time)
	// SetRate sets the playback rate: 1 is normal speed; the Controller
	// keeps it within 1 ± MaxTrim.
	SetRate(ratio float64)
}

// Clock converts hub time to local time.
type Clock interface {
	// Now is the local time now.
	Now() time.Time
	// Local converts hub Unix milliseconds to local time.
	Local(hubMs float64) time.Time
}

// Timeline is a room's playback as the hub scheduled it.
type Timeline struct {
	Playing  bool
	Position time.Duration // track position at StartAt
	StartAt  float64       // hub Unix ms
	Version  uint64
}

// Defaults of Config.
const (
	// DefaultResync is the error beyond which the Controller resyncs
	// rather than trims. 40 ms is kept, for three reasons. It is about the
	// echo threshold of music: below it two copies of a sound fuse into
	// one (precedence effect), so an error being trimmed away is heard as
	// a slight smear, while a jump is always heard as a glitch. It is
	// above what the hub-clock estimate itself moves by: on a 80 ± 30 ms
	// WAN a better clock sample shifts the timeline by up to ~20 ms
	// (cmd/synclab), and a lower threshold would turn every such
	// correction into a jump. And at MaxTrim (0.05%) trimming it away
	// takes at most 80 s; beyond it, waiting longer than that is worse
	// than one jump. The median filter must exceed it over a whole
	// Window, so a single bad reading never resyncs.
	DefaultResync = 40 * time.Millisecond
	// DefaultMaxTrim is the largest rate trim: ±0.05% (500 ppm), below
	// what anyone hears as a change of pitch or tempo.
	DefaultMaxTrim = 0.0005
	// DefaultWindow is how many error readings the median filter holds.
	DefaultWindow = 9
)

// Config configures a Controller.
type Config struct {
	Sink   Sink
	Clock  Clock
	Logger *slog.Logger
	// Resync, MaxTrim and Window: zero means the defaults above.
	Resync  time.Duration
	MaxTrim float64
	Window  int
}

// Stats describe what a Controller measures and does.
type Stats struct {
	Error    time.Duration // the last median-filtered error; positive: the sink is ahead
	Trim     float64       // the rate trim in force, e.g. 0.0002 for +200 ppm
	MaxTrim  float64       // the largest |trim| applied so far
	Resyncs  int           // hard resyncs since New
	Playing  bool
	Timeline Timeline
	// Drift is the estimated rate error of the sink against the
	// timeline, e.g. 0.0001 when it runs 100 ppm fast; the trim cancels
	// it (see controller.go).
	Drift float64
}
