package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Tags is what a file says about itself. Any text field may be empty.
type Tags struct {
	Title  string
	Artist string
	Album  string
	Track  int // the track number on its album; 0 if unknown
	// ReplayGain of the track, when its tags have it: the gain in dB
	// that brings it to the reference loudness, and its peak (1 is full
	// scale; 0 unknown).
	Gain       float64
	Peak       float64
	HasGain    bool
	Duration   time.Duration
	Format     string // FormatWAV, FormatFLAC, FormatMP3 or FormatOgg
	SampleRate int    // Hz
	Channels   int
}

// Limits for parsing untrusted files.
const (
	maxTagBlock = 1 << 20 // bytes; larger LIST or VORBIS_COMMENT blocks are skipped
	maxTagValue = 1 << 10 // bytes kept of each tag value
	maxChunks   = 1 << 12 // RIFF chunks or FLAC metadata blocks examined
)

// ReadTags reads the tags and duration of a WAV file (RIFF LIST/INFO chunk:
// INAM, IART, IPRD, and ITRK or IPRT for the track number), a FLAC file
// (VORBIS_COMMENT block: TITLE, ARTIST, ALBUM, TRACKNUMBER), an Ogg Vorbis
// file (its comment header, the same keys) or an MP3 file (ID3v2.2 to 2.4
// frames TIT2, TPE1, TALB, TRCK, else an ID3v1 or ID3v1.1 tag). It
// reads from r's current position and leaves r anywhere. Files with no
// tags give empty fields and no error; files in none of these formats give
// ErrUnknownFormat, and broken ones ErrMalformed.
func ReadTags(r io.ReadSeeker) (Tags, error) {
	return readTags(r, nil, false)
}

// readTags is ReadTags that also collects embedded artwork into art,
// unless art is nil. With strict, it also checks the length a file's
// headers claim against the audio it holds, decoding the last second,
// and refuses a file that lies (see Probe).
func readTags(r io.ReadSeeker, art *picture, strict bool) (Tags, error) {
	start, err := r.Seek(0, io.SeekCurrent)
	if err != nil {
		return Tags{}, wrapSeek(err)
	}
	format, err := sniff(r)
	if err != nil {
		return Tags{}, err
	}
	switch format {
	case FormatWAV:
		info, err := scanWAV(r)
		if err != nil {
			return Tags{}, err
		}
		return info.tags, nil
	case FormatMP3:
		return readMP3Tags(r, start, art, strict)
	case FormatOgg:
		return readOggTags(r, art, strict)
	default:
		return readFLACTags(r, art, strict)
	}
}

