package main

import (
	"bytes"
	"context"
	"errors"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"tandem/sync/room"
	"tandem/sync/socketio"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func tokenFor(t *testing.T, dir, name string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"token", "create", "--data", dir, "--name", name}, &out, &errOut, nil); err != nil {
		t.Fatalf("token create: %v (%s)", err, errOut.String())
	}
	tok := strings.TrimSpace(out.String())
	if len(tok) < 40 {
		t.Fatalf("token %q too short", tok)
	}
	return tok
}

func TestServeDemo(t *testing.T) {
	dir := t.TempDir()
	tok := tokenFor(t, dir, "ann")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data", dir, "--demo", "--gc-percent", "70"}, &bytes.Buffer{}, &logs, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v\n%s", err, logs.String())
	}
	if old := debug.SetGCPercent(100); old != 70 {
		t.Errorf("serve --gc-percent 70 left GOGC at %d", old)
	}

	// A second hub on the same data directory fails at once.
	start := time.Now()
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data", dir}, &bytes.Buffer{}, &bytes.Buffer{}, nil)
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second hub: %v, want a locked error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("second hub took %v to fail", d)
	}

	c := room.New(room.Options{URL: "http://" + addr, Token: tok, Room: "lounge"}, room.Handlers{})
	jctx, jcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer jcancel()
	if err := c.Connect(jctx); err != nil {
		t.Fatal(err)
	}
	st := c.State()
	if len(st.Queue) < 5 {
		t.Fatalf("room queue has %d entries, want the demo playlist", len(st.Queue))
	}
	if v, err := c.ChangeTrack(jctx, st.Queue[0].ID, ""); err != nil || v != 1 {
		t.Fatalf("changeTrack = %d, %v", v, err)
	}
	c.Close()

	bad := room.New(room.Options{URL: "http://" + addr, Token: "nope", Room: "lounge"}, room.Handlers{})
	var ce *socketio.ConnectError
	if err := bad.Connect(jctx); !errors.As(err, &ce) || ce.Message != "unauthorized" {
		t.Fatalf("bad token: %v", err)
	}
	bad.Close()

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve returned %v after shutdown", err)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}, {"token"}, {"token", "create", "--data", t.TempDir()},
		{"serve", "--data", t.TempDir(), "--gc-percent", "5"}} {
		if err := run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{}, nil); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}
