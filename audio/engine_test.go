package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"tandem/assets"
)

// testLog returns a logger that writes to the test's log.
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// near fails the test unless got is within tol of want.
func near(t *testing.T, what string, got, want, tol time.Duration) {
	t.Helper()
	if got < want-tol || got > want+tol {
		t.Errorf("%s = %v, want %v ± %v", what, got, want, tol)
	}
}

// tick is the tolerance of positions under the Muted output, which pulls
// PCM every mutedTick.
const tick = 2 * mutedTick

func TestEngineMuted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := New(testLog(t), NewMuted())
		defer e.Close()
		if !e.Muted() {
			t.Error("Muted() = false with the Muted output")
		}
		if got := e.Current(); got != "" {
			t.Errorf("Current() = %q before Load", got)
		}
		if err := e.Seek(time.Second); !errors.Is(err, ErrNoTrack) {
			t.Errorf("Seek without a track: %v, want ErrNoTrack", err)
		}
		e.Play() // nothing to play: no effect
		if e.Playing() {
			t.Error("Playing() after Play without a track")
		}

		flac := demo(t, "morning-tram.flac")
		if err := e.Load(flac.ID(), bytes.NewReader(flac.Data)); err != nil {
			t.Fatal(err)
		}
		if got, want := e.Current(), flac.ID(); got != want {
			t.Errorf("Current() = %q, want %q", got, want)
		}
		near(t, "Duration()", e.Duration(), 22*time.Second, time.Millisecond)

		// Loaded tracks start paused at 0.
		time.Sleep(time.Second)
		synctest.Wait()
		if e.Playing() || e.Position() != 0 {
			t.Errorf("after Load: Playing %v, Position %v; want paused at 0", e.Playing(), e.Position())
		}

		e.Play()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		near(t, "Position() after playing 2s", e.Position(), 2*time.Second, tick)

		e.Pause()
		held := e.Position()
		time.Sleep(time.Second)
		synctest.Wait()
		if got := e.Position(); got != held {
			t.Errorf("Position() moved while paused: %v, then %v", held, got)
		}

		if err := e.Seek(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		near(t, "Position() after Seek(10s)", e.Position(), 10*time.Second, time.Millisecond)
		if e.Playing() {
			t.Error("Seek started playback")
		}
		e.Play()
		time.Sleep(time.Second)
		synctest.Wait()
		near(t, "Position() after playing 1s more", e.Position(), 11*time.Second, tick)

		// Switching tracks: a WAV at 22050 Hz, resampled.
		wav := demo(t, "copper-kettle-waltz.wav")
		if err := e.Load(wav.ID(), bytes.NewReader(wav.Data)); err != nil {
			t.Fatal(err)
		}
		if got, want := e.Current(), wav.ID(); got != want {
			t.Errorf("Current() after switching = %q, want %q", got, want)
		}
		if e.Playing() || e.Position() != 0 {
			t.Errorf("after switching: Playing %v, Position %v; want paused at 0", e.Playing(), e.Position())
		}
		tags, err := ReadTags(bytes.NewReader(wav.Data))
		if err != nil {
			t.Fatal(err)
		}
		near(t, "Duration() of the WAV", e.Duration(), tags.Duration, time.Millisecond)
		e.Play()
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		near(t, "Position() in the WAV", e.Position(), 500*time.Millisecond, tick)
	})
}

func TestEngineOnEnd(t *testing.T) {
	for _, name := range []string{"paper-lanterns.flac", "attic-radio.wav"} {
		t.Run(name, func(t *testing.T) { synctest.Test(t, func(t *testing.T) { testOnEnd(t, name) }) })
	}
}