// sniff returns the format of the file that starts at r's current
// position and leaves r at the format's own start: after any ID3v2 header
// of a FLAC file, at the first frame of an MP3 file, at the start of the
// others.
func sniff(r io.ReadSeeker) (string, error) {
	start, err := r.Seek(0, io.SeekCurrent)
	if err != nil {
		return "", fmt.Errorf("audio: sniff: %w", err)
	}
	var head [oggHeadLen]byte
	n, err := io.ReadFull(r, head[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("audio: sniff: %w", err)
	}
	b := head[:n]
	switch {
	case len(b) >= 12 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WAVE":
		_, err = r.Seek(start, io.SeekStart)
		return FormatWAV, wrapSeek(err)
	case len(b) >= 4 && string(b[0:4]) == "fLaC":
		_, err = r.Seek(start, io.SeekStart)
		return FormatFLAC, wrapSeek(err)
	case isVorbisHead(b):
		_, err = r.Seek(start, io.SeekStart)
		return FormatOgg, wrapSeek(err)
	}
	// An ID3v2 tag may stand before a FLAC stream or MP3 frames; so may
	// nothing, for MP3.
	pos := start
	if len(b) >= 10 && string(b[0:3]) == "ID3" {
		pos += id3Size(b)
	}
	if _, err := r.Seek(pos, io.SeekStart); err != nil {
		return "", wrapSeek(err)
	}
	var sig [4]byte
	if _, err := io.ReadFull(r, sig[:]); err == nil && string(sig[:]) == "fLaC" {
		_, err = r.Seek(pos, io.SeekStart)
		return FormatFLAC, wrapSeek(err)
	}
	frame, err := findMP3Frame(r, pos)
	if err != nil {
		return "", err
	}
	_, err = r.Seek(frame, io.SeekStart)
	return FormatMP3, wrapSeek(err)
}

// id3Size returns the whole size of the ID3v2 tag whose 10-byte header is
// b: header, body and optional footer.
func id3Size(b []byte) int64 {
	size := int64(b[6]&0x7f)<<21 | int64(b[7]&0x7f)<<14 | int64(b[8]&0x7f)<<7 | int64(b[9]&0x7f)
	skip := 10 + size
	if b[5]&0x10 != 0 {
		skip += 10
	}
	return skip
}

func wrapSeek(err error) error {
	if err != nil {
		return fmt.Errorf("audio: seek: %w", err)
	}
	return nil
}

// wavInfo is what scanWAV learns from a RIFF/WAVE file.
type wavInfo struct {
	tags       Tags
	formatType uint16
	bits       int
	blockAlign int   // bytes per frame
	dataOffset int64 // of the data chunk's payload, from the file's start
	dataSize   int64 // as stored, but no more than the file holds
	preData    int64 // the largest chunk size stored before the data chunk
}

// scanWAV walks the chunks of the RIFF/WAVE file at r's current position,
// collecting the fmt chunk, the LIST/INFO tags and the data chunk. It seeks
// over chunk payloads instead of reading them, so a huge or lying size
// costs nothing.
func scanWAV(r io.ReadSeeker) (wavInfo, error) {
	info := wavInfo{tags: Tags{Format: FormatWAV}}
	start, err := r.Seek(0, io.SeekCurrent)
	if err != nil {
		return info, wrapSeek(err)
	}
	end, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return info, wrapSeek(err)
	}
	if _, err := r.Seek(start+12, io.SeekStart); err != nil {
		return info, wrapSeek(err)
	}
	var (
		pos        = start + 12
		haveFmt    bool
		haveData   bool
		blockAlign uint16
		rate       uint32
	)
	for i := 0; i < maxChunks && pos+8 <= end; i++ {
		var hdr [8]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return info, fmt.Errorf("audio: wav chunk header at %d: %w", pos, err)
		}
		id := string(hdr[0:4])
		size := int64(binary.LittleEndian.Uint32(hdr[4:8]))
		payload := pos + 8
		if !haveData && id != "data" {
			info.preData = max(info.preData, size)
		}
		switch id {
		case "fmt ":
			if size < 16 || size > 1024 {
				return info, fmt.Errorf("%w: wav fmt chunk of %d bytes", ErrMalformed, size)
			}
			var f [16]byte
			if _, err := io.ReadFull(r, f[:]); err != nil {
				return info, fmt.Errorf("%w: wav fmt chunk: %v", ErrMalformed, err)
			}
			info.formatType = binary.LittleEndian.Uint16(f[0:2])
			info.tags.Channels = int(binary.LittleEndian.Uint16(f[2:4]))
			rate = binary.LittleEndian.Uint32(f[4:8])
			info.tags.SampleRate = int(rate)
			blockAlign = binary.LittleEndian.Uint16(f[12:14])
			info.bits = int(binary.LittleEndian.Uint16(f[14:16]))
			haveFmt = true
		case "LIST":
			if size >= 4 && size <= maxTagBlock {
				body := make([]byte, min(size, end-payload))
				if _, err := io.ReadFull(r, body); err != nil {
					return info, fmt.Errorf("%w: wav LIST chunk: %v", ErrMalformed, err)
				}
				parseINFO(body, &info.tags)
			}
		case "data":
			if !haveData {
				haveData = true
				info.dataOffset = payload
				info.dataSize = min(size, end-payload)
			}
		}
		pos = payload + size + size&1 // chunks are padded to even sizes
		if _, err := r.Seek(pos, io.SeekStart); err != nil {
			return info, wrapSeek(err)
		}
	}
	if !haveFmt {
		return info, fmt.Errorf("%w: wav has no fmt chunk", ErrMalformed)
	}
	if !haveData {
		return info, fmt.Errorf("%w: wav has no data chunk", ErrMalformed)
	}
	info.blockAlign = int(blockAlign)
	if blockAlign > 0 {
		info.tags.Duration = framesToDuration(uint64(info.dataSize)/uint64(blockAlign), uint64(rate))
	}
	return info, nil
}

