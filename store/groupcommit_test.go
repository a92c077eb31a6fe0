package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openBolt(t *testing.T) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "g.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestGroupCommit checks that a lone write commits alone and at once, that
// writes arriving during a commit share the next one, and that one failing
// write fails alone while the others commit.
func TestGroupCommit(t *testing.T) {
	db := openBolt(t)
	g := &groupCommit{db: db}
	put := func(k string) func(*bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return b.Put([]byte(k), []byte("v"))
		}
	}

	// Alone: one transaction per write, in the caller's order.
	var txs []*bolt.Tx
	for i := range 3 {
		if err := g.run(func(tx *bolt.Tx) error {
			txs = append(txs, tx)
			return put(fmt.Sprint("solo", i))(tx)
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(txs) != 3 || txs[0] == txs[1] || txs[1] == txs[2] {
		t.Fatalf("3 lone writes ran in %d transactions %p, want 3 distinct", len(txs), txs)
	}

	// Together: the first write holds its commit while 20 more queue; they
	// share the next, except the one that fails, which fails alone.
	started := make(chan struct{})
	release := make(chan struct{})
	var mu sync.Mutex
	seen := map[*bolt.Tx]int{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := g.run(func(tx *bolt.Tx) error {
			close(started)
			<-release
			return put("first")(tx)
		}); err != nil {
			t.Error(err)
		}
	}()
	<-started
	bad := errors.New("refused")
	errs := make([]error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = g.run(func(tx *bolt.Tx) error {
				mu.Lock()
				seen[tx]++
				mu.Unlock()
				if i == 7 {
					return bad
				}
				return put(fmt.Sprint("k", i))(tx)
			})
		}()
	}
	// Let them all queue behind the held commit.
	deadline := time.Now().Add(5 * time.Second)
	for {
		g.mu.Lock()
		n := len(g.queue)
		g.mu.Unlock()
		if n == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d writes queued behind the running commit", n)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i, err := range errs {
		if i == 7 && !errors.Is(err, bad) {
			t.Errorf("the failing write returned %v, want its own error", err)
		}
		if i != 7 && err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	// The shared transaction ran up to the failing write, rolled back, the
	// failing one ran alone, and the other 19 shared one more.
	if len(seen) != 3 {
		t.Errorf("the 20 queued writes ran in %d transactions, want 3 (shared, failed alone, shared again)", len(seen))
	}
	if err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := range 20 {
			if got := b.Get([]byte(fmt.Sprint("k", i))); (got != nil) != (i != 7) {
				t.Errorf("key k%d stored = %v, want %v", i, got != nil, i != 7)
			}
		}
		if b.Get([]byte("first")) == nil {
			t.Error("the first write is missing")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommitPanic checks that a write that panics panics in its own
// caller, and that the group commit goes on for the others.
func TestGroupCommitPanic(t *testing.T) {
	g := &groupCommit{db: openBolt(t)}
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want the write's own panic", v)
			}
		}()
		_ = g.run(func(*bolt.Tx) error { panic("boom") })
		t.Error("the panicking write returned")
	}()
	if err := g.run(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte("after"))
		return err
	}); err != nil {
		t.Fatalf("a write after the panic: %v", err)
	}
}
