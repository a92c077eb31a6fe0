package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem"
	"tandem/store"
	"tandem/sync/protocol"
	"tandem/sync/socketio"
)

// opsFixture is a hub with accounts, metrics fed by the store, and its
// admin API.
type opsFixture struct {
	db    *store.DB
	hub   *Hub
	url   string
	admin http.Handler
}

func newOpsFixture(t *testing.T) *opsFixture {
	t.Helper()
	m := NewMetrics()
	db, err := store.Open(t.TempDir(), store.Options{ObserveTx: m.ObserveStoreTx})
	if err != nil {
		t.Fatal(err)
	}
	h := New(Config{Store: db, Accounts: db, Metrics: m, PublicURL: "https://hub.example:7878"})
	ts := httptest.NewServer(h.Handler())
	t.Cleanup(func() {
		h.Close()
		ts.Close()
		db.Close()
	})
	return &opsFixture{db: db, hub: h, url: ts.URL, admin: h.AdminHandler()}
}

// adminDo calls the admin API in process and decodes the answer into v.
func (f *opsFixture) adminDo(t *testing.T, method, path, body string, v any) int {
	t.Helper()
	rec := httptest.NewRecorder()
	f.admin.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	if v != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, path, rec.Code, rec.Body.String(), err)
		}
	}
	return rec.Code
}

// connect connects a client with token; disconnected receives the reason
// when the connection ends.
func connect(t *testing.T, url, token string) (*socketio.Client, <-chan string) {
	t.Helper()
	c := socketio.NewClient(url, socketio.ClientOptions{Auth: func() any { return protocol.Auth{Token: token} }})
	gone := make(chan string, 1)
	c.OnDisconnect(func(reason string) {
		select {
		case gone <- reason:
		default:
		}
	})
	t.Cleanup(func() { c.Close() })
	if err := c.Connect(testCtx(t)); err != nil {
		t.Fatalf("connect: %v", err)
	}
	return c, gone
}

func ping(ctx context.Context, c *socketio.Client) error {
	_, err := c.EmitWithAck(ctx, protocol.ClockPing, protocol.ClockPingRequest{T0: 1})
	return err
}

func wantGone(t *testing.T, gone <-chan string, who string) {
	t.Helper()
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s is still connected", who)
	}
}

func wantUnauthorized(t *testing.T, url, token string) {
	t.Helper()
	c := socketio.NewClient(url, socketio.ClientOptions{Auth: func() any { return protocol.Auth{Token: token} }})
	defer c.Close()
	err := c.Connect(testCtx(t))
	var ce *socketio.ConnectError
	if !errors.As(err, &ce) || ce.Message != protocol.Unauthorized {
		t.Fatalf("Connect = %v, want CONNECT_ERROR unauthorized", err)
	}
}

func TestRevokeDisconnectsOpenSockets(t *testing.T) {
	f := newOpsFixture(t)
	ann1, err := f.db.CreateToken("ann")
	if err != nil {
		t.Fatal(err)
	}
	ann2, err := f.db.CreateToken("ann") // a second device
	if err != nil {
		t.Fatal(err)
	}
	bob, err := f.db.CreateToken("bob")
	if err != nil {
		t.Fatal(err)
	}
	_, gone1 := connect(t, f.url, ann1)
	_, gone2 := connect(t, f.url, ann2)
	cb, goneB := connect(t, f.url, bob)
	if n := f.hub.Connections("ann"); n != 2 {
		t.Fatalf("ann has %d sockets, want 2", n)
	}

	var res AdminRevoke
	if code := f.adminDo(t, "POST", "/users/ann/revoke", "", &res); code != http.StatusOK {
		t.Fatalf("revoke: %d %+v", code, res)
	}
	if res != (AdminRevoke{Name: "ann", Tokens: 2, Disconnected: 2}) {
		t.Errorf("revoke = %+v", res)
	}
	wantGone(t, gone1, "ann's first socket")
	wantGone(t, gone2, "ann's second socket")
	for _, tok := range []string{ann1, ann2} {
		wantUnauthorized(t, f.url, tok)
	}

	// Bob is untouched.
	if err := ping(testCtx(t), cb); err != nil {
		t.Errorf("bob after ann's revocation: %v", err)
	}
	select {
	case r := <-goneB:
		t.Errorf("bob disconnected: %s", r)
	default:
	}

	var users map[string][]AdminUser
	if code := f.adminDo(t, "GET", "/users", "", &users); code != http.StatusOK {
		t.Fatalf("users: %d", code)
	}
	got := users["users"]
	if len(got) != 2 || got[0].Name != "ann" || !got[0].Revoked || got[0].Tokens != 0 ||
		got[1].Name != "bob" || got[1].Tokens != 1 || got[1].Connected != 1 {
		t.Errorf("users = %+v", got)
	}

	var fail protocol.Ack
	if code := f.adminDo(t, "POST", "/users/nobody/revoke", "", &fail); code != http.StatusNotFound || fail.Error.Code != tandem.ENOTFOUND {
		t.Errorf("revoke nobody: %d %+v", code, fail)
	}
}

