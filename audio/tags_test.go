package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"tandem/internal/splitread"
)

// wavOpts describes a small WAV file for tests.
type wavOpts struct {
	rate, channels, bits int      // default 8000 Hz, mono, 16-bit
	frames               int      // of silence
	info                 []string // INFO subchunks: id, value, id, value, ...
	listAfterData        bool
	junk                 uint32 // declared size of a chunk with no payload before data
	fmtSize              uint32 // default 16
	align                int    // bytes per frame; default channels × bits / 8
	noData               bool
}

// wavFile builds a WAV file.
func wavFile(t testing.TB, o wavOpts) []byte {
	t.Helper()
	if o.rate == 0 {
		o.rate = 8000
	}
	if o.channels == 0 {
		o.channels = 1
	}
	if o.bits == 0 {
		o.bits = 16
	}
	if o.fmtSize == 0 {
		o.fmtSize = 16
	}
	le := binary.LittleEndian
	chunk := func(id string, body []byte) []byte {
		b := append([]byte(id), le.AppendUint32(nil, uint32(len(body)))...)
		b = append(b, body...)
		if len(body)%2 == 1 {
			b = append(b, 0)
		}
		return b
	}
	align := o.channels * o.bits / 8
	if o.align != 0 {
		align = o.align
	}
	fmtBody := le.AppendUint16(nil, 1)
	fmtBody = le.AppendUint16(fmtBody, uint16(o.channels))
	fmtBody = le.AppendUint32(fmtBody, uint32(o.rate))
	fmtBody = le.AppendUint32(fmtBody, uint32(o.rate*align))
	fmtBody = le.AppendUint16(fmtBody, uint16(align))
	fmtBody = le.AppendUint16(fmtBody, uint16(o.bits))
	var fmtChunk []byte
	if o.fmtSize >= 16 {
		fmtChunk = chunk("fmt ", fmtBody)
	} else {
		fmtChunk = append([]byte("fmt "), le.AppendUint32(nil, o.fmtSize)...)
		fmtChunk = append(fmtChunk, fmtBody[:o.fmtSize]...)
	}
	var list []byte
	if len(o.info) > 0 {
		body := []byte("INFO")
		for i := 0; i+1 < len(o.info); i += 2 {
			body = append(body, chunk(o.info[i], append([]byte(o.info[i+1]), 0))...)
		}
		list = chunk("LIST", body)
	}
	body := []byte("WAVE")
	body = append(body, fmtChunk...)
	if o.junk > 0 {
		body = append(body, "junk"...)
		body = le.AppendUint32(body, o.junk)
	}
	if !o.listAfterData {
		body = append(body, list...)
	}
	if !o.noData {
		body = append(body, chunk("data", make([]byte, o.frames*align))...)
	}
	if o.listAfterData {
		body = append(body, list...)
	}
	return chunk("RIFF", body)
}

// flacFile builds the metadata of a FLAC file (no audio frames): a
// STREAMINFO block and a VORBIS_COMMENT block with the given comments.
func flacFile(rate int, samples uint64, comments ...string) []byte {
	b := []byte("fLaC")
	b = append(b, 0x00, 0, 0, 34) // STREAMINFO, not last, 34 bytes
	si := make([]byte, 34)
	binary.BigEndian.PutUint16(si[0:], 4096)
	binary.BigEndian.PutUint16(si[2:], 4096)
	x := uint64(rate)<<44 | uint64(1)<<41 | uint64(15)<<36 | samples // stereo, 16-bit
	binary.BigEndian.PutUint64(si[10:], x)
	b = append(b, si...)
	vc := binary.LittleEndian.AppendUint32(nil, 4)
	vc = append(vc, "test"...)
	vc = binary.LittleEndian.AppendUint32(vc, uint32(len(comments)))
	for _, c := range comments {
		vc = binary.LittleEndian.AppendUint32(vc, uint32(len(c)))
		vc = append(vc, c...)
	}
	b = append(b, 0x84, byte(len(vc)>>16), byte(len(vc)>>8), byte(len(vc))) // last, VORBIS_COMMENT
	return append(b, vc...)
}

