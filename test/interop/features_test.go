package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"
	"time"

	"tandem/sync/socketio"
)

// featureServer is a Go Socket.IO server with what features.mjs checks.
func featureServer(t *testing.T) string {
	t.Helper()
	s := socketio.NewServer(socketio.Options{})
	s.Of("/").OnConnection(func(sock *socketio.Socket) {
		sock.On("echo", func(args []json.RawMessage, ack socketio.AckFunc) {
			out := make([]any, len(args))
			for i, a := range args {
				out[i] = a
			}
			_ = ack(out...)
		})
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := sock.EmitWithAck(ctx, "question", 21)
			if err == nil && len(got) == 1 {
				_ = sock.Emit("answered", got[0])
			}
		}()
	})
	custom := s.Of("/custom")
	custom.Use(func(_ *socketio.Socket, auth json.RawMessage) error {
		var a struct{ Key string }
		_ = json.Unmarshal(auth, &a)
		if a.Key != "right" {
			return &socketio.ConnectError{Message: "forbidden", Data: map[string]string{"why": "bad key"}}
		}
		return nil
	})
	custom.OnConnection(func(sock *socketio.Socket) { _ = sock.Emit("welcome", "to /custom") })
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		ts.Close()
	})
	return ts.URL
}

func TestOfficialClientFeatures(t *testing.T) {
	if _, err := os.Stat("node_modules/socket.io-client"); err != nil {
		t.Fatalf("socket.io-client is not installed: run `make test` (%v)", err)
	}
	for _, transports := range []string{"websocket", "polling", "polling,websocket"} {
		t.Run(transports, func(t *testing.T) {
			url := featureServer(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "node", "features.mjs", url, transports)
			cmd.Stderr = os.Stderr
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(stdout)
			want := []string{
				`{"check":"binary-ack","text":"text","bin":[1,2,3],"nested":[4]}`,
				`{"check":"server-ack","value":42}`,
				`{"check":"custom-refused","error":{"message":"forbidden","data":{"why":"bad key"}}}`,
				`{"check":"custom-ok","welcome":"to /custom"}`,
				`{"check":"unknown-namespace","error":{"message":"Invalid namespace","data":null}}`,
			}
			for _, w := range want {
				if !sc.Scan() {
					t.Fatalf("node ended early; want %s", w)
				}
				if got := sc.Text(); got != w {
					t.Fatalf("got  %s\nwant %s", got, w)
				}
			}
			if err := cmd.Wait(); err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					t.Fatalf("node exited with %v", err)
				}
			}
		})
	}
}
