package audio

import (
	"bytes"
	"fmt"
	"math"
	"testing"
	"testing/synctest"
	"time"
)

// sinePart is frames [from, from+n) of one continuous sine.
func sinePart(from, n int, freq, amp float64) []byte {
	frames := make([][2]int16, n)
	for i := range frames {
		v := int16(math.Round(amp * 32768 * math.Sin(2*math.Pi*freq*float64(from+i)/float64(SampleRate))))
		frames[i] = [2]int16{v, v}
	}
	return wavBytes(frames)
}

// TestGaplessNext cuts one sine into two tracks, plays the first, loads
// the second ahead with LoadNext, and schedules it at the instant the first
// ends: the output is the unbroken sine across the boundary, with no
// silence and no step larger than the sine's own. A start scheduled a few
// frames off the end (the output's timeline estimate wanders that much
// between two Schedules on a real sound card) still follows on gaplessly.
func TestGaplessNext(t *testing.T) {
	for _, off := range []int{0, -40, 40} {
		t.Run(fmt.Sprintf("%+d frames", off), func(t *testing.T) { gaplessNext(t, off) })
	}
}

func gaplessNext(t *testing.T, off int) {
	synctest.Test(t, func(t *testing.T) {
		const freq, amp = 441.0, 0.5
		const first = 30000 // frames in the first track: not a whole number of chunks
		out := &pullOutput{latency: 23 * time.Millisecond}
		e := New(testLog(t), out)
		defer e.Close()
		if err := e.Load("a", bytes.NewReader(sinePart(0, first, freq, amp))); err != nil {
			t.Fatal(err)
		}
		l := &listener{out: out}
		l.listen(t, 3)
		start := time.Now().Add(200 * time.Millisecond)
		if err := e.Schedule(0, start); err != nil {
			t.Fatal(err)
		}
		l.listen(t, 10)
		// Load the rest while the first plays, and start it as the first ends.
		if err := e.LoadNext("b", bytes.NewReader(sinePart(first, 3*first, freq, amp))); err != nil {
			t.Fatal(err)
		}
		if e.Next() != "b" || e.Current() != "a" {
			t.Fatalf("Current %q, Next %q before the switch", e.Current(), e.Next())
		}
		if err := e.Schedule(0, start.Add(SampleRate.D(first+off))); err != nil {
			t.Fatal(err)
		}
		l.listen(t, 120)
		if e.Current() != "b" || e.Next() != "" {
			t.Fatalf("Current %q, Next %q after the switch", e.Current(), e.Next())
		}
		// The first track's frame 0 is heard at start, to half a frame.
		k0 := -1
		for i, h := range l.heard {
			if d := h.Sub(start); d > -SampleRate.D(1)/2 && d <= SampleRate.D(1)/2 {
				k0 = i
				break
			}
		}
		if k0 < 0 {
			t.Fatal("no output frame is heard at the start")
		}
		steepest := amp*32767*2*math.Pi*freq/float64(SampleRate) + 2
		n := len(l.frames) - k0
		if n < first+5000 {
			t.Fatalf("only %d frames after the start", n)
		}
		maxErr := 0.0
		for i := 0; i < n; i++ {
			got := float64(l.frames[k0+i][0])
			ideal := amp * 32767 * math.Sin(2*math.Pi*freq*float64(i)/float64(SampleRate))
			if math.Abs(got-ideal) > 2 && maxErr <= 2 {
				t.Logf("first error at track frame %d: got %.0f, want %.0f; frames around: %v", i, got, ideal, l.frames[k0+max(0, i-3):k0+min(n, i+4)])
			}
			maxErr = max(maxErr, math.Abs(got-ideal))
			if i > 0 {
				if step := math.Abs(got - float64(l.frames[k0+i-1][0])); step > steepest {
					t.Fatalf("a step of %.0f at output frame %d (track frame %d; the boundary is %d)", step, k0+i, i, first)
				}
			}
		}
		t.Logf("%d frames across the boundary, largest error against the unbroken sine %.2f LSB", n, maxErr)
		if maxErr > 2 {
			t.Errorf("output is %.2f LSB off the unbroken sine: a gap or an overlap at the boundary", maxErr)
		}
	})
}

// TestLoadDropsNext: Load replaces the current track at once and forgets
// a next track waiting for its start.
func TestLoadDropsNext(t *testing.T) {
	e := New(testLog(t), &pullOutput{})
	defer e.Close()
	if err := e.Load("a", bytes.NewReader(sinePart(0, 1000, 441, 0.5))); err != nil {
		t.Fatal(err)
	}
	if err := e.LoadNext("b", bytes.NewReader(sinePart(0, 1000, 441, 0.5))); err != nil {
		t.Fatal(err)
	}
	if err := e.Load("c", bytes.NewReader(sinePart(0, 1000, 441, 0.5))); err != nil {
		t.Fatal(err)
	}
	if e.Current() != "c" || e.Next() != "" {
		t.Fatalf("Current %q, Next %q", e.Current(), e.Next())
	}
	if err := e.LoadNext("bad", bytes.NewReader([]byte("not audio"))); err == nil {
		t.Fatal("LoadNext of a non-audio file: no error")
	}
}
