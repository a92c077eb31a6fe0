package audio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/gopxl/beep/v2/mp3"
)

// Limits for MP3 files.
const (
	maxMP3Skip = 64 << 10 // bytes of junk or padding allowed before the first frame
	maxID3     = maxArt + maxTagBlock
)

// mp3Frame is what an MPEG audio frame header says.
type mp3Frame struct {
	mpeg1    bool
	rate     int // Hz
	channels int
	size     int // bytes, header included
	samples  int // per channel
}

// parseMP3Frame parses the 4-byte header of an MPEG-1, 2 or 2.5 Layer III
// frame. Free-format bit rates are refused.
func parseMP3Frame(h []byte) (mp3Frame, bool) {
	if len(h) < 4 || h[0] != 0xff || h[1]&0xe0 != 0xe0 {
		return mp3Frame{}, false
	}
	version := h[1] >> 3 & 3 // 0: MPEG-2.5, 1: reserved, 2: MPEG-2, 3: MPEG-1
	layer := h[1] >> 1 & 3   // 1: Layer III
	bitrate := h[2] >> 4
	rateIndex := h[2] >> 2 & 3
	if version == 1 || layer != 1 || bitrate == 0 || bitrate == 15 || rateIndex == 3 || h[3]&3 == 2 {
		return mp3Frame{}, false
	}
	f := mp3Frame{mpeg1: version == 3, rate: [3]int{44100, 48000, 32000}[rateIndex], channels: 2}
	// Layer III bit rates in kbit/s by index.
	kbps := [15]int{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320}[bitrate]
	coef, samples := 144, 1152
	if !f.mpeg1 {
		kbps = [15]int{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160}[bitrate]
		coef, samples = 72, 576
		f.rate /= 2
		if version == 0 {
			f.rate /= 2
		}
	}
	if h[3]>>6 == 3 {
		f.channels = 1
	}
	f.size = coef*kbps*1000/f.rate + int(h[2]>>1&1)
	f.samples = samples
	return f, true
}

// findMP3Frame looks for the first Layer III frame at or after pos, within
// maxMP3Skip bytes. A frame counts only if another frame, or the end of the
// file, follows it, so that random bytes are not taken for MP3.
func findMP3Frame(r io.ReadSeeker, pos int64) (int64, error) {
	if _, err := r.Seek(pos, io.SeekStart); err != nil {
		return 0, wrapSeek(err)
	}
	buf := make([]byte, maxMP3Skip+2*1441+4) // room for two of the largest frames
	n, err := io.ReadFull(r, buf)
	atEOF := errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
	if err != nil && !atEOF {
		return 0, fmt.Errorf("audio: sniff: %w", err)
	}
	buf = buf[:n]
	for i := 0; i+4 <= len(buf) && i <= maxMP3Skip; i++ {
		if buf[i] != 0xff {
			continue
		}
		f, ok := parseMP3Frame(buf[i:])
		if !ok {
			continue
		}
		next := i + f.size
		switch {
		case next+4 <= len(buf):
			if g, ok := parseMP3Frame(buf[next:]); ok && g.rate == f.rate {
				return pos + int64(i), nil
			}
		case atEOF && next <= len(buf):
			return pos + int64(i), nil
		}
	}
	return 0, ErrUnknownFormat
}

// readMP3Tags reads the tags of the MP3 file that starts at start and
// whose first frame is at r's current position.
func readMP3Tags(r io.ReadSeeker, start int64, art *picture, strict bool) (Tags, error) {
	t := Tags{Format: FormatMP3}
	first, err := r.Seek(0, io.SeekCurrent)
	if err != nil {
		return t, wrapSeek(err)
	}
	end, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return t, wrapSeek(err)
	}
	if first > start {
		if err := readID3v2(r, start, &t, art); err != nil {
			return t, err
		}
	}
	if t.Title == "" && t.Artist == "" && end-first >= 128 {
		if err := readID3v1(r, end-128, &t); err != nil {
			return t, err
		}
	}
	if _, err := r.Seek(first, io.SeekStart); err != nil {
		return t, wrapSeek(err)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return t, fmt.Errorf("%w: mp3 frame header: %v", ErrMalformed, err)
	}
	f, ok := parseMP3Frame(hdr[:])
	if !ok {
		return t, fmt.Errorf("%w: mp3 frame header %x", ErrMalformed, hdr)
	}
	t.SampleRate, t.Channels = f.rate, f.channels
	d, err := mp3Duration(r, first, end, f, strict)
	if err != nil {
		return t, err
	}
	t.Duration = d
	return t, nil
}

