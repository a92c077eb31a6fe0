package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// tokenIs returns a middleware that refuses auth without {"token": want}.
func tokenIs(want, message string) Middleware {
	return func(_ *Socket, auth json.RawMessage) error {
		var a struct {
			Token string `json:"token"`
		}
		_ = json.Unmarshal(auth, &a)
		if a.Token != want && a.Token != "all" {
			return &ConnectError{Message: message, Data: map[string]string{"by": message}}
		}
		return nil
	}
}

func TestDynamicNamespaces(t *testing.T) {
	var created atomic.Int32
	var srv *Server
	_, ts := newServer(t, func(s *Server) {
		srv = s
		p := s.OfRegexp(regexp.MustCompile(`^/dyn-\d+$`))
		p.Use(tokenIs("parent", "parent says no"))
		p.OnChild(func(n *Namespace) {
			created.Add(1)
			if n.Name() == "/dyn-2" {
				n.Use(tokenIs("child", "child says no"))
			}
			n.OnConnection(func(sock *Socket) { sock.Set("child", true) })
		})
		p.OnConnection(func(sock *Socket) {
			sock.On("where", func(_ []json.RawMessage, ack AckFunc) { _ = ack(sock.Namespace().Name(), sock.Get("child")) })
		})
		f := s.OfFunc(func(name string, auth json.RawMessage) bool {
			return strings.HasPrefix(name, "/f-") && bytes.Contains(auth, []byte("let-me-in"))
		})
		f.OnConnection(func(sock *Socket) {
			sock.On("where", func(_ []json.RawMessage, ack AckFunc) { _ = ack(sock.Namespace().Name()) })
		})
		s.Of("/static").Use(func(*Socket, json.RawMessage) error { return errors.New("static says no") })
	})
	tests := []struct {
		nsp     string
		token   string
		message string // the refusal; "" for success
		data    string
		where   string
	}{
		{"/dyn-1", "parent", "", "", `["/dyn-1",true]`},
		{"/dyn-1", "child", "parent says no", `{"by":"parent says no"}`, ""},
		{"/dyn-2", "parent", "child says no", `{"by":"child says no"}`, ""},
		{"/dyn-2", "all", "", "", `["/dyn-2",true]`},
		{"/dyn-x", "all", "Invalid namespace", "", ""},
		{"/f-1", "let-me-in", "", "", `["/f-1"]`},
		{"/f-2", "nope", "Invalid namespace", "", ""},
		{"/static", "all", "static says no", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.nsp+" "+tt.token, func(t *testing.T) {
			c := newClient(t, ts.URL, ClientOptions{Namespace: tt.nsp, Auth: func() any { return map[string]string{"token": tt.token} }})
			err := c.Connect(ctx(t))
			if tt.message != "" {
				var ce *ConnectError
				if !errors.As(err, &ce) || ce.Message != tt.message {
					t.Fatalf("Connect = %v, want refusal %q", err, tt.message)
				}
				var data string
				if ce.Data != nil {
					data = string(ce.Data.(json.RawMessage))
				}
				if data != tt.data {
					t.Fatalf("data = %s, want %s", data, tt.data)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.EmitWithAck(ctx(t), "where")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(got)
			if string(b) != tt.where {
				t.Fatalf("where = %s, want %s", b, tt.where)
			}
		})
	}
	// /dyn-1 and /dyn-2 were created once each, by their first connection.
	if got := created.Load(); got != 2 {
		t.Fatalf("OnChild called %d times, want 2", got)
	}
	if srv.Of("/dyn-1").Parent() == nil {
		t.Fatal("child has no parent")
	}
}

func TestParentEmitAndCleanup(t *testing.T) {
	s := NewServer(Options{CleanupEmptyChildren: true})
	ts := newHTTPServer(t, s)
	p := s.OfRegexp(regexp.MustCompile(`^/r-[a-z]$`))
	var created atomic.Int32
	p.OnChild(func(*Namespace) { created.Add(1) })
	got := make(chan string, 4)
	var clients []*Client
	for _, nsp := range []string{"/r-a", "/r-b"} {
		c := NewClient(ts.URL, ClientOptions{Namespace: nsp})
		c.On("hello", func(args []json.RawMessage, _ AckFunc) { got <- nsp + string(args[0]) })
		if err := c.Connect(ctx(t)); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	names := []string{}
	for _, n := range p.Children() {
		names = append(names, n.Name())
	}
	if !slices.Equal(names, []string{"/r-a", "/r-b"}) {
		t.Fatalf("children = %v", names)
	}
	if err := p.Emit("hello", 1); err != nil {
		t.Fatal(err)
	}
	var heard []string
	for range 2 {
		select {
		case m := <-got:
			heard = append(heard, m)
		case <-time.After(5 * time.Second):
			t.Fatal("a child's socket did not hear the parent's emit")
		}
	}
	slices.Sort(heard)
	if !slices.Equal(heard, []string{"/r-a1", "/r-b1"}) {
		t.Fatalf("heard %v", heard)
	}
	// The last socket of /r-a leaves: the child goes, and comes back anew.
	disconnected := make(chan struct{})
	p.OnConnection(func(sock *Socket) { sock.OnDisconnect(func(string) { close(disconnected) }) })
	c := NewClient(ts.URL, ClientOptions{Namespace: "/r-c"})
	if err := c.Connect(ctx(t)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	<-disconnected
	if n := len(p.Children()); n != 2 {
		t.Fatalf("%d children after /r-c emptied, want 2", n)
	}
	c = NewClient(ts.URL, ClientOptions{Namespace: "/r-c"})
	p.OnConnection(nil)
	if err := c.Connect(ctx(t)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got := created.Load(); got != 4 {
		t.Fatalf("OnChild called %d times, want 4", got)
	}
	for _, c := range clients {
		c.Close()
	}
}

func TestNamespaceHandlers(t *testing.T) {
	_, ts := newServer(t, func(s *Server) {
		nsp := s.Of("/")
		nsp.On("hello", func(_ *Socket, args []json.RawMessage, ack AckFunc) { _ = ack("namespace " + string(args[0])) })
		nsp.OnAny(func(_ *Socket, event string, _ []json.RawMessage, ack AckFunc) { _ = ack("any " + event) })
		nsp.OnConnection(func(sock *Socket) {
			sock.On("mine", func(_ []json.RawMessage, ack AckFunc) { _ = ack("socket") })
		})
	})
	c := newClient(t, ts.URL, ClientOptions{})
	if err := c.Connect(ctx(t)); err != nil {
		t.Fatal(err)
	}
	for event, want := range map[string]string{"hello": `"namespace 1"`, "mine": `"socket"`, "other": `"any other"`} {
		args, err := c.EmitWithAck(ctx(t), event, 1)
		if err != nil || len(args) != 1 || string(args[0]) != want {
			t.Errorf("%s: ack %s, %v; want %s", event, args, err, want)
		}
	}
}
