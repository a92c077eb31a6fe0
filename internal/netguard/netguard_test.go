package netguard

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds every wait for something the server should do.
const wait = 20 * time.Second

// serve runs g.Server(h) on a loopback listener wrapped by g, until the
// test ends.
func serve(t *testing.T, g *Guard, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := g.Server(h, nil)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(g.Listener(ln)) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// dial opens a raw connection, closed when the test ends.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitClosed reads c until the server closes it; it fails the test if
// the server sends anything but what allowed matches, or does not close
// within wait.
func waitClosed(t *testing.T, c net.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v (read %q)", wait, b)
	}
	return string(b)
}

func ok(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }

func TestIdleKeepAliveClosed(t *testing.T) {
	g := New(Config{IdleTimeout: 100 * time.Millisecond})
	addr := serve(t, g, http.HandlerFunc(ok))
	c := dial(t, addr)
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close {
		t.Fatal("the server closed at once; want keep-alive")
	}
	// Now idle: the server closes after IdleTimeout.
	_ = c.SetReadDeadline(time.Now().Add(wait))
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle keep-alive connection: read %d, %v; want EOF", n, err)
	}
}

func TestStalledBodyCutOff(t *testing.T) {
	g := New(Config{BodyTimeout: 200 * time.Millisecond})
	got := make(chan error, 1)
	addr := serve(t, g, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		got <- err
		if err != nil {
			http.Error(w, "stalled", http.StatusBadRequest)
		}
	}))
	for _, tc := range []struct{ name, req string }{
		{"content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhello"},
		{"chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := g.BodyStalls()
			c := dial(t, addr)
			if _, err := io.WriteString(c, tc.req); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-got:
				if !isTimeout(err) {
					t.Fatalf("handler read %v, want a timeout", err)
				}
			case <-time.After(wait):
				t.Fatal("stalled body still being read")
			}
			waitClosed(t, c)
			if got, want := g.BodyStalls(), before+1; got != want {
				t.Errorf("BodyStalls = %d, want %d", got, want)
			}
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// A body unread by its handler is bounded too: net/http discards it after
// the handler, and the client does not get to hold that goroutine.
func TestUnreadStalledBodyCutOff(t *testing.T) {
	g := New(Config{BodyTimeout: 200 * time.Millisecond})
	addr := serve(t, g, http.HandlerFunc(ok))
	c := dial(t, addr)
	if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhello"); err != nil {
		t.Fatal(err)
	}
	if out := waitClosed(t, c); !strings.Contains(out, "200 OK") {
		t.Fatalf("got %q, want the handler's answer, then the close", out)
	}
}

// A slow body that keeps coming is read to the end: the deadline moves
// with each read.
func TestSlowBodyKeepsGoing(t *testing.T) {
	const timeout = 2 * time.Second
	g := New(Config{BodyTimeout: timeout})
	type result struct {
		n   int
		err error
	}
	got := make(chan result, 1)
	addr := serve(t, g, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		got <- result{len(b), err}
		ok(w, r)
	}))
	c := dial(t, addr)
	const n = 60
	if _, err := fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", n); err != nil {
		t.Fatal(err)
	}
	// A byte every 50 ms: 3 s in all, longer than the timeout.
	start := time.Now()
	for range n {
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case r := <-got:
		if r.err != nil || r.n != n {
			t.Fatalf("read %d bytes, %v; want %d", r.n, r.err, n)
		}
	case <-time.After(wait):
		t.Fatal("no answer")
	}
	if d := time.Since(start); d < timeout {
		t.Fatalf("the body took %v, not longer than the timeout %v: the test proves nothing", d, timeout)
	}
	if g.BodyStalls() != 0 {
		t.Errorf("BodyStalls = %d, want 0", g.BodyStalls())
	}
}

// A request without a body, such as a long-polling GET, may wait longer
// than the body timeout; and a handler still working after reading its
// whole body is not cut off either.
func TestNoDeadlineWithoutBody(t *testing.T) {
	const timeout = 100 * time.Millisecond
	g := New(Config{BodyTimeout: timeout})
	addr := serve(t, g, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		// Wait several body timeouts, as a long poll does; a read
		// deadline left set would end the request's context.
		select {
		case <-time.After(5 * timeout):
			_, _ = io.WriteString(w, "late")
		case <-r.Context().Done():
		}
	}))
	for _, req := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
	} {
		c := dial(t, addr)
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(wait))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%q: %v", req, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != "late" {
			t.Errorf("%q: got %d %q, want the late answer", req, resp.StatusCode, b)
		}
	}
}

