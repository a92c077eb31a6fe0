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
// Position is the position of the next frame to hand to the output; what
// is audible lags behind it by the output's latency.
//
// The engine is also a follow.Sink, the output a room's follow.Controller
// steers: Audible reports the frame heard now, Schedule starts a frame at
// an instant to the sample, Stop stops at an instant, SetRate trims the
// speed. It knows when each frame it renders will be heard from the count
// of frames it has handed the output and the output's Latency at each
// read (see timebase), so the silence before a scheduled start and the
// frames skipped after a late one are exact counts of frames.
//
// A rate other than 1 is played by resampling the track with a 4-point
// cubic (Catmull-Rom) interpolation between its frames: the output stays
// continuous, slope included, where dropping or repeating single frames
// would put a step into the waveform every 1/|rate−1| frames (every
// 45 ms at 0.05%). At rate 1 with no fractional offset the frames are
// copied untouched.
type Engine struct {
	log *slog.Logger
	out Output // set in New, never changed after

	hooks sync.WaitGroup // running OnEnd callbacks; Close waits for them

	mu      sync.Mutex // guards the fields below; never held while calling out or a hook
	id      string
	stream  beep.StreamSeekCloser // nil when no track is loaded
	length  int64                 // the stream's length in frames
	playing bool
	ended   bool // the track played to its end; cleared by Load and Seek
	closed  bool
	onEnd   func(trackID string)
	onError func(trackID string, err error)
	failed  error        // a decoding failure not yet reported to onError
	buf     [][2]float64 // scratch for read
	partial []byte       // the rest of a frame that read could not fit; part of the byte stream, so it survives Load and Seek

	// The track as the resampler reads it: a window of decoded frames.
	src    [][2]float64 // src[0] is the track's frame srcAt
	srcAt  int64
	srcEnd bool    // the stream has nothing after src
	pos    int64   // the track frame of the next output frame: whole part
	frac   float64 // and fractional part, in [0, 1)
	rate   float64 // track frames per output frame

	// The output's timeline: output frame k (counted from Start) is heard
	// at base + k/SampleRate.
	rendered int64 // frames rendered into the output (the last maybe in part)
	handed   int64 // bytes handed to the output
	base     time.Time
	baseOK   bool
	sched    *cue      // a Schedule waiting for its instant
	stopAt   time.Time // a Stop waiting for its instant, if stopping
	stopping bool
	runs     [runHistory]run // the latest rendered runs, a ring, for Audible
	nruns    int             // runs recorded so far

	// Gapless: the next track, opened and its first block decoded ahead
	// (LoadNext). A Schedule made while it waits applies to it: the
	// current track plays on until the scheduled instant, and the next
	// takes over on that very frame.
	next    *nextTrack
	retired []beep.StreamSeekCloser // streams to close once the lock is released

	// Idling the output (an Idler) while nothing plays: idleArmed while
	// idleTimer runs towards goIdle, idling once the output rests.
	idler     Idler      // out, if it can rest; nil otherwise
	idleMu    sync.Mutex // serialises the output's Idle and Wake; taken before mu
	idleTimer *time.Timer
	idleArmed bool
	idling    bool
	idleAfter time.Duration
	// fresh: until then, every reading of the output's timeline replaces
	// the smoothed one instead of nudging it. Set when the output was
	// woken or flushed: the PCM it dropped was counted as handed, and a
	// woken stream starts over, so the old timeline is stale by up to a
	// buffer, which smoothing would take hundreds of milliseconds to
	// forget.
	fresh time.Time

	// Loudness (volume.go): the gain in force and the one it ramps to.
	gain, gainTo float64
	volume       float64 // the listener's setting, 0 to 1
	muted        bool
	trackGain    float64 // ReplayGain of the current track, as a factor
}

// nextTrack is a track loaded ahead of its start.
type nextTrack struct {
	id     string
	stream beep.StreamSeekCloser
	length int64
	src    [][2]float64 // its first decoded frames, from frame 0
	srcEnd bool
	cue    *cue    // its scheduled start, once Schedule gave one
	gain   float64 // its ReplayGain factor (SetNextTrackGain)
}

// cue is a scheduled start: frame is heard at at.
type cue struct {
	frame int64
	at    time.Time
}