func TestRedeemInviteHTTP(t *testing.T) {
	f := newOpsFixture(t)
	var inv AdminInvite
	if code := f.adminDo(t, "POST", "/invites", `{"uses":1,"expires":"72h"}`, &inv); code != http.StatusCreated {
		t.Fatalf("create invite: %d", code)
	}
	if inv.Link != "tandem://hub.example:7878/invite/"+inv.Code || inv.URL != "https://hub.example:7878/invite/"+inv.Code {
		t.Errorf("links %q %q", inv.Link, inv.URL)
	}
	if d := time.Until(inv.ExpiresAt); d < 71*time.Hour || d > 73*time.Hour {
		t.Errorf("expires in %v, want 72h", d)
	}

	post := func(ctype, body string) (int, []byte) {
		t.Helper()
		resp, err := http.Post(f.url+RedeemPath, ctype, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	wantErr := func(status int, b []byte, wantStatus int, wantCode string) {
		t.Helper()
		var a protocol.Ack
		if err := json.Unmarshal(b, &a); err != nil || status != wantStatus || a.OK || a.Error == nil || a.Error.Code != wantCode {
			t.Errorf("got %d %s, want %d %s", status, b, wantStatus, wantCode)
		}
	}

	status, b := post("application/json", `{"code":"`+inv.Code+`","name":"ann"}`)
	if status != http.StatusCreated {
		t.Fatalf("redeem: %d %s", status, b)
	}
	var rr RedeemResponse
	if err := json.Unmarshal(b, &rr); err != nil || rr.User.Name != "ann" || len(rr.Token) < 40 {
		t.Fatalf("redeem answer %s: %v", b, err)
	}
	c, _ := connect(t, f.url, rr.Token)
	if err := ping(testCtx(t), c); err != nil {
		t.Errorf("ping with the redeemed token: %v", err)
	}

	// The invite had one use.
	status, b = post("application/json", `{"code":"`+inv.Code+`","name":"bob"}`)
	wantErr(status, b, http.StatusForbidden, tandem.EFORBIDDEN)

	var inv2 AdminInvite
	f.adminDo(t, "POST", "/invites", `{"uses":3}`, &inv2)
	status, b = post("application/json", `{"code":"`+inv2.Code+`","name":"ann"}`)
	wantErr(status, b, http.StatusConflict, tandem.ECONFLICT)
	status, b = post("application/json", `{"code":"`+inv2.Code+`","name":""}`)
	wantErr(status, b, http.StatusBadRequest, tandem.EINVALID)
	status, b = post("application/json", `{"code":"`+inv2.Code+`","name":"x","extra":1}`)
	wantErr(status, b, http.StatusBadRequest, tandem.EINVALID)
	status, b = post("application/json", `not json`)
	wantErr(status, b, http.StatusBadRequest, tandem.EINVALID)
	status, b = post("text/plain", `{"code":"`+inv2.Code+`","name":"cid"}`)
	wantErr(status, b, http.StatusUnsupportedMediaType, tandem.EINVALID)
	status, b = post("application/json", `{"code":"nope","name":"cid"}`)
	wantErr(status, b, http.StatusForbidden, tandem.EFORBIDDEN)
	status, _ = post("application/json", `{"code":"`+inv2.Code+`","name":"cid"}`)
	if status != http.StatusCreated {
		t.Errorf("second invite after refusals: %d", status)
	}

	// The page a browser shows.
	resp, err := http.Get(f.url + InvitePath + inv2.Code)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(page, []byte("player --invite https://hub.example:7878/invite/"+inv2.Code)) {
		t.Errorf("invite page %d:\n%s", resp.StatusCode, page)
	}
	resp, err = http.Get(f.url + InvitePath + "%3Cscript%3E")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("invite page for a malformed code: %d", resp.StatusCode)
	}

	var bad protocol.Ack
	if code := f.adminDo(t, "POST", "/invites", `{"uses":1,"expires":"soon"}`, &bad); code != http.StatusBadRequest {
		t.Errorf("bad expiry: %d %+v", code, bad)
	}
}

func TestAdminTokenAndBackup(t *testing.T) {
	f := newOpsFixture(t)
	var tok AdminToken
	if code := f.adminDo(t, "POST", "/tokens", `{"name":"ann"}`, &tok); code != http.StatusCreated || tok.Name != "ann" {
		t.Fatalf("token: %d %+v", code, tok)
	}
	connect(t, f.url, tok.Token)

	rec := httptest.NewRecorder()
	f.admin.ServeHTTP(rec, httptest.NewRequest("GET", "/backup", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("backup: %d", rec.Code)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, store.FileName), rec.Body.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatalf("open backup: %v", err)
	}
	defer db.Close()
	if u, err := db.Authenticate(tok.Token); err != nil || u.Name != "ann" {
		t.Errorf("backup Authenticate = %+v, %v", u, err)
	}
}

func TestReadyzAndDrain(t *testing.T) {
	f := newOpsFixture(t)
	get := func(path string) (int, string) {
		resp, err := http.Get(f.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/readyz"); code != http.StatusOK {
		t.Fatalf("readyz before drain: %d", code)
	}
	tok, err := f.db.CreateToken("ann")
	if err != nil {
		t.Fatal(err)
	}
	c, gone := connect(t, f.url, tok)
	if err := ping(testCtx(t), c); err != nil {
		t.Fatal(err)
	}
	told := make(chan protocol.Shutdown, 1)
	c.On(protocol.EventShutdown, func(args []json.RawMessage, _ socketio.AckFunc) {
		var ev protocol.Shutdown
		_ = json.Unmarshal(args[0], &ev)
		told <- ev
	})
	if err := f.hub.Drain(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-told:
		if ev.Reason == "" {
			t.Error("shutdown event without a reason")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no shutdown event after Drain")
	}
	if code, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("readyz while draining: %d", code)
	}
	if code, body := get("/healthz"); code != http.StatusOK {
		t.Errorf("healthz while draining: %d %s", code, body)
	}
	if _, body := get("/metrics"); !strings.Contains(body, "tandem_hub_draining 1") {
		t.Errorf("metrics while draining lack tandem_hub_draining 1")
	}
	// A socket that connects while the hub drains does not stay.
	late := socketio.NewClient(f.url, socketio.ClientOptions{NoReconnect: true,
		Auth: func() any { return protocol.Auth{Token: tok} }})
	defer late.Close()
	lateGone := make(chan string, 1)
	late.OnDisconnect(func(r string) { lateGone <- r })
	if err := late.Connect(testCtx(t)); err == nil {
		wantGone(t, lateGone, "a socket connected while draining")
	}
	// Close ends the transports without a Socket.IO DISCONNECT, so that
	// clients reconnect to the restarted hub.
	// (TestGracefulShutdown in cmd/hub checks the reconnection.)
	f.hub.Close()
	wantGone(t, gone, "client after Close")
}

func TestMetrics(t *testing.T) {
	f := newOpsFixture(t)
	tok, err := f.db.CreateToken("ann")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := connect(t, f.url, tok)
	if err := ping(testCtx(t), c); err != nil {
		t.Fatal(err)
	}
	var ack protocol.JoinAck
	call(t, c, protocol.RoomJoin, protocol.RoomRequest{Room: "lounge"}, &ack)
	if !ack.OK {
		t.Fatalf("join: %+v", ack)
	}
	f.hub.countUploadBytes(1234)

	// Presence is broadcast shortly after the join.
	deadline := time.Now().Add(5 * time.Second)
	var body string
	for {
		resp, err := http.Get(f.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		if strings.Contains(body, `tandem_hub_events_out_total{event="presence"} 1`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{
		"tandem_hub_connections 1",
		"tandem_hub_connections_total 1",
		"tandem_hub_rooms 1",
		`tandem_hub_events_in_total{event="clock:ping"} 1`,
		`tandem_hub_events_in_total{event="room:join"} 1`,
		"tandem_hub_command_duration_seconds_count 2",
		`tandem_hub_events_out_total{event="presence"} 1`,
		"tandem_hub_broadcast_duration_seconds_count 1",
		`tandem_hub_store_tx_duration_seconds_count{kind="update"}`,
		"tandem_hub_upload_bytes_total 1234",
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
}

// TestRoomLinkRedeems: on a hub whose room links admit newcomers, a room's
// code makes an account; elsewhere it is refused like an unknown invite.
func TestRoomLinkRedeems(t *testing.T) {
	for _, admit := range []bool{true, false} {
		db, err := store.Open(t.TempDir(), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		const code = "MZXW6YTBOI3DAMRQ"
		if err := db.PutRoom(tandem.Room{Name: "lounge", Host: "ann", Code: code}); err != nil {
			t.Fatal(err)
		}
		h := New(Config{Store: db, Accounts: db, RoomLinksAdmit: admit})
		ts := httptest.NewServer(h.Handler())
		resp, err := http.Post(ts.URL+RedeemPath, "application/json", strings.NewReader(`{"code":"`+code+`","name":"bob"}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if admit {
			var rr RedeemResponse
			if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &rr) != nil || rr.User.Name != "bob" {
				t.Errorf("admitting hub: %d %s", resp.StatusCode, b)
			} else if u, err := db.Authenticate(rr.Token); err != nil || u.Name != "bob" {
				t.Errorf("the token: %+v %v", u, err)
			}
		} else if resp.StatusCode != http.StatusForbidden {
			t.Errorf("hub without room-link admission: %d %s, want 403", resp.StatusCode, b)
		}
		h.Close()
		ts.Close()
		db.Close()
	}
}