// mp3Duration returns the duration of the frames from first to end. It
// counts the frames (reading their headers only), except that without
// strict it believes a Xing or Info header in the first frame whose count
// the file's size can hold. With strict it also decodes the last second.
func mp3Duration(r io.ReadSeeker, first, end int64, f mp3Frame, strict bool) (time.Duration, error) {
	if _, err := r.Seek(first, io.SeekStart); err != nil {
		return 0, wrapSeek(err)
	}
	head := make([]byte, min(int64(f.size), end-first))
	if _, err := io.ReadFull(r, head); err != nil {
		return 0, fmt.Errorf("%w: mp3 first frame: %v", ErrMalformed, err)
	}
	x, hasXing := parseXing(head, f)
	if hasXing && !strict && x.plausible(f, end-first) {
		return framesToDuration(x.frames*uint64(f.samples), uint64(f.rate)), nil
	}
	w, err := walkMP3(r, first, end, f)
	if err != nil {
		return 0, err
	}
	if strict {
		if err := w.decodeTail(r, f); err != nil {
			return 0, err
		}
	}
	frames := w.frames
	if hasXing && frames > 0 {
		frames-- // the Xing frame itself is silent
	}
	return framesToDuration(frames*uint64(f.samples), uint64(f.rate)), nil
}

// xing is what a Xing or Info header in an MP3's first frame says.
type xing struct {
	frames uint64 // audio frames, the Xing frame not included
	bytes  uint64 // bytes of the stream, Xing frame included; 0 unknown
}

// parseXing reads the Xing or Info header of the first frame head, if it
// has one that gives a frame count.
func parseXing(head []byte, f mp3Frame) (xing, bool) {
	// The Xing header follows the side information, whose size depends on
	// the version and the channels.
	side := 32
	switch {
	case f.mpeg1 && f.channels == 1, !f.mpeg1 && f.channels == 2:
		side = 17
	case !f.mpeg1:
		side = 9
	}
	x := 4 + side
	if len(head) < x+12 {
		return xing{}, false
	}
	tag := string(head[x : x+4])
	flags := binary.BigEndian.Uint32(head[x+4:])
	if (tag != "Xing" && tag != "Info") || flags&1 == 0 {
		return xing{}, false
	}
	v := xing{frames: uint64(binary.BigEndian.Uint32(head[x+8:]))}
	if flags&2 != 0 && len(head) >= x+16 {
		v.bytes = uint64(binary.BigEndian.Uint32(head[x+12:]))
	}
	return v, true
}

// plausible reports whether size bytes of frames like f can hold what x
// says: every frame is at least as large as one at the lowest bit rate,
// and a file cut short holds fewer bytes than x counts.
func (x xing) plausible(f mp3Frame, size int64) bool {
	low := 32 // kbit/s, MPEG-1
	coef := 144
	if !f.mpeg1 {
		low, coef = 8, 72
	}
	smallest := uint64(coef * low * 1000 / f.rate)
	return smallest > 0 && x.frames <= uint64(size)/smallest && x.bytes <= uint64(size)
}

// mp3Recent is how many of the last frames' offsets walkMP3 keeps: more
// than a second of frames at any rate (at most 48000/1152 frames a
// second), and a few for the bit reservoir.
const mp3Recent = 48

// mp3ResyncWindow is how far walkMP3 looks past a damaged frame for the next.
const mp3ResyncWindow = 4 << 10

