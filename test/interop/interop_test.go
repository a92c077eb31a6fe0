// Package interop checks the hub against the official socket.io-client from
// npm (pinned in package.json and package-lock.json; `make test` installs
// it with npm ci).
package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"tandem"
	"tandem/store"
	"tandem/sync/hub"
	"tandem/sync/protocol"
	"tandem/sync/room"
)

type line struct {
	Event     string          `json:"event"`
	Transport string          `json:"transport"`
	Message   string          `json:"message"`
	Ack       json.RawMessage `json:"ack"`
	Payload   json.RawMessage `json:"payload"`
}

func setup(t *testing.T) (*store.DB, string, string) {
	t.Helper()
	if _, err := os.Stat("node_modules/socket.io-client"); err != nil {
		t.Fatalf("socket.io-client is not installed: run `make test`, which runs npm ci in test/interop (%v)", err)
	}
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	id := "ab" + strings.Repeat("0", 62)
	if err := db.PutTrack(tandem.Track{ID: id, Title: "Interop", Artist: "Node", Duration: time.Second, Format: "wav"}); err != nil {
		t.Fatal(err)
	}
	h := hub.New(hub.Config{Store: db})
	ts := httptest.NewServer(h.Handler())
	t.Cleanup(func() {
		h.Close()
		ts.Close()
	})
	return db, ts.URL, id
}

func node(t *testing.T, ctx context.Context, args ...string) (*bufio.Scanner, *exec.Cmd) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "node", append([]string{"client.mjs"}, args...)...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Wait() })
	return bufio.NewScanner(stdout), cmd
}

func next(t *testing.T, sc *bufio.Scanner) line {
	t.Helper()
	if !sc.Scan() {
		t.Fatalf("node client ended early: %v", sc.Err())
	}
	var l line
	if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
		t.Fatalf("bad line %q: %v", sc.Text(), err)
	}
	return l
}

func TestOfficialClientReceivesChangeTrack(t *testing.T) {
	for _, tc := range []struct{ transports, final string }{
		{"websocket", "websocket"},
		{"polling", "polling"},
		{"polling,websocket", "websocket"},
	} {
		t.Run(tc.transports, func(t *testing.T) { receivesChangeTrack(t, tc.transports, tc.final) })
	}
}

func receivesChangeTrack(t *testing.T, transports, final string) {
	db, url, trackID := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodeTok, err := db.CreateToken("node")
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := node(t, ctx, url, nodeTok, "lounge", transports)
	if l := next(t, sc); l.Event != "connect" {
		t.Fatalf("first line %+v, want connect", l)
	}
	l := next(t, sc)
	var join protocol.JoinAck
	if err := json.Unmarshal(l.Ack, &join); err != nil || l.Event != "join" || !join.OK || join.State == nil || join.State.Room != "lounge" {
		t.Fatalf("join line %+v (%v)", l, err)
	}
	l = next(t, sc)
	var bad protocol.Ack
	if err := json.Unmarshal(l.Ack, &bad); err != nil || bad.OK || bad.Error == nil || bad.Error.Code != tandem.EFORBIDDEN {
		t.Fatalf("error ack line %+v", l)
	}
	if l := next(t, sc); l.Event != "ready" {
		t.Fatalf("line %+v, want ready", l)
	}

	goTok, err := db.CreateToken("gopher")
	if err != nil {
		t.Fatal(err)
	}
	c := room.New(room.Options{URL: url, Token: goTok, Room: "lounge"}, room.Handlers{})
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	version, err := c.ChangeTrack(ctx, "", trackID)
	if err != nil {
		t.Fatal(err)
	}
	l = next(t, sc)
	var ev protocol.ChangeTrack
	if err := json.Unmarshal(l.Payload, &ev); err != nil || l.Event != "changeTrack" {
		t.Fatalf("line %+v (%v), want changeTrack", l, err)
	}
	if l.Transport != final {
		t.Fatalf("changeTrack arrived over %q, want %q", l.Transport, final)
	}
	if ev.TrackID != trackID || ev.By != "gopher" || ev.Version != version || ev.Room != "lounge" || ev.StartAt == 0 {
		t.Fatalf("changeTrack = %+v", ev)
	}
}

func TestOfficialClientBadToken(t *testing.T) {
	_, url, _ := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sc, _ := node(t, ctx, url, "not-a-token", "lounge")
	if l := next(t, sc); l.Event != "connect_error" || l.Message != "unauthorized" {
		t.Fatalf("line %+v, want connect_error unauthorized", l)
	}
}
