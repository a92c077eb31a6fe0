package main

import "math"

// mix is a stereo mix bus with an effects send. Instruments add notes to it;
// render applies the delay and the master stage. Everything is
// deterministic: the only noise source is a xorshift generator with a fixed
// seed.
type mix struct {
	rate  float64
	l, r  []float64 // dry bus
	sl    []float64 // delay send (mono)
	noise uint32    // xorshift32 state, never 0
}

func newMix(rate int, seconds float64, seed uint32) *mix {
	n := int(math.Round(seconds * float64(rate)))
	if seed == 0 {
		seed = 1
	}
	return &mix{
		rate:  float64(rate),
		l:     make([]float64, n),
		r:     make([]float64, n),
		sl:    make([]float64, n),
		noise: seed,
	}
}

// rnd returns the next noise sample in [-1, 1).
func (m *mix) rnd() float64 {
	x := m.noise
	x ^= x << 13
	x ^= x >> 17
	x ^= x << 5
	m.noise = x
	return float64(x)/float64(1<<31) - 1
}

// voice renders length seconds from start with f(t) (t in seconds since the
// note began) at the pan position (-1 left … 1 right), sending send of it to
// the delay.
func (m *mix) voice(start, length, pan, send float64, f func(t float64) float64) {
	i0 := int(math.Round(start * m.rate))
	n := int(math.Round(length * m.rate))
	a := (pan + 1) * math.Pi / 4
	gl, gr := math.Cos(a), math.Sin(a)
	for i := 0; i < n; i++ {
		j := i0 + i
		if j < 0 {
			continue
		}
		if j >= len(m.l) {
			break
		}
		v := f(float64(i) / m.rate)
		m.l[j] += v * gl
		m.r[j] += v * gr
		m.sl[j] += v * send
	}
}

// hz returns the frequency of a MIDI note.
func hz(note int) float64 { return 440 * math.Pow(2, float64(note-69)/12) }

// adsr is a linear attack, exponential decay towards sustain, and a linear
// release that starts at hold seconds.
func adsr(t, attack, decay, sustain, hold, release float64) float64 {
	var v float64
	switch {
	case t < attack:
		v = t / attack
	default:
		v = sustain + (1-sustain)*math.Exp(-(t-attack)/decay)
	}
	if t > hold {
		r := 1 - (t-hold)/release
		if r < 0 {
			r = 0
		}
		v *= r
	}
	return v
}

// polyBLEP is the band-limited step correction for a saw with phase p and
// phase increment dt, both in cycles.
func polyBLEP(p, dt float64) float64 {
	switch {
	case p < dt:
		p /= dt
		return p + p - p*p - 1
	case p > 1-dt:
		p = (p - 1) / dt
		return p*p + p + p + 1
	}
	return 0
}

// saw is a band-limited sawtooth oscillator.
type saw struct{ p, dt float64 }

func (s *saw) next() float64 {
	v := 2*s.p - 1 - polyBLEP(s.p, s.dt)
	s.p += s.dt
	if s.p >= 1 {
		s.p--
	}
	return v
}

// lowpass is a one-pole low-pass filter.
type lowpass struct{ y float64 }

func (f *lowpass) next(x, cutoff, rate float64) float64 {
	a := 1 - math.Exp(-2*math.Pi*cutoff/rate)
	f.y += a * (x - f.y)
	return f.y
}

// ep is a small FM electric piano: a sine carrier whose modulation index
// decays, which gives a bright strike and a soft tail.
func (m *mix) ep(start, dur float64, note int, vel, pan, send float64) {
	f := hz(note)
	w := 2 * math.Pi * f
	m.voice(start, dur+0.4, pan, send, func(t float64) float64 {
		env := adsr(t, 0.004, 0.9, 0.15, dur, 0.35)
		idx := 0.2 + 1.1*math.Exp(-t/0.2)
		tine := 0.08 * math.Sin(4*w*t) * math.Exp(-t/0.06)
		return vel * env * (math.Sin(w*t+idx*math.Sin(w*t)) + tine)
	})
}

// bell is a music-box or glockenspiel tone with slightly inharmonic
// partials.
func (m *mix) bell(start float64, note int, vel, pan, send, decay float64) {
	w := 2 * math.Pi * hz(note)
	m.voice(start, decay*4, pan, send, func(t float64) float64 {
		a := math.Min(t/0.002, 1)
		v := math.Sin(w*t)*math.Exp(-t/decay) +
			0.35*math.Sin(2.76*w*t)*math.Exp(-t/(decay*0.35)) +
			0.12*math.Sin(5.4*w*t)*math.Exp(-t/(decay*0.15))
		return vel * a * v
	})
}