// mp3Walk is what walkMP3 learns.
type mp3Walk struct {
	frames uint64
	end    int64            // where the last whole frame ends
	recent [mp3Recent]int64 // offsets of the last frames; frame i at i%mp3Recent
}

// walkMP3 counts the whole frames from first to end with f's sample
// rate, reading their headers only. It steps over a damaged stretch of up
// to mp3Resync bytes when a frame follows; otherwise the music ends at the
// first bytes that are not a frame (an ID3v1 or APE tag, say). Its cost
// is bounded by end-first, not by anything the file claims.
func walkMP3(r io.ReadSeeker, first, end int64, f mp3Frame) (mp3Walk, error) {
	w := mp3Walk{end: first}
	if _, err := r.Seek(first, io.SeekStart); err != nil {
		return w, wrapSeek(err)
	}
	br := bufio.NewReaderSize(io.LimitReader(r, end-first), 64<<10)
	pos := first
	for {
		h, err := br.Peek(4)
		if err != nil {
			break // the end, or a piece of a frame
		}
		g, ok := parseMP3Frame(h)
		if !ok || g.rate != f.rate {
			skip := resyncMP3(br, f.rate)
			if skip <= 0 {
				break
			}
			if _, err := br.Discard(skip); err != nil {
				break
			}
			pos += int64(skip)
			continue
		}
		if _, err := br.Discard(g.size); err != nil {
			break // the last frame is cut short: it does not count
		}
		w.recent[w.frames%mp3Recent] = pos
		w.frames++
		pos += int64(g.size)
		w.end = pos
	}
	return w, nil
}

// resyncMP3 returns how many bytes of br to skip to reach a frame with
// the given rate that another such frame, or the end, follows; 0 if there
// is none within mp3ResyncWindow bytes.
func resyncMP3(br *bufio.Reader, rate int) int {
	b, err := br.Peek(mp3ResyncWindow + 2*1441 + 4)
	atEnd := err != nil
	for i := 1; i+4 <= len(b) && i <= mp3ResyncWindow; i++ {
		if b[i] != 0xff {
			continue
		}
		g, ok := parseMP3Frame(b[i:])
		if !ok || g.rate != rate {
			continue
		}
		next := i + g.size
		switch {
		case next+4 <= len(b):
			if h, ok := parseMP3Frame(b[next:]); ok && h.rate == rate {
				return i
			}
		case atEnd && next == len(b):
			return i
		}
	}
	return 0
}

// decodeTail decodes the last second of the frames w counted, and a few
// frames before it for the bit reservoir, to prove the file's end is
// music as well as its start.
func (w mp3Walk) decodeTail(r io.ReadSeeker, f mp3Frame) error {
	if w.frames == 0 {
		return refuse(ErrMalformed, "this MP3 file holds no whole frame of audio")
	}
	n := uint64((f.rate+f.samples-1)/f.samples + 4) // a second and four frames
	n = min(n, w.frames, mp3Recent)
	from := w.recent[(w.frames-n)%mp3Recent]
	if _, err := r.Seek(from, io.SeekStart); err != nil {
		return wrapSeek(err)
	}
	dec, _, err := mp3.Decode(io.NopCloser(io.LimitReader(r, w.end-from)))
	if err != nil {
		return refuse(ErrMalformed, "the end of this MP3 file does not decode")
	}
	defer dec.Close()
	buf := make([][2]float64, 4096)
	got := 0
	for got < int(n)*f.samples { // the decoder's output is bounded by its input too
		k, ok := dec.Stream(buf)
		got += k
		if !ok || k == 0 {
			break
		}
	}
	if dec.Err() != nil || got == 0 {
		return refuse(ErrMalformed, "the end of this MP3 file does not decode")
	}
	return nil
}

