package socketio

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// Options.ClientAddr names each connection's client from its own handshake
// request, over every transport, however many connect at once; middleware
// and handlers read it with Socket.ClientAddr.
func TestClientAddr(t *testing.T) {
	for _, transports := range [][]string{{"polling"}, {"polling", "websocket"}, {"websocket"}} {
		t.Run(strings.Join(transports, "+"), func(t *testing.T) {
			s := NewServer(Options{ClientAddr: func(r *http.Request) string { return r.Header.Get("X-Client") }})
			s.Of("/").Use(func(sock *Socket, auth json.RawMessage) error {
				var a struct{ Name string }
				_ = json.Unmarshal(auth, &a)
				if got := sock.ClientAddr(); got != a.Name {
					return &ConnectError{Message: fmt.Sprintf("client %q, want %q", got, a.Name)}
				}
				return nil
			})
			s.Of("/").On("who", func(sock *Socket, _ []json.RawMessage, ack AckFunc) { _ = ack(sock.ClientAddr()) })
			ts := newHTTPServer(t, s)
			var wg sync.WaitGroup
			for i := range 20 {
				name := fmt.Sprintf("client-%d", i)
				c := newClient(t, ts.URL, ClientOptions{Transports: transports, Header: http.Header{"X-Client": {name}},
					Auth: func() any { return map[string]string{"name": name} }})
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := c.Connect(ctx(t)); err != nil {
						t.Errorf("%s: %v", name, err)
						return
					}
					got, err := c.EmitWithAck(ctx(t), "who")
					if err != nil || len(got) != 1 || string(got[0]) != `"`+name+`"` {
						t.Errorf("%s: who = %s, %v", name, got, err)
					}
				}()
			}
			wg.Wait()
		})
	}
}