// testOnEnd plays the named demo track to its end.
func testOnEnd(t *testing.T, name string) {
	e := New(testLog(t), nil)
	defer e.Close()
	ended := make(chan string, 1)
	e.OnEnd(func(id string) { ended <- id })
	tr := demo(t, name)
	if err := e.Load(tr.ID(), bytes.NewReader(tr.Data)); err != nil {
		t.Fatal(err)
	}
	d := e.Duration()
	if err := e.Seek(d - 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	e.Play()
	time.Sleep(time.Second)
	synctest.Wait()
	select {
	case id := <-ended:
		if id != tr.ID() {
			t.Errorf("OnEnd(%q), want %q", id, tr.ID())
		}
	default:
		t.Fatal("OnEnd was not called")
	}
	if e.Playing() {
		t.Error("Playing() after the end")
	}
	if got := e.Position(); got != d {
		t.Errorf("Position() after the end = %v, want %v", got, d)
	}
	e.Play() // at the end: no effect
	if e.Playing() {
		t.Error("Play at the end started playback")
	}
	// Seeking back makes it playable again.
	if err := e.Seek(d - 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	e.Play()
	time.Sleep(time.Second)
	synctest.Wait()
	if got := <-ended; got != tr.ID() {
		t.Errorf("second OnEnd(%q)", got)
	}
}

func TestEngineSeekClamps(t *testing.T) {
	e := New(testLog(t), nil)
	defer e.Close()
	tr := demo(t, "low-tide-lullaby.wav")
	if err := e.Load(tr.ID(), bytes.NewReader(tr.Data)); err != nil {
		t.Fatal(err)
	}
	if err := e.Seek(-time.Second); err != nil {
		t.Fatal(err)
	}
	if got := e.Position(); got != 0 {
		t.Errorf("Position() after Seek(-1s) = %v", got)
	}
	if err := e.Seek(time.Hour); err != nil {
		t.Fatal(err)
	}
	near(t, "Position() after Seek(1h)", e.Position(), e.Duration(), time.Millisecond)
}

func TestEngineLoadErrors(t *testing.T) {
	e := New(testLog(t), nil)
	defer e.Close()
	tr := demo(t, "neon-bicycle.flac")
	if err := e.Load(tr.ID(), bytes.NewReader(tr.Data)); err != nil {
		t.Fatal(err)
	}
	err := e.Load("junk", bytes.NewReader([]byte("not audio at all")))
	if !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("Load(junk) = %v, want ErrUnknownFormat", err)
	}
	if got, want := e.Current(), tr.ID(); got != want {
		t.Errorf("Current() after a failed Load = %q, want %q", got, want)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Load(tr.ID(), bytes.NewReader(tr.Data)); !errors.Is(err, ErrClosed) {
		t.Errorf("Load after Close = %v, want ErrClosed", err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// closeCounter is a track source that counts its Close calls.
type closeCounter struct {
	*bytes.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

func TestEngineClosesSources(t *testing.T) {
	e := New(testLog(t), nil)
	tr := demo(t, "attic-radio.wav")
	a := &closeCounter{Reader: bytes.NewReader(tr.Data)}
	b := &closeCounter{Reader: bytes.NewReader(tr.Data)}
	if err := e.Load("a", a); err != nil {
		t.Fatal(err)
	}
	if err := e.Load("b", b); err != nil {
		t.Fatal(err)
	}
	if a.closed != 1 || b.closed != 0 {
		t.Errorf("after replacing a with b: a closed %d times, b %d; want 1, 0", a.closed, b.closed)
	}
	bad := &closeCounter{Reader: bytes.NewReader([]byte("nope"))}
	if err := e.Load("bad", bad); err == nil || bad.closed != 0 {
		t.Errorf("failed Load: err %v, source closed %d times; want an error and 0", err, bad.closed)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if b.closed != 1 {
		t.Errorf("after Close: b closed %d times, want 1", b.closed)
	}
}

// pullOutput is an Output that the test drives by hand: it keeps the PCM
// reader so the test can read exact byte counts.
type pullOutput struct {
	pcm      io.Reader
	startErr error
	latency  time.Duration
}

func (o *pullOutput) Start(pcm io.Reader) error { o.pcm = pcm; return o.startErr }
func (o *pullOutput) Close() error              { return nil }
func (o *pullOutput) Name() string              { return "pull" }
func (o *pullOutput) Latency() time.Duration    { return o.latency }

func TestEnginePCM(t *testing.T) {
	out := &pullOutput{}
	e := New(testLog(t), out)
	defer e.Close()
	if e.Muted() {
		t.Error("Muted() with a non-muted output")
	}
	silent := func(b []byte) bool { return bytes.Count(b, []byte{0}) == len(b) }

	buf := make([]byte, 4410*BytesPerFrame)
	if n, err := out.pcm.Read(buf); err != nil || n != len(buf) || !silent(buf) {
		t.Fatalf("empty engine: Read = %d, %v, silent %v; want %d bytes of silence", n, err, silent(buf), len(buf))
	}
	tr := demo(t, "morning-tram.flac")
	if err := e.Load(tr.ID(), bytes.NewReader(tr.Data)); err != nil {
		t.Fatal(err)
	}
	if _, err := out.pcm.Read(buf); err != nil || !silent(buf) {
		t.Fatalf("paused: Read error %v, silent %v", err, silent(buf))
	}
	e.Play()
	if _, err := io.ReadFull(out.pcm, buf); err != nil || silent(buf) {
		t.Fatalf("playing: Read error %v, silent %v", err, silent(buf))
	}
	want := make([]byte, 1000*BytesPerFrame)
	if _, err := io.ReadFull(out.pcm, want); err != nil {
		t.Fatal(err)
	}
	near(t, "Position()", e.Position(), SampleRate.D(5410), 0)

	// Odd-sized reads deliver the same bytes as frame-sized ones.
	if err := e.Seek(SampleRate.D(4410)); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for _, n := range []int{1, 3, 2, 5, 7, 11, 13, 4} {
		p := make([]byte, n)
		if _, err := io.ReadFull(out.pcm, p); err != nil {
			t.Fatal(err)
		}
		got = append(got, p...)
	}
	if !bytes.Equal(got, want[:len(got)]) {
		t.Errorf("odd-sized reads gave % x, want % x", got, want[:len(got)])
	}

	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := out.pcm.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("Read after Close = %d, %v; want 0, EOF", n, err)
	}
}

func TestEngineFallsBackToMuted(t *testing.T) {
	e := New(testLog(t), &pullOutput{startErr: errors.New("no sound card")})
	defer e.Close()
	if !e.Muted() {
		t.Error("Muted() = false after the output failed to start")
	}
}

// TestEngineConcurrent exercises every method from several goroutines
// while the Muted output pulls PCM; run it with -race.
func TestEngineConcurrent(t *testing.T) {
	e := New(testLog(t), NewMuted())
	defer e.Close()
	e.OnEnd(func(string) {})
	tracks := []assets.DemoTrack{demo(t, "morning-tram.flac"), demo(t, "low-tide-lullaby.wav")}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 12; i++ {
				switch (g + i) % 6 {
				case 0:
					tr := tracks[i%2]
					if err := e.Load(tr.ID(), bytes.NewReader(tr.Data)); err != nil {
						t.Error(err)
					}
				case 1:
					e.Play()
				case 2:
					e.Pause()
				case 3:
					if err := e.Seek(time.Duration(i) * time.Second / 2); err != nil && !errors.Is(err, ErrNoTrack) {
						t.Error(err)
					}
				case 4:
					_, _, _, _ = e.Position(), e.Duration(), e.Current(), e.Playing()
				case 5:
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
}

// TestEngineIdlesOutput checks that the engine rests an Idler output
// IdleAfter after the last sound, that the output then stops pulling, and
// that Schedule and Play wake it with the timeline intact.
func TestEngineIdlesOutput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMuted()
		e := New(testLog(t), m)
		defer e.Close()
		flac := demo(t, "morning-tram.flac")
		if err := e.Load(flac.ID(), bytes.NewReader(flac.Data)); err != nil {
			t.Fatal(err)
		}

		// Loaded and paused: the output rests IdleAfter later.
		time.Sleep(IdleAfter / 2)
		synctest.Wait()
		if e.Idle() {
			t.Fatalf("the output rests %v after the load, before IdleAfter (%v)", IdleAfter/2, IdleAfter)
		}
		time.Sleep(IdleAfter)
		synctest.Wait()
		if !e.Idle() {
			t.Fatalf("the output still runs %v after the load", IdleAfter*3/2)
		}
		pulled := m.pulled.Load()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := m.pulled.Load(); got != pulled {
			t.Fatalf("the resting output pulled %d frames in 5 s", got-pulled)
		}

		// A Schedule wakes it, and the cue is heard on its instant.
		cue := time.Now().Add(300 * time.Millisecond)
		if err := e.Schedule(0, cue); err != nil {
			t.Fatal(err)
		}
		if e.Idle() {
			t.Fatal("Schedule did not wake the output")
		}
		time.Sleep(300*time.Millisecond + time.Second)
		synctest.Wait()
		near(t, "Position() 1 s after the scheduled start", e.Position(), time.Second, tick)
		frame, at, ok := e.Audible()
		if !ok {
			t.Fatal("Audible() not ok while playing")
		}
		want := int64(SampleRate.N(at.Sub(cue)))
		if d := frame - want; d < -2 || d > 2 {
			t.Errorf("Audible() = frame %d at %v after the cue, want frame %d: %d frames off", frame, at.Sub(cue), want, d)
		}

		// Paused: the output keeps running for IdleAfter, then rests.
		e.Pause()
		time.Sleep(IdleAfter / 2)
		synctest.Wait()
		if e.Idle() {
			t.Fatal("the output rests before IdleAfter after a pause")
		}
		time.Sleep(IdleAfter)
		synctest.Wait()
		if !e.Idle() {
			t.Fatal("the output still runs after a pause of 1.5 × IdleAfter")
		}

		// Play wakes it too.
		held := e.Position()
		e.Play()
		if e.Idle() {
			t.Fatal("Play did not wake the output")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		near(t, "Position() 1 s after Play", e.Position(), held+time.Second, tick)

		// A track that plays to its end lets the output rest too.
		if err := e.Seek(e.Duration() - time.Second); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second + IdleAfter*3/2)
		synctest.Wait()
		if e.Playing() || !e.Idle() {
			t.Errorf("after the track's end: Playing %v, Idle %v; want stopped and resting", e.Playing(), e.Idle())
		}
	})
}

// TestEngineSetIdleAfter checks that SetIdleAfter restarts a countdown
// under way with its new length, and that 0 never rests the output.
func TestEngineSetIdleAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := New(testLog(t), NewMuted())
		defer e.Close()
		time.Sleep(100 * time.Millisecond) // the countdown of IdleAfter runs
		synctest.Wait()
		e.SetIdleAfter(500 * time.Millisecond)
		time.Sleep(400 * time.Millisecond)
		synctest.Wait()
		if e.Idle() {
			t.Fatal("rested 400 ms after SetIdleAfter(500 ms)")
		}
		time.Sleep(200 * time.Millisecond)
		synctest.Wait()
		if !e.Idle() {
			t.Fatal("still running 600 ms after SetIdleAfter(500 ms)")
		}

		flac := demo(t, "morning-tram.flac")
		if err := e.Load(flac.ID(), bytes.NewReader(flac.Data)); err != nil {
			t.Fatal(err)
		}
		e.SetIdleAfter(0)
		e.Play() // wakes the output
		time.Sleep(time.Second)
		e.Pause()
		time.Sleep(10 * IdleAfter)
		synctest.Wait()
		if e.Idle() {
			t.Fatal("rested with SetIdleAfter(0)")
		}
	})
}

// restOutput is a pullOutput, pulled by hand, that can rest.
type restOutput struct {
	pullOutput
	mu    sync.Mutex
	idle  bool
	wakes int
}

func (o *restOutput) Idle() { o.mu.Lock(); o.idle = true; o.mu.Unlock() }
func (o *restOutput) Wake() { o.mu.Lock(); o.idle = false; o.wakes++; o.mu.Unlock() }

// TestEngineTimelineAfterWake checks that a start scheduled just after the
// output wakes is heard on its instant even when the woken output's
// timeline differs from the old one by less than the engine takes for a
// jump: a sound card output drops the PCM it held when it wakes, and its
// stream starts over.
func TestEngineTimelineAfterWake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &restOutput{pullOutput: pullOutput{latency: 90 * time.Millisecond}}
		e := New(testLog(t), out)
		defer e.Close()
		e.SetIdleAfter(200 * time.Millisecond)
		loud := make([][2]int16, int(SampleRate))
		for i := range loud {
			loud[i] = [2]int16{10000, 10000}
		}
		if err := e.Load("loud", bytes.NewReader(wavBytes(loud))); err != nil {
			t.Fatal(err)
		}
		const chunk = 441 // 10 ms
		buf := make([]byte, chunk*BytesPerFrame)
		// pull reads d of PCM in 10 ms chunks, a chunk every 10 ms, and
		// returns when the first loud frame it read is heard, by the
		// output's latency, or the zero time.
		pull := func(d time.Duration) time.Time {
			var heard time.Time
			for range int(d / (10 * time.Millisecond)) {
				time.Sleep(10 * time.Millisecond)
				at := time.Now().Add(out.latency)
				if _, err := io.ReadFull(out.pcm, buf); err != nil {
					t.Fatal(err)
				}
				for i := 0; heard.IsZero() && i < chunk; i++ {
					if int16(binary.LittleEndian.Uint16(buf[i*BytesPerFrame:])) != 0 {
						heard = at.Add(SampleRate.D(i))
					}
				}
			}
			return heard
		}

		pull(time.Second) // the timeline settles; the engine rests the output
		if !e.Idle() {
			t.Fatal("the engine did not rest the output")
		}
		time.Sleep(80 * time.Millisecond) // resting: no pulls
		// Woken, the output's timeline is 20 ms later than the old one
		// would have it, within the engine's 30 ms for a jump.
		out.latency = 90*time.Millisecond - 80*time.Millisecond + 20*time.Millisecond
		cue := time.Now().Add(100 * time.Millisecond)
		if err := e.Schedule(0, cue); err != nil {
			t.Fatal(err)
		}
		if out.wakes != 1 {
			t.Fatalf("Schedule woke the output %d times, want 1", out.wakes)
		}
		heard := pull(300 * time.Millisecond)
		if heard.IsZero() {
			t.Fatal("the track did not start")
		}
		if d := heard.Sub(cue); d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("the start scheduled after waking is heard %v off its instant, want within 1 ms", d)
		}
	})
}
