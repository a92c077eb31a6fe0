// Package splitread hands a byte slice over in short reads of sizes a
// fuzzer picks, as a network, a pipe or a slow disk would, so that
// fuzz targets drive the production readers through every read split.
// It imports only the standard library, so any package's tests can use
// it.
package splitread

import (
	"bytes"
	"io"
)

// Reader is an io.ReadSeeker over data whose i-th Read returns at most
// sizes[i%len(sizes)] bytes (at least 1; every byte when sizes is empty).
type Reader struct {
	r     *bytes.Reader
	sizes []byte
	n     int
}

// New returns a Reader of data split by sizes.
func New(data, sizes []byte) *Reader {
	return &Reader{r: bytes.NewReader(data), sizes: sizes}
}

// Read implements io.Reader.
func (s *Reader) Read(p []byte) (int, error) {
	if len(s.sizes) > 0 && len(p) > 0 {
		limit := max(int(s.sizes[s.n%len(s.sizes)]), 1)
		s.n++
		if len(p) > limit {
			p = p[:limit]
		}
	}
	return s.r.Read(p)
}

// Seek implements io.Seeker.
func (s *Reader) Seek(offset int64, whence int) (int64, error) {
	return s.r.Seek(offset, whence)
}

// ReadAt implements io.ReaderAt, in the same short pieces.
func (s *Reader) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		limit := len(p) - n
		if len(s.sizes) > 0 {
			limit = min(limit, max(int(s.sizes[s.n%len(s.sizes)]), 1))
			s.n++
		}
		m, err := s.r.ReadAt(p[n:n+limit], off+int64(n))
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

var _ io.ReadSeeker = (*Reader)(nil)
