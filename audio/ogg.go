package audio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Limits for Ogg files.
const (
	oggHeadLen      = 64                   // bytes sniffed: a page header with the identification packet
	maxOggPacket    = maxArt + maxTagBlock // bytes of a header packet (the comments may hold artwork)
	maxOggPage      = 27 + 255 + 255*255   // bytes of the largest page
	oggGranuleUnset = -1
)

// isVorbisHead reports whether b starts an Ogg stream whose first packet is
// a Vorbis identification header.
func isVorbisHead(b []byte) bool {
	if len(b) < 28 || string(b[:4]) != "OggS" || b[4] != 0 || b[5]&0x02 == 0 {
		return false
	}
	n := 27 + int(b[26])
	return n+7 <= len(b) && string(b[n:n+7]) == "\x01vorbis"
}

// oggPackets reads the packets of the first logical stream of an Ogg file,
// skipping pages of other streams. Packets larger than max are refused, so
// a hostile file costs little memory.
type oggPackets struct {
	r      *bufio.Reader
	max    int
	serial uint32
	pages  int
	segs   []byte // the lacing values left of the current page
	data   []byte // the current page's payload left
}

func newOggPackets(r io.Reader, max int) *oggPackets {
	return &oggPackets{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// next returns the next packet.
func (o *oggPackets) next() ([]byte, error) {
	var p []byte
	for {
		for len(o.segs) > 0 {
			n := int(o.segs[0])
			o.segs = o.segs[1:]
			if n > len(o.data) {
				return nil, fmt.Errorf("%w: ogg page shorter than its lacing", ErrMalformed)
			}
			p = append(p, o.data[:n]...)
			o.data = o.data[n:]
			if len(p) > o.max {
				return nil, fmt.Errorf("%w: ogg header packet over %d bytes", ErrMalformed, o.max)
			}
			if n < 255 {
				return p, nil
			}
		}
		if err := o.page(); err != nil {
			return nil, err
		}
	}
}

// page reads the next page of the stream.
func (o *oggPackets) page() error {
	for {
		var h [27]byte
		if _, err := io.ReadFull(o.r, h[:]); err != nil {
			return fmt.Errorf("%w: ogg page header: %v", ErrMalformed, err)
		}
		if string(h[:4]) != "OggS" || h[4] != 0 {
			return fmt.Errorf("%w: no ogg page where one should start", ErrMalformed)
		}
		serial := binary.LittleEndian.Uint32(h[14:18])
		if o.pages == 0 {
			o.serial = serial
		}
		o.pages++
		segs := make([]byte, h[26])
		if _, err := io.ReadFull(o.r, segs); err != nil {
			return fmt.Errorf("%w: ogg lacing: %v", ErrMalformed, err)
		}
		size := 0
		for _, s := range segs {
			size += int(s)
		}
		data := make([]byte, size)
		if _, err := io.ReadFull(o.r, data); err != nil {
			return fmt.Errorf("%w: ogg page: %v", ErrMalformed, err)
		}
		if serial == o.serial {
			o.segs, o.data = segs, data
			return nil
		}
	}
}

// vorbisHeaders reads and checks the three header packets of the Ogg
// Vorbis stream at r's current position: identification, comments and
// setup. It returns the first two.
func vorbisHeaders(r io.Reader) (ident, comments []byte, err error) {
	o := newOggPackets(r, maxOggPacket)
	for i, typ := range []byte{1, 3, 5} {
		p, err := o.next()
		if err != nil {
			return nil, nil, err
		}
		if len(p) < 7 || p[0] != typ || string(p[1:7]) != "vorbis" {
			return nil, nil, fmt.Errorf("%w: ogg vorbis header %d", ErrMalformed, i+1)
		}
		switch i {
		case 0:
			ident = p
		case 1:
			comments = p
		}
	}
	// The identification header: version, channels, rate, bit rates,
	// block sizes, framing bit.
	if len(ident) < 30 || binary.LittleEndian.Uint32(ident[7:]) != 0 || ident[11] == 0 ||
		binary.LittleEndian.Uint32(ident[12:]) == 0 {
		return nil, nil, fmt.Errorf("%w: bad vorbis identification header", ErrMalformed)
	}
	return ident, comments, nil
}

// readOggTags reads the tags of the Ogg Vorbis file at r's current
// position. The duration is the granule position of the stream's last
// page, if the file can hold that much audio: every audio packet takes at
// least a byte and yields at most half a long block of samples. Beyond
// that the length is unknown (0), or with strict the file is refused.
func readOggTags(r io.ReadSeeker, art *picture, strict bool) (Tags, error) {
	t := Tags{Format: FormatOgg}
	start, err := r.Seek(0, io.SeekCurrent)
	if err != nil {
		return t, wrapSeek(err)
	}
	ident, comments, err := vorbisHeaders(r)
	if err != nil {
		return t, err
	}
	t.Channels = int(ident[11])
	rate := binary.LittleEndian.Uint32(ident[12:])
	t.SampleRate = int(rate)
	parseVorbisComment(comments[7:], &t, art)
	tail, err := lastGranule(r, start)
	if err != nil {
		return t, err
	}
	if tail.granule <= 0 {
		return t, nil
	}
	claimed := framesToDuration(uint64(tail.granule), uint64(rate))
	// Samples a packet yields at most: half the long block size.
	perPacket := int64(1) << (ident[28] >> 4) / 2
	most := tail.size * perPacket
	if tail.prev >= 0 && tail.prev <= tail.granule {
		most = min(most, tail.prev+int64(tail.packets+1)*perPacket)
	}
	if tail.granule <= most {
		t.Duration = claimed
		return t, nil
	}
	if strict {
		return t, refuse(ErrMalformed, "this Ogg Vorbis file says it is %s long but holds at most %s of audio",
			sayDuration(claimed), sayDuration(framesToDuration(uint64(max(most, 0)), uint64(rate))))
	}
	return t, nil
}

// oggTail is what lastGranule learns from the end of an Ogg stream.
type oggTail struct {
	granule int64 // of the stream's last page that has one, or -1
	prev    int64 // of the page with one before it, or -1
	packets int   // packets that end on the last page
	size    int64 // bytes from the stream's start to the file's end
}

// lastGranule reads the granule positions of the last pages of the Ogg
// file's first stream, which starts at start.
func lastGranule(r io.ReadSeeker, start int64) (oggTail, error) {
	t := oggTail{granule: oggGranuleUnset, prev: oggGranuleUnset}
	if _, err := r.Seek(start+14, io.SeekStart); err != nil {
		return t, wrapSeek(err)
	}
	var sb [4]byte
	if _, err := io.ReadFull(r, sb[:]); err != nil {
		return t, fmt.Errorf("%w: ogg serial: %v", ErrMalformed, err)
	}
	serial := binary.LittleEndian.Uint32(sb[:])
	end, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return t, wrapSeek(err)
	}
	t.size = end - start
	// Two of the largest pages: the last, and the one before it.
	from := max(start, end-2*maxOggPage)
	if _, err := r.Seek(from, io.SeekStart); err != nil {
		return t, wrapSeek(err)
	}
	tail := make([]byte, end-from)
	if _, err := io.ReadFull(r, tail); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return t, fmt.Errorf("audio: ogg tail: %w", err)
	}
	for i := 0; ; {
		j := bytes.Index(tail[i:], []byte("OggS"))
		if j < 0 {
			break
		}
		i += j
		if i+27 <= len(tail) && tail[i+4] == 0 && binary.LittleEndian.Uint32(tail[i+14:]) == serial {
			if g := int64(binary.LittleEndian.Uint64(tail[i+6:])); g != oggGranuleUnset {
				t.prev, t.granule = t.granule, g
				t.packets = 0
				if n := int(tail[i+26]); i+27+n <= len(tail) {
					for _, lace := range tail[i+27 : i+27+n] {
						if lace < 255 {
							t.packets++
						}
					}
				}
			}
		}
		i += 4
	}
	return t, nil
}
