package audio

import "math"

// Volume, mute and ReplayGain all end up as one gain on the rendered
// frames. A change of gain ramps over gainRamp rather than jumping, so
// that moving the volume or muting never clicks.
//
// The volume control is perceptual: loudness follows the logarithm of
// power, so a slider that maps linearly to amplitude does almost nothing
// over its upper half and everything in its last few percent. The slider
// position v in (0, 1] maps to a level of (v−1)·VolumeRange dB: 1 is full
// level, 0.5 is −30 dB, and 0 is silence.

// VolumeRange is the span of the volume control, in dB.
const VolumeRange = 60.0

// gainRamp is how many frames a change of gain takes: 10 ms.
const gainRamp = int(SampleRate) / 100

// VolumeGain maps a volume control position v in [0, 1] to an amplitude
// factor on the perceptual curve.
func VolumeGain(v float64) float64 {
	switch {
	case math.IsNaN(v) || v <= 0:
		return 0
	case v >= 1:
		return 1
	}
	return math.Pow(10, (v-1)*VolumeRange/20)
}

// SetVolume sets the volume control, 0 (silent) to 1 (full level).
func (e *Engine) SetVolume(v float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.volume = max(0, min(1, v))
	if math.IsNaN(v) {
		e.volume = 1
	}
	e.retargetLocked()
}

// Volume returns the volume control's position.
func (e *Engine) Volume() float64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.volume
}

// SetMuted silences the output, or lets it be heard again, keeping time:
// a muted engine still plays (and follows the room), silently.
func (e *Engine) SetMuted(m bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.muted = m
	e.retargetLocked()
}

// SetTrackGain sets the current track's ReplayGain in dB (0 for none),
// and its peak (0 for unknown): the gain is lowered, if need be, so that
// the peak does not clip.
func (e *Engine) SetTrackGain(db, peak float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.trackGain = replayGain(db, peak)
	e.retargetLocked()
}

// SetNextTrackGain is SetTrackGain for the track loaded with LoadNext: it
// takes effect when that track does.
func (e *Engine) SetNextTrackGain(db, peak float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.next != nil {
		e.next.gain = replayGain(db, peak)
	}
}

// replayGain turns a ReplayGain in dB and a peak into an amplitude factor
// that does not clip the peak.
func replayGain(db, peak float64) float64 {
	g := math.Pow(10, db/20)
	if math.IsNaN(g) || math.IsInf(g, 0) {
		g = 1
	}
	if peak > 0 && g*peak > 1 {
		g = 1 / peak
	}
	return g
}

// retargetLocked sets the gain to ramp to. e.mu must be held.
func (e *Engine) retargetLocked() {
	e.gainTo = VolumeGain(e.volume) * e.trackGain
	if e.muted {
		e.gainTo = 0
	}
}

// applyGain scales rendered frames by the gain, ramping it towards its
// target by at most 1/gainRamp of full scale a frame. e.mu must be held.
func (e *Engine) applyGain(buf [][2]float64) {
	if e.gain == 1 && e.gainTo == 1 {
		return // full level: the frames pass untouched
	}
	step := 1 / float64(gainRamp)
	for i := range buf {
		switch d := e.gainTo - e.gain; {
		case d > step:
			e.gain += step
		case d < -step:
			e.gain -= step
		default:
			e.gain = e.gainTo
		}
		buf[i][0] *= e.gain
		buf[i][1] *= e.gain
	}
}
