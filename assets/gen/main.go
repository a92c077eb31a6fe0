// Command gen synthesises Tandem's demo library: six short pieces, three
// as FLAC (44.1 kHz stereo) and three as WAV (22.05 kHz mono), each tagged
// with a title, an artist and the album "Tandem Demo Tapes". The output is
// deterministic: running it twice writes identical bytes.
//
// Run it from the module root:
//
//	go run ./assets/gen            # writes assets/demo
//	go run ./assets/gen -out DIR
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("out", filepath.Join("assets", "demo"), "directory to write the demo files into")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := generate(*out, songs(), log); err != nil {
		log.Error("gen failed", "err", err)
		os.Exit(1)
	}
}

// generate writes the files of list into dir.
func generate(dir string, list []song, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	for _, s := range list {
		name, data, err := build(s)
		if err != nil {
			return fmt.Errorf("gen: %s: %w", s.file, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("gen: %w", err)
		}
		log.Info("wrote", "file", name, "bytes", len(data), "seconds", s.seconds())
	}
	return nil
}

// build renders one song and encodes it, returning its file name and bytes.
func build(s song) (string, []byte, error) {
	m := newMix(s.rate, s.seconds(), s.seed)
	beat := 60 / s.bpm
	at := func(bar int, b float64) float64 { return (float64(bar*s.meter) + b) * beat }
	s.score(m, at, beat)
	l, r := m.render(s.delay*beat, s.feedback, s.wet)
	if s.cutoff > 0 {
		smooth(s.rate, s.cutoff, l, r)
	}
	t := tags{title: s.title, artist: s.artist, album: album}
	switch s.format {
	case "wav":
		return s.file + ".wav", encodeWAV(s.rate, finish(mono(l, r)), t), nil
	case "flac":
		data, err := encodeFLAC(s.rate, finish(l, r), t)
		return s.file + ".flac", data, err
	}
	return "", nil, fmt.Errorf("unknown format %q", s.format)
}
