package audio

import (
	"fmt"
	"io"
	"sync"
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
}

// Muted is an Output without sound: it reads the PCM at real-time pace and
// discards it, so positions advance as they would on a sound card. It is
// the fallback when there is no audio device, and the output of tests.
type Muted struct {
	mu      sync.Mutex    // guards started and closed
	started bool          // Start was called
	closed  bool          // Close was called
	stop    chan struct{} // closed by Close
	done    chan struct{} // closed when the pulling goroutine exits
}

// mutedTick is how often Muted pulls PCM.
const mutedTick = 10 * time.Millisecond

// maxMutedBurst is the most PCM (in frames) Muted pulls in one tick; after
// a stall it skips ahead rather than racing to catch up, as a sound card
// would.
const maxMutedBurst = int64(SampleRate) / 4

// NewMuted returns a Muted output.
func NewMuted() *Muted {
	return &Muted{stop: make(chan struct{}), done: make(chan struct{})}
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
	go m.run(pcm)
	return nil
}

func (m *Muted) run(pcm io.Reader) {
	defer close(m.done)
	t := time.NewTicker(mutedTick)
	defer t.Stop()
	start := time.Now()
	var pulled int64 // frames
	buf := make([]byte, maxMutedBurst*BytesPerFrame)
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		elapsed := time.Since(start)
		due := int64(elapsed/time.Second)*int64(SampleRate) + int64(elapsed%time.Second)*int64(SampleRate)/int64(time.Second)
		n := due - pulled
		if n > maxMutedBurst {
			pulled += n - maxMutedBurst
			n = maxMutedBurst
		}
		if n <= 0 {
			continue
		}
		if _, err := io.ReadFull(pcm, buf[:n*BytesPerFrame]); err != nil {
			return
		}
		pulled += n
	}
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