// parseINFO reads the text subchunks of a LIST chunk of type INFO.
func parseINFO(b []byte, t *Tags) {
	if len(b) < 4 || string(b[:4]) != "INFO" {
		return
	}
	b = b[4:]
	for len(b) >= 8 {
		id := string(b[0:4])
		size := uint64(binary.LittleEndian.Uint32(b[4:8]))
		b = b[8:]
		if size > uint64(len(b)) {
			size = uint64(len(b))
		}
		v := b[:size]
		switch id {
		case "INAM":
			t.Title = cleanTag(v)
		case "IART":
			t.Artist = cleanTag(v)
		case "IPRD":
			t.Album = cleanTag(v)
		case "ITRK", "IPRT":
			if t.Track == 0 {
				t.Track = parseTrackNumber(cleanTag(v))
			}
		}
		b = b[size:]
		if size&1 == 1 && len(b) > 0 {
			b = b[1:]
		}
	}
}

// cleanTag turns raw tag bytes into a short, valid UTF-8 string: it stops
// at a NUL, trims spaces, and replaces invalid bytes.
// parseGain reads a ReplayGain value such as "-6.48 dB"; it reports false
// for anything else or a gain beyond ±60 dB.
func parseGain(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && strings.EqualFold(s[len(s)-2:], "db") {
		s = strings.TrimSpace(s[:len(s)-2])
	}
	g, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(g) || g < -60 || g > 60 {
		return 0, false
	}
	return g, true
}

// parsePeak reads a ReplayGain peak such as "0.988547"; 0 when absent or
// not a sane peak.
func parsePeak(s string) float64 {
	p, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(p) || p <= 0 || p > 10 {
		return 0
	}
	return p
}

func cleanTag(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if len(b) > maxTagValue {
		b = b[:maxTagValue]
	}
	s := strings.TrimSpace(string(b))
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

// readFLACTags reads the metadata blocks of the FLAC stream at r's
// current position (just at "fLaC"). The duration is the real one, from
// the last frame, when that can be found; with strict, a file whose
// STREAMINFO claims another length, or that does not end with a whole
// frame, is refused.
func readFLACTags(r io.ReadSeeker, art *picture, strict bool) (Tags, error) {
	t := Tags{Format: FormatFLAC}
	var sig [4]byte
	if _, err := io.ReadFull(r, sig[:]); err != nil || string(sig[:]) != "fLaC" {
		return t, fmt.Errorf("%w: no fLaC signature", ErrMalformed)
	}
	var fi flacInfo
	for i := 0; i < maxChunks; i++ {
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return t, fmt.Errorf("%w: flac metadata block header: %v", ErrMalformed, err)
		}
		last := hdr[0]&0x80 != 0
		typ := hdr[0] & 0x7f
		size := int64(hdr[1])<<16 | int64(hdr[2])<<8 | int64(hdr[3])
		switch {
		case i == 0 && typ != 0:
			return t, fmt.Errorf("%w: flac does not start with STREAMINFO", ErrMalformed)
		case typ == 0:
			if size < 34 {
				return t, fmt.Errorf("%w: flac STREAMINFO of %d bytes", ErrMalformed, size)
			}
			var si [34]byte
			if _, err := io.ReadFull(r, si[:]); err != nil {
				return t, fmt.Errorf("%w: flac STREAMINFO: %v", ErrMalformed, err)
			}
			fi = parseStreamInfo(si[:])
			t.SampleRate = int(fi.rate)
			t.Channels = fi.channels
			t.Duration = framesToDuration(fi.samples, fi.rate)
			if _, err := r.Seek(size-34, io.SeekCurrent); err != nil {
				return t, wrapSeek(err)
			}
		case typ == 4 && size <= maxTagBlock:
			body := make([]byte, size)
			if _, err := io.ReadFull(r, body); err != nil {
				return t, fmt.Errorf("%w: flac VORBIS_COMMENT: %v", ErrMalformed, err)
			}
			parseVorbisComment(body, &t, art)
		case typ == 6 && art != nil && size <= maxArt+maxTagBlock:
			body := make([]byte, size)
			if _, err := io.ReadFull(r, body); err != nil {
				return t, fmt.Errorf("%w: flac PICTURE: %v", ErrMalformed, err)
			}
			if p, ok := parseFLACPicture(body); ok {
				art.offer(p)
			}
		default:
			if _, err := r.Seek(size, io.SeekCurrent); err != nil {
				return t, wrapSeek(err)
			}
		}
		if last {
			break
		}
	}
	if strict {
		if err := fi.check32(); err != nil {
			return t, err
		}
	}
	data, err := r.Seek(0, io.SeekCurrent)
	if err != nil {
		return t, wrapSeek(err)
	}
	end, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return t, wrapSeek(err)
	}
	samples, err := flacLength(r, data, end, fi, strict)
	switch {
	case err == nil && strict && fi.samples != 0 && fi.samples != samples:
		return t, lie("FLAC", t.Duration, framesToDuration(samples, fi.rate))
	case err == nil:
		t.Duration = framesToDuration(samples, fi.rate)
	case strict && errors.Is(err, errFLACEnd):
		return t, refuse(ErrMalformed, "this FLAC file does not end with a whole frame of audio; it may be cut short")
	case strict:
		return t, err
	}
	// Without strict, a file whose last frame cannot be found keeps the
	// length its STREAMINFO claims.
	return t, nil
}

