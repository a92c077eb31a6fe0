package player

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"tandem/sync/protocol"
)

// Artwork and track metadata fetched over the hub's HTTP API
// (docs/PROTOCOL.md, "Music: tracks and uploads").

// artCacheSize is how many tracks' artwork the core keeps in memory.
const artCacheSize = 32

// maxArt bounds the size of one artwork the core accepts.
const maxArt = 16 << 20

// artCache is a small LRU of artwork by track id; a nil image records a
// track without artwork. It also holds the callers waiting for a fetch,
// so that a track's artwork is fetched once however often it is asked.
type artCache struct {
	mu      sync.Mutex
	max     int
	order   *list.List // of artItem, most recent first
	items   map[string]*list.Element
	waiting map[string][]func([]byte)
}

type artItem struct {
	id  string
	img []byte
}

func newArtCache(n int) artCache {
	return artCache{max: n, order: list.New(), items: map[string]*list.Element{}, waiting: map[string][]func([]byte){}}
}

// get returns the cached artwork of id, and whether there is an entry.
func (a *artCache) getLocked(id string) ([]byte, bool) {
	el, ok := a.items[id]
	if !ok {
		return nil, false
	}
	a.order.MoveToFront(el)
	return el.Value.(artItem).img, true
}

func (a *artCache) putLocked(id string, img []byte) {
	if el, ok := a.items[id]; ok {
		el.Value = artItem{id: id, img: img}
		a.order.MoveToFront(el)
		return
	}
	a.items[id] = a.order.PushFront(artItem{id: id, img: img})
	for a.order.Len() > a.max {
		last := a.order.Back()
		a.order.Remove(last)
		delete(a.items, last.Value.(artItem).id)
	}
}

// validTrackID reports whether id is a track id: 64 lowercase hex digits.
func validTrackID(id string) bool {
	return len(id) == 64 && strings.Trim(id, "0123456789abcdef") == ""
}

// Art fetches a track's artwork from the hub in the background and calls
// done with its bytes, or nil when the track has none or the fetch
// failed. done runs on a goroutine of the core's, never on the caller's.
// The last artCacheSize answers are kept in memory.
func (c *Core) Art(trackID string, done func([]byte)) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1) // under mu, so never after Close began waiting
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		if !validTrackID(trackID) {
			done(nil)
			return
		}
		a := &c.art
		a.mu.Lock()
		if img, ok := a.getLocked(trackID); ok {
			a.mu.Unlock()
			done(img)
			return
		}
		first := len(a.waiting[trackID]) == 0
		a.waiting[trackID] = append(a.waiting[trackID], done)
		a.mu.Unlock()
		if !first {
			return // the fetch under way calls done
		}
		img, keep := c.fetchArt(trackID)
		a.mu.Lock()
		if keep {
			a.putLocked(trackID, img)
		}
		waiting := a.waiting[trackID]
		delete(a.waiting, trackID)
		a.mu.Unlock()
		for _, fn := range waiting {
			fn(img)
		}
	}()
}

// fetchArt gets a track's artwork. keep says whether the answer may be
// cached: the artwork, or the hub's word that there is none (404).
func (c *Core) fetchArt(trackID string) (img []byte, keep bool) {
	ctx, cancel := context.WithTimeout(c.ctx, commandTimeout)
	defer cancel()
	resp, err := c.get(ctx, "/api/tracks/"+trackID+"/art")
	if err != nil {
		c.log.Debug("player: artwork", "track", trackID, "err", err)
		return nil, false
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, true
	}
	if resp.StatusCode != http.StatusOK {
		c.log.Debug("player: artwork", "track", trackID, "status", resp.Status)
		return nil, false
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxArt+1))
	if err != nil || len(b) > maxArt {
		c.log.Debug("player: artwork", "track", trackID, "err", err, "bytes", len(b))
		return nil, false
	}
	return b, true
}

// get sends an authenticated GET to the hub's HTTP API.
func (c *Core) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.cfg.HubURL, "/")+path, nil)
	if err != nil {
		return nil, fmt.Errorf("player: GET %s: %w", path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("player: GET %s: %w", path, err)
	}
	return resp, nil
}

// lookupTrack fetches a track's metadata in the background, so that the
// friends pane can name what a friend in another room plays.
func (c *Core) lookupTrack(trackID string) {
	c.background(func(ctx context.Context) error {
		defer func() {
			c.mu.Lock()
			delete(c.looking, trackID)
			c.mu.Unlock()
		}()
		if !validTrackID(trackID) {
			return nil
		}
		resp, err := c.get(ctx, "/api/tracks/"+trackID)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("player: track %s: %s", trackID, resp.Status)
		}
		var t protocol.Track
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&t); err != nil {
			return fmt.Errorf("player: track %s: %w", trackID, err)
		}
		if t.ID != trackID {
			return errors.New("player: track " + trackID + ": the hub answered with another track")
		}
		c.mu.Lock()
		if c.tracks[trackID] == nil {
			c.tracks[trackID] = &t
		}
		c.mu.Unlock()
		State.Emit(c.em, "friends")
		return nil
	}, func(err error) { c.log.Debug("player: track metadata", "track", trackID, "err", err) })
}
