package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/mewkiz/flac/frame"
)

// Limits for checking the end of a FLAC stream.
const (
	flacTailWindow  = 64 << 10 // bytes first searched for the last frame
	maxFLACTail     = 2 << 20  // bytes searched at most: more than the largest frame libFLAC writes
	maxFLACTailRead = 16 << 20 // bytes decoded at most for the last second
	flacTries       = 16       // frames tried per search, so garbage costs little
)

// errFLACEnd means no frame ends a FLAC stream where the file ends.
var errFLACEnd = errors.New("audio: no flac frame ends the file")

// flacInfo is what a FLAC STREAMINFO block says.
type flacInfo struct {
	maxBlock int    // samples per block, at most
	rate     uint64 // Hz
	channels int
	bps      int    // bits per sample
	samples  uint64 // total, per channel; 0 unknown
}

// parseStreamInfo reads the 34 bytes of a STREAMINFO block.
func parseStreamInfo(si []byte) flacInfo {
	// 16 bits min block, 16 bits max block, 24 bits min frame, 24 bits
	// max frame, then 20 bits rate, 3 bits channels-1, 5 bits bps-1, 36
	// bits samples.
	x := binary.BigEndian.Uint64(si[10:18])
	return flacInfo{
		maxBlock: int(binary.BigEndian.Uint16(si[2:4])),
		rate:     x >> 44,
		channels: int(x>>41&0x7) + 1,
		bps:      int(x>>36&0x1f) + 1,
		samples:  x & (1<<36 - 1),
	}
}

// check32 refuses 32-bit FLAC, which the decoder Tandem uses does not
// read.
func (fi flacInfo) check32() error {
	if fi.bps > 24 {
		return refuse(ErrUnknownFormat, "this FLAC file holds %d-bit samples, which Tandem cannot play; convert it to 24-bit", fi.bps)
	}
	return nil
}

// checkFLAC32 reads the STREAMINFO of the FLAC stream at r's current
// position and refuses 32-bit samples. r is left where it was.
func checkFLAC32(r io.ReadSeeker) error {
	start, err := r.Seek(0, io.SeekCurrent)
	if err != nil {
		return wrapSeek(err)
	}
	var b [8 + 34]byte // "fLaC", the block header, STREAMINFO
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return fmt.Errorf("%w: flac STREAMINFO: %v", ErrMalformed, err)
	}
	if _, err := r.Seek(start, io.SeekStart); err != nil {
		return wrapSeek(err)
	}
	if b[4]&0x7f != 0 {
		return fmt.Errorf("%w: flac does not start with STREAMINFO", ErrMalformed)
	}
	return parseStreamInfo(b[8:]).check32()
}

// flacLength finds the real length, in samples, of the FLAC frames from
// data to end: the last frame, found by searching the file's tail, says
// where it starts and how long it is. With strict, it also decodes the
// frames of about the last second. It costs at most a few megabytes of
// reading and decoding whatever the file claims, and gives errFLACEnd
// when no frame ends the file.
func flacLength(r io.ReadSeeker, data, end int64, fi flacInfo, strict bool) (samples uint64, err error) {
	defer func() {
		// The frame parser reads untrusted bytes; ReadTags does not
		// recover from a panic, so do it here.
		if p := recover(); p != nil {
			samples, err = 0, fmt.Errorf("%w: flac frame parser panicked: %v", ErrMalformed, p)
		}
	}()
	// An ID3v1 tag may follow the frames.
	if end-data >= 128 {
		var tag [3]byte
		if _, err := r.Seek(end-128, io.SeekStart); err != nil {
			return 0, wrapSeek(err)
		}
		if _, err := io.ReadFull(r, tag[:]); err == nil && string(tag[:]) == "TAG" {
			end -= 128
		}
	}
	var last *frame.Frame
	var lastAt int64
	for window := int64(flacTailWindow); last == nil; window = maxFLACTail {
		from := max(data, end-window)
		tail, err := readAt(r, from, end)
		if err != nil {
			return 0, err
		}
		if f, i := lastFLACFrame(tail); f != nil {
			last, lastAt = f, from+int64(i)
		}
		if from == data || window == maxFLACTail {
			break
		}
	}
	if last == nil {
		return 0, errFLACEnd
	}
	block := uint64(fi.maxBlock) // a fixed-block stream's frames but the last have this size
	if strict {
		prev, err := decodeFLACTail(r, data, lastAt, end, fi)
		if err != nil {
			return 0, err
		}
		if prev != nil {
			block = uint64(prev.BlockSize)
		}
	}
	first := last.Num // a variable-block stream numbers samples
	if last.HasFixedBlockSize {
		first = last.Num * block // and a fixed-block one frames
	}
	return first + uint64(last.BlockSize), nil
}

// lastFLACFrame returns the frame that ends b and its offset in b, or
// nil.
func lastFLACFrame(b []byte) (*frame.Frame, int) {
	tries := 0
	for i := len(b) - 2; i >= 0 && tries < flacTries; i-- {
		if b[i] != 0xff || b[i+1]&0xfe != 0xf8 {
			continue
		}
		br := bytes.NewReader(b[i:])
		f, err := frame.New(br)
		if err != nil {
			continue // the header's CRC-8 rules out most false syncs cheaply
		}
		tries++
		if f.Parse() == nil && br.Len() == 0 {
			return f, i
		}
	}
	return nil, 0
}

// decodeFLACTail decodes the frames from about a second before the last
// frame, which starts at lastAt, to end, and returns the one before the
// last (nil if it was not decoded). Every frame must decode and check
// its CRC, one after the other, up to the end.
func decodeFLACTail(r io.ReadSeeker, data, lastAt, end int64, fi flacInfo) (*frame.Frame, error) {
	// Guess where the last second starts from the bytes per sample so
	// far, and go back at least 64 KB for the frame before the last.
	from := lastAt - flacTailWindow
	if lastAt > data && fi.samples > 0 && fi.rate > 0 {
		// The claimed total may lie; only the guess suffers.
		perSecond := float64(lastAt-data) / float64(fi.samples) * float64(fi.rate)
		from = min(from, lastAt-int64(min(perSecond, maxFLACTailRead)))
	}
	from = max(from, data, end-maxFLACTailRead)
	b, err := readAt(r, from, end)
	if err != nil {
		return nil, err
	}
	// Find the first frame.
	i, tries := 0, 0
	for ; i+2 <= len(b); i++ {
		if b[i] != 0xff || b[i+1]&0xfe != 0xf8 {
			continue
		}
		f, err := frame.New(bytes.NewReader(b[i:]))
		if err != nil {
			continue
		}
		if tries++; tries > flacTries {
			return nil, refuse(ErrMalformed, "the end of this FLAC file does not decode")
		}
		if f.Parse() == nil {
			break
		}
	}
	br := bytes.NewReader(b[min(i, len(b)):])
	var prev, cur *frame.Frame
	for br.Len() > 0 {
		f, err := frame.Parse(br)
		if err != nil {
			return nil, refuse(ErrMalformed, "the end of this FLAC file does not decode")
		}
		prev, cur = cur, f
	}
	if cur == nil {
		return nil, refuse(ErrMalformed, "the end of this FLAC file does not decode")
	}
	return prev, nil
}

// readAt reads the bytes of r from from to end.
func readAt(r io.ReadSeeker, from, end int64) ([]byte, error) {
	if _, err := r.Seek(from, io.SeekStart); err != nil {
		return nil, wrapSeek(err)
	}
	b := make([]byte, max(end-from, 0))
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%w: read %d bytes at %d: %v", ErrMalformed, len(b), from, err)
	}
	return b, nil
}
