package audio

import (
	"bytes"
	"io"
	"math"
	"testing"
)

func TestVolumeCurve(t *testing.T) {
	for _, c := range []struct{ v, db float64 }{
		{1, 0}, {0.5, -30}, {0.9, -6}, {0.1, -54},
	} {
		if got := 20 * math.Log10(VolumeGain(c.v)); math.Abs(got-c.db) > 1e-9 {
			t.Errorf("VolumeGain(%v) = %.3f dB, want %v dB", c.v, got, c.db)
		}
	}
	if VolumeGain(0) != 0 || VolumeGain(-1) != 0 || VolumeGain(2) != 1 || VolumeGain(math.NaN()) != 0 {
		t.Error("VolumeGain outside (0, 1]")
	}
}

// TestVolumeAndMute: the output follows the volume and mute, and a change
// ramps over 10 ms instead of jumping.
func TestVolumeAndMute(t *testing.T) {
	out := &pullOutput{}
	e := New(testLog(t), out)
	defer e.Close()
	// A constant signal makes the gain visible frame by frame.
	frames := make([][2]int16, 5*int(SampleRate))
	for i := range frames {
		frames[i] = [2]int16{16000, -16000}
	}
	if err := e.Load("dc", bytes.NewReader(wavBytes(frames))); err != nil {
		t.Fatal(err)
	}
	e.Play()
	pull := func(n int) [][2]int16 {
		buf := make([]byte, n*BytesPerFrame)
		if _, err := io.ReadFull(out.pcm, buf); err != nil {
			t.Fatal(err)
		}
		return decodePCM(buf)
	}
	level := func(f [2]int16) float64 { return float64(f[0]) / 16000 }
	if got := level(pull(100)[99]); math.Abs(got-1) > 1e-3 {
		t.Fatalf("full volume: level %.4f", got)
	}
	e.SetVolume(0.5) // −30 dB
	ramp := pull(gainRamp * 2)
	for i := 1; i < len(ramp); i++ {
		if d := math.Abs(level(ramp[i]) - level(ramp[i-1])); d > 1.5/float64(gainRamp) {
			t.Fatalf("the gain jumped by %.4f in one frame", d)
		}
	}
	if got, want := level(ramp[len(ramp)-1]), VolumeGain(0.5); math.Abs(got-want) > 2e-4 {
		t.Fatalf("volume 0.5: level %.5f, want %.5f", got, want)
	}
	e.SetMuted(true)
	if got := pull(gainRamp * 2); got[len(got)-1] != ([2]int16{}) {
		t.Fatalf("muted: %v", got[len(got)-1])
	}
	pos := e.Position()
	pull(1000)
	if e.Position() <= pos {
		t.Fatal("a muted engine stopped playing")
	}
	e.SetMuted(false)
	e.SetVolume(1)
	e.SetTrackGain(+12, 0.5) // +12 dB, limited by the peak to +6 dB
	if got := level(pull(gainRamp * 3)[gainRamp*3-1]); math.Abs(got-2) > 1e-3 {
		// 16000 × 2 = 32000: within full scale.
		t.Fatalf("track gain limited by its peak: level %.4f, want 2", got)
	}
}
