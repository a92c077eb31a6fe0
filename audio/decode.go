package audio

import (
	"errors"
	"fmt"
	"io"

	"github.com/gopxl/beep/v2"
	"github.com/gopxl/beep/v2/flac"
	"github.com/gopxl/beep/v2/mp3"
	"github.com/gopxl/beep/v2/vorbis"
	"github.com/gopxl/beep/v2/wav"
)

// resampleQuality is beep's resampling quality: good enough for music and
// cheap enough to run while playing.
const resampleQuality = 4

// The sample rates Decode accepts, in Hz. Beyond them resampling costs
// too much, or the file is lying.
const (
	minRate = 4000
	maxRate = 384000
)

// maxPreDataChunk is the largest RIFF chunk (bytes) allowed before the data
// chunk. beep's WAV decoder reads such chunks into memory, so a hostile
// size would cost gigabytes.
const maxPreDataChunk = 16 << 20

// Decode decodes the WAV, FLAC, MP3 or Ogg Vorbis file at r's current
// position, sniffing the format from its first bytes. The stream plays at
// SampleRate: files at other rates are resampled. The returned format is
// the stream's (rate SampleRate, the file's channels and precision). A
// FLAC file without a SEEKTABLE, and an MP3 file, are scanned once here,
// so that later seeks are quick.
//
// On success the stream owns r: closing the stream closes r if r is an
// io.Closer. On error r is left open.
func Decode(r io.ReadSeeker) (s beep.StreamSeekCloser, format beep.Format, err error) {
	defer func() {
		// beep's decoders read untrusted bytes; never let one crash us.
		if p := recover(); p != nil {
			s, format, err = nil, beep.Format{}, fmt.Errorf("%w: decoder panicked: %v", ErrMalformed, p)
		}
	}()
	kind, err := sniff(r)
	if err != nil {
		return nil, beep.Format{}, err
	}
	dec, format, err := decodeFormat(r, kind, true)
	if err != nil {
		return nil, beep.Format{}, err
	}
	s = owner{dec, r}
	if format.SampleRate != SampleRate {
		s = newResampled(s, format.SampleRate)
		format.SampleRate = SampleRate
	}
	return s, format, nil
}

// decodeFormat opens a decoder at the file's own rate for the file of the
// given kind at r's current position, as sniff left it. With seekable
// false the decoder is only read from start to end, never seeked, which
// spares the scans that make seeking quick. The decoder does not close r.
func decodeFormat(r io.ReadSeeker, kind string, seekable bool) (dec beep.StreamSeekCloser, format beep.Format, err error) {
	start, err := r.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, beep.Format{}, wrapSeek(err)
	}
	// beep closes a Closer on error; we keep r open. Its WAV decoder
	// takes a short read for whole frames and drops the bytes of a
	// partial one, which shifts every sample after it: a file read while
	// it downloads, or from a pipe, hands over short reads. fullReads
	// gives the decoders whole reads.
	src := noClose{fullReads{r}}
	switch kind {
	case FormatWAV:
		if err := checkWAV(r); err != nil {
			return nil, beep.Format{}, err
		}
		if _, err := r.Seek(start, io.SeekStart); err != nil {
			return nil, beep.Format{}, wrapSeek(err)
		}
		dec, format, err = wav.Decode(src)
		if err != nil {
			return nil, beep.Format{}, fmt.Errorf("%w: decode wav: %w", ErrMalformed, err)
		}
	case FormatFLAC:
		if err := checkFLAC32(r); err != nil {
			return nil, beep.Format{}, err
		}
		dec, format, err = flac.Decode(src)
		if err != nil {
			return nil, beep.Format{}, fmt.Errorf("%w: decode flac: %w", ErrMalformed, err)
		}
		// Without a SEEKTABLE block, the first seek scans the whole file.
		// Do it now, while loading, rather than in the engine's Seek, which
		// holds the lock that the output's reads need.
		if seekable && dec.Seek(0) != nil {
			// A damaged frame stops the scan and leaves the decoder
			// anywhere. Start over: the file still plays up to the damage,
			// though seeking in it will fail.
			if _, err := r.Seek(start, io.SeekStart); err != nil {
				return nil, beep.Format{}, wrapSeek(err)
			}
			dec, format, err = flac.Decode(src)
			if err != nil {
				return nil, beep.Format{}, fmt.Errorf("%w: decode flac: %w", ErrMalformed, err)
			}
		}
	case FormatMP3:
		// go-mp3 seeks to absolute offsets and reads any ID3v2 tag into
		// memory whatever its size: give it the frames only.
		var in io.ReadCloser = nopCloser{&shifted{r: r, base: start}}
		if !seekable {
			in = io.NopCloser(io.LimitReader(r, 1<<62)) // no Seek: go-mp3 skips its length scan
		}
		dec, format, err = mp3.Decode(in)
		if err != nil {
			return nil, beep.Format{}, fmt.Errorf("%w: decode mp3: %w", ErrMalformed, err)
		}
	case FormatOgg:
		// The header packets are read whole; refuse absurd ones first.
		if _, _, err := vorbisHeaders(r); err != nil {
			return nil, beep.Format{}, err
		}
		if _, err := r.Seek(start, io.SeekStart); err != nil {
			return nil, beep.Format{}, wrapSeek(err)
		}
		dec, format, err = vorbis.Decode(nopCloser{&shifted{r: r, base: start}})
		if err != nil {
			return nil, beep.Format{}, fmt.Errorf("%w: decode ogg vorbis: %w", ErrMalformed, err)
		}
	default:
		return nil, beep.Format{}, ErrUnknownFormat
	}
	if format.SampleRate < minRate || format.SampleRate > maxRate || format.NumChannels <= 0 {
		dec.Close()
		return nil, beep.Format{}, fmt.Errorf("%w: %s with rate %d and %d channels", ErrMalformed, kind, format.SampleRate, format.NumChannels)
	}
	return dec, format, nil
}