// logBuffer collects log output from the server's goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestMaxConnsPerIP(t *testing.T) {
	var logs logBuffer
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	g := New(Config{MaxConnsPerIP: 3, CapLoopback: true, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: clock})
	addr := serve(t, g, http.HandlerFunc(ok))

	// get sends a request on c and reports whether it was answered.
	get := func(c net.Conn) bool {
		_ = c.SetDeadline(time.Now().Add(wait))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return false
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	// served dials anew and reports whether the request was answered; a
	// refused connection may fail as soon as it is dialled (reset).
	served := func(addr string) bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		defer c.Close()
		return get(c)
	}
	var open []net.Conn
	for i := range 3 {
		c := dial(t, addr)
		if !get(c) {
			t.Fatalf("connection %d refused, want the first 3 served", i+1)
		}
		open = append(open, c)
	}
	if got := g.Open(); got != 3 {
		t.Errorf("Open = %d, want 3", got)
	}
	for i := range 5 {
		if served(addr) {
			t.Fatalf("connection %d over the cap served", i+4)
		}
	}
	if got := g.Refused(); got != 5 {
		t.Errorf("Refused = %d, want 5", got)
	}
	if n := strings.Count(logs.String(), "too many connections"); n != 1 {
		t.Errorf("%d log lines for 5 refusals within %v, want 1:\n%s", n, refusalLogEvery, logs.String())
	}
	mu.Lock()
	now = now.Add(refusalLogEvery)
	mu.Unlock()
	if served(addr) {
		t.Fatal("connection over the cap served")
	}
	if out := logs.String(); strings.Count(out, "too many connections") != 2 || !strings.Contains(out, "unlogged=4") {
		t.Errorf("after %v, want a second line counting the 4 unlogged refusals:\n%s", refusalLogEvery, out)
	}

	// Closing one lets the next in.
	open[0].Close()
	deadline := time.Now().Add(wait)
	for g.Open() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("Open = %d after a close, want 2", g.Open())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c := dial(t, addr); !get(c) {
		t.Fatal("connection refused after one of the 3 closed")
	}
}

// Loopback sources are not capped unless asked: a local reverse proxy
// brings everyone from 127.0.0.1.
func TestLoopbackNotCapped(t *testing.T) {
	g := New(Config{MaxConnsPerIP: 1})
	addr := serve(t, g, http.HandlerFunc(ok))
	for range 3 {
		c := dial(t, addr)
		_ = c.SetDeadline(time.Now().Add(wait))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
			t.Fatalf("loopback connection refused: %v", err)
		}
	}
	if g.Refused() != 0 {
		t.Errorf("Refused = %d, want 0", g.Refused())
	}
}

func TestSourceKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::"},
		{"fe80::1%eth0", "fe80::"},
	} {
		if got := sourceKey(netip.MustParseAddr(tc.in)); got.String() != tc.want {
			t.Errorf("sourceKey(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// errListener returns one error from Accept, then blocks until closed.
type errListener struct {
	net.Listener
	err  error
	once sync.Once
}

func (l *errListener) Accept() (net.Conn, error) {
	var err error
	l.once.Do(func() { err = l.err })
	if err != nil {
		return nil, err
	}
	return l.Listener.Accept()
}

// Accept errors pass through unchanged: http.Server backs off on a
// net.Error that is Temporary (EMFILE, ENFILE), by type assertion, not
// errors.As.
func TestAcceptErrorUnchanged(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	g := New(Config{MaxConnsPerIP: 1})
	_, err = g.Listener(&errListener{Listener: ln, err: emfile}).Accept()
	ne, ok := err.(net.Error)
	if !ok || err != error(emfile) {
		t.Fatalf("Accept error %v (%T), want the listener's own", err, err)
	}
	//lint:ignore SA1019 Temporary is what net/http's Serve looks at.
	if !ne.Temporary() {
		t.Fatal("EMFILE not temporary")
	}
}
