package hub

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"tandem"
)

// answerWait bounds how long a raw client waits for an answer the hub
// gives before reading the body. The hub answers at once; the bound is
// generous for a busy machine, and the hub it catches waits for ever.
const answerWait = 10 * time.Second

// rawRequest sends only the head of a request, never its body, and
// returns the first answer with its body read, then whether the hub
// closed the connection (instead of waiting for the body).
func rawRequest(t *testing.T, url, head string) (*http.Response, []byte, bool) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(answerWait)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer without the body: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("answer's body: %v", err)
	}
	// The hub must not wait for the body it did not ask for: it closes
	// the connection.
	_, err = br.ReadByte()
	var ne net.Error
	closed := err != nil && !(errors.As(err, &ne) && ne.Timeout())
	return resp, body, closed
}

// head is the head of a request with a body of length bytes.
func head(method, path, token string, length int64, headers ...string) string {
	var b strings.Builder
	b.WriteString(method + " " + path + " HTTP/1.1\r\nHost: hub\r\n")
	if token != "" {
		b.WriteString("Authorization: Bearer " + token + "\r\n")
	}
	b.WriteString("Content-Length: " + strconv.FormatInt(length, 10) + "\r\n")
	for i := 0; i+1 < len(headers); i += 2 {
		b.WriteString(headers[i] + ": " + headers[i+1] + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

func rawError(t *testing.T, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	var e struct {
		Error *tandem.Error `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == nil || e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("body %s, want a JSON error with code %s: %v", body, code, err)
	}
}

// A declared Content-Length over the limit gets 413 before any byte of
// the body is sent, with Expect: 100-continue (no 100 first) or without.
func TestUploadTooLargeAnswersEarly(t *testing.T) {
	const max = 40000
	m := newMediaHub(t, max)
	resp, body := m.do(t, "POST", "/api/uploads", nil, "Upload-Length", "30000")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	session := resp.Header.Get("Location")
	for _, tt := range []struct {
		name, method, path string
		length             int64
		headers            []string
	}{
		{"post, just over", "POST", "/api/tracks", max + 1, nil},
		{"post, far over", "POST", "/api/tracks", 50 << 20, nil},
		{"post, just over, expect", "POST", "/api/tracks", max + 1, []string{"Expect", "100-continue"}},
		{"post, far over, expect", "POST", "/api/tracks", 50 << 20, []string{"Expect", "100-continue"}},
		{"patch, just over", "PATCH", session, max + 1, []string{"Upload-Offset", "0"}},
		{"patch, far over, expect", "PATCH", session, 50 << 20, []string{"Upload-Offset", "0", "Expect", "100-continue"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, closed := rawRequest(t, m.url, head(tt.method, tt.path, m.token, tt.length, tt.headers...))
			rawError(t, resp, body, http.StatusRequestEntityTooLarge, tandem.ELIMIT)
			if !closed {
				t.Error("the hub kept the connection open, waiting for the body")
			}
		})
	}
	// The session is untouched.
	resp, _ = m.do(t, "HEAD", session, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Upload-Offset") != "0" {
		t.Errorf("session after the refusals: %d, offset %q", resp.StatusCode, resp.Header.Get("Upload-Offset"))
	}
}

// A Content-Digest the hub knows gets 200 with the track before any byte
// of the body is sent.
func TestUploadKnownDigestAnswersEarly(t *testing.T) {
	m := newMediaHub(t, 0)
	data := fixtureFile(t, "tagged.flac")
	if resp, body := m.do(t, "POST", "/api/tracks", bytes.NewReader(data)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	sum := sha256.Sum256(data)
	digest := "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
	for _, tt := range []struct {
		name    string
		length  int64
		headers []string
	}{
		{"small", int64(len(data)), []string{"Content-Digest", digest}},
		{"large", 64 << 20, []string{"Content-Digest", digest}},
		{"expect", int64(len(data)), []string{"Content-Digest", digest, "Expect", "100-continue"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, closed := rawRequest(t, m.url, head("POST", "/api/tracks", m.token, tt.length, tt.headers...))
			if resp.StatusCode != http.StatusOK || decodeTrack(t, body).ID != sha(data) {
				t.Fatalf("known digest: %d %s", resp.StatusCode, body)
			}
			if resp.Header.Get("Location") != "/api/tracks/"+sha(data) {
				t.Errorf("Location %q", resp.Header.Get("Location"))
			}
			if !closed {
				t.Error("the hub kept the connection open, waiting for the body")
			}
		})
	}
}

// Authentication comes first: without a good token, a body over the
// limit or a known digest gets 401, at once.
func TestUploadEarlyAnswersNeedAToken(t *testing.T) {
	m := newMediaHub(t, 40000)
	data := fixtureFile(t, "tagged.ogg")
	if resp, body := m.do(t, "POST", "/api/tracks", bytes.NewReader(data)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	sum := sha256.Sum256(data)
	digest := "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
	for _, tt := range []struct {
		name, token string
		length      int64
		headers     []string
	}{
		{"too large, no token", "", 50 << 20, []string{"Expect", "100-continue"}},
		{"too large, unknown token", "nope", 50 << 20, []string{"Expect", "100-continue"}},
		{"known digest, no token", "", int64(len(data)), []string{"Content-Digest", digest, "Expect", "100-continue"}},
		{"known digest, unknown token", "nope", int64(len(data)), []string{"Content-Digest", digest, "Expect", "100-continue"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, _ := rawRequest(t, m.url, head("POST", "/api/tracks", tt.token, tt.length, tt.headers...))
			rawError(t, resp, body, http.StatusUnauthorized, tandem.EUNAUTHORIZED)
		})
	}
}

// Go's client, sending a large body over the limit, gets the 413, not a
// broken connection.
func TestUploadTooLargeGoClient(t *testing.T) {
	m := newMediaHub(t, 40000)
	req, err := http.NewRequest("POST", m.url+"/api/tracks", newWAVStream(32<<20, 1))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 32 << 20
	req.Header.Set("Authorization", "Bearer "+m.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the client did not get the answer: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	rawError(t, resp, body, http.StatusRequestEntityTooLarge, tandem.ELIMIT)
}