// readID3v1 reads the 128-byte ID3v1 tag at pos, if there is one.
func readID3v1(r io.ReadSeeker, pos int64, t *Tags) error {
	if _, err := r.Seek(pos, io.SeekStart); err != nil {
		return wrapSeek(err)
	}
	var b [128]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return fmt.Errorf("audio: id3v1: %w", err)
	}
	if string(b[:3]) != "TAG" {
		return nil
	}
	t.Title = cleanTag(latin1(b[3:33]))
	t.Artist = cleanTag(latin1(b[33:63]))
	t.Album = cleanTag(latin1(b[63:93]))
	if b[125] == 0 && b[126] != 0 { // ID3v1.1: a track number ends the comment
		t.Track = int(b[126])
	}
	return nil
}

// readID3v2 reads the ID3v2 tag at pos: text frames for title, artist and
// album, and pictures. A tag too large, or of an unknown version, is
// ignored; broken frames end the parse without an error, since the music
// does not depend on them.
func readID3v2(r io.ReadSeeker, pos int64, t *Tags, art *picture) error {
	if _, err := r.Seek(pos, io.SeekStart); err != nil {
		return wrapSeek(err)
	}
	var hdr [10]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return fmt.Errorf("%w: id3v2 header: %v", ErrMalformed, err)
	}
	version, flags := hdr[3], hdr[5]
	size := id3Size(hdr[:]) - 10
	if flags&0x10 != 0 {
		size -= 10 // footer
	}
	if string(hdr[:3]) != "ID3" || version < 2 || version > 4 || size > maxID3 {
		return nil
	}
	if art == nil && size > maxTagBlock {
		return nil
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		return fmt.Errorf("%w: id3v2 tag: %v", ErrMalformed, err)
	}
	if version < 4 && flags&0x80 != 0 {
		body = unsync(body) // ID3v2.4 unsynchronises frame by frame
	}
	if flags&0x40 != 0 && version >= 3 { // extended header
		if len(body) < 4 {
			return nil
		}
		n := int(binary.BigEndian.Uint32(body))
		if version == 3 {
			n += 4
		} else {
			n = int(syncsafe(body))
		}
		if n > len(body) || n < 0 {
			return nil
		}
		body = body[n:]
	}
	parseID3Frames(body, version, flags&0x80 != 0, t, art)
	return nil
}

// parseID3Frames walks the frames of an ID3v2 tag's body.
func parseID3Frames(b []byte, version byte, unsyncAll bool, t *Tags, art *picture) {
	idLen, hdrLen := 4, 10
	if version == 2 {
		idLen, hdrLen = 3, 6
	}
	for i := 0; i < maxChunks && len(b) >= hdrLen && b[0] != 0; i++ {
		id := string(b[:idLen])
		var size int
		var format byte
		switch version {
		case 2:
			size = int(b[3])<<16 | int(b[4])<<8 | int(b[5])
		case 3:
			size = int(binary.BigEndian.Uint32(b[4:8]))
			format = b[9]
		default:
			size = int(syncsafe(b[4:8]))
			format = b[9]
		}
		if size < 0 || size > len(b)-hdrLen {
			return
		}
		data := b[hdrLen : hdrLen+size]
		b = b[hdrLen+size:]
		switch version {
		case 3:
			if format&0xc0 != 0 { // compressed or encrypted
				continue
			}
			if format&0x20 != 0 && len(data) > 0 { // grouping
				data = data[1:]
			}
		case 4:
			if format&0x0c != 0 {
				continue
			}
			if format&0x40 != 0 && len(data) > 0 {
				data = data[1:]
			}
			if format&0x01 != 0 && len(data) >= 4 { // data length indicator
				data = data[4:]
			}
			if unsyncAll || format&0x02 != 0 {
				data = unsync(data)
			}
		}
		var dst *string
		switch id {
		case "TIT2", "TT2":
			dst = &t.Title
		case "TPE1", "TP1":
			dst = &t.Artist
		case "TALB", "TAL":
			dst = &t.Album
		case "TRCK", "TRK":
			if t.Track == 0 && len(data) > 0 {
				t.Track = parseTrackNumber(cleanTag([]byte(id3Text(data[0], data[1:]))))
			}
		case "TXXX", "TXX": // user text: ReplayGain lives here
			if len(data) > 1 {
				if desc, rest, ok := cutID3String(data[0], data[1:]); ok {
					value := cleanTag([]byte(id3Text(data[0], rest)))
					switch strings.ToUpper(cleanTag([]byte(id3Text(data[0], desc)))) {
					case "REPLAYGAIN_TRACK_GAIN":
						t.Gain, t.HasGain = parseGain(value)
					case "REPLAYGAIN_TRACK_PEAK":
						t.Peak = parsePeak(value)
					}
				}
			}
		case "APIC", "PIC":
			if art != nil {
				if p, ok := parseAPIC(data, version == 2); ok {
					art.offer(p)
				}
			}
		}
		if dst != nil && *dst == "" && len(data) > 0 {
			*dst = cleanTag([]byte(id3Text(data[0], data[1:])))
		}
	}
}

