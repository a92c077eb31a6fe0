package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"tandem/audio"
	"tandem/store"
	"tandem/sync/hub"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newHub serves a hub with the demo library, as `hub serve --demo` does,
// and returns its URL and a file of tokens for n users.
func newHub(t *testing.T, users int) (url, tokenFile string) {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "data"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	pl, err := hub.SeedDemo(db, audio.DemoTracks())
	if err != nil {
		t.Fatal(err)
	}
	var toks []string
	for i := range users {
		tok, err := db.CreateToken(fmt.Sprintf("bench-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	tokenFile = filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokenFile, []byte(strings.Join(toks, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := hub.New(hub.Config{Store: db, FallbackPlaylist: pl.ID, OpenRooms: true})
	ts := httptest.NewServer(h.Handler())
	t.Cleanup(func() {
		h.Close()
		ts.Close()
	})
	return ts.URL, tokenFile
}

func TestSmoke(t *testing.T) {
	url, tokenFile := newHub(t, 4)
	out := filepath.Join(t.TempDir(), "result.json")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	args := []string{"--url", url, "--label", "hub", "--clients", "20", "--rooms", "2", "--senders", "2",
		"--messages", "5", "--rate", "200", "--idle", "0", "--tokens", tokenFile,
		"--pid", fmt.Sprint(os.Getpid()), "--json", out, "-q"}
	if err := run(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	// 2 rooms × 2 senders × 5 commands, each to the room's 10 members.
	if got, want := res.Expected, int64(2*2*5*10); got != want {
		t.Errorf("expected = %d, want %d", got, want)
	}
	if res.Delivered != res.Expected || !res.OK {
		t.Errorf("delivered %d of %d, problems %v\n%s", res.Delivered, res.Expected, res.Problems, stdout.String())
	}
	if res.Connected != 20 || res.Latency.N != int(res.Delivered) || res.Server == nil || res.Server.RSSIdleKB == 0 {
		t.Errorf("result = %+v", res)
	}
	if !strings.Contains(stdout.String(), "delivered") {
		t.Errorf("no table on stdout:\n%s", stdout.String())
	}

	// The comparison reads the JSON back.
	var cmp bytes.Buffer
	if err := run(ctx, []string{"compare", out, out}, &cmp, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cmp.String(), "| latency p99 (ms) |") || !strings.Contains(cmp.String(), "1.00×") {
		t.Errorf("compare:\n%s", cmp.String())
	}
}

func TestClosedLoopSharedToken(t *testing.T) {
	url, tokenFile := newHub(t, 1)
	toks, err := readTokens(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, Config{URL: url, Clients: 6, Rooms: 3, Senders: 1, Messages: 3, Tokens: toks})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Delivered, int64(3*3*2); got != want || !res.OK {
		t.Errorf("delivered %d, want %d; problems %v", got, want, res.Problems)
	}
}

func TestBadConfig(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range []Config{
		{URL: "http://x", Clients: 2, Rooms: 3},
		{URL: "http://x", Clients: 4, Rooms: 2, Senders: 3},
		{URL: "http://x", Clients: 4, Rooms: 2, Transport: "carrier-pigeon"},
		{URL: "http://x", Clients: 4, Rooms: 2, Transport: "polling"},
	} {
		if _, err := Run(ctx, cfg); err == nil {
			t.Errorf("Run(%+v) = nil error", cfg)
		}
	}
}

func TestUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts := httptest.NewServer(nil)
	url := ts.URL
	ts.Close()
	res, err := Run(ctx, Config{URL: url, Clients: 2, Rooms: 1, Messages: 1, Senders: 1})
	if err == nil || res == nil || res.ConnectFailed != 2 {
		t.Fatalf("Run against a closed port = %+v, %v", res, err)
	}
}

// TestFloor runs a small write floor and checks that it measured every
// write and some CPU for them.
func TestFloor(t *testing.T) {
	res, err := measureFloor(t.Context(), 20, 5, 8, 64, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.Writes != 40 || res.Conns != 20 || res.Group != 5 || res.Size != 64 {
		t.Fatalf("floor measured %+v, want 40 writes of 64 B, 5 a round, to 20 connections", res)
	}
	if res.ThreadCPUus <= 0 || res.Ceiling <= 0 || res.SysShare < 0 || res.SysShare > 1 {
		t.Fatalf("floor figures out of range: %+v", res)
	}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"floor", "--conns", "4", "--group", "2", "--rounds", "3"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "6 writes of 120 B, 2 a round, to 4 loopback connections") {
		t.Fatalf("hubbench floor printed %q", out.String())
	}
	if err := run(t.Context(), []string{"floor", "--group", "0"}, &out, &out); err == nil {
		t.Fatal("hubbench floor --group 0 did not fail")
	}
}