// run is a stretch of output frames rendered in one go: either silence
// or the track, from frame on, step track frames per output frame.
type run struct {
	at    time.Time // when its first frame is heard
	n     int       // frames
	frame float64   // track frame of its first frame; negative for silence
	step  float64
}

const (
	// runHistory is how many runs Audible can look back through: a
	// fraction of a second of output, longer than any output's latency.
	runHistory = 64
	// decodeBlock is how many frames the engine decodes at a time.
	decodeBlock = 4096
	// maxSkipDecode is the most frames a late start skips by decoding
	// them; beyond it, it seeks.
	maxSkipDecode = int64(SampleRate) / 2
	// gaplessSnap is how far (in frames) the next track's scheduled start
	// may be from the current track's last frame and still follow it
	// without a gap: the output's timeline estimate wanders by a few
	// frames between the two Schedules (the sound card's clock against
	// the system's), and a few frames early or late at a gapless boundary
	// would cut the tail or insert silence. The follower's rate trim takes
	// up the difference afterwards. 5 ms.
	gaplessSnap = int64(SampleRate) / 200
	// MaxRateTrim bounds SetRate: the rate stays within 1 ± MaxRateTrim
	// (0.2%, a pitch change of 3.5 cents), whatever it is asked.
	MaxRateTrim = 0.002
	// rebase is how far a reading of the output's timeline may stray from
	// the smoothed one before the engine takes it as a jump (a stall, an
	// underrun, a skip) rather than jitter.
	rebase = 30 * time.Millisecond
	// baseSmoothing is the weight of the smoothed timeline against one
	// new reading: it averages the jitter of the output's buffer levels
	// over about that many reads, and follows the drift of the sound
	// card's clock against the local one.
	baseSmoothing = 8
	// freshFor is how long after waking or flushing the output the engine
	// takes each reading of its timeline as it is: a few of the output's
	// reads, while its buffers refill.
	freshFor = 100 * time.Millisecond
	// IdleAfter is how long the engine lets an output that can rest (an
	// Idler) run on silence after the last sound before idling it. Long
	// enough that a pause and a quick resume never wait for the device.
	IdleAfter = 3 * time.Second
)

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
	e := &Engine{log: log, out: out, rate: 1, gain: 1, gainTo: 1, volume: 1, trackGain: 1, idleAfter: IdleAfter}
	// idler is set before Start: the output reads the engine at once.
	e.idler, _ = out.(Idler)
	if err := out.Start(pcm{e}); err != nil {
		log.Warn("audio output failed; muted", "output", out.Name(), "err", err)
		out.Close()
		m := NewMuted()
		e.out, e.idler = m, m
		if err := e.out.Start(pcm{e}); err != nil {
			// A fresh Muted output always starts.
			log.Error("audio: muted output failed", "err", err)
		}
	}
	log.Info("audio engine started", "output", e.out.Name())
	return e
}

// busyLocked reports whether the engine has sound to make now or later:
// the output must not rest. e.mu must be held.
func (e *Engine) busyLocked() bool {
	return e.playing || e.sched != nil || (e.next != nil && e.next.cue != nil)
}

// armIdleLocked starts the countdown to idling the output, once nothing
// plays. It runs at every read, so a track's end, a Pause and a Stop that
// has come all start it. e.mu must be held.
func (e *Engine) armIdleLocked() {
	if e.idler == nil || e.idleAfter <= 0 || e.idling || e.idleArmed || e.closed || e.busyLocked() {
		return
	}
	e.idleArmed = true
	if e.idleTimer == nil {
		e.idleTimer = time.AfterFunc(e.idleAfter, e.goIdle)
	} else {
		e.idleTimer.Reset(e.idleAfter)
	}
}

// goIdle rests the output if the engine is still idle.
func (e *Engine) goIdle() {
	e.idleMu.Lock()
	defer e.idleMu.Unlock()
	e.mu.Lock()
	e.idleArmed = false
	rest := !e.closed && !e.idling && !e.busyLocked()
	if rest {
		e.idling = true
	}
	e.mu.Unlock()
	if rest {
		e.log.Debug("audio: output idle")
		e.idler.Idle()
	}
}

