//go:build cgo || !(linux || freebsd || netbsd)

// Package device plays the audio engine's PCM on the computer's sound card
// through oto (ALSA on Linux, which reaches PulseAudio or PipeWire through
// their ALSA plugins). It needs cgo on Linux; package audio itself does
// not, and falls back to audio.Muted when Open fails.
package device

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ebitengine/oto/v3"

	"tandem/audio"
)

// readyTimeout bounds how long Open waits for the sound card.
const readyTimeout = 5 * time.Second

// DefaultPlayerBuffer is how much PCM oto buffers ahead of the sound card
// by default: small, so that pause and seek are heard quickly. oto reads
// this much at a time and holds up to twice it.
const DefaultPlayerBuffer = 50 * time.Millisecond

// deviceBuffer is the ALSA buffer Open asks for (oto splits it into two
// periods). oto gives no way to ask ALSA for its real delay
// (snd_pcm_delay), so Latency counts this buffer as full, which it is
// while oto's writer blocks on it: the estimate is then off by at most a
// period, plus whatever the sound server behind ALSA adds. The same
// error on every member's machine cancels out between them.
const DefaultDeviceBuffer = 40 * time.Millisecond

// Options trade latency against robustness: larger buffers survive a busy
// machine without underruns, smaller ones are heard sooner. Every member's
// latency is measured and scheduled for, so a larger buffer costs
// reaction time, not sync. Zero values mean the defaults above.
type Options struct {
	DeviceBuffer time.Duration // the ALSA buffer
	PlayerBuffer time.Duration // oto's buffer ahead of it; at least DeviceBuffer
}

// Output is a sound card output.
type Output struct {
	log  *slog.Logger
	ctx  *oto.Context
	opts Options

	mu     sync.Mutex // guards player, closed and idle
	player *oto.Player
	closed bool
	idle   bool // Idle paused the player and suspended the context

	// playing is player once started, for Latency, which runs inside
	// oto's read of the PCM and must not take mu (Close holds it while it
	// waits for oto).
	playing atomic.Pointer[oto.Player]
}

// Open opens the default sound device for 16-bit stereo PCM at
// audio.SampleRate. It fails, with an error wrapping ErrNoDevice, when
// there is no usable device, and gives up after ctx ends or a few
// seconds. oto allows one device context per process, so Open succeeds at
// most once per process; later calls fail.
func Open(ctx context.Context, log *slog.Logger) (audio.Output, error) {
	return OpenWith(ctx, log, Options{})
}

// OpenWith is Open with buffer sizes.
func OpenWith(ctx context.Context, log *slog.Logger, opts Options) (audio.Output, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.DeviceBuffer <= 0 {
		opts.DeviceBuffer = DefaultDeviceBuffer
	}
	if opts.PlayerBuffer <= 0 {
		opts.PlayerBuffer = DefaultPlayerBuffer
	}
	// A player buffer smaller than the device's leaves oto's writer short
	// of PCM for a whole ALSA period, and it plays silence in the gap.
	opts.PlayerBuffer = max(opts.PlayerBuffer, opts.DeviceBuffer)
	c, ready, err := oto.NewContext(&oto.NewContextOptions{
		SampleRate:   int(audio.SampleRate),
		ChannelCount: audio.Channels,
		Format:       oto.FormatSignedInt16LE,
		BufferSize:   opts.DeviceBuffer,
	})
	if err != nil {
		return nil, fmt.Errorf("device: open: %w: %w", ErrNoDevice, err)
	}
	// NewContext succeeds even without a sound card; the failure shows in
	// c.Err once the context is ready.
	t := time.NewTimer(readyTimeout)
	defer t.Stop()
	select {
	case <-ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("device: open: %w", ctx.Err())
	case <-t.C:
		return nil, fmt.Errorf("device: open: %w: not ready after %v", ErrNoDevice, readyTimeout)
	}
	if err := c.Err(); err != nil {
		return nil, fmt.Errorf("device: open: %w: %w", ErrNoDevice, err)
	}
	log.Info("audio device open", "rate", int(audio.SampleRate), "channels", audio.Channels,
		"device_buffer", opts.DeviceBuffer, "player_buffer", opts.PlayerBuffer)
	return &Output{log: log, ctx: c, opts: opts}, nil
}

// Name returns "sound card".
func (o *Output) Name() string { return "sound card" }

// Start plays pcm on the sound card. oto's goroutine pulls from pcm until
// Close or until pcm returns io.EOF.
func (o *Output) Start(pcm io.Reader) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.closed:
		return fmt.Errorf("device: start: %w", audio.ErrClosed)
	case o.player != nil:
		return fmt.Errorf("device: start: already started")
	}
	p := o.ctx.NewPlayer(pcm)
	p.SetBufferSize(int(audio.SampleRate.N(o.opts.PlayerBuffer)) * audio.BytesPerFrame)
	p.Play()
	if err := p.Err(); err != nil {
		p.Close()
		return fmt.Errorf("device: start: %w", err)
	}
	o.player = p
	o.playing.Store(p)
	return nil
}

// Latency estimates how long until the next frame oto reads is heard:
// the PCM in oto's player buffer plus the device buffer (see
// deviceBuffer). oto calls the engine's Read with its player's lock
// released, so BufferedSize does not deadlock there.
func (o *Output) Latency() time.Duration {
	d := o.opts.DeviceBuffer
	if p := o.playing.Load(); p != nil {
		d += audio.SampleRate.D(p.BufferedSize() / audio.BytesPerFrame)
	}
	return d
}

// Idle rests the device while the engine has nothing to play: the player
// stops reading the engine and oto's writer stops feeding ALSA, so the
// stream underruns and costs nothing (0.05% of a core, against 3.5% to
// keep a PulseAudio stream fed with silence). It implements audio.Idler.
func (o *Output) Idle() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed || o.player == nil || o.idle {
		return
	}
	o.idle = true
	o.player.Pause()
	if err := o.ctx.Suspend(); err != nil {
		o.log.Warn("device: suspend while idle", "err", err)
	}
}

// Wake ends Idle. The player drops the stale PCM it held and refills from
// the engine; oto's writer then recovers the stream from its underrun.
// Through PulseAudio the first new frame reaches the sink's monitor 37–56
// ms after a Play that wakes the output (BenchmarkPlayToSound).
func (o *Output) Wake() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed || o.player == nil || !o.idle {
		return
	}
	o.idle = false
	o.player.Reset()
	o.player.Play()
	if err := o.ctx.Resume(); err != nil {
		o.log.Warn("device: resume after idle", "err", err)
	}
}

// Flush drops the PCM oto's player holds and refills it from the engine at
// once, so that a track started now is not queued behind the silence
// rendered while it was paused. It implements audio.Flusher.
func (o *Output) Flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed || o.player == nil || o.idle {
		return
	}
	o.player.Reset()
	o.player.Play()
}

// Close stops playing and suspends the device. oto gives no way to
// release the device itself; it stays open, idle, until the process exits.
// (oto's Player.Close does nothing until the player is garbage: Pause is
// what stops it reading.)
func (o *Output) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	if o.player == nil {
		return nil
	}
	o.player.Pause()
	err := o.player.Err()
	// Stop feeding the device silence; the context itself cannot close.
	if serr := o.ctx.Suspend(); serr != nil {
		o.log.Warn("device: suspend", "err", serr)
	}
	if err != nil {
		return fmt.Errorf("device: close: %w", err)
	}
	return nil
}

var (
	_ audio.Idler   = (*Output)(nil)
	_ audio.Flusher = (*Output)(nil)
)
