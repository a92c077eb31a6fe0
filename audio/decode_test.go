package audio

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"tandem/assets"

	"tandem/internal/splitread"
)

// demoTags is what each demo file must say about itself.
var demoTags = map[string]Tags{
	"attic-radio.wav":         {Title: "Attic Radio", Artist: "Fern Delacroix", Format: FormatWAV, SampleRate: 22050, Channels: 1},
	"copper-kettle-waltz.wav": {Title: "Copper Kettle Waltz", Artist: "Mabel & the Metronomes", Format: FormatWAV, SampleRate: 22050, Channels: 1},
	"low-tide-lullaby.wav":    {Title: "Low Tide Lullaby", Artist: "Harbor Static", Format: FormatWAV, SampleRate: 22050, Channels: 1},
	"morning-tram.flac":       {Title: "Morning Tram", Artist: "Lumen Avenue", Format: FormatFLAC, SampleRate: 44100, Channels: 2},
	"neon-bicycle.flac":       {Title: "Neon Bicycle", Artist: "Kilo Marlow", Format: FormatFLAC, SampleRate: 44100, Channels: 2},
	"paper-lanterns.flac":     {Title: "Paper Lanterns", Artist: "The Quiet Orchard", Format: FormatFLAC, SampleRate: 44100, Channels: 2},
}

// demo returns the demo track with the given file name.
func demo(t testing.TB, name string) assets.DemoTrack {
	t.Helper()
	for _, d := range assets.Demo() {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no demo track %q", name)
	return assets.DemoTrack{}
}

func TestReadTagsDemo(t *testing.T) {
	demo := assets.Demo()
	if got, want := len(demo), len(demoTags); got != want {
		t.Fatalf("%d demo tracks, want %d", got, want)
	}
	for _, d := range demo {
		t.Run(d.Name, func(t *testing.T) {
			want, ok := demoTags[d.Name]
			if !ok {
				t.Fatalf("unexpected demo file %s", d.Name)
			}
			got, err := ReadTags(bytes.NewReader(d.Data))
			if err != nil {
				t.Fatal(err)
			}
			if got.Duration < 15*time.Second || got.Duration > 25*time.Second {
				t.Errorf("Duration = %v, want 15s–25s", got.Duration)
			}
			want.Album = "Tandem Demo Tapes"
			want.Duration = got.Duration
			if got != want {
				t.Errorf("ReadTags = %+v, want %+v", got, want)
			}
			if got, want := got.Format, d.Ext(); got != want {
				t.Errorf("Format = %q, file extension %q", got, want)
			}
		})
	}
}

func TestDecodeDemo(t *testing.T) {
	for _, d := range assets.Demo() {
		t.Run(d.Name, func(t *testing.T) {
			t.Parallel()
			tags, err := ReadTags(bytes.NewReader(d.Data))
			if err != nil {
				t.Fatal(err)
			}
			s, format, err := Decode(bytes.NewReader(d.Data))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got, want := format.SampleRate, SampleRate; got != want {
				t.Errorf("format.SampleRate = %d, want %d", got, want)
			}
			if got, want := SampleRate.D(s.Len()), tags.Duration; absDur(got-want) > time.Millisecond {
				t.Errorf("stream length %v, tags say %v", got, want)
			}
			buf := make([][2]float64, 4096)
			var frames int
			var energy float64
			for {
				n, ok := s.Stream(buf)
				for _, f := range buf[:n] {
					energy += f[0]*f[0] + f[1]*f[1]
				}
				frames += n
				if !ok {
					break
				}
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			if d := frames - s.Len(); d < -2 || d > 2 {
				t.Errorf("streamed %d frames, Len %d", frames, s.Len())
			}
			if rms := math.Sqrt(energy / float64(2*max(frames, 1))); rms < 0.02 {
				t.Errorf("RMS %.4f: the track is nearly silent", rms)
			}
		})
	}
}

func TestDecodeSeek(t *testing.T) {
	for _, name := range []string{"morning-tram.flac", "low-tide-lullaby.wav"} {
		t.Run(name, func(t *testing.T) {
			d := demo(t, name)
			s, _, err := Decode(bytes.NewReader(d.Data))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			p := SampleRate.N(7 * time.Second)
			if err := s.Seek(p); err != nil {
				t.Fatal(err)
			}
			if got := s.Position(); got != p {
				t.Errorf("Position after Seek(%d) = %d", p, got)
			}
			buf := make([][2]float64, 1000)
			if n, ok := s.Stream(buf); n != len(buf) || !ok {
				t.Errorf("Stream after seek = %d, %v", n, ok)
			}
			if got, want := s.Position(), p+len(buf); got != want {
				t.Errorf("Position = %d, want %d", got, want)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	flacHead := demo(t, "paper-lanterns.flac").Data[:200]
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrUnknownFormat},
		{"text", []byte("hello, this is not music"), ErrUnknownFormat},
		{"mp3ish", []byte("ID3\x04\x00\x00\x00\x00\x00\x10" + strings.Repeat("x", 40)), ErrUnknownFormat},
		{"wav huge chunk", wavFile(t, wavOpts{junk: 1 << 30}), ErrMalformed},
		{"wav fmt too short", wavFile(t, wavOpts{fmtSize: 8}), ErrMalformed},
		{"wav 12 bit", wavFile(t, wavOpts{bits: 12}), ErrMalformed},
		{"wav no data", wavFile(t, wavOpts{noData: true}), ErrMalformed},
		{"wav 3 bytes per frame", wavFile(t, wavOpts{bits: 24, channels: 2, align: 3}), ErrMalformed},
		{"wav rate 2 GHz", wavFile(t, wavOpts{rate: 2e9, frames: 10}), ErrMalformed},
		{"flac truncated in metadata", flacHead, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, err := Decode(bytes.NewReader(tt.data))
			if err == nil {
				s.Close()
				t.Fatal("Decode succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Decode error %v, want %v", err, tt.want)
			}
		})
	}
}

// TestDecodeDamagedFLAC checks that a FLAC file cut short still plays up
// to the cut.
func TestDecodeDamagedFLAC(t *testing.T) {
	data := demo(t, "paper-lanterns.flac").Data
	s, _, err := Decode(bytes.NewReader(data[:len(data)/2]))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	buf := make([][2]float64, 4096)
	frames := 0
	for {
		n, ok := s.Stream(buf)
		frames += n
		if !ok {
			break
		}
	}
	if frames < s.Len()/3 {
		t.Errorf("streamed %d of %d frames from half a file", frames, s.Len())
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// TestDecodeShortReads: a file handed over in short reads, as one that
// is still downloading or comes from a pipe, decodes to the same samples
// as the whole file. beep's WAV decoder dropped the bytes of a partial
// frame in a short read, which shifted every sample after it.
func TestDecodeShortReads(t *testing.T) {
	for _, name := range []string{"low-tide-lullaby.wav", "paper-lanterns.flac", "attic-radio.wav"} {
		d := demo(t, name)
		whole, err := decodeSome(bytes.NewReader(d.Data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, sizes := range [][]byte{{1}, {3, 5}, {7, 200, 13}} {
			split, err := decodeSome(splitread.New(d.Data, sizes))
			if err != nil {
				t.Fatalf("%s in reads of %v: %v", name, sizes, err)
			}
			if len(split) != len(whole) {
				t.Fatalf("%s in reads of %v: %d frames, want %d", name, sizes, len(split), len(whole))
			}
			for i := range whole {
				if split[i] != whole[i] {
					t.Fatalf("%s in reads of %v: frame %d is %v, want %v", name, sizes, i, split[i], whole[i])
				}
			}
		}
	}
}