// wake stops the countdown to idling and wakes a resting output, and
// reports whether it did. Play and Schedule call it after releasing e.mu.
func (e *Engine) wake() bool {
	if e.idler == nil {
		return false
	}
	e.idleMu.Lock()
	defer e.idleMu.Unlock()
	e.mu.Lock()
	if e.idleArmed {
		e.idleTimer.Stop() // if it already fired, goIdle finds the engine busy
		e.idleArmed = false
	}
	w := e.idling && !e.closed
	e.idling = false
	if w {
		e.fresh = time.Now().Add(freshFor)
	}
	e.mu.Unlock()
	if w {
		e.log.Debug("audio: output woken")
		e.idler.Wake()
	}
	return w
}

// SetIdleAfter sets how long after the last sound the engine rests an
// output that can (IdleAfter by default); 0 or less never rests it. A
// countdown under way starts again with the new length.
func (e *Engine) SetIdleAfter(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.idleAfter = d
	if e.idleArmed {
		e.idleTimer.Stop() // if it already fired, goIdle decides as before
		e.idleArmed = false
		e.armIdleLocked()
	}
}

// Idle reports whether the engine has rested its output.
func (e *Engine) Idle() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.idling
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

// OnError sets f to be called, on a goroutine of its own, when a track
// turns out to be damaged while it plays: the decoder failed or panicked,
// and the engine stopped the track there rather than crash or hang.
func (e *Engine) OnError(f func(trackID string, err error)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.onError = f
}

// Load decodes the track read from r and makes it the current track,
// paused at its start; a pending Schedule or Stop is dropped, the rate
// kept. The engine owns r from then on: it closes r, if r is an
// io.Closer, when the track is replaced or the engine is closed. On error
// the current track is unchanged and r is left open.
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
	e.id, e.stream, e.length, e.playing, e.ended = trackID, s, int64(s.Len()), false, false
	e.src, e.srcAt, e.srcEnd, e.pos, e.frac = e.src[:0], 0, false, 0, 0
	e.sched, e.stopping = nil, false
	e.trackGain = 1 // a new track's ReplayGain comes with SetTrackGain
	e.retargetLocked()
	var dropped *nextTrack
	dropped, e.next = e.next, nil
	e.mu.Unlock()
	if dropped != nil {
		dropped.stream.Close()
	}
	e.log.Debug("audio: loaded", "track", trackID, "rate", format.SampleRate, "channels", format.NumChannels,
		"duration", framesToDuration(uint64(s.Len()), uint64(SampleRate)))
	if old != nil {
		if err := old.Close(); err != nil {
			e.log.Warn("audio: closing previous track", "err", err)
		}
	}
	return nil
}

// LoadNext opens and starts decoding the track that follows the current
// one, gaplessly: the next Schedule applies to it, and at the scheduled
// instant it replaces the current track on that very frame, the current
// one playing until then. A Load, or another LoadNext, drops it. The
// engine owns r as with Load.
func (e *Engine) LoadNext(trackID string, r io.ReadSeeker) error {
	s, _, err := Decode(r)
	if err != nil {
		return fmt.Errorf("audio: load next %s: %w", trackID, err)
	}
	n := &nextTrack{id: trackID, stream: s, length: int64(s.Len()), gain: 1}
	// Decode its first block now, off the output's path.
	n.src = make([][2]float64, decodeBlock)
	got, end := decodeInto(s, n.src)
	n.src, n.srcEnd = n.src[:got], end
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		s.Close()
		return fmt.Errorf("audio: load next %s: %w", trackID, ErrClosed)
	}
	old := e.next
	e.next = n
	e.mu.Unlock()
	if old != nil {
		old.stream.Close()
	}
	return nil
}

// Next returns the id of the track loaded with LoadNext that has not
// started yet, or "".
func (e *Engine) Next() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.next == nil {
		return ""
	}
	return e.next.id
}

// decodeInto decodes up to len(buf) frames of s, and reports how many,
// and whether the stream ended. A decoder panic counts as the end.
func decodeInto(s beep.Streamer, buf [][2]float64) (got int, end bool) {
	defer func() {
		if recover() != nil {
			got, end = 0, true
		}
	}()
	for got < len(buf) {
		k, ok := s.Stream(buf[got:])
		got += k
		if !ok || k == 0 {
			return got, true
		}
	}
	return got, false
}

