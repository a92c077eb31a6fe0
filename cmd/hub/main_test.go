package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"runtime/debug"
	"slices"
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

// Every command answers --help, -h and "hub help CMD" with its own usage
// on standard output, and succeeds (exit status 0) without doing anything.
func TestHelpEveryCommand(t *testing.T) {
	cases := []struct {
		cmd  []string
		want []string // in the usage
	}{
		{[]string{"serve"}, []string{"hub serve", "-addr", "-rate-limit"}},
		{[]string{"invite"}, []string{"hub invite create"}},
		{[]string{"invite", "create"}, []string{"hub invite create", "-uses", "-expires"}},
		{[]string{"user"}, []string{"hub user list", "hub user revoke NAME"}},
		{[]string{"user", "list"}, []string{"hub user list", "-data"}},
		{[]string{"user", "revoke"}, []string{"hub user revoke NAME", "-data"}},
		{[]string{"token"}, []string{"hub token create"}},
		{[]string{"token", "create"}, []string{"hub token create --name NAME", "-name"}},
		{[]string{"backup"}, []string{"hub backup --out FILE", "-out"}},
	}
	t.Setenv("XDG_DATA_HOME", t.TempDir()) // nothing may be created there
	for _, c := range cases {
		for _, args := range [][]string{
			append(slices.Clone(c.cmd), "--help"),
			append(slices.Clone(c.cmd), "-h"),
			append([]string{"help"}, c.cmd...),
		} {
			var out, errOut bytes.Buffer
			if err := run(context.Background(), args, &out, &errOut, nil); err != nil {
				t.Errorf("hub %s: %v (stderr %q)", strings.Join(args, " "), err, errOut.String())
				continue
			}
			for _, w := range c.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("hub %s printed %q, want %q in it", strings.Join(args, " "), out.String(), w)
				}
			}
			if strings.Contains(out.String()+errOut.String(), "unknown command") {
				t.Errorf("hub %s: %q", strings.Join(args, " "), out.String()+errOut.String())
			}
		}
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		var out bytes.Buffer
		if err := run(context.Background(), args, &out, io.Discard, nil); err != nil || !strings.Contains(out.String(), "hub user revoke NAME") {
			t.Errorf("hub %s: %v, %q", strings.Join(args, " "), err, out.String())
		}
	}
	if entries, err := os.ReadDir(os.Getenv("XDG_DATA_HOME")); err != nil || len(entries) > 0 {
		t.Errorf("help created %v (%v)", entries, err)
	}
	if err := run(context.Background(), []string{"help", "frobnicate"}, io.Discard, io.Discard, nil); err == nil {
		t.Error("hub help frobnicate succeeded")
	}
}
