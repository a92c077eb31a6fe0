package audio

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

// TestDamagedTrackIsReported: a FLAC file cut in the middle of its audio
// plays up to the damage, then the engine stops the track and reports it
// through OnError, instead of crashing or hanging.
func TestDamagedTrackIsReported(t *testing.T) {
	data, err := os.ReadFile("testdata/tagged.flac")
	if err != nil {
		t.Fatal(err)
	}
	cut := data[:len(data)*2/3]
	out := &pullOutput{}
	e := New(testLog(t), out)
	defer e.Close()
	errs := make(chan error, 1)
	e.OnError(func(id string, err error) {
		if id != "cut" {
			t.Errorf("OnError for %q", id)
		}
		errs <- err
	})
	if err := e.Load("cut", bytes.NewReader(cut)); err != nil {
		// Refused at once is fine too: nothing plays, nothing hangs.
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("Load of a cut file: %v, want ErrMalformed", err)
		}
		return
	}
	e.Play()
	buf := make([]byte, 4096)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("OnError got %v, want ErrMalformed", err)
			}
			// What was decoded before the damage still plays out; then
			// the track stops.
			for range 100 {
				if !e.Playing() {
					return
				}
				if _, err := io.ReadFull(out.pcm, buf); err != nil {
					t.Fatal(err)
				}
			}
			t.Fatal("the damaged track plays on")
		case <-deadline:
			t.Fatal("no OnError for a damaged track")
		default:
		}
		if _, err := io.ReadFull(out.pcm, buf); err != nil {
			t.Fatal(err)
		}
	}
}