// Play starts or resumes the current track at once, dropping a pending
// Schedule or Stop. Without a track, or at its end, it does nothing.
func (e *Engine) Play() {
	e.mu.Lock()
	if e.stream == nil || e.closed || e.ended {
		e.mu.Unlock()
		return
	}
	was := e.playing
	e.playing, e.sched, e.stopping = true, nil, false
	e.mu.Unlock()
	if woke := e.wake(); !woke && !was {
		// A running output holds silence; a woken one was refilled.
		if f, ok := e.out.(Flusher); ok {
			e.mu.Lock()
			e.fresh = time.Now().Add(freshFor)
			e.mu.Unlock()
			f.Flush()
		}
	}
}

// Pause pauses the current track at once, dropping a pending Schedule or
// Stop; the output then gets silence.
func (e *Engine) Pause() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.playing, e.sched, e.stopping = false, nil, false
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
	if err := e.seekLocked(int64(SampleRate.N(d))); err != nil {
		return fmt.Errorf("audio: seek %s to %v: %w", e.id, d, err)
	}
	return nil
}

// seekLocked moves the track to frame p, clamped to the track, and
// empties the resampler's window. e.mu must be held, with a stream.
func (e *Engine) seekLocked(p int64) error {
	p = max(0, p)
	if p >= e.length {
		// beep's FLAC decoder cannot seek to the very end; the last frame
		// plays and the track ends.
		p = max(0, e.length-1)
	}
	if err := e.stream.Seek(int(p)); err != nil {
		return err
	}
	e.src, e.srcAt, e.srcEnd, e.pos, e.frac = e.src[:0], p, false, p, 0
	e.ended = false
	return nil
}

// Position returns how far the current track has been rendered: the
// position of the next frame to hand to the output.
func (e *Engine) Position() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.stream == nil:
		return 0
	case e.ended:
		return SampleRate.D(int(e.length))
	}
	return SampleRate.D(int(e.pos))
}

// SampleRate returns the output's rate in frames per second.
func (e *Engine) SampleRate() int { return int(SampleRate) }

// Audible reports the frame of the current track heard at local time at,
// now or a moment before: the frames the engine handed the output, less
// the output's latency. ok is false while the output plays silence or
// nothing has been rendered yet.
func (e *Engine) Audible() (frame int64, at time.Time, ok bool) {
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range min(e.nruns, runHistory) {
		r := e.runs[(e.nruns-1-i)%runHistory]
		if r.at.After(now) {
			continue // not heard yet
		}
		off := now.Sub(r.at).Seconds() * float64(SampleRate)
		if r.frame < 0 || off >= float64(r.n) {
			return 0, time.Time{}, false // silence, or the output ran dry
		}
		x := r.frame + off*r.step
		f := math.Floor(x)
		// The instant frame f itself is heard, a fraction of a frame ago.
		at = now.Add(-time.Duration((x - f) / r.step / float64(SampleRate) * float64(time.Second)))
		return int64(f), at, true
	}
	return 0, time.Time{}, false
}

// Schedule makes frame the frame of the current track heard at local
// time at: silence from the next frame rendered until then, then the track
// from frame on. If at is already past by the time the engine renders, the
// track starts at once from where it would be by then. A negative frame
// starts the track's first frame that many frames after at. It replaces
// any pending Schedule and Stop.
func (e *Engine) Schedule(frame int64, at time.Time) error {
	err := e.schedule(frame, at)
	if err == nil {
		e.wake()
	}
	return err
}

func (e *Engine) schedule(frame int64, at time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.closed:
		return fmt.Errorf("audio: schedule: %w", ErrClosed)
	case e.stream == nil:
		return fmt.Errorf("audio: schedule: %w", ErrNoTrack)
	}
	if frame < 0 {
		at = at.Add(framesToDuration(uint64(-frame), uint64(SampleRate)))
		frame = 0
	}
	if e.next != nil {
		// For the next track: the current one plays on until at, and
		// its own pending Schedule, if any, stands.
		e.next.cue = &cue{frame: frame, at: at}
		return nil
	}
	// Seek now, on the caller's goroutine, so that the render need not.
	if frame != e.pos || e.frac != 0 || e.ended {
		if err := e.seekLocked(frame); err != nil {
			return fmt.Errorf("audio: schedule %s at frame %d: %w", e.id, frame, err)
		}
	}
	e.playing, e.stopping = false, false
	e.sched = &cue{frame: frame, at: at}
	return nil
}

