// Package event is an EventEmitter in Go, after Node's: listeners register
// for a named event with On or Once, leave with Off, and Emit calls them in
// the order they registered. Payloads are typed through generics: a Topic[T]
// names an event and fixes its payload type, so a listener for a topic can
// only receive that topic's type.
//
// An Emitter is safe for concurrent use. Emit calls listeners synchronously,
// on the emitting goroutine, outside the emitter's lock, so a listener may
// itself call On, Off or Emit. Listeners must not block for long.
//
// An "error" event with no listener is not dropped: it is passed to the
// emitter's unhandled-error hook, which by default logs it at error level.
package event

import (
	"fmt"
	"log/slog"
	"sync"
)

// Topic names an event whose payload has type T.
type Topic[T any] struct{ name string }

// NewTopic returns the topic with the given event name.
func NewTopic[T any](name string) Topic[T] { return Topic[T]{name: name} }

// Name returns the event name.
func (t Topic[T]) Name() string { return t.name }

// Error is the topic of the "error" event. An error emitted on it with no
// listener goes to the emitter's unhandled-error hook.
var Error = NewTopic[error]("error")

// Listener identifies a registered listener, for Off.
type Listener struct {
	name string
	id   uint64
}

type entry struct {
	id   uint64
	once bool
	fn   func(any)
}

// Emitter dispatches events to listeners. The zero value is not usable; use New.
type Emitter struct {
	unhandled func(error)

	mu        sync.Mutex // guards the following
	next      uint64
	listeners map[string][]entry
}

// Option configures an Emitter.
type Option func(*Emitter)

// WithUnhandledError sets the hook that receives errors emitted on Error
// while no listener is registered for it.
func WithUnhandledError(fn func(error)) Option { return func(e *Emitter) { e.unhandled = fn } }

// New returns an Emitter. Unhandled "error" events are logged to log unless
// WithUnhandledError replaces that.
func New(log *slog.Logger, opts ...Option) *Emitter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Emitter{listeners: map[string][]entry{}}
	e.unhandled = func(err error) { log.Error("unhandled error event", "err", err) }
	for _, o := range opts {
		o(e)
	}
	return e
}

func (e *Emitter) add(name string, once bool, fn func(any)) Listener {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.next++
	e.listeners[name] = append(e.listeners[name], entry{id: e.next, once: once, fn: fn})
	return Listener{name: name, id: e.next}
}

// Off removes a listener. It reports whether the listener was registered.
// A listener removed while an Emit is under way may still receive that emit.
func (e *Emitter) Off(l Listener) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.removeLocked(l.name, l.id)
}

func (e *Emitter) removeLocked(name string, id uint64) bool {
	ls := e.listeners[name]
	for i, en := range ls {
		if en.id == id {
			// Copy so that snapshots taken by running Emits stay intact.
			nl := make([]entry, 0, len(ls)-1)
			nl = append(nl, ls[:i]...)
			nl = append(nl, ls[i+1:]...)
			if len(nl) == 0 {
				delete(e.listeners, name)
			} else {
				e.listeners[name] = nl
			}
			return true
		}
	}
	return false
}

// ListenerCount returns the number of listeners registered for the event name.
func (e *Emitter) ListenerCount(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.listeners[name])
}

// snapshot returns the listeners to call for name, removing Once listeners
// so that each fires at most once even under concurrent emits.
func (e *Emitter) snapshot(name string) []entry {
	e.mu.Lock()
	defer e.mu.Unlock()
	ls := e.listeners[name]
	for _, en := range ls {
		if en.once {
			e.removeLocked(name, en.id)
		}
	}
	return ls
}

// On registers fn for the topic on e and returns its handle for Off.
func (t Topic[T]) On(e *Emitter, fn func(T)) Listener {
	return e.add(t.name, false, func(v any) { fn(v.(T)) })
}

// Once registers fn to be called at most once, at the next emit of the topic.
func (t Topic[T]) Once(e *Emitter, fn func(T)) Listener {
	return e.add(t.name, true, func(v any) { fn(v.(T)) })
}

// Emit calls every listener of the topic with v, in registration order, and
// returns how many were called. Emitting on Error with no listener passes the
// error to the unhandled-error hook.
func (t Topic[T]) Emit(e *Emitter, v T) int {
	ls := e.snapshot(t.name)
	if len(ls) == 0 && t.name == Error.name {
		err, _ := any(v).(error)
		if err == nil {
			err = fmt.Errorf("event: error event with payload %v", v)
		}
		e.unhandled(err)
		return 0
	}
	for _, en := range ls {
		en.fn(v)
	}
	return len(ls)
}
