// Package cache keeps a player's copies of a hub's tracks on disk.
//
// A track is downloaded on demand from the hub (GET /api/tracks/{id}/audio,
// docs/PROTOCOL.md, section HTTP), into DIR/<id>.part. An interrupted
// download goes on from the part file's length with a Range request, after
// a restart too. When the last byte has arrived, the file's sha256 must be
// its id: then it is fsynced and renamed to DIR/<id>, which marks it
// complete; otherwise it is deleted and the download fails with
// ErrMismatch.
//
// Open returns a reader at once, while the download runs: a read blocks
// until the bytes it asks for have arrived (or the download fails, the
// reader is closed, or the cache closes), so a decoder starts on the first
// bytes. A seek past what has arrived only moves the position; the next
// read waits for the sequential download to get there.
//
// The cache is an LRU capped by the total size of its files: after each
// download, and at Open, the least recently used complete files are removed
// until the total fits, never a file that a reader has open or that is
// being downloaded. The time of last use is the file's mtime, set each time
// the file is opened, so the order survives a restart without an index
// file that could disagree with the directory.
package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"tandem"
)

// Defaults of Options.
const (
	DefaultMaxBytes    = 2 << 30 // 2 GB
	DefaultRetries     = 5
	DefaultRetryDelay  = 250 * time.Millisecond
	DefaultPrefetchers = 2
)

// partSuffix names the file of a download not verified yet.
const partSuffix = ".part"

// ErrMismatch is the error of a download whose bytes do not hash to the
// track's id. The bytes are deleted.
var ErrMismatch = errors.New("cache: the downloaded file does not match its sha256 id")

// ErrClosed is returned after Close, and by a closed reader.
var ErrClosed = errors.New("cache: closed")

// Options configure a Cache.
type Options struct {
	Dir   string // where the files are kept; created if missing
	URL   string // the hub's base URL, e.g. http://127.0.0.1:7878
	Token string // the friend's token
	// MaxBytes caps the total size of the files; 0 means DefaultMaxBytes.
	MaxBytes int64
	// Client sends the requests; nil means http.DefaultClient.
	Client *http.Client
	Logger *slog.Logger
	// Retries is how many times in a row an interrupted download is
	// resumed before it fails; 0 means DefaultRetries, negative none.
	// RetryDelay is the wait before the first retry, doubled each time.
	Retries    int
	RetryDelay time.Duration
	// Prefetchers is how many prefetches download at once; 0 means
	// DefaultPrefetchers.
	Prefetchers int
}

// entry is a file of the cache.
type entry struct {
	size     int64
	used     time.Time // last use: the file's mtime
	complete bool      // DIR/<id>, verified; else DIR/<id>.part
}

// Cache is the on-disk cache of a hub's tracks. It is safe for concurrent
// use. Close stops its downloads.
type Cache struct {
	opts Options
	log  *slog.Logger

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // downloads and prefetches

	sem chan struct{} // prefetch slots

	mu          sync.Mutex // guards the following
	entries     map[string]*entry
	total       int64
	inUse       map[string]int // open readers by id
	downloads   map[string]*download
	prefetching map[string]*prefetchJob
	closed      bool
}

