// Package abuse tries the real hub binary from outside, as an attacker
// or a clumsy client would: raw sockets, frames cut at odd places, lying
// headers and files, floods. Each case asserts the documented answer,
// then that the hub still answers /healthz and a normal client within
// 100 ms (the best of three tries, so that one scheduling hiccup of a
// busy test machine does not count; a wedged hub fails all three).
//
// The hub binary comes from TANDEM_HUB_BIN (make test passes bin/hub) or
// is built into a temporary directory.
package abuse

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"tandem/internal/testhub"
	"tandem/sync/protocol"
	"tandem/sync/socketio"
)

// hubProc is a running hub binary and its data directory.
type hubProc struct {
	t      *testing.T
	bin    string
	data   string
	addr   string
	url    string
	tokens map[string]string
	cmd    *exec.Cmd
	logs   *testhub.LockedBuffer
}

// startHub makes an account for each name, then serves a hub with the
// given extra flags on a free loopback port, and stops it at cleanup.
func startHub(t *testing.T, names []string, flags ...string) *hubProc {
	t.Helper()
	return startHubOn(t, "127.0.0.1", names, flags...)
}

// startHubOn is startHub listening on host (0.0.0.0: every address); the
// test reaches it through loopback.
func startHubOn(t *testing.T, host string, names []string, flags ...string) *hubProc {
	t.Helper()
	return startHubAt(t, host, t.TempDir(), names, flags...)
}

// startHubIn is startHub with its data in dir.
func startHubIn(t *testing.T, dir string, names []string, flags ...string) *hubProc {
	t.Helper()
	return startHubAt(t, "127.0.0.1", dir, names, flags...)
}

func startHubAt(t *testing.T, host, data string, names []string, flags ...string) *hubProc {
	t.Helper()
	h := &hubProc{t: t, bin: testhub.Binary(t), data: data, tokens: map[string]string{}, logs: &testhub.LockedBuffer{}}
	for _, n := range names {
		out, err := exec.Command(h.bin, "token", "create", "--name", n, "--data", h.data).CombinedOutput()
		if err != nil {
			t.Fatalf("hub token create %s: %v\n%s", n, err, out)
		}
		s := strings.TrimSpace(string(out))
		h.tokens[n] = s[strings.LastIndexByte(s, '\n')+1:]
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = ln.Addr().String()
	ln.Close()
	h.url = "http://" + h.addr
	_, port, _ := net.SplitHostPort(h.addr)
	args := append([]string{"serve", "--addr", net.JoinHostPort(host, port), "--data", h.data}, flags...)
	h.cmd = exec.Command(h.bin, args...)
	h.cmd.Stdout, h.cmd.Stderr = h.logs, h.logs
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = h.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- h.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = h.cmd.Process.Kill()
			<-done
			t.Errorf("the hub did not stop within 15 s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("hub log:\n%s", h.logs)
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if res, err := http.Get(h.url + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hub did not start; its log:\n%s", h.logs)
		}
	}
	return h
}

// stillServes checks that the hub answers /healthz and a normal client's
// connect and command within 100 ms, the best of three tries.
func (h *hubProc) stillServes(tok string) {
	h.t.Helper()
	const bound = 100 * time.Millisecond
	best, bestClient := time.Hour, time.Hour
	var lastErr error
	for range 3 {
		start := time.Now()
		cl := &http.Client{Timeout: 5 * time.Second}
		res, err := cl.Get(h.url + "/healthz")
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || strings.TrimSpace(string(b)) != "ok" {
				err = fmt.Errorf("/healthz: %d %q", res.StatusCode, b)
			}
		}
		if err != nil {
			lastErr = err
			continue
		}
		best = min(best, time.Since(start))

		start = time.Now()
		if err := h.normalClient(tok); err != nil {
			lastErr = err
			continue
		}
		bestClient = min(bestClient, time.Since(start))
		if best <= bound && bestClient <= bound {
			return
		}
	}
	if best > bound || bestClient > bound {
		h.t.Errorf("after the case the hub answered /healthz in %v and a normal client in %v at best, want both within %v (last error: %v)",
			best, bestClient, bound, lastErr)
	}
}

// normalClient connects with the official protocol, as the player does,
// and gets one command answered.
func (h *hubProc) normalClient(tok string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := socketio.NewClient(h.url, socketio.ClientOptions{NoReconnect: true, BufferSize: -1,
		Auth: func() any { return protocol.Auth{Token: tok} }})
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	args, err := c.EmitWithAck(ctx, protocol.ClockPing, protocol.ClockPingRequest{})
	if err != nil {
		return fmt.Errorf("clock:ping: %w", err)
	}
	var ack protocol.Ack
	if len(args) == 0 || json.Unmarshal(args[0], &ack) != nil || !ack.OK {
		return fmt.Errorf("clock:ping answered %s", args)
	}
	return nil
}

// rawWS is a WebSocket to the hub's Engine.IO endpoint spoken byte by
// byte: the test writes masked frames itself, cut where it likes.
type rawWS struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

// dialWS opens an Engine.IO WebSocket session and reads its open packet.
func (h *hubProc) dialWS(t *testing.T) *rawWS {
	t.Helper()
	nc, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.(*net.TCPConn).SetNoDelay(true)
	req := "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: " + h.addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := nc.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	w := &rawWS{t: t, nc: nc, br: bufio.NewReader(nc)}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(w.br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("websocket handshake: %v %v", res, err)
	}
	if open := w.read(); !strings.HasPrefix(open, "0{") {
		t.Fatalf("first packet %q, want open", open)
	}
	return w
}

// frame builds a masked client text frame.
func frame(payload []byte) []byte {
	b := []byte{0x81}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// writeParts writes b in parts cut at cuts, each its own segment.
func (w *rawWS) writeParts(b []byte, cuts ...int) {
	w.t.Helper()
	last := 0
	for _, c := range append(cuts, len(b)) {
		if _, err := w.nc.Write(b[last:c]); err != nil {
			w.t.Fatalf("write: %v", err)
		}
		last = c
		time.Sleep(5 * time.Millisecond)
	}
}

// read returns the next text message that is not an Engine.IO ping,
// answering pings as a client does.
func (w *rawWS) read() string {
	w.t.Helper()
	for {
		_ = w.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		var hdr [2]byte
		if _, err := io.ReadFull(w.br, hdr[:]); err != nil {
			w.t.Fatalf("read frame: %v", err)
		}
		n := int64(hdr[1] & 0x7F)
		switch n {
		case 126:
			var l [2]byte
			_, _ = io.ReadFull(w.br, l[:])
			n = int64(binary.BigEndian.Uint16(l[:]))
		case 127:
			var l [8]byte
			_, _ = io.ReadFull(w.br, l[:])
			n = int64(binary.BigEndian.Uint64(l[:]))
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(w.br, payload); err != nil {
			w.t.Fatalf("read payload: %v", err)
		}
		switch hdr[0] & 0x0F {
		case 0x8:
			w.t.Fatalf("the hub closed the WebSocket: %q", payload)
		case 0x1:
			if string(payload) == "2" {
				w.writeParts(frame([]byte("3")))
				continue
			}
			return string(payload)
		}
	}
}

// connectSIO sends the Socket.IO CONNECT with tok and waits for its answer.
func (w *rawWS) connectSIO(tok string) {
	w.t.Helper()
	w.writeParts(frame([]byte(`40{"token":"` + tok + `"}`)))
	if got := w.read(); !strings.HasPrefix(got, "40{") {
		w.t.Fatalf("CONNECT answered %q", got)
	}
}