// shifted is r seen from base: offset 0 is base in r.
type shifted struct {
	r    io.ReadSeeker
	base int64
}

func (s *shifted) Read(p []byte) (int, error) { return s.r.Read(p) }

func (s *shifted) Seek(off int64, whence int) (int64, error) {
	if whence == io.SeekStart {
		off += s.base
	}
	n, err := s.r.Seek(off, whence)
	return n - s.base, err
}

// checkWAV rejects WAV files that would make beep's decoder allocate
// absurd amounts of memory or panic: oversized chunks before the data
// chunk, or a fmt chunk of a strange size.
func checkWAV(r io.ReadSeeker) error {
	info, err := scanWAV(r)
	if err != nil {
		return err
	}
	if info.formatType != 1 && info.formatType != 0xfffe {
		return fmt.Errorf("%w: wav format type %#x is not PCM", ErrMalformed, info.formatType)
	}
	if info.bits != 8 && info.bits != 16 && info.bits != 24 {
		return fmt.Errorf("%w: wav with %d bits per sample", ErrMalformed, info.bits)
	}
	if c := info.tags.Channels; c < 1 || c > 8 || info.blockAlign != c*info.bits/8 {
		return fmt.Errorf("%w: wav with %d channels of %d bits in %d-byte frames", ErrMalformed, c, info.bits, info.blockAlign)
	}
	if info.preData > maxPreDataChunk {
		return fmt.Errorf("%w: a wav chunk of %d bytes before the data", ErrMalformed, info.preData)
	}
	return nil
}

// noClose hides the Close method of a reader from beep.
type noClose struct{ io.ReadSeeker }

// fullReads is a ReadSeeker whose Read fills its buffer, unless the input
// ends or fails first.
type fullReads struct{ io.ReadSeeker }

// maxEmptyReads is how many reads in a row may return nothing, and no
// error, before fullReads gives up with io.ErrNoProgress.
const maxEmptyReads = 100

func (f fullReads) Read(p []byte) (int, error) {
	n, empty := 0, 0
	for n < len(p) {
		m, err := f.ReadSeeker.Read(p[n:])
		n += m
		if err == io.EOF && n > 0 {
			return n, nil // the next Read says EOF: some decoders drop bytes that come with it
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			if empty++; empty >= maxEmptyReads {
				return n, io.ErrNoProgress
			}
		}
	}
	return n, nil
}

// nopCloser is a ReadSeeker with a Close that does nothing, for decoders
// that want an io.ReadCloser and seek when it can.
type nopCloser struct{ io.ReadSeeker }

func (nopCloser) Close() error { return nil }

// owner is a decoded stream that closes its source when it is closed.
type owner struct {
	beep.StreamSeekCloser
	r io.ReadSeeker
}

func (o owner) Close() error {
	err := o.StreamSeekCloser.Close()
	if c, ok := o.r.(io.Closer); ok {
		err = errors.Join(err, c.Close())
	}
	if err != nil {
		return fmt.Errorf("audio: close stream: %w", err)
	}
	return nil
}

// resampled plays a stream at SampleRate. Positions and lengths are in
// SampleRate frames; Seek maps them back to the source's frames.
type resampled struct {
	src  beep.StreamSeekCloser
	from beep.SampleRate
	r    *beep.Resampler
	pos  int // frames streamed at SampleRate since the last seek, plus its target
}

func newResampled(src beep.StreamSeekCloser, from beep.SampleRate) *resampled {
	return &resampled{src: src, from: from, r: beep.Resample(resampleQuality, from, SampleRate, src)}
}

func (s *resampled) Stream(samples [][2]float64) (int, bool) {
	n, ok := s.r.Stream(samples)
	s.pos += n
	return n, ok
}

func (s *resampled) Err() error { return s.src.Err() }

func (s *resampled) Len() int {
	return int(int64(s.src.Len()) * int64(SampleRate) / int64(s.from))
}

func (s *resampled) Position() int { return min(s.pos, s.Len()) }

func (s *resampled) Seek(p int) error {
	q := int(int64(p) * int64(s.from) / int64(SampleRate))
	if err := s.src.Seek(q); err != nil {
		return err
	}
	s.r = beep.Resample(resampleQuality, s.from, SampleRate, s.src)
	s.pos = p
	return nil
}

func (s *resampled) Close() error { return s.src.Close() }
