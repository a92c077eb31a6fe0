package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/mewkiz/flac"
	"github.com/mewkiz/flac/frame"
	"github.com/mewkiz/flac/meta"
)

// tags are the metadata written into each file.
type tags struct{ title, artist, album string }

// software names the generator in the files' metadata.
const software = "tandem assets/gen"

// encodeWAV writes 16-bit PCM WAV with a LIST/INFO chunk (INAM, IART, IPRD,
// ISFT) placed before the data chunk. chans holds one slice per channel.
func encodeWAV(rate int, chans [][]int32, t tags) []byte {
	nch := len(chans)
	frames := len(chans[0])
	var info bytes.Buffer
	info.WriteString("INFO")
	for _, f := range [][2]string{{"INAM", t.title}, {"IART", t.artist}, {"IPRD", t.album}, {"ISFT", software}} {
		v := append([]byte(f[1]), 0)
		info.WriteString(f[0])
		binary.Write(&info, binary.LittleEndian, uint32(len(v)))
		info.Write(v)
		if len(v)%2 == 1 {
			info.WriteByte(0)
		}
	}
	data := make([]byte, 0, frames*nch*2)
	for i := 0; i < frames; i++ {
		for _, c := range chans {
			data = binary.LittleEndian.AppendUint16(data, uint16(int16(c[i])))
		}
	}

	var b bytes.Buffer
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(4 + (8 + 16) + (8 + info.Len()) + (8 + len(data))))
	b.WriteString("WAVE")
	b.WriteString("fmt ")
	le(uint32(16))
	le(uint16(1)) // PCM
	le(uint16(nch))
	le(uint32(rate))
	le(uint32(rate * nch * 2)) // bytes per second
	le(uint16(nch * 2))        // bytes per frame
	le(uint16(16))             // bits per sample
	b.WriteString("LIST")
	le(uint32(info.Len()))
	b.Write(info.Bytes())
	b.WriteString("data")
	le(uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}

// blockSize is the number of samples per channel in each FLAC frame.
const blockSize = 4096

// encodeFLAC writes 16-bit FLAC with a VORBIS_COMMENT block (TITLE, ARTIST,
// ALBUM), using mewkiz/flac's encoder with our own choice of predictors and
// stereo decorrelation.
func encodeFLAC(rate int, chans [][]int32, t tags) ([]byte, error) {
	nch := len(chans)
	if nch != 1 && nch != 2 {
		return nil, fmt.Errorf("flac: %d channels", nch)
	}
	frames := len(chans[0])
	info := &meta.StreamInfo{
		BlockSizeMin:  blockSize,
		BlockSizeMax:  blockSize,
		SampleRate:    uint32(rate),
		NChannels:     uint8(nch),
		BitsPerSample: 16,
		NSamples:      uint64(frames),
	}
	vc := &meta.VorbisComment{
		Vendor: software,
		Tags:   [][2]string{{"TITLE", t.title}, {"ARTIST", t.artist}, {"ALBUM", t.album}},
	}
	length := 4 + len(vc.Vendor) + 4
	for _, tag := range vc.Tags {
		length += 4 + len(tag[0]) + 1 + len(tag[1])
	}
	// The encoder writes a block with Length 0 as an empty block, whatever
	// its body, so the length must be set.
	comment := &meta.Block{Header: meta.Header{Type: meta.TypeVorbisComment, Length: int64(length)}, Body: vc}
	var w seekBuffer
	enc, err := flac.NewEncoder(&w, info, comment)
	if err != nil {
		return nil, fmt.Errorf("flac: new encoder: %w", err)
	}
	enc.EnablePredictionAnalysis(false) // analyze below does better
	for off := 0; off < frames; off += blockSize {
		n := min(blockSize, frames-off)
		block := make([][]int32, nch)
		for i, c := range chans {
			block[i] = append([]int32(nil), c[off:off+n]...)
		}
		channels, plans := choose(block)
		f := &frame.Frame{
			Header: frame.Header{
				HasFixedBlockSize: true,
				BlockSize:         uint16(n),
				SampleRate:        uint32(rate),
				Channels:          channels,
				BitsPerSample:     16,
			},
		}
		for i, samples := range block {
			f.Subframes = append(f.Subframes, &frame.Subframe{
				SubHeader: plans[i].hdr,
				Samples:   samples,
				NSamples:  n,
			})
		}
		if err := enc.WriteFrame(f); err != nil {
			return nil, fmt.Errorf("flac: write frame at %d: %w", off, err)
		}
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("flac: close: %w", err)
	}
	return w.buf, nil
}

// choose picks the channel assignment of a block, plain or one of FLAC's
// three stereo decorrelations, and the encoding of each subframe. The
// samples stay left and right; the encoder decorrelates them.
func choose(block [][]int32) (frame.Channels, []plan) {
	if len(block) == 1 {
		return frame.ChannelsMono, []plan{analyze(block[0], 16)}
	}
	l, r := block[0], block[1]
	mid := make([]int32, len(l))
	side := make([]int32, len(l))
	for i := range l {
		mid[i] = (l[i] + r[i]) >> 1
		side[i] = l[i] - r[i]
	}
	pl, pr, pm, ps := analyze(l, 16), analyze(r, 16), analyze(mid, 16), analyze(side, 17)
	best, plans := frame.ChannelsLR, []plan{pl, pr}
	bits := pl.bits + pr.bits
	for _, c := range []struct {
		ch   frame.Channels
		a, b plan
	}{
		{frame.ChannelsLeftSide, pl, ps},
		{frame.ChannelsSideRight, ps, pr},
		{frame.ChannelsMidSide, pm, ps},
	} {
		if c.a.bits+c.b.bits < bits {
			best, plans, bits = c.ch, []plan{c.a, c.b}, c.a.bits+c.b.bits
		}
	}
	return best, plans
}

// seekBuffer is an in-memory io.WriteSeeker, so that the FLAC encoder can
// go back and complete the STREAMINFO block (MD5, sample count).
type seekBuffer struct {
	buf []byte
	pos int
}

func (s *seekBuffer) Write(p []byte) (int, error) {
	if need := s.pos + len(p); need > len(s.buf) {
		s.buf = append(s.buf, make([]byte, need-len(s.buf))...)
	}
	copy(s.buf[s.pos:], p)
	s.pos += len(p)
	return len(p), nil
}

func (s *seekBuffer) Seek(offset int64, whence int) (int64, error) {
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = int64(s.pos)
	case io.SeekEnd:
		base = int64(len(s.buf))
	default:
		return 0, errors.New("seekBuffer: bad whence")
	}
	p := base + offset
	if p < 0 {
		return 0, errors.New("seekBuffer: negative position")
	}
	s.pos = int(p)
	return p, nil
}
