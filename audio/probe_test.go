package audio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"tandem/internal/splitread"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProbe(t *testing.T) {
	cover := fixture(t, "cover.png")
	tests := []struct {
		file string
		want Tags
		art  bool
	}{
		{"tagged.mp3", Tags{Title: "MP3 Title", Artist: "Café Artist", Album: "MP3 Album", Format: FormatMP3, SampleRate: 44100, Channels: 1}, true},
		{"plain.mp3", Tags{Format: FormatMP3, SampleRate: 22050, Channels: 1}, false},
		{"tagged.ogg", Tags{Title: "Ogg Title", Artist: "Ogg Artist", Album: "Ogg Album", Format: FormatOgg, SampleRate: 22050, Channels: 1}, true},
		{"tagged.flac", Tags{Title: "FLAC Title", Artist: "FLAC Artist", Album: "FLAC Album", Format: FormatFLAC, SampleRate: 22050, Channels: 1}, true},
		{"tagged.wav", Tags{Title: "Wave Title", Artist: "Wave Artist", Album: "Wave Album", Format: FormatWAV, SampleRate: 22050, Channels: 1}, false},
		{"sine.wav", Tags{Format: FormatWAV, SampleRate: 22050, Channels: 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data := fixture(t, tt.file)
			info, err := Probe(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			// Encoders pad MP3 to whole frames: allow 100 ms.
			if d := info.Duration - time.Second; d < 0 || d > 100*time.Millisecond {
				t.Errorf("Duration = %v, want 1s to 1.1s", info.Duration)
			}
			got := info.Tags
			got.Duration = 0
			if got != tt.want {
				t.Errorf("Tags = %+v, want %+v", got, tt.want)
			}
			if tt.art {
				if info.ArtType != "image/png" || !bytes.Equal(info.Art, cover) {
					t.Errorf("art %q of %d bytes, want cover.png (%d bytes)", info.ArtType, len(info.Art), len(cover))
				}
			} else if info.Art != nil || info.ArtType != "" {
				t.Errorf("art %q of %d bytes, want none", info.ArtType, len(info.Art))
			}
			// ReadTags agrees, and Decode plays the file.
			tags, err := ReadTags(bytes.NewReader(data))
			if err != nil || tags != info.Tags {
				t.Errorf("ReadTags = %+v, %v; want %+v", tags, err, info.Tags)
			}
			s, format, err := Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if format.SampleRate != SampleRate {
				t.Errorf("Decode rate %d", format.SampleRate)
			}
			if n := s.Len(); n < int(SampleRate)*9/10 || n > int(SampleRate)*12/10 {
				t.Errorf("Decode Len = %d frames, want about 1 s", n)
			}
			buf := make([][2]float64, 512)
			var peak float64
			for {
				n, ok := s.Stream(buf)
				for _, v := range buf[:n] {
					peak = max(peak, v[0], -v[0])
				}
				if !ok {
					break
				}
			}
			if peak < 0.1 {
				t.Errorf("decoded peak %v: silence", peak)
			}
			if err := s.Seek(s.Len() / 2); err != nil {
				t.Errorf("Seek: %v", err)
			}
		})
	}
}

func TestProbeRefuses(t *testing.T) {
	mp3 := fixture(t, "tagged.mp3")
	ogg := fixture(t, "tagged.ogg")
	flac := fixture(t, "tagged.flac")
	wav := fixture(t, "sine.wav")
	// The first audio frame of tagged.mp3, after its ID3v2 tag.
	first := int(id3Size(mp3))
	corruptOgg := bytes.Clone(ogg)
	for i := len(ogg) / 2; i < len(ogg); i++ {
		corruptOgg[i] = byte(i * 7)
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrUnknownFormat},
		{"text", []byte("hello, this is not music at all, just words"), ErrUnknownFormat},
		{"png", fixture(t, "cover.png"), ErrUnknownFormat},
		{"id3 with nothing after", mp3[:first], ErrUnknownFormat},
		{"one mp3 frame header", mp3[:first+4], ErrUnknownFormat}, // a frame needs a next one or the end
		{"wav without samples", wav[:44], ErrMalformed},
		{"flac headers only", flac[:8+34], ErrMalformed},
		{"ogg without setup header", ogg[:200], ErrMalformed},
		{"ogg with garbage audio", corruptOgg, ErrMalformed},
		{"huge ogg header packet", hugeOggPacket(), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Probe(bytes.NewReader(tt.data))
			if !errors.Is(err, tt.want) {
				t.Errorf("Probe = %v, want %v", err, tt.want)
			}
		})
	}
}

