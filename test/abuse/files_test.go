package abuse

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func audioFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "audio", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// upload posts data to /api/tracks and returns the status, the stored
// duration in ms (when stored) and the error's code and message.
func (h *hubProc) upload(t *testing.T, tok string, data []byte) (status int, durationMS float64, code, message string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+"/api/tracks", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var body struct {
		Duration float64 `json:"duration"`
		Track    *struct {
			Duration float64 `json:"duration"`
		} `json:"track"`
		Error *struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal(b, &body)
	durationMS = body.Duration
	if body.Track != nil {
		durationMS = body.Track.Duration
	}
	if body.Error != nil {
		code, message = body.Error.Code, body.Error.Message
	}
	return res.StatusCode, durationMS, code, message
}

// TestLyingFiles (defect 5): files whose headers lie about their length
// are stored with their real length (MP3, whose frames are counted) or
// refused with 415 and a sentence (FLAC, Ogg); a 32-bit FLAC is refused
// with its reason. An MP3 claiming 2^32-1 frames was stored 3.5 years
// long, a FLAC claiming 2^36-1 samples 18 days long, and the first
// 3,000 bytes of an MP3 as 3 s.
func TestLyingFiles(t *testing.T) {
	h := startHub(t, []string{"ann"})
	tok := h.tokens["ann"]

	xing := audioFixture(t, "tagged.mp3")
	i := bytes.Index(xing, []byte("Info"))
	if i < 0 {
		t.Fatal("tagged.mp3 has no Info frame")
	}
	binary.BigEndian.PutUint32(xing[i+8:], 0xffffffff)
	status, ms, code, msg := h.upload(t, tok, xing)
	if status/100 != 2 || ms < 900 || ms > 1200 {
		t.Errorf("MP3 claiming 2^32-1 frames: %d, %v ms (%s %s), want stored at about 1 s", status, ms, code, msg)
	}
	// long.mp3 is 3 s at a low rate; its first 1,000 bytes hold 12
	// whole frames, 313 ms, and its header claims the whole 3 s.
	status, ms, code, msg = h.upload(t, tok, audioFixture(t, "long.mp3")[:1000])
	if status/100 != 2 || ms < 250 || ms > 400 {
		t.Errorf("the first 1,000 bytes of a 3 s MP3: %d, %v ms (%s %s), want stored at their real 313 ms", status, ms, code, msg)
	}

	flac := audioFixture(t, "tagged.flac")
	x := binary.BigEndian.Uint64(flac[8+10:])
	binary.BigEndian.PutUint64(flac[8+10:], x|(1<<36-1))
	for _, tc := range []struct {
		name, want string
		data       []byte
	}{
		{"FLAC claiming 2^36-1 samples", "long", flac},
		{"32-bit FLAC", "32-bit", audioFixture(t, "int32.flac")},
	} {
		status, _, code, msg := h.upload(t, tok, tc.data)
		if status != http.StatusUnsupportedMediaType || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %d %s %q, want 415 saying %q", tc.name, status, code, msg, tc.want)
		}
		if strings.Contains(msg, "/") && strings.Contains(msg, h.data) {
			t.Errorf("%s: the message shows a server path: %q", tc.name, msg)
		}
	}
	h.stillServes(tok)
}
