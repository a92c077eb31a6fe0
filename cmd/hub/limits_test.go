package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// limitWait bounds every wait for the hub to act on a limit.
const limitWait = 20 * time.Second

// rawDial opens a connection, closed when the test ends.
func rawDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readUntilClosed reads c until the hub closes it, and fails the test if
// it is still open after limitWait.
func readUntilClosed(t *testing.T, c net.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(limitWait))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v (read %q)", limitWait, b)
	}
	return string(b)
}

// metric returns a metric's value from the hub's /metrics.
func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := (&http.Client{Timeout: limitWait}).Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no %s in /metrics", name)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// An idle keep-alive connection, and a request body that stops coming on
// any path (an invite redemption, a polling POST, an upload without a
// token), are closed by the hub.
func TestServeClosesIdleAndStalled(t *testing.T) {
	h := startHub(t, "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--idle-timeout", "300ms", "--body-timeout", "300ms")

	t.Run("idle keep-alive", func(t *testing.T) {
		c := rawDial(t, h.addr)
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		_ = c.SetReadDeadline(time.Now().Add(limitWait))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n, err := br.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("idle keep-alive connection: read %d, %v; want EOF", n, err)
		}
	})

	// The polling POST needs a session.
	resp, err := (&http.Client{Timeout: limitWait}).Get("http://" + h.addr + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	open, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sid, ok := strings.CutPrefix(string(open), `0{"sid":"`)
	if !ok {
		t.Fatalf("handshake: %q", open)
	}
	sid, _, _ = strings.Cut(sid, `"`)

	for _, tc := range []struct{ name, req string }{
		{"invite redeem", "POST /api/invites/redeem HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"code\":"},
		{"polling POST", "POST /socket.io/?EIO=4&transport=polling&sid=" + sid + " HTTP/1.1\r\nHost: hub\r\nContent-Type: text/plain\r\nContent-Length: 200\r\n\r\n40"},
		{"upload without token", "POST /api/tracks HTTP/1.1\r\nHost: hub\r\nContent-Type: audio/flac\r\nContent-Length: 100000\r\n\r\nfLaC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawDial(t, h.addr)
			if _, err := io.WriteString(c, tc.req); err != nil {
				t.Fatal(err)
			}
			readUntilClosed(t, c)
		})
	}
	// The redemption and the polling POST read their bodies: they count.
	if got := metric(t, "http://"+h.addr, "tandem_hub_body_timeouts_total"); got < 2 {
		t.Errorf("tandem_hub_body_timeouts_total = %v, want at least 2", got)
	}
}

// nonLoopbackIPv4 returns an IPv4 address of this machine that is not
// loopback, or "".
func nonLoopbackIPv4() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	return ""
}

// The connection over --max-conns-per-ip from one address is closed at
// once, logged and counted; loopback is not capped.
func TestServeMaxConnsPerIP(t *testing.T) {
	ip := nonLoopbackIPv4()
	if ip == "" {
		t.Skip("this machine has no address other than loopback to connect from")
	}
	h := startHub(t, "--addr", "0.0.0.0:0", "--data", t.TempDir(), "--max-conns-per-ip", "2")
	_, port, _ := net.SplitHostPort(h.addr)
	capped, loopback := net.JoinHostPort(ip, port), net.JoinHostPort("127.0.0.1", port)

	// served sends GET /healthz on c and reports whether it was answered.
	served := func(c net.Conn) bool {
		_ = c.SetDeadline(time.Now().Add(limitWait))
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n"); err != nil {
			return false
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	for i := range 2 {
		if !served(rawDial(t, capped)) {
			t.Fatalf("connection %d from %s refused; want 2 served", i+1, ip)
		}
	}
	c, err := net.Dial("tcp", capped)
	if err == nil {
		if served(c) {
			t.Fatalf("a third connection from %s served with --max-conns-per-ip 2", ip)
		}
		c.Close()
	}
	for range 3 {
		if !served(rawDial(t, loopback)) {
			t.Fatal("a loopback connection refused; loopback is not capped")
		}
	}
	if got := metric(t, "http://"+loopback, "tandem_hub_conns_refused_total"); got != 1 {
		t.Errorf("tandem_hub_conns_refused_total = %v, want 1", got)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "too many connections from one address") ||
		!strings.Contains(logs, fmt.Sprintf("source=%s", ip)) {
		t.Errorf("no log line about the refusal:\n%s", logs)
	}
}
