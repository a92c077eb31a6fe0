package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

// LyingXingMP3 is tagged.mp3 (1 s) with its Info frame claiming 2^32-1
// frames: 3.5 years.
func LyingXingMP3(t testing.TB) []byte {
	b := bytes.Clone(fixture(t, "tagged.mp3"))
	i := bytes.Index(b, []byte("Info"))
	if i < 0 || binary.BigEndian.Uint32(b[i+4:])&1 == 0 {
		t.Fatal("tagged.mp3 has no Info frame with a frame count")
	}
	binary.BigEndian.PutUint32(b[i+8:], 0xffffffff)
	return b
}

// CutMP3 is the first 1,000 bytes of long.mp3, whose Xing frame says
// 3 s.
func CutMP3(t testing.TB) []byte {
	b := fixture(t, "long.mp3")
	if !bytes.Contains(b[:200], []byte("Xing")) {
		t.Fatal("long.mp3 has no Xing frame")
	}
	return b[:1000]
}

// LyingFLAC is tagged.flac (1 s) with STREAMINFO claiming 2^36-1 samples:
// 36 days at 22050 Hz.
func LyingFLAC(t testing.TB) []byte {
	b := bytes.Clone(fixture(t, "tagged.flac"))
	si := b[8:] // after "fLaC" and the block header
	x := binary.BigEndian.Uint64(si[10:18])
	binary.BigEndian.PutUint64(si[10:18], x|(1<<36-1))
	return b
}

// LyingOgg is tagged.ogg (1 s) with its last page's granule position
// claiming 2^40 samples (1.6 years at 22050 Hz), its CRC recomputed.
func LyingOgg(t testing.TB) []byte {
	b := bytes.Clone(fixture(t, "tagged.ogg"))
	i := bytes.LastIndex(b, []byte("OggS"))
	if i < 0 || b[i+5]&4 == 0 {
		t.Fatal("tagged.ogg has no last page")
	}
	binary.LittleEndian.PutUint64(b[i+6:], 1<<40)
	binary.LittleEndian.PutUint32(b[i+22:], 0)
	binary.LittleEndian.PutUint32(b[i+22:], oggCRC(b[i:]))
	return b
}

// oggCRC is the CRC-32 of an Ogg page (polynomial 0x04c11db7, not
// reflected, no final xor) computed with its CRC field zero.
func oggCRC(page []byte) uint32 {
	n := 27 + int(page[26])
	for _, s := range page[27:n] {
		n += int(s)
	}
	var crc uint32
	for _, c := range page[:n] {
		crc ^= uint32(c) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04c11db7
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// TestProbeCorrectsLyingMP3: an MP3's length is its frames, whatever its
// Xing frame says; Probe and ReadTags both count them.
func TestProbeCorrectsLyingMP3(t *testing.T) {
	tests := []struct {
		name     string
		data     []byte
		min, max time.Duration
	}{
		{"xing says 2^32-1 frames", LyingXingMP3(t), time.Second, 1100 * time.Millisecond},
		// 1,000 of long.mp3's 3,927 bytes: its Xing frame and 12 whole
		// frames of 576 samples at 22050 Hz (lame --decode makes 0.26 s
		// of them, without the encoder's delay).
		{"first 1000 bytes", CutMP3(t), 300 * time.Millisecond, 320 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := Probe(bytes.NewReader(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if d := info.Duration; d < tt.min || d > tt.max {
				t.Errorf("Probe Duration = %v, want %v to %v", d, tt.min, tt.max)
			}
			tags, err := ReadTags(bytes.NewReader(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if d := tags.Duration; d < tt.min || d > tt.max {
				t.Errorf("ReadTags Duration = %v, want %v to %v", d, tt.min, tt.max)
			}
		})
	}
}

// TestProbeRefusesLies: a FLAC or Ogg file whose header claims more audio
// than it holds is refused with a sentence saying so (the player's
// decoders believe those headers, so the hub cannot just correct them).
func TestProbeRefusesLies(t *testing.T) {
	flac := fixture(t, "tagged.flac")
	tests := []struct {
		name string
		data []byte
		want error
		says string
	}{
		{"flac streaminfo 2^36-1 samples", LyingFLAC(t), ErrMalformed, "says it is 36 days long but holds 1.0 seconds of audio"},
		{"flac cut in a frame", flac[:len(flac)-100], ErrMalformed, "cut short"},
		{"ogg last granule 2^40", LyingOgg(t), ErrMalformed, "says it is 1.6 years long"},
		{"32-bit flac", fixture(t, "int32.flac"), ErrUnknownFormat, "32-bit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Probe(bytes.NewReader(tt.data))
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("Probe = %v, want %v saying %q", err, tt.want, tt.says)
			}
		})
	}
}

// TestReadTagsIgnoresLyingLengths: ReadTags, which does not refuse, does
// not repeat an impossible length either.
func TestReadTagsIgnoresLyingLengths(t *testing.T) {
	for name, data := range map[string][]byte{"flac": LyingFLAC(t), "ogg": LyingOgg(t)} {
		tags, err := ReadTags(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if tags.Duration > 2*time.Second {
			t.Errorf("%s: Duration = %v", name, tags.Duration)
		}
	}
}

// TestDecodeRefuses32BitFLAC: the player says why it cannot play a 32-bit
// FLAC file rather than quoting the decoder.
func TestDecodeRefuses32BitFLAC(t *testing.T) {
	_, _, err := Decode(bytes.NewReader(fixture(t, "int32.flac")))
	if !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "convert it to 24-bit") {
		t.Errorf("Decode = %v, want ErrUnknownFormat saying to convert it to 24-bit", err)
	}
}

func TestSayDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                            "0.0 seconds",
		1500 * time.Millisecond:      "1.5 seconds",
		59 * time.Second:             "59.0 seconds",
		3 * time.Minute:              "3 minutes",
		5 * time.Hour:                "5 hours",
		18 * 24 * time.Hour:          "18 days",
		3*365*24*time.Hour + 1:       "3.0 years",
		time.Duration(1<<63 - 1):     "292.3 years",
		90 * time.Minute:             "90 minutes",
		36*time.Hour + 7*time.Minute: "36 hours",
	} {
		if got := sayDuration(d); got != want {
			t.Errorf("sayDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
