package hub

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A session that opens Engine.IO but is not let into the namespace within
// Config.ConnectTimeout, because it sends no CONNECT or because its token
// is refused, is closed: over WebSocket and over polling.
func TestConnectTimeoutClosesUnauthenticated(t *testing.T) {
	const timeout = 200 * time.Millisecond
	const wait = 20 * time.Second // bounds every wait for the hub
	f := newFixture(t, func(c *Config) { c.ConnectTimeout = timeout })
	badConnect := `0{"token":"nope"}`

	for _, connect := range []string{"", badConnect} {
		t.Run("websocket"+map[bool]string{true: "-refused"}[connect != ""], func(t *testing.T) {
			ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(f.url, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			_ = ws.SetReadDeadline(time.Now().Add(wait))
			if _, open, err := ws.ReadMessage(); err != nil || open[0] != '0' {
				t.Fatalf("open packet: %q, %v", open, err)
			}
			if connect != "" {
				if err := ws.WriteMessage(websocket.TextMessage, []byte("4"+connect)); err != nil {
					t.Fatal(err)
				}
				if _, msg, err := ws.ReadMessage(); err != nil || !strings.HasPrefix(string(msg), `44{"message":"unauthorized"`) {
					t.Fatalf("want CONNECT_ERROR, got %q, %v", msg, err)
				}
			}
			for {
				_, msg, err := ws.ReadMessage()
				if err == nil && string(msg) == "1" {
					continue // Engine.IO's close packet, before the socket's close
				}
				if err == nil {
					t.Fatalf("unexpected message %q; want the close", msg)
				}
				var ne interface{ Timeout() bool }
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("session still open after %v", wait)
				}
				return // closed
			}
		})
		t.Run("polling"+map[bool]string{true: "-refused"}[connect != ""], func(t *testing.T) {
			client := &http.Client{Timeout: wait}
			get := func(url string) (int, string) {
				resp, err := client.Get(url)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			base := f.url + "/socket.io/?EIO=4&transport=polling"
			code, open := get(base)
			sid, ok := strings.CutPrefix(open, `0{"sid":"`)
			if code != http.StatusOK || !ok {
				t.Fatalf("handshake: %d %q", code, open)
			}
			sid, _, _ = strings.Cut(sid, `"`)
			url := base + "&sid=" + sid
			if connect != "" {
				resp, err := client.Post(url, "text/plain", strings.NewReader("4"+connect))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			// Poll until the hub forgets the session: 400, code 1.
			deadline := time.Now().Add(wait)
			for {
				code, body := get(url)
				if code == http.StatusBadRequest && strings.Contains(body, `"code":1`) {
					return
				}
				if code != http.StatusOK {
					t.Fatalf("poll: %d %q", code, body)
				}
				if time.Now().After(deadline) {
					t.Fatalf("session still open after %v", wait)
				}
			}
		})
	}
}
