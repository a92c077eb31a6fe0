package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"testing"
	"time"

	"tandem/audio"
	"tandem/audio/device"
	"tandem/internal/testhub"
)

// The tone test plays one 440 Hz sine, cut into two tracks, through the
// real engine and oto into a PulseAudio null sink: the first track, then
// the second loaded ahead with LoadNext and scheduled on the first's last
// frame. The recording of the sink's monitor must be one unbroken tone of
// the right pitch and length: no gap, no click at the boundary.

const (
	toneFreq  = 440.0
	toneAmp   = 0.5
	toneFirst = 66150 // 1.5 s: the boundary is not on a whole period
	toneTotal = 2 * toneFirst
)

// toneWAV is frames [from, from+n) of the test tone.
func toneWAV(from, n int) []byte {
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + n*4))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1))
	le(uint16(2))
	le(uint32(44100))
	le(uint32(44100 * 4))
	le(uint16(4))
	le(uint16(16))
	b.WriteString("data")
	le(uint32(n * 4))
	for i := range n {
		v := int16(math.Round(toneAmp * 32767 * math.Sin(2*math.Pi*toneFreq*float64(from+i)/44100)))
		le(v)
		le(v)
	}
	return b.Bytes()
}

// toneChild plays the two halves on the real output, then exits.
func toneChild(t *testing.T) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := device.Open(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	e := audio.New(log, out)
	defer e.Close()
	// A player starts its engine long before the first track: by then the
	// engine has rested the output, and the Schedule below wakes it.
	time.Sleep(audio.IdleAfter + 500*time.Millisecond)
	if !e.Idle() {
		t.Fatal("the engine did not rest the output before the first track")
	}
	if err := e.Load("a", bytes.NewReader(toneWAV(0, toneFirst))); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(500 * time.Millisecond)
	if err := e.Schedule(0, start); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the first track is playing
	if err := e.LoadNext("b", bytes.NewReader(toneWAV(toneFirst, toneTotal-toneFirst))); err != nil {
		t.Fatal(err)
	}
	if err := e.Schedule(0, start.Add(audio.SampleRate.D(toneFirst))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(start.Add(audio.SampleRate.D(toneTotal))) + 300*time.Millisecond)
}

func TestToneGapless(t *testing.T) {
	if os.Getenv("TANDEM_TONE_CHILD") == "1" {
		toneChild(t)
		return
	}
	need(t, "pulseaudio", "pactl", "parecord")
	pulseDir := startPulse(t)
	// A player starved of CPU underruns, which is heard as a gap; the
	// bounds are checked on a recording made while the machine was not.
	testhub.Measure(t, 3, func(tr *testhub.Trial) { toneOnce(t, tr, pulseDir) })
}

// toneOnce plays the two-part tone in a child process, records it, and
// checks it: length, pitch, no gap and no click.
func toneOnce(t *testing.T, tr *testhub.Trial, pulseDir string) {
	rec := make(chan [][2]float64, 1)
	go func() { rec <- recordStereo(t, pulseDir, 11*time.Second) }()
	time.Sleep(300 * time.Millisecond) // parecord is running
	cmd := exec.Command(os.Args[0], "-test.run=^TestToneGapless$")
	cmd.Env = append(os.Environ(), "TANDEM_TONE_CHILD=1", "XDG_RUNTIME_DIR="+pulseDir, "HOME="+pulseDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tone player: %v\n%s", err, out)
	}
	defer func() {
		if tr.Failed() {
			t.Logf("tone player's log:\n%s", out)
		}
	}()
	frames := <-rec

	// The tone: from the first to the last sample above a tenth of its
	// amplitude.
	first, last := -1, -1
	for i, f := range frames {
		if math.Abs(f[0]) > toneAmp/10 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		tr.Errorf("the recording is silent")
		return
	}
	length := last - first + 1
	t.Logf("recorded %d frames; the tone from %d to %d", len(frames), first, last)
	t.Logf("tone of %d frames (%.1f ms), want %d (%.1f ms)", length, float64(length)/44.1, toneTotal, float64(toneTotal)/44.1)
	if d := length - toneTotal; d < -50 || d > 50 {
		tr.Errorf("the tone lasts %d frames, want %d ± 50", length, toneTotal)
	}
	// Pitch: upward zero crossings over the whole tone.
	crossings := 0
	for i := first + 1; i <= last; i++ {
		if frames[i-1][0] < 0 && frames[i][0] >= 0 {
			crossings++
		}
	}
	if hz := float64(crossings) / (float64(length) / 44100); math.Abs(hz-toneFreq) > 2 {
		tr.Errorf("pitch %.1f Hz, want %v", hz, toneFreq)
	}
	// No gap and no click anywhere, the boundary included: every 2 ms
	// window peaks near the amplitude, and no step between samples
	// exceeds the sine's own steepest.
	steepest := toneAmp * 2 * math.Pi * toneFreq / 44100 * 1.05
	win := 88
	for i := first; i+win <= last; i += win {
		peak := 0.0
		for _, f := range frames[i : i+win] {
			peak = max(peak, math.Abs(f[0]))
		}
		if peak < toneAmp*0.8 {
			tr.Errorf("a gap: the 2 ms from frame %d (%.1f ms into the tone) peak at %.3f", i, float64(i-first)/44.1, peak)
			return
		}
	}
	for i := first + 1; i <= last; i++ {
		if step := math.Abs(frames[i][0] - frames[i-1][0]); step > steepest {
			t.Logf("around it: %v", frames[i-5:i+5])
			for j := i + 1; j <= last; j++ {
				if math.Abs(frames[j][0]-frames[j-1][0]) > steepest {
					t.Logf("another step at %.1f ms", float64(j-first)/44.1)
				}
			}
			tr.Errorf("a click: a step of %.4f at %.1f ms into the tone (the sine's steepest is %.4f)", step, float64(i-first)/44.1, steepest)
			return
		}
	}
}