func TestReadTags(t *testing.T) {
	id3 := append([]byte("ID3\x04\x00\x00\x00\x00\x00\x05hello"), flacFile(48000, 48000, "TITLE=Behind ID3")...)
	tests := []struct {
		name string
		data []byte
		want Tags
	}{
		{
			"wav info before data",
			wavFile(t, wavOpts{frames: 8000, info: []string{"INAM", "Song", "IART", "Band", "IPRD", "Record"}}),
			Tags{Title: "Song", Artist: "Band", Album: "Record", Duration: time.Second, Format: FormatWAV, SampleRate: 8000, Channels: 1},
		},
		{
			"wav info after data, odd sizes",
			wavFile(t, wavOpts{frames: 4001, channels: 2, info: []string{"ICMT", "x", "INAM", "Odd", "IART", "Ab"}, listAfterData: true}),
			Tags{Title: "Odd", Artist: "Ab", Duration: 4001 * time.Second / 8000, Format: FormatWAV, SampleRate: 8000, Channels: 2},
		},
		{
			"wav without tags",
			wavFile(t, wavOpts{rate: 22050, frames: 22050 / 2}),
			Tags{Duration: time.Second / 2, Format: FormatWAV, SampleRate: 22050, Channels: 1},
		},
		{
			"flac",
			flacFile(44100, 44100*3, "title=Lower Case", "ARTIST=Someone", "Album=Collection", "TITLE=Second Title", "NOEQUALS"),
			Tags{Title: "Lower Case", Artist: "Someone", Album: "Collection", Duration: 3 * time.Second, Format: FormatFLAC, SampleRate: 44100, Channels: 2},
		},
		{
			"flac after id3",
			id3,
			Tags{Title: "Behind ID3", Duration: time.Second, Format: FormatFLAC, SampleRate: 48000, Channels: 2},
		},
		{
			"invalid utf-8 and padding",
			flacFile(8000, 0, "TITLE=  caf\xe9  ", "ARTIST=a\x00b"),
			Tags{Title: "caf\uFFFD", Artist: "a", Format: FormatFLAC, SampleRate: 8000, Channels: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadTags(bytes.NewReader(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ReadTags = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReadTagsErrors(t *testing.T) {
	good := flacFile(44100, 1, "TITLE=x")
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrUnknownFormat},
		{"ogg", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00"), ErrUnknownFormat},
		{"wav without fmt", []byte("RIFF\x04\x00\x00\x00WAVE"), ErrMalformed},
		{"wav without data", wavFile(t, wavOpts{noData: true}), ErrMalformed},
		{"flac cut in header", good[:6], ErrMalformed},
		{"flac without streaminfo", append([]byte("fLaC\x84\x00\x00\x00"), good[8:]...), ErrMalformed},
		{"flac short streaminfo", []byte("fLaC\x80\x00\x00\x02ab"), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadTags(bytes.NewReader(tt.data))
			if !errors.Is(err, tt.want) {
				t.Errorf("ReadTags error %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzReadTags(f *testing.F) {
	f.Add(wavFile(f, wavOpts{frames: 10, info: []string{"INAM", "Song", "IART", "Band", "IPRD", "Record"}}), []byte{1, 3, 0, 64})
	f.Add(wavFile(f, wavOpts{frames: 3, channels: 2, info: []string{"INAM", "Odd"}, listAfterData: true}), []byte{1, 3, 0, 64})
	f.Add(wavFile(f, wavOpts{junk: 1 << 31}), []byte{1, 3, 0, 64})
	f.Add(flacFile(44100, 44100, "TITLE=t", "ARTIST=a", "ALBUM=b"), []byte{1, 3, 0, 64})
	f.Add(append([]byte("ID3\x04\x00\x10\x00\x00\x00\x01x"), flacFile(8000, 1)...), []byte{1, 3, 0, 64})
	f.Add(demo(f, "morning-tram.flac").Data[:300], []byte{1, 3, 0, 64})
	f.Add(demo(f, "attic-radio.wav").Data[:300], []byte{1, 3, 0, 64})
	// data is read whole, and again in the short reads that sizes picks
	// (splitread): both must give the same answer.
	f.Fuzz(func(t *testing.T, data, sizes []byte) {
		tags, err := ReadTags(bytes.NewReader(data))
		stags, serr := ReadTags(splitread.New(data, sizes))
		if fmt.Sprint(err) != fmt.Sprint(serr) || fmt.Sprintf("%+v", tags) != fmt.Sprintf("%+v", stags) {
			t.Fatalf("whole: %+v %v; in short reads: %+v %v", tags, err, stags, serr)
		}
		if err != nil {
			return
		}
		if tags.Format != FormatWAV && tags.Format != FormatFLAC && tags.Format != FormatMP3 && tags.Format != FormatOgg {
			t.Errorf("Format %q", tags.Format)
		}
		if tags.Duration < 0 {
			t.Errorf("Duration %v", tags.Duration)
		}
		for _, s := range []string{tags.Title, tags.Artist, tags.Album} {
			if !utf8.ValidString(s) || len(s) > 4*maxTagValue || strings.ContainsRune(s, 0) {
				t.Errorf("tag %q", s)
			}
		}
	})
}

func FuzzDecode(f *testing.F) {
	f.Add(wavFile(f, wavOpts{frames: 100, rate: 44100, channels: 2}), []byte{1, 3, 0, 64})
	f.Add(wavFile(f, wavOpts{frames: 100, rate: 11025, bits: 8}), []byte{1, 3, 0, 64})
	f.Add(demo(f, "paper-lanterns.flac").Data[:20000], []byte{1, 3, 0, 64})
	f.Add(demo(f, "low-tide-lullaby.wav").Data[:2000], []byte{1, 3, 0, 64})
	// data is decoded whole, and again from the short reads that sizes
	// picks (splitread): both must give the same samples.
	f.Fuzz(func(t *testing.T, data, sizes []byte) {
		whole, werr := decodeSome(bytes.NewReader(data))
		split, serr := decodeSome(splitread.New(data, sizes))
		if (werr == nil) != (serr == nil) || len(whole) != len(split) {
			t.Fatalf("whole: %d frames, %v; in short reads: %d frames, %v", len(whole), werr, len(split), serr)
		}
		for i := range whole {
			if whole[i] != split[i] {
				t.Fatalf("frame %d: %v whole, %v in short reads", i, whole[i], split[i])
			}
		}
	})
}

// decodeSome decodes up to 100 buffers of r, seeks to the middle when the
// length is known, and returns the frames streamed.
func decodeSome(r io.ReadSeeker) ([][2]float64, error) {
	s, _, err := Decode(r)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var out [][2]float64
	buf := make([][2]float64, 512)
	for i := 0; i < 100; i++ {
		n, ok := s.Stream(buf)
		out = append(out, buf[:n]...)
		if !ok {
			break
		}
	}
	if l := s.Len(); l > 0 {
		_ = s.Seek(l / 2)
		n, _ := s.Stream(buf)
		out = append(out, buf[:n]...)
	}
	return out, nil
}