// marimba is a woody mallet tone: a sine with a short fourth-harmonic knock.
func (m *mix) marimba(start float64, note int, vel, pan, send float64) {
	w := 2 * math.Pi * hz(note)
	m.voice(start, 1.2, pan, send, func(t float64) float64 {
		a := math.Min(t/0.002, 1)
		v := math.Sin(w*t)*math.Exp(-t/0.35) + 0.3*math.Sin(4*w*t)*math.Exp(-t/0.03)
		return vel * a * v
	})
}

// pad is three detuned saws through a low-pass filter, with slow edges.
func (m *mix) pad(start, dur float64, note int, vel, pan, send, cutoff float64) {
	f := hz(note)
	oscs := []saw{
		{dt: f * math.Pow(2, -7.0/1200) / m.rate, p: 0.0},
		{dt: f / m.rate, p: 0.33},
		{dt: f * math.Pow(2, 7.0/1200) / m.rate, p: 0.67},
	}
	var lp1, lp2 lowpass
	m.voice(start, dur+0.9, pan, send, func(t float64) float64 {
		x := (oscs[0].next() + oscs[1].next() + oscs[2].next()) / 3
		y := lp2.next(lp1.next(x, cutoff, m.rate), cutoff, m.rate)
		return vel * adsr(t, 0.45, 1, 1, dur, 0.8) * y
	})
}

// bass is a round sine bass with a touch of second harmonic and drive.
func (m *mix) bass(start, dur float64, note int, vel float64) {
	w := 2 * math.Pi * hz(note)
	m.voice(start, dur+0.08, 0, 0, func(t float64) float64 {
		env := adsr(t, 0.006, 0.25, 0.7, dur, 0.07)
		x := math.Sin(w*t) + 0.25*math.Sin(2*w*t)
		return vel * env * math.Tanh(1.4*x) / math.Tanh(1.4)
	})
}

// sawBass is a filtered saw bass whose filter opens on each note.
func (m *mix) sawBass(start, dur float64, note int, vel float64) {
	o := saw{dt: hz(note) / m.rate}
	var lp1, lp2 lowpass
	m.voice(start, dur+0.05, 0, 0, func(t float64) float64 {
		cut := 250 + 1400*math.Exp(-t/0.09)
		y := lp2.next(lp1.next(o.next(), cut, m.rate), cut, m.rate)
		return vel * adsr(t, 0.003, 0.2, 0.8, dur, 0.04) * y
	})
}

// lead is a plucky filtered saw for arpeggios.
func (m *mix) lead(start, dur float64, note int, vel, pan, send float64) {
	o := saw{dt: hz(note) / m.rate}
	var lp lowpass
	m.voice(start, dur+0.1, pan, send, func(t float64) float64 {
		cut := 600 + 3000*math.Exp(-t/0.07)
		return vel * adsr(t, 0.002, 0.12, 0.3, dur, 0.08) * lp.next(o.next(), cut, m.rate)
	})
}

// kick is a sine with a falling pitch and a short click.
func (m *mix) kick(start, vel float64) {
	ph := 0.0
	m.voice(start, 0.5, 0, 0, func(t float64) float64 {
		f := 46 + 90*math.Exp(-t/0.035)
		ph += 2 * math.Pi * f / m.rate
		click := 0.0
		if t < 0.004 {
			click = 0.3 * (1 - t/0.004) * m.rnd()
		}
		return vel * (math.Sin(ph)*math.Exp(-t/0.22) + click)
	})
}

// snare is filtered noise over a short tone.
func (m *mix) snare(start, vel, pan float64) {
	var lp lowpass
	m.voice(start, 0.35, pan, 0.15, func(t float64) float64 {
		n := m.rnd()
		hp := n - lp.next(n, 900, m.rate)
		body := math.Sin(2*math.Pi*185*t) * math.Exp(-t/0.045)
		return vel * (0.55*hp*math.Exp(-t/0.07) + 0.5*body)
	})
}

// hat is high-passed noise with a fast decay.
func (m *mix) hat(start, vel, pan, decay float64) {
	var lp lowpass
	m.voice(start, decay*6, pan, 0, func(t float64) float64 {
		n := m.rnd()
		return vel * (n - lp.next(n, 6000, m.rate)) * math.Exp(-t/decay)
	})
}

// shaker is band-limited noise with a soft attack.
func (m *mix) shaker(start, vel, pan float64) {
	var lp1, lp2 lowpass
	m.voice(start, 0.14, pan, 0, func(t float64) float64 {
		n := m.rnd()
		b := lp1.next(n, 7000, m.rate) - lp2.next(n, 2500, m.rate)
		return vel * b * math.Min(t/0.015, 1) * math.Exp(-t/0.035)
	})
}

