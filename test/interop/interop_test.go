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
	"testing"
	"time"

	"tandem"
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

// serveFixture serves a hub on the fixture's store over httptest and
// returns its URL.
func serveFixture(t *testing.T, f fixture) string {
	t.Helper()
	h := hub.New(hub.Config{Store: f.db, OpenRooms: true})
	ts := httptest.NewServer(h.Handler())
	t.Cleanup(func() {
		h.Close()
		ts.Close()
	})
	return ts.URL
}

// node runs one of this directory's node scripts and returns a scanner of
// its JSON lines; the process is waited for at cleanup.
func node(t *testing.T, ctx context.Context, script string, args ...string) *bufio.Scanner {
	t.Helper()
	cmd := exec.CommandContext(ctx, "node", append([]string{script}, args...)...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node %s: %v", script, err)
	}
	t.Cleanup(func() { _ = cmd.Wait() })
	return bufio.NewScanner(stdout)
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
	f := newFixture(t)
	url, trackID := serveFixture(t, f), f.trackID
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sc := node(t, ctx, "client.mjs", url, f.nodeTok, "lounge", transports)
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

	c := room.New(room.Options{URL: url, Token: f.goTok, Room: "lounge"}, room.Handlers{})
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
	url := serveFixture(t, newFixture(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sc := node(t, ctx, "client.mjs", url, "not-a-token", "lounge")
	if l := next(t, sc); l.Event != "connect_error" || l.Message != "unauthorized" {
		t.Fatalf("line %+v, want connect_error unauthorized", l)
	}
}
