package audio

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/gopxl/beep/v2"
)

// Engine plays one track at a time. It renders the current track, or
// silence while paused or empty, as 16-bit little-endian stereo PCM at
// SampleRate into the io.Reader it gives its Output. All methods are safe
// for concurrent use.
//
// Position is the position of the last frame handed to the output; what
// is audible lags behind it by the output's buffer.
type Engine struct {
	log *slog.Logger
	out Output // set in New, never changed after

	hooks sync.WaitGroup // running OnEnd callbacks; Close waits for them

	mu      sync.Mutex // guards the fields below; never held while calling out or a hook
	id      string
	stream  beep.StreamSeekCloser // nil when no track is loaded
	playing bool
	ended   bool // the track played to its end; cleared by Load and Seek
	closed  bool
	onEnd   func(trackID string)
	buf     [][2]float64 // scratch for read
	partial []byte       // the rest of a frame that read could not fit; part of the byte stream, so it survives Load and Seek
}

// New returns an engine that plays through out, and starts out. If out
// fails to start, the engine logs why and falls back to a Muted output. A
// nil out means Muted, and a nil log discards logs.
func New(log *slog.Logger, out Output) *Engine {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if out == nil {
		out = NewMuted()
	}
	e := &Engine{log: log, out: out}
	if err := out.Start(pcm{e}); err != nil {
		log.Warn("audio output failed; muted", "output", out.Name(), "err", err)
		out.Close()
		e.out = NewMuted()
		if err := e.out.Start(pcm{e}); err != nil {
			// A fresh Muted output always starts.
			log.Error("audio: muted output failed", "err", err)
		}
	}
	log.Info("audio engine started", "output", e.out.Name())
	return e
}

// Output returns the engine's output.
func (e *Engine) Output() Output { return e.out }

// Muted reports whether the engine plays through the Muted output, i.e.
// whether nobody can hear it.
func (e *Engine) Muted() bool {
	_, ok := e.out.(*Muted)
	return ok
}

// OnEnd sets f to be called with the track's ID whenever a track plays to
// its end. f runs on its own goroutine, never with the engine's lock held,
// so it may call the engine's methods, except Close: Close waits for f.
func (e *Engine) OnEnd(f func(trackID string)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.onEnd = f
}

// Load decodes the track read from r and makes it the current track,
// paused at its start. The engine owns r from then on: it closes r, if r
// is an io.Closer, when the track is replaced or the engine is closed. On
// error the current track is unchanged and r is left open.
func (e *Engine) Load(trackID string, r io.ReadSeeker) error {
	s, format, err := Decode(r)
	if err != nil {
		return fmt.Errorf("audio: load %s: %w", trackID, err)
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		s.Close()
		return fmt.Errorf("audio: load %s: %w", trackID, ErrClosed)
	}
	old := e.stream
	e.id, e.stream, e.playing, e.ended = trackID, s, false, false
	e.mu.Unlock()
	e.log.Debug("audio: loaded", "track", trackID, "rate", format.SampleRate, "channels", format.NumChannels,
		"duration", framesToDuration(uint64(s.Len()), uint64(SampleRate)))
	if old != nil {
		if err := old.Close(); err != nil {
			e.log.Warn("audio: closing previous track", "err", err)
		}
	}
	return nil
}

// Play starts or resumes the current track. Without a track, or at its
// end, it does nothing.
func (e *Engine) Play() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stream == nil || e.closed || e.ended {
		return
	}
	e.playing = true
}

// Pause pauses the current track; the output then gets silence.
func (e *Engine) Pause() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.playing = false
}

// Seek moves the current track to d, clamped to [0, Duration()], keeping
// it playing or paused.
func (e *Engine) Seek(d time.Duration) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.closed:
		return fmt.Errorf("audio: seek: %w", ErrClosed)
	case e.stream == nil:
		return fmt.Errorf("audio: seek: %w", ErrNoTrack)
	}
	n := e.stream.Len()
	p := max(0, SampleRate.N(d))
	if p >= n {
		// beep's FLAC decoder cannot seek to the very end; the last frame
		// plays and the track ends.
		p = max(0, n-1)
	}
	if err := e.stream.Seek(p); err != nil {
		return fmt.Errorf("audio: seek %s to %v: %w", e.id, d, err)
	}
	e.ended = false
	return nil
}