// Stop silences the output from local time at, to the frame (from the
// next frame rendered, if at has passed). A pending Schedule for at or
// later is dropped; one before it still starts, and plays until at.
func (e *Engine) Stop(at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sched != nil && !e.sched.at.Before(at) {
		e.sched = nil
	}
	e.stopping, e.stopAt = true, at
}

// SetRate sets the playback rate, clamped to 1 ± MaxRateTrim: the track
// plays ratio times as fast as normal, from the next frame rendered on.
func (e *Engine) SetRate(ratio float64) {
	if math.IsNaN(ratio) {
		ratio = 1
	}
	ratio = max(1-MaxRateTrim, min(1+MaxRateTrim, ratio))
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rate = ratio
}

// Rate returns the playback rate SetRate set.
func (e *Engine) Rate() float64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rate
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
	if e.idleTimer != nil {
		e.idleTimer.Stop() // goIdle finds the engine closed if it already fired
	}
	s := e.stream
	e.stream, e.id = nil, ""
	toClose := e.retired
	e.retired = nil
	if e.next != nil {
		toClose = append(toClose, e.next.stream)
		e.next = nil
	}
	e.mu.Unlock()

	err := e.out.Close()
	if err != nil {
		err = fmt.Errorf("audio: close output %s: %w", e.out.Name(), err)
	}
	if s != nil {
		err = errors.Join(err, s.Close())
	}
	for _, r := range toClose {
		err = errors.Join(err, r.Close())
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
	// Ask the output before taking the lock: when the next byte will be
	// heard. It is the first byte of p.
	lat := e.out.Latency()
	now := time.Now()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return 0, io.EOF
	}
	e.timebase(now, lat)
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
		ended = e.render(buf, e.heard(e.rendered))
		e.applyGain(buf)
		e.rendered += int64(frames)
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
	e.handed += int64(n)
	e.armIdleLocked()
	call := ended && hook != nil
	if call {
		e.hooks.Add(1) // under the lock, so never after Close's Wait began
	}
	retired := e.retired
	e.retired = nil
	failed, errHook := e.failed, e.onError
	e.failed = nil
	if failed != nil && errHook != nil {
		e.hooks.Add(1)
	} else {
		errHook = nil
	}
	e.mu.Unlock()
	if errHook != nil {
		go func() {
			defer e.hooks.Done()
			errHook(id, failed)
		}()
	}
	for _, s := range retired {
		if err := s.Close(); err != nil {
			e.log.Warn("audio: closing a finished track", "err", err)
		}
	}
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

// timebase updates when output frames are heard from one reading: the
// next byte the output reads, byte e.handed, is heard lat after now. A
// reading close to the smoothed timeline moves it by a fraction of the
// difference; one far from it (the first, or after a stall) replaces it.
// e.mu must be held.
func (e *Engine) timebase(now time.Time, lat time.Duration) {
	handed := float64(e.handed) / BytesPerFrame
	b := now.Add(lat - time.Duration(handed/float64(SampleRate)*float64(time.Second)))
	d := b.Sub(e.base)
	if !e.baseOK || d > rebase || d < -rebase || now.Before(e.fresh) {
		if e.baseOK && (d > rebase || d < -rebase) {
			e.log.Debug("audio: output timeline jumped", "by", d, "latency", lat, "handed_s", handed/float64(SampleRate))
		}
		e.base, e.baseOK = b, true
		return
	}
	e.base = e.base.Add(d / baseSmoothing)
}

// heard returns when output frame k is heard. e.mu must be held.
func (e *Engine) heard(k int64) time.Time {
	return e.base.Add(time.Duration(float64(k) / float64(SampleRate) * float64(time.Second)))
}

// framesUntil returns how many frames from one heard at t to one heard at
// at, rounded: 0 or less once at is reached, to the nearest frame.
func framesUntil(at, t time.Time) int64 {
	f := math.Round(at.Sub(t).Seconds() * float64(SampleRate))
	return int64(max(-1<<53, min(1<<53, f)))
}

