package event

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	tick  = NewTopic[int]("tick")
	other = NewTopic[string]("other")
)

func TestOrderOnceOff(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *Emitter, log *[]string)
		emits int
		want  []string
	}{
		{"order of registration", func(e *Emitter, log *[]string) {
			tick.On(e, func(int) { *log = append(*log, "a") })
			tick.On(e, func(int) { *log = append(*log, "b") })
			tick.On(e, func(int) { *log = append(*log, "c") })
		}, 1, []string{"a", "b", "c"}},
		{"once fires once", func(e *Emitter, log *[]string) {
			tick.Once(e, func(int) { *log = append(*log, "once") })
			tick.On(e, func(int) { *log = append(*log, "on") })
		}, 3, []string{"once", "on", "on", "on"}},
		{"off removes", func(e *Emitter, log *[]string) {
			l := tick.On(e, func(int) { *log = append(*log, "gone") })
			tick.On(e, func(int) { *log = append(*log, "kept") })
			if !e.Off(l) {
				panic("Off returned false")
			}
		}, 2, []string{"kept", "kept"}},
		{"other topics not called", func(e *Emitter, log *[]string) {
			other.On(e, func(string) { *log = append(*log, "other") })
		}, 2, nil},
		{"listener added during emit waits for the next", func(e *Emitter, log *[]string) {
			tick.Once(e, func(int) {
				*log = append(*log, "first")
				tick.On(e, func(int) { *log = append(*log, "late") })
			})
		}, 2, []string{"first", "late"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New(nil)
			var log []string
			tt.setup(e, &log)
			for i := 0; i < tt.emits; i++ {
				tick.Emit(e, i)
			}
			if !slices.Equal(log, tt.want) {
				t.Fatalf("calls = %q, want %q", log, tt.want)
			}
		})
	}
}

func TestPayloadTyped(t *testing.T) {
	e := New(nil)
	var got int
	tick.On(e, func(v int) { got = v })
	if n := tick.Emit(e, 42); n != 1 {
		t.Fatalf("Emit called %d listeners, want 1", n)
	}
	if got != 42 {
		t.Fatalf("payload = %d, want 42", got)
	}
	if e.Off(Listener{name: "tick", id: 999}) {
		t.Fatal("Off of an unknown listener returned true")
	}
}

func TestUnhandledError(t *testing.T) {
	var got []error
	e := New(nil, WithUnhandledError(func(err error) { got = append(got, err) }))
	boom := errors.New("boom")
	if n := Error.Emit(e, boom); n != 0 {
		t.Fatalf("Emit = %d, want 0", n)
	}
	if len(got) != 1 || !errors.Is(got[0], boom) {
		t.Fatalf("unhandled = %v, want [boom]", got)
	}
	var handled error
	Error.On(e, func(err error) { handled = err })
	Error.Emit(e, boom)
	if handled != boom || len(got) != 1 {
		t.Fatalf("handled = %v, unhandled = %v; want the listener to take it", handled, got)
	}
}

func TestConcurrent(t *testing.T) {
	e := New(nil)
	var onceCalls, calls atomic.Int64
	tick.Once(e, func(int) { onceCalls.Add(1) })
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				l := tick.On(e, func(int) { calls.Add(1) })
				tick.Emit(e, i)
				e.Off(l)
			}
		}()
	}
	wg.Wait()
	if got := onceCalls.Load(); got != 1 {
		t.Fatalf("once listener called %d times, want 1", got)
	}
	if calls.Load() < 8*200 {
		t.Fatalf("calls = %d, want at least %d (each goroutine sees its own listener)", calls.Load(), 8*200)
	}
	if n := e.ListenerCount("tick"); n != 0 {
		t.Fatalf("ListenerCount = %d after all Off, want 0", n)
	}
}
