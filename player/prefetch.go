package player

import (
	"fmt"
	"io"

	"tandem"
)

// prefetchAhead is how many of the queue's next entries are prefetched
// after each track change.
const prefetchAhead = 2

// Prefetcher is a Library that can download tracks before their turn, in
// the background (audio/cache.Cache). A newer list supersedes the last.
type Prefetcher interface {
	Prefetch(trackIDs []string)
}

// RemoteLibrary is a library of the hub's tracks that downloads them:
// audio/cache.Cache.
type RemoteLibrary interface {
	Library
	Prefetcher
}

// TieredLibrary opens a track from Local when it has it (the demo
// library), else from Remote (the cache of the hub's tracks). Local
// answers ENOTFOUND for a track it lacks.
type TieredLibrary struct {
	Local  Library
	Remote RemoteLibrary
}

// Open opens the track from the first library that has it.
func (l TieredLibrary) Open(trackID string) (io.ReadSeeker, error) {
	if l.Local != nil {
		r, err := l.Local.Open(trackID)
		if err == nil {
			return r, nil
		}
		if tandem.ErrorCode(err) != tandem.ENOTFOUND || l.Remote == nil {
			return nil, err
		}
	}
	if l.Remote == nil {
		return nil, fmt.Errorf("player: track %s: %w", trackID, tandem.Errorf(tandem.ENOTFOUND, "track not available on this player"))
	}
	return l.Remote.Open(trackID)
}

// Prefetch prefetches, from Remote, the tracks that Local lacks.
func (l TieredLibrary) Prefetch(trackIDs []string) {
	if l.Remote == nil {
		return
	}
	var ids []string
	for _, id := range trackIDs {
		if l.Local != nil {
			if r, err := l.Local.Open(id); err == nil {
				if c, ok := r.(io.Closer); ok {
					c.Close()
				}
				continue
			}
		}
		ids = append(ids, id)
	}
	l.Remote.Prefetch(ids)
}

// prefetchNext asks the library, if it is a Prefetcher, to download the
// tracks of the queue's entries after entryID (the first entries when
// entryID is not in the queue).
func (c *Core) prefetchNext(entryID string) {
	p, ok := c.lib.(Prefetcher)
	if !ok {
		return
	}
	c.mu.Lock()
	next := 0
	for i, e := range c.queue {
		if e.ID == entryID {
			next = i + 1
		}
	}
	var ids []string
	for _, e := range c.queue[min(next, len(c.queue)):] {
		if len(ids) == prefetchAhead {
			break
		}
		if e.TrackID != "" {
			ids = append(ids, e.TrackID)
		}
	}
	c.mu.Unlock()
	p.Prefetch(ids)
}
