package audio

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"tandem/sync/follow"
)

var _ follow.Sink = (*Engine)(nil)

// wavBytes encodes frames as a 16-bit stereo WAV file at SampleRate.
func wavBytes(frames [][2]int16) []byte {
	var b bytes.Buffer
	data := len(frames) * BytesPerFrame
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + data))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1)) // PCM
	le(uint16(Channels))
	le(uint32(SampleRate))
	le(uint32(int(SampleRate) * BytesPerFrame))
	le(uint16(BytesPerFrame))
	le(uint16(16))
	b.WriteString("data")
	le(uint32(data))
	for _, f := range frames {
		le(f[0])
		le(f[1])
	}
	return b.Bytes()
}

// The index track: every frame says which frame it is, in values that
// survive the engine's float round trip exactly (below 2^14), and none is
// silent.
const indexBase = 16000

func indexTrack(n int) []byte {
	frames := make([][2]int16, n)
	for i := range frames {
		frames[i] = [2]int16{int16(i%indexBase + 1), int16(i/indexBase + 1)}
	}
	return wavBytes(frames)
}

// frameIndex decodes a frame of the index track; -1 for silence.
func frameIndex(f [2]int16) int64 {
	if f == [2]int16{} {
		return -1
	}
	return int64(f[1]-1)*indexBase + int64(f[0]-1)
}

// sineTrack is n frames of a sine of freq Hz at amplitude amp (of full
// scale), on both channels.
func sineTrack(n int, freq, amp float64) []byte {
	frames := make([][2]int16, n)
	for i := range frames {
		v := int16(math.Round(amp * 32768 * math.Sin(2*math.Pi*freq*float64(i)/float64(SampleRate))))
		frames[i] = [2]int16{v, v}
	}
	return wavBytes(frames)
}

func decodePCM(p []byte) [][2]int16 {
	out := make([][2]int16, len(p)/BytesPerFrame)
	for i := range out {
		out[i] = [2]int16{int16(binary.LittleEndian.Uint16(p[4*i:])), int16(binary.LittleEndian.Uint16(p[4*i+2:]))}
	}
	return out
}

// listener plays a pullOutput as a sound card would: it pulls a chunk
// every chunk's duration of (fake) time, and notes when each frame it
// pulled is heard: the output's latency after the pull.
type listener struct {
	out    *pullOutput
	frames [][2]int16
	heard  []time.Time
}

const chunk = 441 // 10 ms

// listen pulls chunks, sleeping a chunk's duration after each.
func (l *listener) listen(t *testing.T, chunks int) {
	t.Helper()
	buf := make([]byte, chunk*BytesPerFrame)
	for range chunks {
		first := time.Now().Add(l.out.latency)
		if _, err := io.ReadFull(l.out.pcm, buf); err != nil {
			t.Fatal(err)
		}
		for i, f := range decodePCM(buf) {
			l.frames = append(l.frames, f)
			l.heard = append(l.heard, first.Add(SampleRate.D(i)))
		}
		time.Sleep(SampleRate.D(chunk))
	}
}

// find returns the output index of the first frame at or after from
// that is the track's frame want, or -1.
func (l *listener) find(from int, want int64) int {
	for k := from; k < len(l.frames); k++ {
		if frameIndex(l.frames[k]) == want {
			return k
		}
	}
	return -1
}