// Position returns how far the current track has been played.
func (e *Engine) Position() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.stream == nil:
		return 0
	case e.ended:
		return SampleRate.D(e.stream.Len())
	}
	return SampleRate.D(e.stream.Position())
}

// Duration returns the current track's length, or 0 without a track.
func (e *Engine) Duration() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stream == nil {
		return 0
	}
	return SampleRate.D(e.stream.Len())
}

// Current returns the ID of the current track, or "" without one.
func (e *Engine) Current() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.id
}

// Playing reports whether the current track is playing.
func (e *Engine) Playing() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.playing
}

// Close stops the output, closes the current track and waits for running
// OnEnd callbacks. It is safe to call more than once.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.playing = false
	s := e.stream
	e.stream, e.id = nil, ""
	e.mu.Unlock()

	err := e.out.Close()
	if err != nil {
		err = fmt.Errorf("audio: close output %s: %w", e.out.Name(), err)
	}
	if s != nil {
		err = errors.Join(err, s.Close())
	}
	e.hooks.Wait()
	e.log.Info("audio engine closed")
	return err
}

// pcm is the reader the engine gives its output.
type pcm struct{ e *Engine }

// Read fills p with PCM. It never blocks on anything but the engine's lock,
// and returns io.EOF once the engine is closed.
func (r pcm) Read(p []byte) (int, error) { return r.e.read(p) }

func (e *Engine) read(p []byte) (int, error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return 0, io.EOF
	}
	n := copy(p, e.partial)
	e.partial = e.partial[n:]
	p = p[n:]
	frames := len(p) / BytesPerFrame
	var tail [BytesPerFrame]byte
	if rest := len(p) % BytesPerFrame; rest > 0 && len(e.partial) == 0 {
		frames++ // render one more frame; keep what does not fit for later
	}
	ended, hook, id := false, e.onEnd, e.id
	if frames > 0 {
		if cap(e.buf) < frames {
			e.buf = make([][2]float64, frames)
		}
		buf := e.buf[:frames]
		got := e.render(buf)
		if e.playing && got < frames {
			ended = true
			e.playing, e.ended = false, true
		}
		clear(buf[got:])
		whole := min(frames, len(p)/BytesPerFrame)
		encode(p, buf[:whole])
		n += whole * BytesPerFrame
		if whole < frames {
			encode(tail[:], buf[whole:])
			k := copy(p[whole*BytesPerFrame:], tail[:])
			n += k
			e.partial = append(e.partial[:0], tail[k:]...)
		}
	}
	call := ended && hook != nil
	if call {
		e.hooks.Add(1) // under the lock, so never after Close's Wait began
	}
	e.mu.Unlock()
	if ended {
		e.log.Debug("audio: track ended", "track", id)
	}
	if call {
		go func() {
			defer e.hooks.Done()
			hook(id)
		}()
	}
	return n, nil
}

// render streams the current track into buf while playing and returns how
// many frames it wrote. A decoder panic, from a hostile file, ends the
// track instead of the program. e.mu must be held.
func (e *Engine) render(buf [][2]float64) (n int) {
	if !e.playing || e.stream == nil {
		return 0
	}
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("audio: decoder panicked; track stopped", "track", e.id, "panic", p)
			n = 0
		}
	}()
	for n < len(buf) {
		k, ok := e.stream.Stream(buf[n:])
		n += k
		if !ok || k == 0 {
			break
		}
	}
	if err := e.stream.Err(); err != nil {
		e.log.Warn("audio: decoding failed; track stopped", "track", e.id, "err", err)
	}
	return n
}

// encode writes frames as 16-bit little-endian stereo into p.
func encode(p []byte, frames [][2]float64) {
	for i, f := range frames {
		for c := 0; c < 2; c++ {
			x := f[c]
			if math.IsNaN(x) {
				x = 0
			}
			v := int16(math.Round(max(-1, min(1, x)) * math.MaxInt16))
			p[i*4+c*2] = byte(v)
			p[i*4+c*2+1] = byte(v >> 8)
		}
	}
}
