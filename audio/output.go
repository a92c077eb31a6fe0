package audio

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Output plays PCM: 16-bit little-endian stereo frames at SampleRate. The
// engine calls Start once, then the output pulls from pcm at its own pace,
// from its own goroutine, until Close. Reads may ask for any number of
// bytes; pcm never blocks for long and returns io.EOF once the engine is
// closed.
type Output interface {
	// Start begins pulling from pcm. It returns an error if the output
	// cannot play; the engine then falls back to Muted.
	Start(pcm io.Reader) error
	// Close stops pulling and releases the output. It is safe to call more
	// than once, and before Start.
	Close() error
	// Name describes the output for logs and the UI.
	Name() string
	// Latency is how long from now until the next frame the output reads
	// from pcm is heard: the PCM it holds but has not played yet, plus the
	// device's own delay. The engine calls it from inside pcm's Read, at
	// the start of every read, so it must not block on that read.
	Latency() time.Duration
}

// Idler is an Output that can rest while the engine has nothing to play.
// A sound card stream fed silence keeps costing CPU (a few percent of a
// core through PulseAudio), so the engine idles its output IdleAfter after
// the last sound, and wakes it as soon as something is played or
// scheduled.
type Idler interface {
	// Idle stops pulling PCM until Wake. It may wait for the output's
	// goroutine, so the engine never calls it from inside a read of pcm.
	Idle()
	// Wake resumes pulling, without waiting for the device. The output's
	// timeline jumps over the idle time: the next reads' Latency tells
	// the engine where it stands.
	Wake()
}

// Flusher is an Output that can drop the PCM it holds but has not played
// yet. The engine flushes it when Play starts a paused track at once, so
// that the track is not heard only after the silence already queued.
type Flusher interface {
	Flush()
}

// Muted is an Output without sound: it reads the PCM at real-time pace and
// discards it, so positions advance as they would on a sound card. It is
// the fallback when there is no audio device, and the output of tests.
//
// Muted models a sound card with a fixed delay: the k-th frame it pulls
// (counting frames skipped after a stall or while resting) is "heard" at
// start + MutedLatency + k/SampleRate, where start is when Start ran.
// Latency reports exactly that, so the engine's Audible and Schedule are
// exact against Muted, whatever the jitter of its ticker.
type Muted struct {
	mu      sync.Mutex    // guards started and closed
	started bool          // Start was called
	closed  bool          // Close was called
	stop    chan struct{} // closed by Close
	done    chan struct{} // closed when the pulling goroutine exits
	rest    chan bool     // Idle sends true, Wake false; cap 1, the latest wins

	start  atomic.Pointer[time.Time] // set by Start
	pulled atomic.Int64              // frames pulled or skipped so far
}

// mutedTick is how often Muted pulls PCM: 40 times a second, so that an
// idle player wakes up rarely (each wake-up costs the Go scheduler more
// than the silence it renders).
const mutedTick = 25 * time.Millisecond

// MutedLatency is the delay of Muted's virtual sound card: a frame is
// heard this long after the instant its pull was due. Two ticks, so that
// a frame is normally pulled before it is heard.
const MutedLatency = 2 * mutedTick

// maxMutedBurst is the most PCM (in frames) Muted pulls in one tick; after
// a stall it skips ahead rather than racing to catch up, as a sound card
// would.
const maxMutedBurst = int64(SampleRate) / 4

// NewMuted returns a Muted output.
func NewMuted() *Muted {
	return &Muted{stop: make(chan struct{}), done: make(chan struct{}), rest: make(chan bool, 1)}
}

// Name returns "muted".
func (m *Muted) Name() string { return "muted" }

// Start starts the goroutine that pulls from pcm. It runs until Close or
// until pcm returns an error (io.EOF when the engine closes).
func (m *Muted) Start(pcm io.Reader) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return fmt.Errorf("audio: start muted output: %w", ErrClosed)
	case m.started:
		return fmt.Errorf("audio: muted output already started")
	}
	m.started = true
	start := time.Now()
	m.start.Store(&start)
	go m.run(pcm, start)
	return nil
}

// Latency returns how long until the next frame Muted pulls is heard. It
// may be negative when the pulling goroutine runs late.
func (m *Muted) Latency() time.Duration {
	start := m.start.Load()
	if start == nil {
		return MutedLatency
	}
	heard := start.Add(MutedLatency + framesToDuration(uint64(m.pulled.Load()), uint64(SampleRate)))
	return time.Until(heard)
}

// Idle stops the pulls, and with them every wake-up, until Wake.
func (m *Muted) Idle() { m.setRest(true) }

// Wake resumes the pulls. The first one skips the frames due while idle,
// as after a stall, so the timeline stays start + k/SampleRate.
func (m *Muted) Wake() { m.setRest(false) }

func (m *Muted) setRest(idle bool) {
	for {
		select {
		case m.rest <- idle:
			return
		default:
		}
		select { // replace an older request that was not taken yet
		case <-m.rest:
		default:
		}
	}
}

func (m *Muted) run(pcm io.Reader, start time.Time) {
	defer close(m.done)
	t := time.NewTicker(mutedTick)
	defer t.Stop()
	var pulled int64 // frames; m.pulled mirrors it
	buf := make([]byte, maxMutedBurst*BytesPerFrame)
	for {
		select {
		case <-m.stop:
			return
		case idle := <-m.rest:
			for idle {
				t.Stop()
				select {
				case <-m.stop:
					return
				case idle = <-m.rest:
				}
			}
			// Skip what fell due while resting, so that the first frame
			// pulled now is heard MutedLatency from now, as on a fresh start.
			pulled = dueFrames(time.Since(start))
			m.pulled.Store(pulled)
			t.Reset(mutedTick)
			continue
		case <-t.C:
		}
		n := dueFrames(time.Since(start)) - pulled
		if n > maxMutedBurst {
			pulled += n - maxMutedBurst
			m.pulled.Store(pulled)
			n = maxMutedBurst
		}
		if n <= 0 {
			continue
		}
		if _, err := io.ReadFull(pcm, buf[:n*BytesPerFrame]); err != nil {
			return
		}
		pulled += n
		m.pulled.Store(pulled)
	}
}

// dueFrames returns how many frames fall due in d at SampleRate.
func dueFrames(d time.Duration) int64 {
	return int64(d/time.Second)*int64(SampleRate) + int64(d%time.Second)*int64(SampleRate)/int64(time.Second)
}

// Close stops the pulling goroutine and waits for it to exit.
func (m *Muted) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	started := m.started
	close(m.stop)
	m.mu.Unlock()
	if started {
		<-m.done
	}
	return nil
}
