package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/mewkiz/flac"
	"github.com/mewkiz/flac/meta"

	"tandem/assets"
)

// TestGenerateMatchesEmbedded regenerates the demo library into a
// temporary directory and checks that it is byte for byte the one embedded
// in package assets: the generator is deterministic and the committed files
// are up to date. Under the race detector, where synthesis is slow, it
// regenerates one WAV and one FLAC file.
func TestGenerateMatchesEmbedded(t *testing.T) {
	if testing.Short() {
		t.Skip("regenerating the demo library takes seconds; skipped with -short")
	}
	if runtime.GOARCH != "amd64" {
		// math.Exp is assembly on some architectures, and the compiler may
		// fuse multiply-adds on others; the last bits of a sample can differ.
		t.Skipf("the demo files are generated on amd64; float results on %s may differ in the last bit", runtime.GOARCH)
	}
	list := songs()
	if raceEnabled {
		list = slices.DeleteFunc(list, func(s song) bool {
			return s.file != "copper-kettle-waltz" && s.file != "paper-lanterns"
		})
	}
	dir := t.TempDir()
	if err := generate(dir, list, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	embedded := map[string]string{}
	for _, d := range assets.Demo() {
		embedded[d.Name] = d.ID()
	}
	if got, want := len(embedded), len(songs()); got != want {
		t.Errorf("embedded %d files, the generator makes %d", got, want)
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(files), len(list); got != want {
		t.Fatalf("generated %d files, want %d", got, want)
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := sum(data), embedded[f.Name()]; got != want {
			t.Errorf("%s: generated sha256 %s, embedded %q (run `go generate ./assets`)", f.Name(), got, want)
		}
	}
}

// TestFLACRoundTrip checks that the FLAC encoding is lossless with every
// channel layout and predictor the analysis may choose.
func TestFLACRoundTrip(t *testing.T) {
	const n = 3 * blockSize / 2
	l := make([]int32, n)
	r := make([]int32, n)
	m := newMix(44100, 1, 7)
	for i := range l {
		switch {
		case i < 300: // silence: constant subframes
		case i < blockSize: // correlated tones: LPC, mid/side
			l[i] = int32(8000*math.Sin(2*math.Pi*440*float64(i)/44100)) + int32(200*m.rnd())
			r[i] = l[i]/2 + int32(100*m.rnd())
		default: // loud noise: verbatim or high-order fixed
			l[i] = int32(32767 * m.rnd())
			r[i] = int32(-32768 * m.rnd())
		}
	}
	data, err := encodeFLAC(44100, [][]int32{l, r}, tags{title: "t", artist: "a", album: "b"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := flac.Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Info.NSamples, uint64(n); got != want {
		t.Errorf("NSamples = %d, want %d", got, want)
	}
	var comments [][2]string
	for _, b := range s.Blocks {
		if vc, ok := b.Body.(*meta.VorbisComment); ok {
			comments = vc.Tags
		}
	}
	if got, want := comments, [][2]string{{"TITLE", "t"}, {"ARTIST", "a"}, {"ALBUM", "b"}}; !slices.Equal(got, want) {
		t.Errorf("comments = %q, want %q", got, want)
	}
	var gotL, gotR []int32
	for {
		f, err := s.ParseNext()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		gotL = append(gotL, f.Subframes[0].Samples...)
		gotR = append(gotR, f.Subframes[1].Samples...)
	}
	if !slices.Equal(gotL, l) || !slices.Equal(gotR, r) {
		t.Fatal("decoded samples differ from the encoded ones")
	}
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