// render fills buf, the output frames from one heard at first on: the
// track while it plays, silence otherwise, starting and stopping at the
// frames where a pending Schedule or Stop falls due. It reports whether
// the track played to its end. e.mu must be held.
func (e *Engine) render(buf [][2]float64, first time.Time) (ended bool) {
	for j := 0; j < len(buf); {
		t := first.Add(time.Duration(float64(j) / float64(SampleRate) * float64(time.Second)))
		e.due(t)
		lim := int64(len(buf) - j)
		if e.sched != nil {
			lim = min(lim, framesUntil(e.sched.at, t))
		}
		if e.stopping {
			lim = min(lim, framesUntil(e.stopAt, t))
		}
		if e.next != nil && e.next.cue != nil {
			until := framesUntil(e.next.cue.at, t)
			if rem, ok := e.snapLocked(t); ok {
				until = rem // hand over exactly where the current track ends
			}
			lim = min(lim, max(until, 0))
		}
		seg := buf[j : j+int(lim)]
		if e.playing && e.stream != nil {
			start := float64(e.pos) + e.frac
			got := e.renderTrack(seg)
			e.record(t, got, start, e.rate)
			if got < len(seg) {
				clear(seg[got:])
				e.record(t.Add(SampleRate.D(got)), len(seg)-got, -1, 0)
				e.playing, e.ended, e.stopping = false, true, false
				ended = true
			}
		} else {
			clear(seg)
			e.record(t, len(seg), -1, 0)
		}
		j += len(seg)
	}
	return ended
}

// due applies the pending Stop and Schedule that fall due at the frame
// heard at t, in the order of their instants. e.mu must be held.
func (e *Engine) due(t time.Time) {
	stopDue := e.stopping && framesUntil(e.stopAt, t) <= 0
	schedDue := e.sched != nil && framesUntil(e.sched.at, t) <= 0
	if stopDue && (!schedDue || e.stopAt.Before(e.sched.at)) {
		e.playing, e.stopping, stopDue = false, false, false
	}
	if n := e.next; n != nil && n.cue != nil {
		rem, snap := e.snapLocked(t)
		if snap && rem <= 0 || !snap && framesUntil(n.cue.at, t) <= 0 {
			// The next track takes over on this frame; whatever the old
			// one still had pending goes with it. Snapped to the old
			// one's end, it starts on its scheduled frame, gapless.
			c := n.cue
			e.swapNext()
			e.sched, e.stopping, schedDue, stopDue = nil, false, false, false
			if snap {
				e.startAt(c.frame)
			} else {
				e.startAt(c.frame + max(0, -framesUntil(c.at, t)))
			}
			e.playing, e.ended = true, false
		}
	}
	if schedDue {
		c := e.sched
		e.sched = nil
		if e.stream != nil {
			// Late (the output's buffer was longer than the lead, or the
			// instant had passed): start where the track is by now.
			e.startAt(c.frame + max(0, -framesUntil(c.at, t)))
			e.playing, e.ended = true, false
		}
	}
	if stopDue {
		e.playing, e.stopping = false, false
	}
}

// snapLocked reports whether the next track's cue is within gaplessSnap
// of the current track's end, as rendered from the frame heard at t, and
// how many output frames the current track has left. e.mu must be held.
func (e *Engine) snapLocked(t time.Time) (rem int64, ok bool) {
	n := e.next
	if n == nil || n.cue == nil || e.stream == nil || e.length <= 0 || n.cue.frame != 0 {
		return 0, false
	}
	if !e.playing && !e.ended {
		return 0, false
	}
	left := float64(e.length) - float64(e.pos) - e.frac
	if e.ended {
		left = 0
	}
	rem = int64(math.Ceil(max(0, left) / e.rate))
	d := framesUntil(n.cue.at, t) - rem
	return rem, -gaplessSnap <= d && d <= gaplessSnap
}

// swapNext makes the next track the current one, with its decoded first
// block as the resampler's window; the old stream is closed after the
// lock is released. e.mu must be held.
func (e *Engine) swapNext() {
	n := e.next
	e.next = nil
	if e.stream != nil {
		e.retired = append(e.retired, e.stream)
	}
	e.id, e.stream, e.length, e.ended = n.id, n.stream, n.length, false
	e.src = append(e.src[:0], n.src...)
	e.srcAt, e.srcEnd, e.pos, e.frac = 0, n.srcEnd, 0, 0
	e.trackGain = n.gain
	e.retargetLocked()
}

// startAt moves the track to frame p for a start: by decoding and
// dropping the frames up to it when it is a little ahead, else by a seek.
// e.mu must be held, with a stream.
func (e *Engine) startAt(p int64) {
	if p == e.pos && e.frac == 0 {
		return
	}
	if p > e.pos && p-e.pos <= maxSkipDecode && p < e.length {
		if e.fill(p) {
			e.pos, e.frac = p, 0
			return
		}
	}
	if err := e.seekLocked(p); err != nil {
		e.log.Warn("audio: seek for a scheduled start failed", "track", e.id, "frame", p, "err", err)
	}
}

