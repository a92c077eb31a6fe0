package store

import (
	"errors"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// groupCommit runs batched writes with a group commit. A write that finds
// no commit running commits at once, alone; writes that arrive while one
// runs queue, and the next commit takes them all in one transaction, so
// that they share its fsyncs. Under light load no write waits for company,
// as it does in bbolt's Batch (MaxBatchDelay); under heavy load commits
// are shared as there.
//
// As with Batch, a write may run more than once: when one write of a
// shared transaction fails, the transaction rolls back, the failing write
// runs again alone (its result is that run's) and the others commit
// together again.
type groupCommit struct {
	db *bolt.DB

	mu      sync.Mutex // guards queue and leading
	queue   []*groupCall
	leading bool // a caller is committing; new calls queue for it
}

type groupCall struct {
	fn   func(*bolt.Tx) error
	done chan error // cap 1: the result, or errLead first
}

// errLead, sent on a queued call's done, makes that caller the leader: it
// commits the queue.
var errLead = errors.New("store: lead the next group commit")

// panicked carries a write's panic to the goroutine that asked for the
// write, so that a panicking write neither kills the leader nor leaves the
// writes queued behind it waiting.
type panicked struct{ v any }

func (p panicked) Error() string { return fmt.Sprintf("store: a batched write panicked: %v", p.v) }

// call runs fn, turning a panic into a panicked error.
func call(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicked{v}
		}
	}()
	return fn(tx)
}

// run runs fn in a write transaction shared with the writes queued with it.
func (g *groupCommit) run(fn func(*bolt.Tx) error) error {
	c := &groupCall{fn: fn, done: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	if g.leading {
		g.mu.Unlock()
		if err := <-c.done; err != errLead {
			return result(err) // committed by another leader
		}
		g.mu.Lock() // leading stays true: it passed to this caller
	} else {
		g.leading = true
	}
	batch := g.queue
	g.queue = nil
	g.mu.Unlock()

	g.commit(batch) // c is in it

	// Hand over to the first caller that queued meanwhile, so that no
	// caller commits for others for longer than one transaction.
	g.mu.Lock()
	if len(g.queue) > 0 {
		next := g.queue[0]
		g.mu.Unlock()
		next.done <- errLead
	} else {
		g.leading = false
		g.mu.Unlock()
	}
	return result(<-c.done)
}

// result returns a write's error, or panics again with its panic, now in
// the goroutine that asked for the write.
func result(err error) error {
	if p, ok := err.(panicked); ok {
		panic(p.v)
	}
	return err
}

// commit runs the calls in one transaction and sends each its result.
func (g *groupCommit) commit(batch []*groupCall) {
	for len(batch) > 0 {
		failed := -1
		err := g.db.Update(func(tx *bolt.Tx) error {
			for i, c := range batch {
				if err := call(c.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, c := range batch {
				c.done <- err // nil, or the commit's own error
			}
			return
		}
		c := batch[failed]
		c.done <- g.db.Update(func(tx *bolt.Tx) error { return call(c.fn, tx) })
		batch = append(batch[:failed:failed], batch[failed+1:]...)
	}
}
