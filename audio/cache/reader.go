package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// Reader reads a track of the cache: an io.ReadSeekCloser and an
// io.ReaderAt. While the track downloads, a read waits until the bytes it
// asks for have arrived; the wait ends early if the download fails, the
// reader's context ends, the reader is closed, or the cache closes. A
// seek past what has arrived only moves the position; seeking from the
// end waits for the hub to tell the size. Close it: an open reader keeps
// its file from eviction, and its download going.
type Reader struct {
	ctx context.Context
	c   *Cache
	id  string
	f   *os.File
	d   *download // nil for a complete file
	// size is the complete file's size.
	size int64

	mu  sync.Mutex // guards pos
	pos int64

	once   sync.Once
	closed chan struct{}
}

func newReader(ctx context.Context, c *Cache, id string, f *os.File, d *download, size int64) *Reader {
	return &Reader{ctx: ctx, c: c, id: id, f: f, d: d, size: size, closed: make(chan struct{})}
}

// avail waits until the byte at off has arrived or the file is known to
// end before it, and returns how many bytes are there and the size.
func (r *Reader) avail(off int64, needSize bool) (have, size int64, err error) {
	if r.d == nil {
		return r.size, r.size, nil
	}
	for {
		have, size, err, changed := r.d.state()
		if err != nil {
			return 0, 0, fmt.Errorf("cache: read %s: %w", r.id, err)
		}
		if (have > off || (size >= 0 && off >= size)) && (!needSize || size >= 0) {
			return have, size, nil
		}
		select {
		case <-changed:
		case <-r.closed:
			return 0, 0, fmt.Errorf("cache: read %s: %w", r.id, ErrClosed)
		case <-r.ctx.Done():
			return 0, 0, fmt.Errorf("cache: read %s: %w", r.id, r.ctx.Err())
		case <-r.c.ctx.Done():
			return 0, 0, fmt.Errorf("cache: read %s: %w", r.id, ErrClosed)
		}
	}
}

// ReadAt reads len(p) bytes at off, waiting for them if need be.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("cache: read %s: negative offset", r.id)
	}
	n := 0
	for n < len(p) {
		k, err := r.read(p[n:], off+int64(n))
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// read reads what has arrived at off, at least one byte, waiting for it.
func (r *Reader) read(p []byte, off int64) (int, error) {
	select {
	case <-r.closed:
		return 0, fmt.Errorf("cache: read %s: %w", r.id, ErrClosed)
	default:
	}
	if len(p) == 0 {
		return 0, nil
	}
	have, size, err := r.avail(off, false)
	if err != nil {
		return 0, err
	}
	if size >= 0 && off >= size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), have-off)]
	n, err := r.f.ReadAt(p, off)
	if errors.Is(err, io.EOF) && n == len(p) {
		err = nil
	}
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("cache: read %s: %w", r.id, err)
	}
	return n, err
}

// Read reads from the current position.
func (r *Reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.read(p, r.pos)
	r.pos += int64(n)
	return n, err
}

// Seek sets the position. Seeking from the end waits for the size.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		_, size, err := r.avail(0, true)
		if err != nil {
			return 0, err
		}
		abs = size + offset
	default:
		return 0, fmt.Errorf("cache: seek %s: bad whence %d", r.id, whence)
	}
	if abs < 0 {
		return 0, fmt.Errorf("cache: seek %s: negative position", r.id)
	}
	r.pos = abs
	return abs, nil
}

// Close closes the reader; reads waiting end with ErrClosed.
func (r *Reader) Close() error {
	var err error
	r.once.Do(func() {
		close(r.closed)
		err = r.f.Close()
		r.c.closeReader(r.id, r.d)
	})
	if err != nil {
		return fmt.Errorf("cache: close %s: %w", r.id, err)
	}
	return nil
}