// Open opens the cache in opts.Dir, listing the files an earlier run left:
// complete files keep their order of use (their mtimes), part files are
// resumed when asked for. It evicts down to the cap.
func Open(opts Options) (*Cache, error) {
	if opts.Dir == "" {
		return nil, errors.New("cache: no directory")
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Client == nil {
		opts.Client = http.DefaultClient
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Retries == 0 {
		opts.Retries = DefaultRetries
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = DefaultRetryDelay
	}
	if opts.Prefetchers <= 0 {
		opts.Prefetchers = DefaultPrefetchers
	}
	opts.URL = strings.TrimRight(opts.URL, "/")
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	des, err := os.ReadDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cache{opts: opts, log: opts.Logger, ctx: ctx, cancel: cancel,
		sem:     make(chan struct{}, opts.Prefetchers),
		entries: map[string]*entry{}, inUse: map[string]int{},
		downloads: map[string]*download{}, prefetching: map[string]*prefetchJob{}}
	complete := map[string]bool{}
	for _, de := range des {
		if ValidID(de.Name()) && de.Type().IsRegular() {
			complete[de.Name()] = true
		}
	}
	for _, de := range des {
		id, part := strings.CutSuffix(de.Name(), partSuffix)
		if !ValidID(id) || !de.Type().IsRegular() {
			continue
		}
		if part && complete[id] { // a leftover of a finished download
			os.Remove(c.partPath(id))
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue
		}
		c.entries[id] = &entry{size: info.Size(), used: info.ModTime(), complete: !part}
		c.total += info.Size()
	}
	c.mu.Lock()
	c.evictLocked()
	c.mu.Unlock()
	c.log.Debug("cache: opened", "dir", opts.Dir, "files", len(c.entries), "bytes", c.total)
	return c, nil
}

// ValidID reports whether id is a track id: 64 lowercase hex digits.
func ValidID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for _, r := range id {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

func (c *Cache) path(id string) string     { return filepath.Join(c.opts.Dir, id) }
func (c *Cache) partPath(id string) string { return filepath.Join(c.opts.Dir, id+partSuffix) }

// Close cancels the downloads and prefetches, unblocks the readers, and
// waits for its goroutines. Readers opened on complete files keep working
// until closed.
func (c *Cache) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	return nil
}

// Has reports whether the track is complete in the cache.
func (c *Cache) Has(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[id]
	return e != nil && e.complete
}

// Size returns the total size of the cache's files, in bytes.
func (c *Cache) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// Open returns a reader of the track, downloading it if it is not complete
// here. It implements player.Library.
func (c *Cache) Open(id string) (io.ReadSeeker, error) {
	r, err := c.OpenContext(context.Background(), id)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// OpenContext returns a reader of the track at once: of the complete file,
// or of the part file while it downloads, whose reads wait for the bytes
// they need. ctx bounds those waits (not the download). Close the reader.
func (c *Cache) OpenContext(ctx context.Context, id string) (*Reader, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("cache: open %q: %w", id, tandem.Errorf(tandem.EINVALID, "not a track id"))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("cache: open %s: %w", id, ErrClosed)
	}
	if e := c.entries[id]; e != nil && e.complete {
		f, err := os.Open(c.path(id))
		if err == nil {
			c.touchLocked(id, e)
			c.inUse[id]++
			return newReader(ctx, c, id, f, nil, e.size), nil
		}
		// Removed behind our back: download it again.
		c.log.Warn("cache: file missing; downloading it again", "track", id, "err", err)
		c.total -= e.size
		delete(c.entries, id)
	}
	d, err := c.downloadLocked(id)
	if err != nil {
		return nil, fmt.Errorf("cache: open %s: %w", id, err)
	}
	f, err := os.Open(c.partPath(id))
	if err != nil {
		c.releaseLocked(d)
		return nil, fmt.Errorf("cache: open %s: %w", id, err)
	}
	c.inUse[id]++
	return newReader(ctx, c, id, f, d, -1), nil
}

// Fetch downloads the track if it is not complete here, and returns when
// it is, when the download fails, or when ctx ends (the download then
// stops if nobody else waits for it; its part file stays, to resume).
func (c *Cache) Fetch(ctx context.Context, id string) error {
	if !ValidID(id) {
		return fmt.Errorf("cache: fetch %q: %w", id, tandem.Errorf(tandem.EINVALID, "not a track id"))
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("cache: fetch %s: %w", id, ErrClosed)
	}
	if e := c.entries[id]; e != nil && e.complete {
		c.mu.Unlock()
		return nil
	}
	d, err := c.downloadLocked(id)
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("cache: fetch %s: %w", id, err)
	}
	defer func() {
		c.mu.Lock()
		c.releaseLocked(d)
		c.mu.Unlock()
	}()
	select {
	case <-d.done:
		return d.err
	case <-ctx.Done():
		return fmt.Errorf("cache: fetch %s: %w", id, ctx.Err())
	}
}

// touchLocked marks a file used now.
func (c *Cache) touchLocked(id string, e *entry) {
	now := time.Now()
	e.used = now
	p := c.path(id)
	if !e.complete {
		p = c.partPath(id)
	}
	if err := os.Chtimes(p, now, now); err != nil {
		c.log.Debug("cache: touch", "track", id, "err", err)
	}
}

// evictLocked removes the least recently used files until the total fits
// the cap, never one that is open or downloading. Part files not
// downloading go after complete files.
func (c *Cache) evictLocked() {
	if c.total <= c.opts.MaxBytes {
		return
	}
	type cand struct {
		id string
		e  *entry
	}
	var cs []cand
	for id, e := range c.entries {
		if c.inUse[id] > 0 || c.downloads[id] != nil {
			continue
		}
		cs = append(cs, cand{id, e})
	}
	slices.SortFunc(cs, func(a, b cand) int {
		if a.e.complete != b.e.complete {
			if a.e.complete {
				return -1
			}
			return 1
		}
		return a.e.used.Compare(b.e.used)
	})
	for _, x := range cs {
		if c.total <= c.opts.MaxBytes {
			return
		}
		p := c.path(x.id)
		if !x.e.complete {
			p = c.partPath(x.id)
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			c.log.Warn("cache: evict", "track", x.id, "err", err)
			continue
		}
		c.total -= x.e.size
		delete(c.entries, x.id)
		c.log.Debug("cache: evicted", "track", x.id, "bytes", x.e.size)
	}
}

// closeReader is called by a reader's Close.
func (c *Cache) closeReader(id string, d *download) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inUse[id]--; c.inUse[id] <= 0 {
		delete(c.inUse, id)
	}
	if d != nil {
		c.releaseLocked(d)
	}
	if !c.closed {
		c.evictLocked()
	}
}

// httpError is an error answer of the hub, with its code.
func httpError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	err := error(tandem.Errorf(tandem.EINTERNAL, "the hub answered %s", resp.Status))
	var e struct {
		Error *tandem.Error `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != nil {
		err = e.Error
	}
	return fmt.Errorf("%s: %w", resp.Status, err)
}

// contentRange parses "bytes START-END/TOTAL".
func contentRange(s string) (start, total int64, ok bool) {
	s, ok = strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, false
	}
	rng, tot, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, false
	}
	a, _, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	total, err2 := strconv.ParseInt(tot, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || total < 0 {
		return 0, 0, false
	}
	return start, total, true
}

// hashPrefix hashes the first n bytes of f.
func hashPrefix(f *os.File, n int64) (hash.Hash, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, n)); err != nil {
		return nil, err
	}
	return h, nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }
