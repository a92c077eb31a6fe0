// Package security runs the hub's security matrix against a real hub
// process: each attempt must get its documented error and change nothing.
//
// The hub binary comes from TANDEM_HUB_BIN (make test passes bin/hub) or is
// built into a temporary directory.
package security

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"tandem"
	"tandem/internal/testhub"
	"tandem/sync/protocol"
	"tandem/sync/socketio"
)

// matrix is a running hub and its data directory.
type matrix struct {
	t    *testing.T
	bin  string
	data string
	url  string
	ctx  context.Context
}

// hubCmd runs a hub CLI command against the data directory and returns
// its output.
func (m *matrix) hubCmd(args ...string) string {
	m.t.Helper()
	out, err := exec.Command(m.bin, append(args, "--data", m.data)...).CombinedOutput()
	if err != nil {
		m.t.Fatalf("hub %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (m *matrix) token(name string) string {
	out := strings.TrimSpace(m.hubCmd("token", "create", "--name", name))
	return out[strings.LastIndexByte(out, '\n')+1:]
}

func (m *matrix) connect(tok string) (*socketio.Client, error) {
	c := socketio.NewClient(m.url, socketio.ClientOptions{NoReconnect: true, BufferSize: -1,
		Auth: func() any { return protocol.Auth{Token: tok} }})
	m.t.Cleanup(func() { c.Close() })
	return c, c.Connect(m.ctx)
}

func (m *matrix) client(tok string) *socketio.Client {
	m.t.Helper()
	c, err := m.connect(tok)
	if err != nil {
		m.t.Fatal(err)
	}
	return c
}

func (m *matrix) call(c *socketio.Client, event string, payload, v any) {
	m.t.Helper()
	args, err := c.EmitWithAck(m.ctx, event, payload)
	if err != nil {
		m.t.Fatalf("%s: %v", event, err)
	}
	if err := json.Unmarshal(args[0], v); err != nil {
		m.t.Fatalf("%s: %v", event, err)
	}
}

// refused checks a command's error ack and returns its message.
func (m *matrix) refused(c *socketio.Client, event string, payload any, code string) string {
	m.t.Helper()
	var ack protocol.Ack
	m.call(c, event, payload, &ack)
	if ack.OK || ack.Error == nil || ack.Error.Code != code {
		m.t.Errorf("%s %+v: %+v, want %s", event, payload, ack, code)
		return ""
	}
	return ack.Error.Message
}

// httpDo sends a request and returns the status and the error code of a
// JSON error body.
func (m *matrix) httpDo(method, path, tok string, body io.Reader, header map[string]string) (int, string) {
	m.t.Helper()
	req, err := http.NewRequestWithContext(m.ctx, method, m.url+path, body)
	if err != nil {
		m.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	defer res.Body.Close()
	var e struct {
		Error *tandem.Error `json:"error"`
	}
	b, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(b, &e)
	code := ""
	if e.Error != nil {
		code = e.Error.Code
	}
	return res.StatusCode, code
}

// roomVersion is a room's version as its host sees it.
func (m *matrix) roomVersion(host *socketio.Client, room string) protocol.RoomInfo {
	m.t.Helper()
	var rooms protocol.RoomsAck
	m.call(host, protocol.RoomList, nil, &rooms)
	for _, r := range rooms.Rooms {
		if r.Room == room {
			return r
		}
	}
	m.t.Fatalf("room %q not listed", room)
	return protocol.RoomInfo{}
}

// blobBytes is the size of everything under the hub's blob directory.
func (m *matrix) blobBytes() int64 {
	var n int64
	_ = filepath.WalkDir(filepath.Join(m.data, "blobs"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func TestSecurityMatrix(t *testing.T) {
	m := &matrix{t: t, bin: testhub.Binary(t), data: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m.ctx = ctx
	ann, bob, carl, rev := m.token("ann"), m.token("bob"), m.token("carl"), m.token("rev")

	// The hub: rooms admit members only; a small upload limit and rate
	// limit so that the test can exceed them cheaply.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logs := &bytes.Buffer{}
	hub := exec.Command(m.bin, "serve", "--addr", addr, "--data", m.data, "--demo",
		"--max-upload-mb", "1", "--rate-limit", "10", "--rate-burst", "20", "--allowed-origins", "https://tandem.example")
	hub.Stdout, hub.Stderr = logs, logs
	if err := hub.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = hub.Process.Signal(syscall.SIGTERM)
		_ = hub.Wait()
		if t.Failed() {
			t.Logf("hub log:\n%s", logs)
		}
	}()
	m.url = "http://" + addr
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if res, err := http.Get(m.url + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("hub did not start")
		}
	}

	host := m.client(ann)
	var join protocol.JoinAck
	m.call(host, protocol.RoomCreate, protocol.CreateRoomRequest{Room: "jam", Policy: tandem.HostOnly}, &join)
	if !join.OK {
		t.Fatalf("room:create: %+v", join)
	}
	code := join.State.Info.Code
	guest := m.client(bob)
	m.call(guest, protocol.RoomJoin, protocol.JoinRequest{Code: code}, &join)
	var pls protocol.PlaylistsAck
	m.call(host, protocol.PlaylistList, nil, &pls)
	demo := pls.Playlists[0]
	var open protocol.PlaylistAck
	m.call(host, protocol.PlaylistOpen, protocol.PlaylistRequest{PlaylistID: demo.ID}, &open)
	track := open.Playlist.Entries[0].TrackID
	before := m.roomVersion(host, "jam")

	t.Run("no token", func(t *testing.T) {
		for _, tok := range []string{"", "not-a-token", strings.Repeat("A", 43)} {
			_, err := m.connect(tok)
			var ce *socketio.ConnectError
			if !errors.As(err, &ce) || ce.Message != protocol.Unauthorized {
				t.Errorf("token %q: %v, want CONNECT_ERROR unauthorized", tok, err)
			}
			if status, code := m.httpDo("GET", "/api/tracks/"+track, tok, nil, nil); status != http.StatusUnauthorized || code != tandem.EUNAUTHORIZED {
				t.Errorf("token %q on the HTTP API: %d %s, want 401 EUNAUTHORIZED", tok, status, code)
			}
		}
	})

	t.Run("revoked token", func(t *testing.T) {
		c := m.client(rev)
		gone := make(chan string, 1)
		c.OnDisconnect(func(r string) { gone <- r })
		out := m.hubCmd("user", "revoke", "rev")
		if !strings.Contains(out, "revoked rev") {
			t.Fatalf("revoke said %q", out)
		}
		select {
		case <-gone:
		case <-time.After(5 * time.Second):
			t.Fatal("a revoked friend's open connection stayed up")
		}
		_, err := m.connect(rev)
		var ce *socketio.ConnectError
		if !errors.As(err, &ce) || ce.Message != protocol.Unauthorized {
			t.Errorf("reconnect with a revoked token: %v", err)
		}
		if status, _ := m.httpDo("GET", "/api/tracks/"+track, rev, nil, nil); status != http.StatusUnauthorized {
			t.Errorf("revoked token on the HTTP API: %d", status)
		}
	})

	t.Run("non-member", func(t *testing.T) {
		c := m.client(carl)
		m.refused(c, protocol.RoomJoin, protocol.JoinRequest{Room: "jam"}, tandem.EFORBIDDEN)
		for _, ev := range []string{protocol.PlaybackPlay, protocol.PlaybackPause, protocol.RoomLeave, protocol.RoomCode} {
			m.refused(c, ev, protocol.RoomRequest{Room: "jam"}, tandem.EFORBIDDEN)
		}
		m.refused(c, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "jam", TrackID: track}, tandem.EFORBIDDEN)
		if after := m.roomVersion(host, "jam"); after.Version != before.Version || len(after.Members) != 2 {
			t.Errorf("room changed: %+v -> %+v", before, after)
		}
	})

	t.Run("guest uses host-only controls", func(t *testing.T) {
		for _, c := range []struct {
			event   string
			payload any
		}{
			{protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "jam", TrackID: track}},
			{protocol.PlaybackPlay, protocol.RoomRequest{Room: "jam"}},
			{protocol.RoomPolicy, protocol.PolicyRequest{Room: "jam", Policy: tandem.Everyone}},
			{protocol.RoomRemove, protocol.RemoveRequest{Room: "jam", User: "ann"}},
		} {
			m.refused(guest, c.event, c.payload, tandem.EFORBIDDEN)
		}
		if after := m.roomVersion(host, "jam"); after.Version != before.Version || after.Policy != tandem.HostOnly {
			t.Errorf("room changed: %+v -> %+v", before, after)
		}
	})

	t.Run("invalid track ids", func(t *testing.T) {
		for _, path := range []string{
			"/api/tracks/..%2f..%2fetc%2fpasswd/audio",
			"/api/tracks/" + strings.Repeat("A", 64) + "/audio",
			"/api/tracks/" + track[:63] + "/art",
			"/api/tracks/%2e%2e/audio",
		} {
			if status, code := m.httpDo("GET", path, ann, nil, nil); status != http.StatusBadRequest || code != tandem.EINVALID {
				t.Errorf("GET %s: %d %s, want 400 EINVALID", path, status, code)
			}
		}
		if status, _ := m.httpDo("GET", "/api/tracks/"+strings.Repeat("0", 64)+"/audio", ann, nil, nil); status != http.StatusNotFound {
			t.Errorf("unknown track: %d, want 404", status)
		}
		v := open.Playlist.Version
		c := m.client(ann)
		for _, id := range []string{"../../etc/passwd", strings.Repeat("A", 64), ""} {
			m.refused(c, protocol.PlaylistAdd, protocol.EditRequest{OpID: "x", PlaylistID: demo.ID, TrackID: id}, tandem.EINVALID)
		}
		var again protocol.PlaylistAck
		m.call(c, protocol.PlaylistOpen, protocol.PlaylistRequest{PlaylistID: demo.ID}, &again)
		if again.Playlist.Version != v {
			t.Errorf("playlist changed: version %d -> %d", v, again.Playlist.Version)
		}
	})

	t.Run("oversized upload and not audio", func(t *testing.T) {
		blobs := m.blobBytes()
		big := bytes.Repeat([]byte("RIFF"), (2<<20)/4)
		if status, code := m.httpDo("POST", "/api/tracks", ann, bytes.NewReader(big), nil); status != http.StatusRequestEntityTooLarge || code == "" {
			t.Errorf("2 MiB upload over a 1 MiB limit: %d %s, want 413", status, code)
		}
		text := strings.NewReader(strings.Repeat("this is not music\n", 1000))
		if status, code := m.httpDo("POST", "/api/tracks", ann, text, nil); status != http.StatusUnsupportedMediaType || code == "" {
			t.Errorf("text upload: %d %s, want 415", status, code)
		}
		if status, _ := m.httpDo("POST", "/api/tracks", "", strings.NewReader("x"), nil); status != http.StatusUnauthorized {
			t.Errorf("upload without a token: %d, want 401", status)
		}
		if after := m.blobBytes(); after != blobs {
			t.Errorf("refused uploads left %d bytes in the blob directory", after-blobs)
		}
	})

	t.Run("flood of events", func(t *testing.T) {
		c := m.client(carl)
		limited, msg := 0, ""
		for i := range 60 {
			var ack protocol.Ack
			m.call(c, protocol.ClockPing, protocol.ClockPingRequest{T0: float64(i)}, &ack)
			if !ack.OK && ack.Error.Code == tandem.ELIMIT {
				limited++
				msg = ack.Error.Message
			}
		}
		if limited == 0 || !strings.Contains(msg, "rate limit") {
			t.Fatalf("60 commands at once: %d limited (%q)", limited, msg)
		}
		time.Sleep(300 * time.Millisecond) // the connection is still up, and recovers
		var ack protocol.ClockPingAck
		m.call(c, protocol.ClockPing, protocol.ClockPingRequest{T0: 1}, &ack)
		if !ack.OK {
			t.Errorf("after the flood: %+v", ack)
		}
	})

	t.Run("origin not allowed", func(t *testing.T) {
		path := "/socket.io/?EIO=4&transport=polling"
		if status, _ := m.httpDo("GET", path, "", nil, map[string]string{"Origin": "https://evil.example"}); status != http.StatusForbidden {
			t.Errorf("foreign origin: %d, want 403", status)
		}
		if status, _ := m.httpDo("GET", path, "", nil, map[string]string{"Origin": "https://tandem.example"}); status != http.StatusOK {
			t.Errorf("allowed origin: %d, want 200", status)
		}
	})

	t.Run("invite reused or expired", func(t *testing.T) {
		codeOf := func(out string) string {
			mm := regexp.MustCompile(`invite code: (\S+)`).FindStringSubmatch(out)
			if mm == nil {
				t.Fatalf("no code in %q", out)
			}
			return mm[1]
		}
		redeem := func(code, name string) (int, string) {
			body, _ := json.Marshal(map[string]string{"code": code, "name": name})
			return m.httpDo("POST", "/api/invites/redeem", "", bytes.NewReader(body), map[string]string{"Content-Type": "application/json"})
		}
		once := codeOf(m.hubCmd("invite", "create", "--uses", "1"))
		if status, _ := redeem(once, "dana"); status != http.StatusCreated {
			t.Fatalf("first redemption: %d", status)
		}
		if status, code := redeem(once, "erin"); status != http.StatusForbidden || code != tandem.EFORBIDDEN {
			t.Errorf("reused invite: %d %s, want 403 EFORBIDDEN", status, code)
		}
		short := codeOf(m.hubCmd("invite", "create", "--expires", "1s"))
		time.Sleep(1100 * time.Millisecond)
		if status, code := redeem(short, "fred"); status != http.StatusForbidden || code != tandem.EFORBIDDEN {
			t.Errorf("expired invite: %d %s, want 403 EFORBIDDEN", status, code)
		}
		users := m.hubCmd("user", "list")
		for _, name := range []string{"erin", "fred"} {
			if strings.Contains(users, name) {
				t.Errorf("refused redemption created user %s:\n%s", name, users)
			}
		}
		if !strings.Contains(users, "dana") {
			t.Errorf("user list lacks dana:\n%s", users)
		}
	})
}
