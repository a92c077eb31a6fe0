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
