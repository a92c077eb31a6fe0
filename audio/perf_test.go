package audio

import (
	"bytes"
	"io"
	"runtime"
	"testing"
	"time"

	"tandem/assets"
	"tandem/internal/testhub"
)

// demoFLAC returns a demo track in FLAC (44.1 kHz stereo).
func demoFLAC(tb testing.TB) ([]byte, time.Duration) {
	tb.Helper()
	for _, d := range assets.Demo() {
		if d.Ext() == FormatFLAC {
			tags, err := ReadTags(bytes.NewReader(d.Data))
			if err != nil {
				tb.Fatal(err)
			}
			return d.Data, tags.Duration
		}
	}
	tb.Fatal("no FLAC demo track")
	return nil, 0
}

// BenchmarkFLACPlayback decodes a FLAC demo track and renders it into the
// output's 16-bit PCM, as the engine does while playing, and reports the
// CPU it takes as a percentage of one core in real time (issue 6 target:
// 2% or less).
func BenchmarkFLACPlayback(b *testing.B) {
	data, length := demoFLAC(b)
	out := &pullOutput{}
	e := New(nil, out)
	defer e.Close()
	buf := make([]byte, 441*BytesPerFrame) // 10 ms, as a sound card pulls
	frames := int(SampleRate.N(length))
	var audio time.Duration
	for b.Loop() {
		if err := e.Load("flac", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		e.Play()
		for n := 0; n < frames; n += 441 {
			if _, err := io.ReadFull(out.pcm, buf); err != nil {
				b.Fatal(err)
			}
		}
		audio += length
	}
	b.ReportMetric(100*float64(b.Elapsed())/float64(audio), "%core")
}

// BenchmarkIdle measures the process's CPU while the engine is paused on
// the muted output (issue 6 target: under 1%): "paused" in the first
// IdleAfter after the pause, while the output still pulls every mutedTick
// as a sound card would, and "resting" after it, once the engine has
// idled the output.
func BenchmarkIdle(b *testing.B) {
	for _, rest := range []bool{false, true} {
		name := map[bool]string{false: "paused", true: "resting"}[rest]
		b.Run(name, func(b *testing.B) {
			data, _ := demoFLAC(b)
			e := New(nil, NewMuted())
			defer e.Close()
			if err := e.Load("flac", bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
			// Play a little, then pause: the decoder's one-off work (the
			// FLAC decoder builds its seek table on the first read) is done
			// before the idle time is measured.
			e.Play()
			time.Sleep(300 * time.Millisecond)
			e.Pause()
			time.Sleep(200 * time.Millisecond)
			if rest {
				time.Sleep(IdleAfter)
				if !e.Idle() {
					b.Fatalf("the output still runs %v after the pause", IdleAfter+200*time.Millisecond)
				}
			}
			testhub.ReportIdleCPU(b)
			if !rest && e.Idle() {
				b.Fatal("the output rested during the paused measurement: use a -benchtime under IdleAfter")
			}
		})
	}
}

// BenchmarkLongPlaylistMemory plays the demo FLAC over and over, as fast as
// it decodes, for b.N times its length, and reports the heap before and
// after: it must stay flat however long the playlist (issue 6: a 2-hour
// playlist). Run with -benchtime 200x for about 20 minutes of audio.
func BenchmarkLongPlaylistMemory(b *testing.B) {
	data, length := demoFLAC(b)
	out := &pullOutput{}
	e := New(nil, out)
	defer e.Close()
	buf := make([]byte, 4410*BytesPerFrame)
	frames := int(SampleRate.N(length))
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	var first uint64
	var played time.Duration
	i := 0
	for b.Loop() {
		if err := e.Load("flac", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		e.Play()
		for n := 0; n < frames; n += 4410 {
			if _, err := io.ReadFull(out.pcm, buf); err != nil {
				b.Fatal(err)
			}
		}
		played += length
		if i++; i == 1 {
			first = heap()
		}
	}
	last := heap()
	b.ReportMetric(float64(first)/1e6, "heap-first-MB")
	b.ReportMetric(float64(last)/1e6, "heap-last-MB")
	b.ReportMetric(played.Minutes(), "audio-min")
}