// waves is slowly swelling low-passed noise, like surf, over the whole mix.
func (m *mix) waves(vel, period float64) {
	var lp1, lp2 lowpass
	n := float64(len(m.l)) / m.rate
	m.voice(0, n, 0, 0, func(t float64) float64 {
		swell := 0.5 - 0.5*math.Cos(2*math.Pi*t/period)
		cut := 300 + 900*swell
		y := lp2.next(lp1.next(m.rnd(), cut, m.rate), cut, m.rate)
		return vel * swell * swell * y
	})
}

// crackle adds sparse vinyl clicks over the whole mix.
func (m *mix) crackle(vel float64) {
	n := float64(len(m.l)) / m.rate
	tail := 0.0
	m.voice(0, n, 0, 0, func(t float64) float64 {
		if m.rnd() > 0.9994 {
			tail = vel * m.rnd()
		}
		tail *= 0.6
		return tail
	})
}

// render mixes the delay send back in (a ping-pong echo of delay seconds)
// and runs the master stage: gentle saturation and fades. It returns the
// left and right channels, still as floats; finish normalises them.
func (m *mix) render(delay, feedback, wet float64) (l, r []float64) {
	d := int(math.Round(delay * m.rate))
	n := len(m.l)
	el := make([]float64, n) // echo into the left channel
	er := make([]float64, n)
	for i := 0; i < n; i++ {
		if d <= 0 || i < d {
			continue
		}
		// The send enters on the left, the echoes alternate sides.
		el[i] = m.sl[i-d] + feedback*er[i-d]
		er[i] = feedback * el[i-d]
	}
	l = make([]float64, n)
	r = make([]float64, n)
	fadeIn := 0.01 * m.rate
	fadeOut := 1.2 * m.rate
	for i := 0; i < n; i++ {
		g := 1.0
		if fi := float64(i); fi < fadeIn {
			g = fi / fadeIn
		}
		if rest := float64(n - 1 - i); rest < fadeOut {
			g = rest / fadeOut
		}
		l[i] = g * math.Tanh(0.9*(m.l[i]+wet*el[i]))
		r[i] = g * math.Tanh(0.9*(m.r[i]+wet*er[i]))
	}
	return l, r
}

// finish scales the channels together to a peak of -1 dBFS and converts
// them to 16-bit samples.
func finish(chans ...[]float64) [][]int32 {
	peak := 0.0
	for _, c := range chans {
		for _, v := range c {
			peak = math.Max(peak, math.Abs(v))
		}
	}
	gain := 0.0
	if peak > 0 {
		gain = math.Pow(10, -1.0/20) / peak
	}
	out := make([][]int32, len(chans))
	for i, c := range chans {
		out[i] = make([]int32, len(c))
		for j, v := range c {
			out[i][j] = quantize(v * gain)
		}
	}
	return out
}

// quantize converts a sample in [-1, 1] to 16 bits.
func quantize(x float64) int32 {
	v := math.Round(x * 32767)
	return int32(max(-32768, min(32767, v)))
}

// mono averages two channels.
func mono(l, r []float64) []float64 {
	out := make([]float64, len(l))
	for i := range l {
		out[i] = (l[i] + r[i]) / 2
	}
	return out
}

// biquad is a second-order low-pass filter (RBJ cookbook, Q = 1/√2).
type biquad struct {
	b0, b1, b2, a1, a2 float64
	x1, x2, y1, y2     float64
}

func newLowpass2(cutoff, rate float64) *biquad {
	w := 2 * math.Pi * cutoff / rate
	alpha := math.Sin(w) / (2 * math.Sqrt2 / 2)
	c := math.Cos(w)
	a0 := 1 + alpha
	return &biquad{
		b0: (1 - c) / 2 / a0, b1: (1 - c) / a0, b2: (1 - c) / 2 / a0,
		a1: -2 * c / a0, a2: (1 - alpha) / a0,
	}
}

func (f *biquad) next(x float64) float64 {
	y := f.b0*x + f.b1*f.x1 + f.b2*f.x2 - f.a1*f.y1 - f.a2*f.y2
	f.x2, f.x1 = f.x1, x
	f.y2, f.y1 = f.y1, y
	return y
}

// smooth runs each channel through a steep (8th-order) low-pass at cutoff
// Hz. Above it the demo tracks carry nothing anyone would miss, and the
// quiet top octave makes the FLAC files much smaller.
func smooth(rate int, cutoff float64, chans ...[]float64) {
	for _, c := range chans {
		fs := []*biquad{
			newLowpass2(cutoff, float64(rate)), newLowpass2(cutoff, float64(rate)),
			newLowpass2(cutoff, float64(rate)), newLowpass2(cutoff, float64(rate)),
		}
		for i, v := range c {
			for _, f := range fs {
				v = f.next(v)
			}
			c[i] = v
		}
	}
}
