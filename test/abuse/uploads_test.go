package abuse

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rawRequest sends headers (and no body) and returns the answer read
// within 5 s.
func (h *hubProc) rawRequest(t *testing.T, head string) (*http.Response, error) {
	t.Helper()
	nc, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if _, err := nc.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err == nil {
		res.Body.Close()
	}
	return res, err
}

// TestUploadsAnswerEarly (defect 3): an upload whose Content-Length is
// over the limit gets 413 before its body, with "Expect: 100-continue"
// too (it got no answer at all), and one whose Content-Digest names a
// track the hub has gets 200 without its body.
func TestUploadsAnswerEarly(t *testing.T) {
	h := startHub(t, []string{"ann"}, "--max-upload-mb", "1")
	tok := h.tokens["ann"]
	song := audioFixture(t, "tagged.mp3")
	if status, _, code, msg := h.upload(t, tok, song); status/100 != 2 {
		t.Fatalf("a first upload: %d %s %s", status, code, msg)
	}
	sum := sha256.Sum256(song)
	digest := "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
	for _, tc := range []struct {
		name, extra string
		want        int
	}{
		{"over the limit", "Content-Length: 50000000\r\n", 413},
		{"over the limit, Expect: 100-continue", "Content-Length: 50000000\r\nExpect: 100-continue\r\n", 413},
		{"a known Content-Digest", fmt.Sprintf("Content-Length: %d\r\nContent-Digest: %s\r\n", len(song), digest), 200},
		{"a known Content-Digest, Expect: 100-continue", fmt.Sprintf("Content-Length: %d\r\nContent-Digest: %s\r\nExpect: 100-continue\r\n", len(song), digest), 200},
	} {
		res, err := h.rawRequest(t, "POST /api/tracks HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer "+tok+"\r\n"+tc.extra+"\r\n")
		if err != nil {
			t.Errorf("%s: no answer before the body: %v", tc.name, err)
			continue
		}
		if res.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, res.StatusCode, tc.want)
		}
	}
	// Without a token, the answer is 401 whatever the headers say.
	res, err := h.rawRequest(t, "POST /api/tracks HTTP/1.1\r\nHost: hub\r\nContent-Length: 50000000\r\nExpect: 100-continue\r\n\r\n")
	if err != nil || res.StatusCode != 401 {
		t.Errorf("no token, over the limit: %v %v, want 401", res, err)
	}
	h.stillServes(tok)
}

// TestUploadDiskFull (defect 4): a hub whose disk fills during an upload
// answers 507 ENOSPACE, a server error, with no server path, keeps
// nothing partial, and goes on serving. It answered 400 EINVALID "cut
// short" with the spool file's path. The data directory is a small
// tmpfs, which takes root to mount.
func TestUploadDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root; sync/hub's TestUploadDiskFull covers the same path with an injected full disk")
	}
	dir := t.TempDir()
	mnt := filepath.Join(dir, "data")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) })
	h := startHubIn(t, mnt, []string{"ann"})
	tok := h.tokens["ann"]
	big := make([]byte, 3<<20) // more than the disk holds
	copy(big, audioFixture(t, "tagged.mp3"))
	status, _, code, msg := h.upload(t, tok, big)
	if status != http.StatusInsufficientStorage || code != "ENOSPACE" {
		t.Errorf("an upload that fills the disk: %d %s %q, want 507 ENOSPACE", status, code, msg)
	}
	if strings.Contains(msg, mnt) || strings.Contains(msg, "/") {
		t.Errorf("the message shows a path: %q", msg)
	}
	var left int64
	_ = filepath.Walk(filepath.Join(mnt, "blobs"), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			left += fi.Size()
		}
		return nil
	})
	if left > 0 {
		t.Errorf("%d bytes of the failed upload were kept", left)
	}
	h.stillServes(tok)
}
