package cache

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// download is the one running download of a track. Readers, Fetch calls
// and prefetches hold references to it; when the last lets go before the
// end, the transfer stops (the part file stays, to resume). Only its
// goroutine writes the part file.
type download struct {
	id   string
	done chan struct{} // closed at the end; err is set before
	err  error

	// Guarded by Cache.mu.
	refs      int
	cancelReq context.CancelFunc // cancels the current transfer

	mu      sync.Mutex // guards the following
	have    int64      // bytes in the part file, in order from the start
	size    int64      // the file's size; -1 until the hub tells
	failed  error      // the download's error, once it failed
	changed chan struct{}
}

// state returns what a reader needs: the bytes there, the size (-1 if not
// known yet), the error if the download failed, and a channel closed at
// the next change.
func (d *download) state() (have, size int64, err error, changed <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.have, d.size, d.failed, d.changed
}

// update changes the download's state and wakes the readers.
func (d *download) update(f func()) {
	d.mu.Lock()
	f()
	close(d.changed)
	d.changed = make(chan struct{})
	d.mu.Unlock()
}

// downloadLocked returns the track's download, starting it if need be,
// with a reference that releaseLocked gives back.
func (c *Cache) downloadLocked(id string) (*download, error) {
	if d := c.downloads[id]; d != nil {
		d.refs++
		return d, nil
	}
	f, err := os.OpenFile(c.partPath(id), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	d := &download{id: id, done: make(chan struct{}), refs: 1, have: info.Size(), size: -1, changed: make(chan struct{})}
	if c.entries[id] == nil {
		c.entries[id] = &entry{size: info.Size(), used: time.Now()}
		c.total += info.Size()
	}
	c.downloads[id] = d
	c.wg.Add(1) // under mu, and not closed: never after Close began waiting
	go c.run(d, f)
	return d, nil
}

// releaseLocked gives back a reference to a download.
func (c *Cache) releaseLocked(d *download) {
	d.refs--
	if d.refs == 0 && d.cancelReq != nil {
		d.cancelReq()
	}
}

// run is a download's goroutine: it transfers the file, resuming after
// failures, and ends when the file is complete and verified, when it
// fails for good, when nobody wants it any more, or at Close.
func (c *Cache) run(d *download, f *os.File) {
	defer c.wg.Done()
	var err error
	var h hash.Hash
	c.mu.Lock()
	for {
		if d.refs <= 0 || c.closed {
			err = fmt.Errorf("download %s: %w", d.id, context.Canceled)
			break
		}
		ctx, cancel := context.WithCancel(c.ctx)
		d.cancelReq = cancel
		c.mu.Unlock()
		if h == nil {
			h, err = hashPrefix(f, d.have)
		}
		if err == nil {
			err = c.transfer(ctx, d, f, h)
		}
		stopped := errors.Is(err, context.Canceled)
		cancel()
		c.mu.Lock()
		if !stopped || c.ctx.Err() != nil || d.refs <= 0 {
			break
		}
		// Stopped because nobody wanted it, but someone does again.
	}
	d.cancelReq = nil
	delete(c.downloads, d.id)
	c.finishLocked(d, f, err)
	c.mu.Unlock()
}

// finishLocked ends a download: a verified file is made complete, a
// mismatched one deleted, and a part file kept for later otherwise.
func (c *Cache) finishLocked(d *download, f *os.File, err error) {
	have, _, _, _ := d.state()
	e := c.entries[d.id]
	if e == nil { // never: entries of downloads are not evicted
		e = &entry{}
		c.entries[d.id] = e
	}
	c.total += have - e.size
	e.size = have
	if err == nil {
		err = c.complete(f, d.id)
	}
	if err == nil {
		e.complete = true
		c.touchLocked(d.id, e)
		c.log.Debug("cache: downloaded", "track", d.id, "bytes", have)
	} else {
		f.Close()
		if errors.Is(err, ErrMismatch) {
			os.Remove(c.partPath(d.id))
			c.total -= e.size
			delete(c.entries, d.id)
			c.log.Warn("cache: download does not match its id; deleted", "track", d.id)
		} else if !errors.Is(err, context.Canceled) {
			c.log.Warn("cache: download failed", "track", d.id, "bytes", have, "err", err)
		}
		err = fmt.Errorf("cache: %w", err)
	}
	d.err = err
	d.update(func() { d.failed = err })
	close(d.done)
	c.evictLocked()
}

// complete fsyncs the verified part file and renames it into place.
func (c *Cache) complete(f *os.File, id string) error {
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(c.partPath(id), c.path(id))
	}
	if err != nil {
		return fmt.Errorf("complete %s: %w", id, err)
	}
	if dir, err := os.Open(c.opts.Dir); err == nil {
		dir.Sync()
		dir.Close()
	}
	return nil
}