// parseAPIC parses an APIC frame (ID3v2.3, 2.4) or a PIC frame (ID3v2.2).
func parseAPIC(b []byte, v22 bool) (picture, bool) {
	if len(b) < 2 {
		return picture{}, false
	}
	enc := b[0]
	b = b[1:]
	if v22 {
		if len(b) < 3 {
			return picture{}, false
		}
		b = b[3:] // image format, e.g. "JPG"
	} else {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return picture{}, false
		}
		b = b[i+1:] // MIME type
	}
	if len(b) < 1 {
		return picture{}, false
	}
	kind := int(b[0])
	b = b[1:]
	_, rest, ok := cutID3String(enc, b) // description
	if !ok {
		return picture{}, false
	}
	return picture{data: rest, kind: kind}, true
}

// cutID3String splits a terminated string in encoding enc off b.
func cutID3String(enc byte, b []byte) (s, rest []byte, ok bool) {
	if enc == 1 || enc == 2 { // UTF-16: a two-byte terminator, aligned
		for i := 0; i+1 < len(b); i += 2 {
			if b[i] == 0 && b[i+1] == 0 {
				return b[:i], b[i+2:], true
			}
		}
		return nil, nil, false
	}
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return nil, nil, false
	}
	return b[:i], b[i+1:], true
}

// id3Text decodes the text of a text frame: the first of its values.
func id3Text(enc byte, b []byte) string {
	if s, _, ok := cutID3String(enc, b); ok {
		b = s
	}
	switch enc {
	case 0:
		return string(latin1(b))
	case 1, 2:
		bigEndian := enc == 2
		if len(b) >= 2 && b[0] == 0xff && b[1] == 0xfe {
			bigEndian, b = false, b[2:]
		} else if len(b) >= 2 && b[0] == 0xfe && b[1] == 0xff {
			bigEndian, b = true, b[2:]
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			if bigEndian {
				u[i] = binary.BigEndian.Uint16(b[2*i:])
			} else {
				u[i] = binary.LittleEndian.Uint16(b[2*i:])
			}
		}
		return string(utf16.Decode(u))
	default:
		return string(b)
	}
}

// latin1 converts ISO-8859-1 to UTF-8, stopping at a NUL.
func latin1(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	var sb strings.Builder
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return []byte(sb.String())
}

// syncsafe decodes a 4-byte syncsafe integer: 7 bits per byte.
func syncsafe(b []byte) uint32 {
	return uint32(b[0]&0x7f)<<21 | uint32(b[1]&0x7f)<<14 | uint32(b[2]&0x7f)<<7 | uint32(b[3]&0x7f)
}

// unsync undoes ID3 unsynchronisation: every 0xFF 0x00 becomes 0xFF.
func unsync(b []byte) []byte {
	if !bytes.Contains(b, []byte{0xff, 0}) {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		out = append(out, b[i])
		if b[i] == 0xff && i+1 < len(b) && b[i+1] == 0 {
			i++
		}
	}
	return out
}
