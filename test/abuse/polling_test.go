package abuse

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// pollOpen opens a long-polling session and returns its sid.
func (h *hubProc) pollOpen(t *testing.T) string {
	t.Helper()
	res, err := http.Get(h.url + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var open struct {
		SID string `json:"sid"`
	}
	if res.StatusCode != 200 || len(b) < 2 || json.Unmarshal(b[1:], &open) != nil || open.SID == "" {
		t.Fatalf("polling handshake: %d %q", res.StatusCode, b)
	}
	return open.SID
}

func (h *hubProc) pollURL(sid string) string {
	return h.url + "/socket.io/?EIO=4&transport=polling&sid=" + sid
}

// TestPollingPOSTOverLimit (defect 3): a polling POST whose
// Content-Length is over the hub's maxPayload is answered 413 at once,
// before its body, "Expect: 100-continue" or not.
func TestPollingPOSTOverLimit(t *testing.T) {
	h := startHub(t, []string{"ann"})
	for _, expect := range []bool{true, false} {
		sid := h.pollOpen(t)
		nc, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		req := "POST /socket.io/?EIO=4&transport=polling&sid=" + sid + " HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 50000000\r\n"
		if expect {
			req += "Expect: 100-continue\r\n"
		}
		if _, err := nc.Write([]byte(req + "\r\n")); err != nil {
			t.Fatal(err)
		}
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			t.Fatalf("expect-100 %v: no answer before the body: %v", expect, err)
		}
		res.Body.Close()
		nc.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("expect-100 %v: status %d, want 413", expect, res.StatusCode)
		}
	}
	h.stillServes(h.tokens["ann"])
}

// TestPollingMalformedPOSTAnswersClose (defect 8): a malformed POST
// ends the session, and the GET waiting on it gets a close packet, "1",
// as Engine.IO's own server answers, not a noop.
func TestPollingMalformedPOSTAnswersClose(t *testing.T) {
	h := startHub(t, []string{"ann"})
	sid := h.pollOpen(t)
	got := make(chan string, 1)
	go func() {
		res, err := http.Get(h.pollURL(sid))
		if err != nil {
			got <- err.Error()
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		got <- string(b)
	}()
	time.Sleep(200 * time.Millisecond) // the GET is waiting
	res, err := http.Post(h.pollURL(sid), "text/plain", strings.NewReader("\x00not a packet"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 400 {
		t.Fatalf("malformed POST: %d, want 400", res.StatusCode)
	}
	select {
	case body := <-got:
		if body != "1" {
			t.Fatalf("the waiting GET got %q, want \"1\"", body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting GET was not answered")
	}
	h.stillServes(h.tokens["ann"])
}

// TestPollingCloseThenGET (defect 10): a client's close packet served
// before the GET it sent with it still lets that GET end with a noop;
// the next GET finds no session.
func TestPollingCloseThenGET(t *testing.T) {
	h := startHub(t, []string{"ann"})
	sid := h.pollOpen(t)
	res, err := http.Post(h.pollURL(sid), "text/plain", strings.NewReader("1"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for i, want := range []struct {
		code int
		body string
	}{{200, "6"}, {400, ""}} {
		res, err := http.Get(h.pollURL(sid))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want.code || (want.body != "" && string(b) != want.body) {
			t.Fatalf("GET %d after the close: %d %q, want %d %q", i+1, res.StatusCode, b, want.code, want.body)
		}
	}
	h.stillServes(h.tokens["ann"])
}
