package audio

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// runTool runs a Debian tool; make deps-test installs them all (lame, flac,
// vorbis-tools, sox).
func runTool(t *testing.T, name string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is not installed (make deps-test installs lame, flac, vorbis-tools and sox): %v", name, err)
	}
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// TestRealEncoders makes a 440 Hz tone with sox, encodes it with the real
// encoders (lame, flac, oggenc), decodes each file with Decode, and checks
// the format, the number of frames and the pitch.
func TestRealEncoders(t *testing.T) {
	dir := t.TempDir()
	const seconds = 3
	tone := filepath.Join(dir, "tone.wav")
	// 48 kHz source: the decoders must resample to the output's 44.1 kHz.
	runTool(t, "sox", "-n", "-r", "48000", "-c", "2", "-b", "16", tone, "synth", "3", "sine", "440", "vol", "0.5")
	runTool(t, "lame", "--quiet", "-b", "192", tone, filepath.Join(dir, "tone.mp3"))
	runTool(t, "flac", "--silent", "-o", filepath.Join(dir, "tone.flac"), tone)
	runTool(t, "oggenc", "--quiet", "-o", filepath.Join(dir, "tone.ogg"), tone)
	want := seconds * int(SampleRate)
	for _, c := range []struct {
		file, format string
		slack        int // frames the format may add or drop
	}{
		{"tone.wav", FormatWAV, 2},
		{"tone.flac", FormatFLAC, 2},
		// An MP3 carries the encoder's delay and padding (about 1,100 to
		// 2,300 frames), which decoders without LAME's gapless header keep.
		{"tone.mp3", FormatMP3, 2400},
		{"tone.ogg", FormatOgg, 2},
	} {
		t.Run(c.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			s, format, err := Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := formatOf(t, data); got != c.format {
				t.Errorf("format %q, want %q", got, c.format)
			}
			buf := make([][2]float64, 4096)
			var samples []float64
			for {
				n, ok := s.Stream(buf)
				for _, f := range buf[:n] {
					samples = append(samples, f[0])
				}
				if !ok || n == 0 {
					break
				}
			}
			if d := len(samples) - want; d < -c.slack || d > c.slack {
				t.Errorf("%d frames, want %d ± %d (%v)", len(samples), want, c.slack, format.SampleRate)
			}
			if s.Len() != len(samples) && c.format != FormatMP3 {
				t.Errorf("Len() = %d, but %d frames decoded", s.Len(), len(samples))
			}
			// Pitch: upward zero crossings over the middle second.
			mid := samples[int(SampleRate) : 2*int(SampleRate)]
			crossings := 0
			for i := 1; i < len(mid); i++ {
				if mid[i-1] < 0 && mid[i] >= 0 {
					crossings++
				}
			}
			if crossings < 439 || crossings > 441 {
				t.Errorf("%d cycles in a second, want 440", crossings)
			}
			peak := 0.0
			for _, v := range mid {
				peak = max(peak, math.Abs(v))
			}
			if peak < 0.4 || peak > 0.6 {
				t.Errorf("peak %.3f, want about 0.5", peak)
			}
		})
	}
}

func formatOf(t *testing.T, data []byte) string {
	t.Helper()
	tags, err := ReadTags(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return tags.Format
}

// TestReplayGainTags: metaflac computes and writes a FLAC's ReplayGain,
// oggenc writes the comments it is given, and an ID3v2.3 TXXX frame
// carries it for MP3; ReadTags reads all three.
func TestReplayGainTags(t *testing.T) {
	dir := t.TempDir()
	tone := filepath.Join(dir, "tone.wav")
	runTool(t, "sox", "-n", "-r", "44100", "-c", "2", "-b", "16", tone, "synth", "2", "sine", "440", "vol", "0.9")
	flac := filepath.Join(dir, "tone.flac")
	runTool(t, "flac", "--silent", "-o", flac, tone)
	runTool(t, "metaflac", "--add-replay-gain", flac)
	ogg := filepath.Join(dir, "tone.ogg")
	runTool(t, "oggenc", "--quiet", "-c", "REPLAYGAIN_TRACK_GAIN=-4.25 dB", "-c", "REPLAYGAIN_TRACK_PEAK=0.9001", "-o", ogg, tone)
	mp3 := filepath.Join(dir, "tone.mp3")
	runTool(t, "lame", "--quiet", tone, mp3)

	check := func(name string, data []byte, wantGain, wantPeak, tol float64) {
		t.Helper()
		tags, err := ReadTags(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !tags.HasGain || math.Abs(tags.Gain-wantGain) > tol || math.Abs(tags.Peak-wantPeak) > tol {
			t.Errorf("%s: gain %v (%v), peak %v; want %v and %v", name, tags.Gain, tags.HasGain, tags.Peak, wantGain, wantPeak)
		}
	}
	fd, _ := os.ReadFile(flac)
	// A 0.9 full-scale sine is loud: metaflac's gain is negative, and
	// its peak about 0.9.
	tags, err := ReadTags(bytes.NewReader(fd))
	if err != nil || !tags.HasGain || tags.Gain >= 0 || tags.Gain < -20 || math.Abs(tags.Peak-0.9) > 0.02 {
		t.Errorf("flac with metaflac's ReplayGain: %+v, %v", tags, err)
	}
	od, _ := os.ReadFile(ogg)
	check("ogg", od, -4.25, 0.9001, 1e-9)
	md, _ := os.ReadFile(mp3)
	check("mp3", append(id3WithTXXX("REPLAYGAIN_TRACK_GAIN", "+2.10 dB", "REPLAYGAIN_TRACK_PEAK", "0.5"), md...), 2.10, 0.5, 1e-9)
}

// id3WithTXXX is an ID3v2.3 tag holding TXXX frames (description, value
// pairs), Latin-1.
func id3WithTXXX(kv ...string) []byte {
	var frames []byte
	for i := 0; i+1 < len(kv); i += 2 {
		body := append([]byte{0}, kv[i]...)
		body = append(body, 0)
		body = append(body, kv[i+1]...)
		n := len(body)
		frames = append(frames, 'T', 'X', 'X', 'X', byte(n>>24), byte(n>>16), byte(n>>8), byte(n), 0, 0)
		frames = append(frames, body...)
	}
	n := len(frames)
	head := []byte{'I', 'D', '3', 3, 0, 0, byte(n >> 21 & 0x7f), byte(n >> 14 & 0x7f), byte(n >> 7 & 0x7f), byte(n & 0x7f)}
	return append(head, frames...)
}
