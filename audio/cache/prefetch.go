package cache

import (
	"context"
	"errors"
)

// prefetchJob is a running prefetch.
type prefetchJob struct{ cancel context.CancelFunc }

// Prefetch downloads the tracks in the background, at most
// Options.Prefetchers at a time. The list supersedes the previous one:
// prefetches of tracks not in it are cancelled (their part files stay, to
// resume), tracks already complete or being prefetched are left alone.
// Prefetch(nil) cancels them all, as Close does.
func (c *Cache) Prefetch(ids []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	want := map[string]bool{}
	for _, id := range ids {
		if ValidID(id) {
			want[id] = true
		}
	}
	for id, j := range c.prefetching {
		if !want[id] {
			j.cancel()
			delete(c.prefetching, id)
		}
	}
	if c.closed {
		return
	}
	for _, id := range ids {
		if !want[id] || c.prefetching[id] != nil {
			continue
		}
		if e := c.entries[id]; e != nil && e.complete {
			continue
		}
		ctx, cancel := context.WithCancel(c.ctx)
		j := &prefetchJob{cancel: cancel}
		c.prefetching[id] = j
		c.wg.Add(1) // under mu, and not closed: never after Close began waiting
		go c.prefetch(ctx, id, j)
	}
}

// Prefetching returns the ids of the tracks being prefetched.
func (c *Cache) Prefetching() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.prefetching))
	for id := range c.prefetching {
		out = append(out, id)
	}
	return out
}

func (c *Cache) prefetch(ctx context.Context, id string, j *prefetchJob) {
	defer c.wg.Done()
	defer func() {
		j.cancel()
		c.mu.Lock()
		if c.prefetching[id] == j {
			delete(c.prefetching, id)
		}
		c.mu.Unlock()
	}()
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-c.sem }()
	if err := c.Fetch(ctx, id); err != nil && !errors.Is(err, context.Canceled) {
		c.log.Warn("cache: prefetch", "track", id, "err", err)
		return
	}
	c.log.Debug("cache: prefetched", "track", id)
}
