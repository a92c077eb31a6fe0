package hub

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"tandem"
)

// The lying files of an outside probe of the upload path, made from the
// audio package's fixtures (see audio/lies_test.go).

// lyingXingMP3 is tagged.mp3 (1 s) whose Info frame claims 2^32-1 frames.
func lyingXingMP3(t testing.TB) []byte {
	b := bytes.Clone(fixtureFile(t, "tagged.mp3"))
	i := bytes.Index(b, []byte("Info"))
	if i < 0 {
		t.Fatal("tagged.mp3 has no Info frame")
	}
	binary.BigEndian.PutUint32(b[i+8:], 0xffffffff)
	return b
}

// lyingFLAC is tagged.flac (1 s) whose STREAMINFO claims 2^36-1 samples.
func lyingFLAC(t testing.TB) []byte {
	b := bytes.Clone(fixtureFile(t, "tagged.flac"))
	x := binary.BigEndian.Uint64(b[8+10:])
	binary.BigEndian.PutUint64(b[8+10:], x|(1<<36-1))
	return b
}

// lyingOgg is tagged.ogg (1 s) whose last page claims granule 2^40, with
// a correct CRC.
func lyingOgg(t testing.TB) []byte {
	b := bytes.Clone(fixtureFile(t, "tagged.ogg"))
	i := bytes.LastIndex(b, []byte("OggS"))
	binary.LittleEndian.PutUint64(b[i+6:], 1<<40)
	binary.LittleEndian.PutUint32(b[i+22:], 0)
	page := b[i:]
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
	binary.LittleEndian.PutUint32(b[i+22:], crc)
	return b
}

// TestUploadLyingLengths: the hub stores an MP3's real length whatever its
// Xing frame says, and refuses with 415 and a plain reason a FLAC or Ogg
// file whose headers claim more audio than it holds, and a 32-bit FLAC
// file, keeping nothing.
func TestUploadLyingLengths(t *testing.T) {
	m := newMediaHub(t, 0)
	stored := []struct {
		name     string
		data     []byte
		min, max float64 // ms
	}{
		{"xing 2^32-1 frames", lyingXingMP3(t), 1000, 1100},
		// The first 1,000 bytes of long.mp3 (3 s): 12 whole frames.
		{"first 1000 bytes of an mp3", fixtureFile(t, "long.mp3")[:1000], 300, 320},
	}
	for _, tt := range stored {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := m.do(t, "POST", "/api/tracks", bytes.NewReader(tt.data))
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("upload: %d %s", resp.StatusCode, body)
			}
			tr := decodeTrack(t, body)
			if tr.Duration < tt.min || tr.Duration > tt.max {
				t.Errorf("duration %v ms, want %v to %v", tr.Duration, tt.min, tt.max)
			}
			got, err := m.db.Track(tr.ID)
			if err != nil {
				t.Fatal(err)
			}
			if ms := got.Duration.Milliseconds(); float64(ms) < tt.min || float64(ms) > tt.max {
				t.Errorf("stored duration %v", got.Duration)
			}
		})
	}
	refused := []struct {
		name string
		data []byte
		says string
	}{
		{"flac streaminfo 2^36-1 samples", lyingFLAC(t), "this FLAC file says it is 36 days long but holds 1.0 seconds of audio"},
		{"ogg last granule 2^40", lyingOgg(t), "this Ogg Vorbis file says it is 1.6 years long"},
		{"32-bit flac", fixtureFile(t, "int32.flac"), "32-bit samples, which Tandem cannot play; convert it to 24-bit"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := m.do(t, "POST", "/api/tracks", bytes.NewReader(tt.data))
			wantError(t, resp, body, http.StatusUnsupportedMediaType, tandem.EINVALID)
			var e struct{ Error tandem.Error }
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(e.Error.Message, tt.says) {
				t.Errorf("message %q, want it to say %q", e.Error.Message, tt.says)
			}
			if _, err := m.db.Track(sha(tt.data)); tandem.ErrorCode(err) != tandem.ENOTFOUND {
				t.Errorf("a refused file's track: %v, want ENOTFOUND", err)
			}
		})
	}
}
