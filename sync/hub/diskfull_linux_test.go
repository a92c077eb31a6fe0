package hub

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"tandem"
	"tandem/store"
)

// A real full disk: the blob directory on a 128 KB tmpfs. Mounting needs
// root (CAP_SYS_ADMIN); TestUploadDiskFull covers the same answers
// unprivileged, by failing the writes in the store.
func TestUploadDiskFullTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root; TestUploadDiskFull injects the same failure without it")
	}
	dir := t.TempDir()
	blobs := filepath.Join(dir, store.BlobDir)
	if err := os.Mkdir(blobs, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tandem-test", blobs, "tmpfs", 0, "size=128k,mode=0700"); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("root without CAP_SYS_ADMIN cannot mount a tmpfs (%v); TestUploadDiskFull injects the same failure", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(blobs, 0); err != nil {
			t.Errorf("unmount %s: %v", blobs, err)
		}
	})
	m := newMediaHubIn(t, dir, 0)

	const size = 1 << 20 // eight times the disk
	req, err := http.NewRequest("POST", m.url+"/api/tracks", newWAVStream(size, 1))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+m.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the client did not get the answer: %v", err)
	}
	body := readAll(t, resp)
	wantError(t, resp, body, http.StatusInsufficientStorage, tandem.ENOSPACE)
	wantNoDetail(t, body, m.blobs)
	if files := blobFiles(t, m.blobs); len(files) != 0 {
		t.Errorf("files left behind: %v", files)
	}

	// A resumable upload: the PATCH fails alike, and keeps nothing.
	resp, body = m.do(t, "POST", "/api/uploads", nil, "Upload-Length", strconv.Itoa(size))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	resp, body = m.do(t, "PATCH", loc, newWAVStream(size, 2), "Upload-Offset", "0")
	wantError(t, resp, body, http.StatusInsufficientStorage, tandem.ENOSPACE)
	wantNoDetail(t, body, m.blobs)
	resp, _ = m.do(t, "HEAD", loc, nil)
	if resp.Header.Get("Upload-Offset") != "0" {
		t.Errorf("offset %q after a full disk, want 0", resp.Header.Get("Upload-Offset"))
	}
	if resp, body := m.do(t, "DELETE", loc, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}

	// The failed uploads left their room: a small file fits.
	data := fixtureFile(t, "tagged.flac")
	if resp, body := m.do(t, "POST", "/api/tracks", bytes.NewReader(data)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("a small upload after the full disk: %d %s", resp.StatusCode, body)
	}
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
