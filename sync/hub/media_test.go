package hub

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"tandem"
	"tandem/audio"
	"tandem/store"
)

// The wiring of cmd/hub/media.go, for tests: the store's blobs and uploads
// and audio.Probe behind the hub's interfaces.

type testMedia struct {
	*store.DB
	blobs   *store.Blobs
	uploads *store.Uploads
}

func (m testMedia) CreateBlob() (Spool, error) {
	s, err := m.blobs.Create()
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (m testMedia) OpenBlob(id string) (io.ReadSeekCloser, error) {
	f, err := m.blobs.Open(id)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (m testMedia) PutArt(id string, data []byte) error { return m.blobs.PutArt(id, data) }

func (m testMedia) OpenArt(id string) (io.ReadSeekCloser, error) {
	f, err := m.blobs.OpenArt(id)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (m testMedia) CreateUpload(user, name string, length int64) (Upload, error) {
	up, err := m.uploads.Create(user, name, length)
	return Upload(up), err
}

func (m testMedia) Upload(id string) (Upload, error) {
	up, err := m.uploads.Get(id)
	return Upload(up), err
}

func (m testMedia) AppendUpload(id string, offset int64, r io.Reader, max int64) (Upload, error) {
	up, err := m.uploads.Append(id, offset, r, max)
	return Upload(up), err
}

func (m testMedia) FinishUpload(id string) (Spool, error) {
	s, err := m.uploads.Finish(id)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (m testMedia) DeleteUpload(id string) error { return m.uploads.Delete(id) }

func testProbe(r io.ReadSeeker) (MediaInfo, error) {
	info, err := audio.Probe(r)
	var refusal *audio.Refusal
	if errors.As(err, &refusal) { // as internal/hubmedia does
		return MediaInfo{}, &Unsupported{Reason: refusal.Error()}
	}
	if errors.Is(err, audio.ErrUnknownFormat) || errors.Is(err, audio.ErrMalformed) {
		return MediaInfo{}, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	if err != nil {
		return MediaInfo{}, err
	}
	return MediaInfo{Format: info.Format, Title: info.Title, Artist: info.Artist, Album: info.Album,
		Duration: info.Duration, Art: info.Art, ArtType: info.ArtType}, nil
}

type mediaHub struct {
	url   string
	db    *store.DB
	blobs string // the blob directory
	token string
}

func newMediaHub(t testing.TB, max int64, opts ...store.BlobOption) *mediaHub {
	t.Helper()
	return newMediaHubIn(t, t.TempDir(), max, opts...)
}

// newMediaHubIn is newMediaHub with its data in dir.
func newMediaHubIn(t testing.TB, dir string, max int64, opts ...store.BlobOption) *mediaHub {
	t.Helper()
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := store.OpenBlobs(filepath.Join(dir, store.BlobDir), nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	uploads, err := store.NewUploads(db, blobs)
	if err != nil {
		t.Fatal(err)
	}
	h := New(Config{Store: db, Media: testMedia{DB: db, blobs: blobs, uploads: uploads}, Probe: testProbe, MaxUpload: max})
	ts := httptest.NewServer(h.Handler())
	t.Cleanup(func() {
		h.Close()
		ts.Close()
	})
	tok, err := db.CreateToken("ann")
	if err != nil {
		t.Fatal(err)
	}
	return &mediaHub{url: ts.URL, db: db, blobs: blobs.Dir(), token: tok}
}

func fixtureFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "audio", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// do sends a request with the hub's token (unless the headers say
// otherwise) and returns the response with its body read.
func (m *mediaHub) do(t testing.TB, method, path string, body io.Reader, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, m.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+m.token)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func decodeTrack(t testing.TB, b []byte) TrackJSON {
	t.Helper()
	var tr TrackJSON
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatalf("track %s: %v", b, err)
	}
	return tr
}

// wantError checks a JSON error answer.
func wantError(t testing.TB, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, body)
	}
	var e struct {
		Error *tandem.Error `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	if e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("error %+v, want code %s and a message", e.Error, code)
	}
}

func TestUploadAndDownload(t *testing.T) {
	m := newMediaHub(t, 0)
	cover := fixtureFile(t, "cover.png")
	tests := []struct {
		file, title, format, ctype string
		art                        bool
	}{
		{"tagged.mp3", "MP3 Title", "mp3", "audio/mpeg", true},
		{"tagged.ogg", "Ogg Title", "ogg", "audio/ogg", true},
		{"tagged.flac", "FLAC Title", "flac", "audio/flac", true},
		{"tagged.wav", "Wave Title", "wav", "audio/wav", false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data := fixtureFile(t, tt.file)
			resp, body := m.do(t, "POST", "/api/tracks", bytes.NewReader(data))
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("upload: %d %s", resp.StatusCode, body)
			}
			tr := decodeTrack(t, body)
			if tr.ID != sha(data) || tr.Title != tt.title || tr.Format != tt.format || tr.Size != int64(len(data)) ||
				tr.Uploader != "ann" || tr.UploadedAt.IsZero() || tr.Duration < 1000 || tr.Duration > 1100 {
				t.Errorf("track %+v", tr)
			}
			if got := resp.Header.Get("Location"); got != "/api/tracks/"+tr.ID {
				t.Errorf("Location %q", got)
			}
			stored, err := m.db.Track(tr.ID)
			if err != nil || stored.Title != tt.title {
				t.Errorf("stored track %+v, %v", stored, err)
			}

			// Again: the hub has it.
			resp, body = m.do(t, "POST", "/api/tracks", bytes.NewReader(data))
			if resp.StatusCode != http.StatusOK || decodeTrack(t, body) != tr {
				t.Errorf("second upload: %d %s, want 200 and %+v", resp.StatusCode, body, tr)
			}

			resp, body = m.do(t, "GET", "/api/tracks/"+tr.ID, nil)
			if resp.StatusCode != http.StatusOK || decodeTrack(t, body) != tr {
				t.Errorf("metadata: %d %s", resp.StatusCode, body)
			}

			resp, body = m.do(t, "GET", "/api/tracks/"+tr.ID+"/audio", nil)
			etag := `"` + tr.ID + `"`
			if resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) ||
				resp.Header.Get("Content-Type") != tt.ctype || resp.Header.Get("ETag") != etag {
				t.Errorf("audio: %d, %d bytes, %v", resp.StatusCode, len(body), resp.Header)
			}
			resp, body = m.do(t, "GET", "/api/tracks/"+tr.ID+"/audio", nil, "Range", "bytes=100-199")
			if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[100:200]) ||
				resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 100-199/%d", len(data)) {
				t.Errorf("range: %d %v", resp.StatusCode, resp.Header)
			}
			resp, body = m.do(t, "GET", "/api/tracks/"+tr.ID+"/audio", nil, "If-None-Match", etag)
			if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
				t.Errorf("If-None-Match: %d, %d bytes", resp.StatusCode, len(body))
			}

			resp, body = m.do(t, "GET", "/api/tracks/"+tr.ID+"/art", nil)
			if tt.art {
				if resp.StatusCode != http.StatusOK || !bytes.Equal(body, cover) || resp.Header.Get("Content-Type") != "image/png" || tr.Art != "image/png" {
					t.Errorf("art: %d %v, %d bytes; track art %q", resp.StatusCode, resp.Header, len(body), tr.Art)
				}
			} else {
				wantError(t, resp, body, http.StatusNotFound, tandem.ENOTFOUND)
			}
		})
	}
}

func TestUploadTitleFallback(t *testing.T) {
	m := newMediaHub(t, 0)
	data := fixtureFile(t, "sine.wav")
	resp, body := m.do(t, "POST", "/api/tracks", bytes.NewReader(data),
		"Content-Disposition", `attachment; filename*=UTF-8''..%2F..%2FCaf%C3%A9%20Song.wav`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	if tr := decodeTrack(t, body); tr.Title != "Café Song" || tr.Artist != "" {
		t.Errorf("title %q artist %q, want the file name", tr.Title, tr.Artist)
	}
	// The same audio with one more byte of padding is another file.
	other := append(bytes.Clone(data), 0)
	binary.LittleEndian.PutUint32(other[4:], uint32(len(other)-8))
	resp, body = m.do(t, "POST", "/api/tracks", bytes.NewReader(other))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	if tr := decodeTrack(t, body); tr.Title != "Unknown" {
		t.Errorf("title %q, want Unknown", tr.Title)
	}
}

// blobFiles lists the files under the blob directory.
func blobFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, strings.TrimPrefix(path, dir))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestUploadRefused(t *testing.T) {
	m := newMediaHub(t, 40000)
	small := fixtureFile(t, "tagged.ogg")
	big := fixtureFile(t, "sine.wav") // 44 KB, over the limit
	tests := []struct {
		name    string
		body    io.Reader
		headers []string
		status  int
		code    string
	}{
		{"no token", bytes.NewReader(small), []string{"Authorization", ""}, 401, tandem.EUNAUTHORIZED},
		{"basic auth", bytes.NewReader(small), []string{"Authorization", "Basic YW5uOng="}, 401, tandem.EUNAUTHORIZED},
		{"unknown token", bytes.NewReader(small), []string{"Authorization", "Bearer nope"}, 401, tandem.EUNAUTHORIZED},
		{"text", strings.NewReader("this is not music, whatever the name says"), []string{"Content-Disposition", `attachment; filename="song.mp3"`}, 415, tandem.EINVALID},
		{"image", bytes.NewReader(fixtureFile(t, "cover.png")), nil, 415, tandem.EINVALID},
		{"broken ogg", bytes.NewReader(small[:len(small)/3]), nil, 415, tandem.EINVALID},
		{"empty", strings.NewReader(""), nil, 400, tandem.EINVALID},
		{"too large", bytes.NewReader(big), nil, 413, tandem.ELIMIT},
		{"too large, chunked", io.MultiReader(bytes.NewReader(big)), nil, 413, tandem.ELIMIT},
		{"bad digest", bytes.NewReader(small), []string{"Content-Digest", "sha-256=:abc:"}, 400, tandem.EINVALID},
		{"wrong digest", bytes.NewReader(small), []string{"Content-Digest", "sha-256=:" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + ":"}, 400, tandem.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := m.do(t, "POST", "/api/tracks", tt.body, tt.headers...)
			wantError(t, resp, body, tt.status, tt.code)
			if tt.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if files := blobFiles(t, m.blobs); len(files) != 0 {
				t.Errorf("files left behind: %v", files)
			}
		})
	}
	tracks, err := m.db.Tracks()
	if err != nil || len(tracks) != 0 {
		t.Errorf("tracks %v, %v; want none", tracks, err)
	}
}

func TestUploadKnownDigest(t *testing.T) {
	m := newMediaHub(t, 0)
	data := fixtureFile(t, "tagged.flac")
	resp, body := m.do(t, "POST", "/api/tracks", bytes.NewReader(data))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	sum := sha256.Sum256(data)
	digest := "sha-512=:AAAA:, sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
	// The body is not even read: it would not decode.
	resp, body = m.do(t, "POST", "/api/tracks", strings.NewReader("not music"), "Content-Digest", digest)
	if resp.StatusCode != http.StatusOK || decodeTrack(t, body).ID != sha(data) {
		t.Errorf("known digest: %d %s", resp.StatusCode, body)
	}
	resp, body = m.do(t, "POST", "/api/uploads", nil, "Content-Digest", digest)
	if resp.StatusCode != http.StatusOK || decodeTrack(t, body).ID != sha(data) {
		t.Errorf("known digest, resumable: %d %s", resp.StatusCode, body)
	}
}

func TestTrackIDs(t *testing.T) {
	m := newMediaHub(t, 0)
	unknown := strings.Repeat("ab", 32)
	tests := []struct {
		path   string
		status int
		code   string
	}{
		{"/api/tracks/..%2f..%2ftandem.db/audio", 400, tandem.EINVALID},
		{"/api/tracks/" + strings.Repeat("AB", 32) + "/audio", 400, tandem.EINVALID},
		{"/api/tracks/" + unknown[:63] + "/art", 400, tandem.EINVALID},
		{"/api/tracks/" + unknown[:62] + "%00%00", 400, tandem.EINVALID},
		{"/api/tracks/" + unknown, 404, tandem.ENOTFOUND},
		{"/api/tracks/" + unknown + "/audio", 404, tandem.ENOTFOUND},
		{"/api/tracks/" + unknown + "/art", 404, tandem.ENOTFOUND},
		{"/api/uploads/" + unknown[:32], 404, tandem.ENOTFOUND},
		{"/api/uploads/..%2f..%2ftandem.db", 400, tandem.EINVALID},
	}
	for _, tt := range tests {
		resp, body := m.do(t, "GET", tt.path, nil)
		wantError(t, resp, body, tt.status, tt.code)
	}
	// Downloads need the token too.
	resp, body := m.do(t, "GET", "/api/tracks/"+unknown+"/audio", nil, "Authorization", "")
	wantError(t, resp, body, 401, tandem.EUNAUTHORIZED)
}

func TestResumableUpload(t *testing.T) {
	m := newMediaHub(t, 0)
	data := fixtureFile(t, "tagged.mp3")
	n := len(data)
	resp, body := m.do(t, "POST", "/api/uploads", nil, "Upload-Length", strconv.Itoa(n),
		"Content-Disposition", `attachment; filename="x.mp3"`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	var up UploadJSON
	if err := json.Unmarshal(body, &up); err != nil || up.Offset != 0 || up.Length == nil || *up.Length != int64(n) || len(up.ID) != 32 {
		t.Fatalf("session %s: %v", body, err)
	}
	loc := resp.Header.Get("Location")
	if loc != "/api/uploads/"+up.ID {
		t.Fatalf("Location %q", loc)
	}
	resp, body = m.do(t, "PATCH", loc, bytes.NewReader(data[:100]), "Upload-Offset", "5")
	wantError(t, resp, body, http.StatusConflict, tandem.ECONFLICT)
	if resp.Header.Get("Upload-Offset") != "0" {
		t.Errorf("409 with Upload-Offset %q", resp.Header.Get("Upload-Offset"))
	}
	resp, body = m.do(t, "PATCH", loc, bytes.NewReader(data[:n/2]))
	wantError(t, resp, body, http.StatusBadRequest, tandem.EINVALID) // no Upload-Offset
	resp, body = m.do(t, "PATCH", loc, bytes.NewReader(data[:n/2]), "Upload-Offset", "0")
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-Offset") != strconv.Itoa(n/2) {
		t.Fatalf("patch: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	resp, _ = m.do(t, "HEAD", loc, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Upload-Offset") != strconv.Itoa(n/2) ||
		resp.Header.Get("Upload-Length") != strconv.Itoa(n) {
		t.Fatalf("head: %d %v", resp.StatusCode, resp.Header)
	}
	// Someone else may not touch it.
	other, err := m.db.CreateToken("bob")
	if err != nil {
		t.Fatal(err)
	}
	resp, body = m.do(t, "HEAD", loc, nil, "Authorization", "Bearer "+other)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("other user's HEAD: %d", resp.StatusCode)
	}
	resp, body = m.do(t, "PATCH", loc, bytes.NewReader(data[n/2:]), "Upload-Offset", strconv.Itoa(n/2), "Authorization", "Bearer "+other)
	wantError(t, resp, body, http.StatusForbidden, tandem.EFORBIDDEN)
	// Completing early is refused.
	resp, body = m.do(t, "POST", loc+"/complete", nil)
	wantError(t, resp, body, http.StatusConflict, tandem.ECONFLICT)
	// Past the declared length is refused, and nothing is appended.
	resp, body = m.do(t, "PATCH", loc, bytes.NewReader(append(bytes.Clone(data[n/2:]), 1, 2, 3)), "Upload-Offset", strconv.Itoa(n/2))
	wantError(t, resp, body, http.StatusBadRequest, tandem.EINVALID)
	// The rest completes the upload.
	resp, body = m.do(t, "PATCH", loc, bytes.NewReader(data[n/2:]), "Upload-Offset", strconv.Itoa(n/2))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("last patch: %d %s", resp.StatusCode, body)
	}
	if tr := decodeTrack(t, body); tr.ID != sha(data) || tr.Title != "MP3 Title" || tr.Art != "image/png" {
		t.Errorf("track %+v", tr)
	}
	resp, body = m.do(t, "GET", loc, nil)
	wantError(t, resp, body, http.StatusNotFound, tandem.ENOTFOUND)
	resp, body = m.do(t, "GET", "/api/tracks/"+sha(data)+"/audio", nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Errorf("download after resumable upload: %d, %d bytes", resp.StatusCode, len(body))
	}
	if files := blobFiles(t, m.blobs); len(files) != 2 { // the blob and its art
		t.Errorf("files %v, want the blob and its art", files)
	}
}

func TestResumableUploadWithoutLength(t *testing.T) {
	m := newMediaHub(t, 0)
	create := func() string {
		resp, body := m.do(t, "POST", "/api/uploads", nil)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create: %d %s", resp.StatusCode, body)
		}
		return resp.Header.Get("Location")
	}
	data := fixtureFile(t, "tagged.wav")
	loc := create()
	for off := 0; off < len(data); off += 10000 {
		end := min(off+10000, len(data))
		resp, body := m.do(t, "PATCH", loc, bytes.NewReader(data[off:end]), "Upload-Offset", strconv.Itoa(off))
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("patch at %d: %d %s", off, resp.StatusCode, body)
		}
	}
	resp, body := m.do(t, "POST", loc+"/complete", nil)
	if resp.StatusCode != http.StatusCreated || decodeTrack(t, body).Title != "Wave Title" {
		t.Fatalf("complete: %d %s", resp.StatusCode, body)
	}

	// A file that is not music is refused at the end, and its session
	// goes.
	loc = create()
	resp, body = m.do(t, "PATCH", loc, strings.NewReader("words, words, words"), "Upload-Offset", "0")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("patch: %d %s", resp.StatusCode, body)
	}
	resp, body = m.do(t, "POST", loc+"/complete", nil)
	wantError(t, resp, body, http.StatusUnsupportedMediaType, tandem.EINVALID)
	resp, body = m.do(t, "GET", loc, nil)
	wantError(t, resp, body, http.StatusNotFound, tandem.ENOTFOUND)

	// DELETE cancels.
	loc = create()
	if resp, _ = m.do(t, "DELETE", loc, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	resp, body = m.do(t, "GET", loc, nil)
	wantError(t, resp, body, http.StatusNotFound, tandem.ENOTFOUND)

	// Limits.
	resp, body = m.do(t, "POST", "/api/uploads", nil, "Upload-Length", strconv.Itoa(DefaultMaxUpload+1))
	wantError(t, resp, body, http.StatusRequestEntityTooLarge, tandem.ELIMIT)
	resp, body = m.do(t, "POST", "/api/uploads", nil, "Upload-Length", "-3")
	wantError(t, resp, body, http.StatusBadRequest, tandem.EINVALID)
	if files := blobFiles(t, m.blobs); len(files) != 1 {
		t.Errorf("files %v, want the wav's blob only", files)
	}
}

// wavStream is a WAV file of n bytes of noise (16-bit stereo, 44.1 kHz)
// made on the fly, different for every seed.
type wavStream struct {
	head []byte
	left int64 // bytes of samples still to give
	x    uint64
}

func newWAVStream(size int64, seed uint64) *wavStream {
	data := size - 44
	h := []byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00\x44\xac\x00\x00\x10\xb1\x02\x00\x04\x00\x10\x00data\x00\x00\x00\x00")
	binary.LittleEndian.PutUint32(h[4:], uint32(size-8))
	binary.LittleEndian.PutUint32(h[40:], uint32(data))
	return &wavStream{head: h, left: data, x: seed*0x9e3779b97f4a7c15 | 1}
}

func (w *wavStream) Read(p []byte) (int, error) {
	if len(w.head) > 0 {
		n := copy(p, w.head)
		w.head = w.head[n:]
		return n, nil
	}
	if w.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), w.left)]
	var word [8]byte
	for i := 0; i < len(p); i += 8 {
		w.x ^= w.x << 13
		w.x ^= w.x >> 7
		w.x ^= w.x << 17
		binary.LittleEndian.PutUint64(word[:], w.x)
		copy(p[i:], word[:])
	}
	w.left -= int64(len(p))
	return len(p), nil
}

// BenchmarkUpload uploads generated WAV files of 64 MB, streamed from an
// io.Reader, to a hub on loopback: hashing, fsync and probing included.
func BenchmarkUpload(b *testing.B) {
	const size = 64 << 20
	m := newMediaHub(b, size)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		req, err := http.NewRequest("POST", m.url+"/api/tracks", newWAVStream(size, uint64(i)))
		if err != nil {
			b.Fatal(err)
		}
		req.ContentLength = size
		req.Header.Set("Authorization", "Bearer "+m.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			b.Fatalf("upload: %d %s", resp.StatusCode, body)
		}
	}
}

func TestUploadBytesAreCounted(t *testing.T) {
	m := newMediaHub(t, 0)
	data := fixtureFile(t, "tagged.wav")
	if resp, body := m.do(t, "POST", "/api/tracks", bytes.NewReader(data)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	resp, err := http.Get(m.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	want := fmt.Sprintf("tandem_hub_upload_bytes_total %d", len(data))
	if !strings.Contains(string(text), want) {
		t.Errorf("metrics lack %q", want)
	}
}