// errRetry marks a failure worth a resume: the connection broke, or the
// hub had a passing fault.
type errRetry struct{ err error }

func (e *errRetry) Error() string { return e.err.Error() }
func (e *errRetry) Unwrap() error { return e.err }

// transfer gets the rest of the file, resuming up to Retries times in a
// row after failures, and verifies it.
func (c *Cache) transfer(ctx context.Context, d *download, f *os.File, h hash.Hash) error {
	failures := 0
	for {
		before, _, _, _ := d.state()
		err := c.get(ctx, d, f, h)
		if err == nil {
			return nil
		}
		var retry *errRetry
		if !errors.As(err, &retry) || ctx.Err() != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("download %s: %w", d.id, context.Canceled)
			}
			return err
		}
		if after, _, _, _ := d.state(); after > before {
			failures = 0 // it got somewhere: a fresh series of retries
		}
		if failures >= c.opts.Retries {
			return err
		}
		delay := c.opts.RetryDelay << failures
		failures++
		c.log.Debug("cache: resuming download", "track", d.id, "after", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("download %s: %w", d.id, context.Canceled)
		case <-t.C:
		}
	}
}

// get sends one GET for the rest of the file and writes what arrives. It
// returns nil when the whole file is there and matches its id.
func (c *Cache) get(ctx context.Context, d *download, f *os.File, h hash.Hash) error {
	have, _, _, _ := d.state()
	path := "/api/tracks/" + d.id + "/audio"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.opts.URL+path, nil)
	if err != nil {
		return fmt.Errorf("download %s: %w", d.id, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.opts.Token)
	etag := `"` + d.id + `"`
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
		req.Header.Set("If-Range", etag)
	}
	resp, err := c.opts.Client.Do(req)
	if err != nil {
		return &errRetry{fmt.Errorf("download %s: %w", d.id, err)}
	}
	defer resp.Body.Close()
	size := int64(-1)
	switch resp.StatusCode {
	case http.StatusOK:
		if have > 0 { // the hub sends it all: start again
			if err := f.Truncate(0); err != nil {
				return fmt.Errorf("download %s: %w", d.id, err)
			}
			h.Reset()
			have = 0
			d.update(func() { d.have = 0 })
		}
		size = resp.ContentLength
	case http.StatusPartialContent:
		start, total, ok := contentRange(resp.Header.Get("Content-Range"))
		if !ok || start != have {
			return fmt.Errorf("download %s: bad Content-Range %q for offset %d", d.id, resp.Header.Get("Content-Range"), have)
		}
		size = total
	case http.StatusRequestedRangeNotSatisfiable:
		// The part file has it all already (or more than the file).
		total, err := strconv.ParseInt(strings.TrimPrefix(resp.Header.Get("Content-Range"), "bytes */"), 10, 64)
		if err != nil || total != have {
			return fmt.Errorf("download %s: %w", d.id, ErrMismatch)
		}
		size = total
	default:
		err := fmt.Errorf("download %s: %w", d.id, httpError(resp))
		if resp.StatusCode >= 500 {
			return &errRetry{err}
		}
		return err
	}
	if size >= 0 {
		d.update(func() { d.size = size })
	}
	buf := make([]byte, 32<<10)
	for size < 0 || have < size {
		n, rerr := resp.Body.Read(buf)
		if size >= 0 && have+int64(n) > size {
			return fmt.Errorf("download %s: more bytes than announced: %w", d.id, ErrMismatch)
		}
		if n > 0 {
			if _, err := f.WriteAt(buf[:n], have); err != nil {
				return fmt.Errorf("download %s: %w", d.id, err)
			}
			h.Write(buf[:n])
			have += int64(n)
			d.update(func() { d.have = have })
		}
		if rerr == io.EOF {
			if size < 0 {
				size = have
				d.update(func() { d.size = size })
			}
			break
		}
		if rerr != nil {
			return &errRetry{fmt.Errorf("download %s: %w", d.id, rerr)}
		}
	}
	if have < size {
		return &errRetry{fmt.Errorf("download %s: %w", d.id, io.ErrUnexpectedEOF)}
	}
	if got := hexSum(h); got != d.id {
		return fmt.Errorf("download %s: got sha256 %s: %w", d.id, got, ErrMismatch)
	}
	return nil
}