// TestScheduleLandsOnTheInstant drives the engine from a fake output on
// a fake clock and checks that a scheduled frame is heard exactly at its
// instant, after exact silence; that a start in the past begins where the
// timeline is by then; that Stop ends on its instant; and that Audible
// names the frame heard at the instant it gives.
func TestScheduleLandsOnTheInstant(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &pullOutput{latency: 37 * time.Millisecond}
		e := New(testLog(t), out)
		defer e.Close()
		if err := e.Load("index", bytes.NewReader(indexTrack(10*int(SampleRate)))); err != nil {
			t.Fatal(err)
		}
		if got := e.SampleRate(); got != int(SampleRate) {
			t.Errorf("SampleRate() = %d", got)
		}
		l := &listener{out: out}
		l.listen(t, 5)
		if _, _, ok := e.Audible(); ok {
			t.Error("Audible ok while silent")
		}

		// A start in the future: silence, then frame 30000 at `at`.
		at := time.Now().Add(123456789 * time.Nanosecond)
		if err := e.Schedule(30000, at); err != nil {
			t.Fatal(err)
		}
		from := len(l.frames)
		l.listen(t, 30)
		k := l.find(from, 30000)
		if k < 0 {
			t.Fatal("frame 30000 never played")
		}
		for i := from; i < k; i++ {
			if l.frames[i] != ([2]int16{}) {
				t.Fatalf("output frame %d before the start is %v, want silence", i, l.frames[i])
			}
		}
		off := l.heard[k].Sub(at)
		t.Logf("scheduled frame heard %v from its instant", off)
		if absDur(off) > SampleRate.D(1)/2+time.Microsecond {
			t.Errorf("scheduled frame heard %v off its instant, want within half a frame", off)
		}
		for i := k; i < len(l.frames); i++ {
			if got, want := frameIndex(l.frames[i]), int64(30000+i-k); got != want {
				t.Fatalf("output frame %d is track frame %d, want %d", i, got, want)
			}
		}

		// Audible, sampled between pulls, names the frame heard then.
		for range 5 {
			f, when, ok := e.Audible()
			if !ok {
				t.Fatal("Audible not ok while playing")
			}
			if k := l.find(0, f); k < 0 || absDur(l.heard[k].Sub(when)) > time.Microsecond {
				t.Fatalf("Audible = frame %d at %v; the output heard it at %v", f, when, l.heard[max(k, 0)])
			}
			if now := time.Now(); when.After(now) || now.Sub(when) > SampleRate.D(1) {
				t.Errorf("Audible's instant is %v before now", now.Sub(when))
			}
			l.listen(t, 3)
		}

		// A start 40 ms in the past: at once, from where the timeline is.
		past := time.Now().Add(-40 * time.Millisecond)
		if err := e.Schedule(200000, past); err != nil {
			t.Fatal(err)
		}
		from = len(l.frames)
		l.listen(t, 5)
		f := frameIndex(l.frames[from])
		want := 200000 + int64(math.Round(l.heard[from].Sub(past).Seconds()*float64(SampleRate)))
		if f != want {
			t.Errorf("late start played frame %d first, want %d (the timeline at the instant it is heard)", f, want)
		}

		// Stop at an instant: the last frame heard before it, then silence.
		stop := time.Now().Add(61*time.Millisecond + 7*time.Microsecond)
		e.Stop(stop)
		from = len(l.frames)
		l.listen(t, 15)
		last := -1
		for i := from; i < len(l.frames); i++ {
			if l.frames[i] != ([2]int16{}) {
				if last != i-1 && last >= 0 {
					t.Fatal("sound after silence following Stop")
				}
				last = i
			}
		}
		if last < 0 {
			t.Fatal("Stop silenced frames heard before its instant")
		}
		if d := stop.Sub(l.heard[last]); d < 0 || d > SampleRate.D(1) {
			t.Errorf("last frame before Stop heard %v before its instant, want within a frame", d)
		}
		if _, _, ok := e.Audible(); ok {
			t.Error("Audible ok after Stop")
		}
		if e.Playing() {
			t.Error("Playing after Stop")
		}
	})
}

// TestSetRateConsumesFrames plays at ±500 ppm on the fake output and
// counts the track frames consumed per output frame.
func TestSetRateConsumesFrames(t *testing.T) {
	for _, ppm := range []float64{500, -500, 120} {
		synctest.Test(t, func(t *testing.T) {
			out := &pullOutput{latency: 20 * time.Millisecond}
			e := New(testLog(t), out)
			defer e.Close()
			if err := e.Load("index", bytes.NewReader(indexTrack(10*int(SampleRate)))); err != nil {
				t.Fatal(err)
			}
			l := &listener{out: out}
			if err := e.Schedule(1000, time.Now()); err != nil {
				t.Fatal(err)
			}
			l.listen(t, 10)
			e.SetRate(1 + ppm/1e6)
			p0 := e.Position()
			f0, t0, ok0 := e.Audible()
			const seconds = 4
			l.listen(t, seconds*100)
			p1 := e.Position()
			f1, t1, ok1 := e.Audible()
			if !ok0 || !ok1 {
				t.Fatal("Audible not ok while playing")
			}
			outFrames := float64(seconds * int(SampleRate))
			got := (float64(SampleRate.N(p1-p0))/outFrames - 1) * 1e6
			heard := (float64(f1-f0)/(t1.Sub(t0).Seconds()*float64(SampleRate)) - 1) * 1e6
			t.Logf("rate %+.0f ppm: consumed %+.2f ppm over %ds; Audible advanced %+.2f ppm", ppm, got, seconds, heard)
			// One frame in 4 s is 5.7 ppm.
			if math.Abs(got-ppm) > 6 {
				t.Errorf("consumed %+.2f ppm, want %+.0f", got, ppm)
			}
			if math.Abs(heard-ppm) > 6 {
				t.Errorf("Audible advanced %+.2f ppm, want %+.0f", heard, ppm)
			}
		})
	}
}

// TestTrimIsContinuous trims the rate up and down while a sine plays and
// checks that no step between output samples exceeds the sine's own
// steepest one, and that every sample is the sine at the position the
// rates add up to: no click, no lost or doubled frame.
func TestTrimIsContinuous(t *testing.T) {
	const freq, amp = 441.0, 0.5
	out := &pullOutput{}
	e := New(testLog(t), out)
	defer e.Close()
	if err := e.Load("sine", bytes.NewReader(sineTrack(5*int(SampleRate), freq, amp))); err != nil {
		t.Fatal(err)
	}
	e.Play()
	var got [][2]int16
	var pos []float64 // the track position of each output frame
	p := 0.0
	pull := func(n int, rate float64) {
		e.SetRate(rate)
		buf := make([]byte, n*BytesPerFrame)
		if _, err := io.ReadFull(out.pcm, buf); err != nil {
			t.Fatal(err)
		}
		got = append(got, decodePCM(buf)...)
		for range n {
			pos = append(pos, p)
			p += rate
		}
	}
	pull(10000, 1)
	pull(30001, 1.0005)
	pull(777, 1)
	pull(30000, 0.9995)
	pull(20000, 1.0002)
	pull(10000, 1)

	// The steepest step of the sine, in 16-bit units, plus rounding.
	steepest := amp*32767*2*math.Pi*freq/float64(SampleRate) + 2
	maxStep, maxErr := 0.0, 0.0
	for i := range got {
		ideal := amp * 32767 * math.Sin(2*math.Pi*freq*pos[i]/float64(SampleRate))
		maxErr = max(maxErr, math.Abs(float64(got[i][0])-ideal))
		if got[i][0] != got[i][1] {
			t.Fatalf("frame %d: channels differ: %v", i, got[i])
		}
		if i > 0 {
			maxStep = max(maxStep, math.Abs(float64(got[i][0])-float64(got[i-1][0])))
		}
	}
	t.Logf("largest step %.0f (the sine's own: %.0f); largest error against the ideal %.2f LSB", maxStep, steepest-2, maxErr)
	if maxStep > steepest {
		t.Errorf("a step of %.0f between samples; the sine's steepest is %.0f: a click", maxStep, steepest)
	}
	if maxErr > 3 {
		t.Errorf("output is %.2f LSB off the sine at the trimmed positions", maxErr)
	}
	if want := time.Duration(math.Floor(p)) * time.Second / time.Duration(SampleRate); absDur(e.Position()-want) > SampleRate.D(1) {
		t.Errorf("Position() = %v, want %v", e.Position(), want)
	}
}

// tapOutput is a Muted output that notes what it pulls and when each
// pulled frame is heard, by Muted's own account (its Latency).
type tapOutput struct {
	*Muted
	mu     sync.Mutex
	frames [][2]int16
	heard  []time.Time
}

func (o *tapOutput) Start(pcm io.Reader) error { return o.Muted.Start(tapReader{o, pcm}) }

type tapReader struct {
	o   *tapOutput
	pcm io.Reader
}

func (r tapReader) Read(p []byte) (int, error) {
	first := time.Now().Add(r.o.Muted.Latency())
	n, err := r.pcm.Read(p)
	r.o.mu.Lock()
	defer r.o.mu.Unlock()
	for i, f := range decodePCM(p[:n]) {
		r.o.frames = append(r.o.frames, f)
		r.o.heard = append(r.o.heard, first.Add(SampleRate.D(i)))
	}
	return n, err
}

// heardAt returns when the output heard track frame f last, if it did.
func (o *tapOutput) heardAt(f int64) (time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for k := len(o.frames) - 1; k >= 0; k-- {
		if frameIndex(o.frames[k]) == f {
			return o.heard[k], true
		}
	}
	return time.Time{}, false
}

// TestMutedSchedule runs the engine on the Muted output in real time:
// a scheduled frame is heard at its instant, Audible follows the
// timeline, and a trim shows in Audible's rate.
func TestMutedSchedule(t *testing.T) {
	out := &tapOutput{Muted: NewMuted()}
	e := New(testLog(t), out)
	defer e.Close()
	if err := e.Load("index", bytes.NewReader(indexTrack(10*int(SampleRate)))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	at := time.Now().Add(150 * time.Millisecond)
	const start = 44100
	if err := e.Schedule(start, at); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	h, ok := out.heardAt(start)
	if !ok {
		t.Fatal("the scheduled frame was not played")
	}
	t.Logf("scheduled frame heard %v from its instant", h.Sub(at))
	if absDur(h.Sub(at)) > time.Millisecond {
		t.Errorf("scheduled frame heard %v from its instant, want within 1ms", h.Sub(at))
	}

	// Audible against the timeline (frame start at `at`, normal speed).
	var worst time.Duration
	for range 20 {
		f, when, ok := e.Audible()
		if !ok {
			t.Fatal("Audible not ok while playing")
		}
		want := at.Add(SampleRate.D(int(f - start)))
		worst = max(worst, absDur(when.Sub(want)))
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("Audible off the timeline by at most %v", worst)
	if worst > time.Millisecond {
		t.Errorf("Audible is %v off the timeline, want within 1ms", worst)
	}

	// +500 ppm for 2 s.
	e.SetRate(1.0005)
	time.Sleep(50 * time.Millisecond)
	f0, t0, ok0 := e.Audible()
	time.Sleep(2 * time.Second)
	f1, t1, ok1 := e.Audible()
	if !ok0 || !ok1 {
		t.Fatal("Audible not ok while playing")
	}
	ppm := (float64(f1-f0)/(t1.Sub(t0).Seconds()*float64(SampleRate)) - 1) * 1e6
	t.Logf("at +500 ppm, Audible advanced %+.1f ppm over %v", ppm, t1.Sub(t0).Round(time.Millisecond))
	if math.Abs(ppm-500) > 20 {
		t.Errorf("Audible advanced %+.1f ppm, want +500", ppm)
	}
}