// maxTrackNumber is the largest track number believed; larger ones read
// as unknown.
const maxTrackNumber = 9999

// parseTrackNumber reads a track number as tags write it: "7", "07",
// "7/12" (ID3 TRCK, often Vorbis TRACKNUMBER too). Anything else, and 0,
// gives 0 (unknown).
func parseTrackNumber(s string) int {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "/")
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 6 {
		return 0
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	if n > maxTrackNumber {
		return 0
	}
	return n
}

// parseVorbisComment reads TITLE, ARTIST, ALBUM and TRACKNUMBER from a VORBIS_COMMENT
// block (little-endian lengths, "KEY=value" entries, keys in any case). The
// first value of each key wins. Unless art is nil, it also offers art the
// pictures of METADATA_BLOCK_PICTURE entries (base64 FLAC PICTURE blocks).
func parseVorbisComment(b []byte, t *Tags, art *picture) {
	next := func() ([]byte, bool) {
		if len(b) < 4 {
			return nil, false
		}
		n := uint64(binary.LittleEndian.Uint32(b))
		b = b[4:]
		if n > uint64(len(b)) {
			return nil, false
		}
		v := b[:n]
		b = b[n:]
		return v, true
	}
	if _, ok := next(); !ok { // vendor string
		return
	}
	if len(b) < 4 {
		return
	}
	count := binary.LittleEndian.Uint32(b)
	b = b[4:]
	for i := uint32(0); i < count; i++ {
		c, ok := next()
		if !ok {
			return
		}
		key, value, ok := bytes.Cut(c, []byte("="))
		if !ok {
			continue
		}
		var dst *string
		switch strings.ToUpper(string(key)) {
		case "TITLE":
			dst = &t.Title
		case "ARTIST":
			dst = &t.Artist
		case "ALBUM":
			dst = &t.Album
		case "TRACKNUMBER":
			if t.Track == 0 {
				t.Track = parseTrackNumber(cleanTag(value))
			}
			continue
		case "REPLAYGAIN_TRACK_GAIN":
			t.Gain, t.HasGain = parseGain(cleanTag(value))
			continue
		case "REPLAYGAIN_TRACK_PEAK":
			t.Peak = parsePeak(cleanTag(value))
			continue
		case "METADATA_BLOCK_PICTURE":
			if art != nil {
				if p, ok := parseFLACPicture(decodeBase64(value)); ok {
					art.offer(p)
				}
			}
			continue
		default:
			continue
		}
		if *dst == "" {
			*dst = cleanTag(value)
		}
	}
}