// hugeOggPacket is an Ogg Vorbis start whose comment packet claims to run
// on for ever: page after page of 255-byte segments.
func hugeOggPacket() []byte {
	page := func(flags byte, seq uint32, segs []byte, data []byte) []byte {
		b := []byte("OggS\x00")
		b = append(b, flags)
		b = append(b, make([]byte, 8)...)            // granule
		b = append(b, 1, 0, 0, 0)                    // serial
		b = append(b, byte(seq), byte(seq>>8), 0, 0) // sequence
		b = append(b, 0, 0, 0, 0, byte(len(segs)))   // CRC, segments
		b = append(b, segs...)
		return append(b, data...)
	}
	ident := append([]byte("\x01vorbis\x00\x00\x00\x00\x01\x44\xac\x00\x00"), make([]byte, 15)...)
	out := page(2, 0, []byte{byte(len(ident))}, ident)
	seg := bytes.Repeat([]byte{255}, 255)
	body := append([]byte("\x03vorbis"), make([]byte, 255*255-7)...)
	for i := uint32(1); len(out) < maxOggPacket+2*maxOggPage; i++ {
		out = append(out, page(0, i, seg, body)...)
		body = make([]byte, 255*255)
	}
	return out
}

func TestID3Versions(t *testing.T) {
	frame := func(id string, size func(int) []byte, data []byte) []byte {
		b := append([]byte(id), size(len(data))...)
		if len(id) == 4 {
			b = append(b, 0, 0)
		}
		return append(b, data...)
	}
	be24 := func(n int) []byte { return []byte{byte(n >> 16), byte(n >> 8), byte(n)} }
	be32 := func(n int) []byte { return []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)} }
	safe := func(n int) []byte {
		return []byte{byte(n >> 21 & 0x7f), byte(n >> 14 & 0x7f), byte(n >> 7 & 0x7f), byte(n & 0x7f)}
	}
	tag := func(version byte, frames ...[]byte) []byte {
		body := bytes.Join(frames, nil)
		return append(append([]byte{'I', 'D', '3', version, 0, 0}, safe(len(body))...), body...)
	}
	jpeg := []byte("\xff\xd8\xff\xe0 not really a jpeg")
	tests := []struct {
		name string
		tag  []byte
		want Tags
		art  []byte
	}{
		{"v2.2", tag(2,
			frame("TT2", be24, []byte("\x00Caf\xe9")),
			frame("TP1", be24, []byte("\x03Artist\x00Other")),
			frame("PIC", be24, append([]byte("\x00JPG\x03desc\x00"), jpeg...))),
			Tags{Title: "Café", Artist: "Artist"}, jpeg},
		{"v2.4 utf-16be and utf-8", tag(4,
			frame("TIT2", safe, []byte("\x02\x00T\x00i\x00t")),
			frame("TALB", safe, []byte("\x03Album")),
			frame("APIC", safe, append([]byte("\x03image/png\x00\x00\x00"), jpeg...)),
			frame("APIC", safe, append([]byte("\x03image/jpeg\x00\x03\x00"), jpeg...))),
			Tags{Title: "Tit", Album: "Album"}, jpeg},
		{"v2.3 broken frame size", tag(3,
			frame("TIT2", be32, []byte("\x00Ok")),
			append([]byte("TPE1\x7f\x00\x00\x00\x00\x00"), "x"...)),
			Tags{Title: "Ok"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Tags
			var art picture
			if err := readID3v2(bytes.NewReader(tt.tag), 0, &got, &art); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("tags %+v, want %+v", got, tt.want)
			}
			if !bytes.Equal(art.data, tt.art) {
				t.Errorf("art %q, want %q", art.data, tt.art)
			}
		})
	}
}

func FuzzProbe(f *testing.F) {
	for _, name := range []string{"tagged.mp3", "plain.mp3", "tagged.ogg", "tagged.flac", "tagged.wav"} {
		b := fixture(f, name)
		f.Add(b[:min(len(b), 1024)], []byte{7, 0, 200}) // short seeds keep minimisation quick
	}
	// data is read whole, and again in the short reads that sizes picks
	// (splitread): both must give the same answer.
	f.Fuzz(func(t *testing.T, data, sizes []byte) {
		type result struct {
			info Info
			err  error
		}
		probe := func(r io.ReadSeeker) result {
			done := make(chan result, 1)
			go func() {
				info, err := Probe(r)
				done <- result{info, err}
			}()
			select {
			case r := <-done:
				return r
			case <-time.After(5 * time.Second):
				t.Fatalf("Probe of %d bytes has not returned after 5 s", len(data))
				return result{}
			}
		}
		whole := probe(bytes.NewReader(data))
		split := probe(splitread.New(data, sizes))
		if fmt.Sprint(whole.err) != fmt.Sprint(split.err) || fmt.Sprintf("%+v", whole.info) != fmt.Sprintf("%+v", split.info) {
			t.Fatalf("whole: %+v %v; in short reads: %+v %v", whole.info, whole.err, split.info, split.err)
		}
		info, err := whole.info, whole.err
		if err != nil {
			if !errors.Is(err, ErrUnknownFormat) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("Probe error %v is neither ErrUnknownFormat nor ErrMalformed", err)
			}
			return
		}
		if (info.Art == nil) != (info.ArtType == "") {
			t.Fatalf("art of %d bytes with type %q", len(info.Art), info.ArtType)
		}
	})
}
