package hub

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tandem"
	"tandem/internal/testhub"
	"tandem/store"
)

// wantNoDetail checks that an error answer shows no server path and no
// Go error text.
func wantNoDetail(t *testing.T, body []byte, dir string) {
	t.Helper()
	var e struct {
		Error *tandem.Error `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	for _, leak := range []string{dir, "/", "no space", "input/output", "EOF", "write"} {
		if strings.Contains(e.Error.Message, leak) {
			t.Errorf("message %q shows %q", e.Error.Message, leak)
		}
	}
}

// A full disk is the hub's fault: 507 ENOSPACE, with a message that shows
// no path; nothing of the file is kept. Other storage faults are 500.
func TestUploadDiskFull(t *testing.T) {
	data := fixtureFile(t, "tagged.flac")
	for _, tt := range []struct {
		name   string
		errno  syscall.Errno
		status int
		code   string
	}{
		{"no space", syscall.ENOSPC, http.StatusInsufficientStorage, tandem.ENOSPACE},
		{"quota", syscall.EDQUOT, http.StatusInsufficientStorage, tandem.ENOSPACE},
		{"i/o error", syscall.EIO, http.StatusInternalServerError, tandem.EINTERNAL},
	} {
		t.Run(tt.name, func(t *testing.T) {
			disk := testhub.NewFakeDisk(0)
			m := newMediaHub(t, 0, store.WithFileWriter(disk.Wrap))
			disk.Set(int64(len(data)/2), tt.errno)
			resp, body := m.do(t, "POST", "/api/tracks", bytes.NewReader(data))
			wantError(t, resp, body, tt.status, tt.code)
			wantNoDetail(t, body, m.blobs)
			if files := blobFiles(t, m.blobs); len(files) != 0 {
				t.Errorf("files left behind: %v", files)
			}

			disk.Set(int64(len(data)/2), tt.errno)
			resp, body = m.do(t, "POST", "/api/uploads", nil, "Upload-Length", strconv.Itoa(len(data)))
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("create: %d %s", resp.StatusCode, body)
			}
			loc := resp.Header.Get("Location")
			resp, body = m.do(t, "PATCH", loc, bytes.NewReader(data), "Upload-Offset", "0")
			wantError(t, resp, body, tt.status, tt.code)
			wantNoDetail(t, body, m.blobs)
			resp, _ = m.do(t, "HEAD", loc, nil)
			if resp.Header.Get("Upload-Offset") != "0" {
				t.Errorf("offset %q after a failed write, want 0", resp.Header.Get("Upload-Offset"))
			}
			// Once there is room, the upload goes on.
			disk.Set(1<<30, 0)
			resp, body = m.do(t, "PATCH", loc, bytes.NewReader(data), "Upload-Offset", "0")
			if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
				t.Fatalf("upload with room: %d %s", resp.StatusCode, body)
			}
		})
	}
}

// A body that ends before its Content-Length is the client's fault: 400
// EINVALID, with a message that shows no Go error.
func TestUploadCutShort(t *testing.T) {
	m := newMediaHub(t, 0)
	c, err := net.Dial("tcp", strings.TrimPrefix(m.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := fixtureFile(t, "tagged.flac")
	if _, err := io.WriteString(c, head("POST", "/api/tracks", m.token, int64(len(data)))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(data[:100]); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(answerWait)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	rawError(t, resp, body, http.StatusBadRequest, tandem.EINVALID)
	wantNoDetail(t, body, m.blobs)
	if files := blobFiles(t, m.blobs); len(files) != 0 {
		t.Errorf("files left behind: %v", files)
	}
}

// A file the hub cannot play gets 415 with the plain sentence; what the
// decoder said goes to the log only.
func TestUploadUnsupportedMessage(t *testing.T) {
	m := newMediaHub(t, 0)
	data := fixtureFile(t, "tagged.ogg")
	for _, body := range [][]byte{data[:len(data)/3], []byte("this is not music")} {
		resp, b := m.do(t, "POST", "/api/tracks", bytes.NewReader(body))
		wantError(t, resp, b, http.StatusUnsupportedMediaType, tandem.EINVALID)
		var e struct {
			Error *tandem.Error `json:"error"`
		}
		if err := json.Unmarshal(b, &e); err != nil || e.Error.Message != ErrUnsupported.Error() {
			t.Errorf("message %s, want %q", b, ErrUnsupported.Error())
		}
	}
}

// A malformed redemption gets a sentence, not the JSON decoder's error.
func TestRedeemMalformedBodyMessage(t *testing.T) {
	f := newOpsFixture(t)
	for _, body := range []string{`not json`, `{"code":"x","name":"y","extra":1}`, `{"code":` + strings.Repeat(" ", 5000) + `"x"}`} {
		resp, err := http.Post(f.url+RedeemPath, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var a struct {
			Error *tandem.Error `json:"error"`
		}
		if err := json.Unmarshal(b, &a); err != nil || resp.StatusCode != http.StatusBadRequest || a.Error == nil || a.Error.Code != tandem.EINVALID {
			t.Fatalf("%.40q: %d %s", body, resp.StatusCode, b)
		}
		for _, leak := range []string{"json", "invalid character", "http:"} {
			if strings.Contains(a.Error.Message, leak) {
				t.Errorf("%.40q: message %q shows %q", body, a.Error.Message, leak)
			}
		}
	}
}