// record notes a run of output frames for Audible. e.mu must be held.
func (e *Engine) record(at time.Time, n int, frame, step float64) {
	if n <= 0 {
		return
	}
	e.runs[e.nruns%runHistory] = run{at: at, n: n, frame: frame, step: step}
	e.nruns++
}

// renderTrack resamples the track into buf from e.pos+e.frac on, at
// e.rate, and returns how many frames it wrote: fewer than len(buf) once
// the track ends. e.mu must be held.
func (e *Engine) renderTrack(buf [][2]float64) int {
	n := 0
	for n < len(buf) {
		if !e.fill(e.pos) {
			break // the track ended
		}
		if e.rate == 1 && e.frac == 0 {
			k := copy(buf[n:], e.src[e.pos-e.srcAt:])
			n += k
			e.pos += int64(k)
			continue
		}
		e.fill(e.pos + 2)
		buf[n] = catmullRom(e.frame(e.pos-1), e.frame(e.pos), e.frame(e.pos+1), e.frame(e.pos+2), e.frac)
		n++
		e.frac += e.rate
		whole := math.Floor(e.frac)
		e.pos += int64(whole)
		e.frac -= whole
	}
	return n
}

// frame returns the track's frame i from the window: its first frame for
// one before the window (the frame before the start, or before a seek),
// silence after the track's end. e.mu must be held.
func (e *Engine) frame(i int64) [2]float64 {
	j := max(0, i-e.srcAt)
	if j >= int64(len(e.src)) {
		return [2]float64{}
	}
	return e.src[j]
}

// catmullRom interpolates between b (t = 0) and c (t = 1), with a before
// and d after them: a cubic through all four whose slope is continuous
// from one interval to the next.
func catmullRom(a, b, c, d [2]float64, t float64) [2]float64 {
	var y [2]float64
	for ch := range y {
		c1 := 0.5 * (c[ch] - a[ch])
		c2 := a[ch] - 2.5*b[ch] + 2*c[ch] - 0.5*d[ch]
		c3 := 0.5*(d[ch]-a[ch]) + 1.5*(b[ch]-c[ch])
		y[ch] = ((c3*t+c2)*t+c1)*t + b[ch]
	}
	return y
}

// fill decodes until the window holds the track's frame last, and reports
// whether it does (false past the track's end). Frames the resampler no
// longer needs, those before e.pos-1, are dropped first. e.mu must be held.
func (e *Engine) fill(last int64) bool {
	for e.srcAt+int64(len(e.src)) <= last {
		if e.srcEnd || e.stream == nil {
			return false
		}
		if drop := e.pos - 1 - e.srcAt; drop > decodeBlock && drop <= int64(len(e.src)) {
			k := copy(e.src, e.src[drop:])
			e.src = e.src[:k]
			e.srcAt += drop
		}
		e.decode()
	}
	return true
}

// decode appends up to decodeBlock frames of the stream to the window. A
// decoder error or panic, from a hostile file, ends the track instead of
// the program. e.mu must be held.
func (e *Engine) decode() {
	n := len(e.src)
	if cap(e.src) < n+decodeBlock {
		e.src = append(e.src[:cap(e.src)], make([][2]float64, n+decodeBlock-cap(e.src))...)
	}
	buf := e.src[n : n+decodeBlock]
	got := 0
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("audio: decoder panicked; track stopped", "track", e.id, "panic", p)
			e.failed = fmt.Errorf("audio: track %s: %w: decoder panicked: %v", e.id, ErrMalformed, p)
			got = 0
		}
		e.src = e.src[:n+got]
		if got < len(buf) {
			e.srcEnd = true
		}
	}()
	for got < len(buf) {
		k, ok := e.stream.Stream(buf[got:])
		got += k
		if !ok || k == 0 {
			break
		}
	}
	if err := e.stream.Err(); err != nil {
		e.log.Warn("audio: decoding failed; track stopped", "track", e.id, "err", err)
		e.failed = fmt.Errorf("audio: track %s: %w: %w", e.id, ErrMalformed, err)
	}
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
