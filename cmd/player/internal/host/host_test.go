package host

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"tandem/sync/room"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStartJoinAndRestart(t *testing.T) {
	dir := t.TempDir()
	h, err := Start(dir, "127.0.0.1:0", "ann", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The guests' token works, under the guest's own name.
	c := room.New(room.Options{URL: h.JoinURL, Token: h.GuestToken, Name: "bob", Room: "lounge"}, room.Handlers{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	st := c.State()
	if len(st.Queue) < 5 || len(st.Members) != 1 || st.Members[0].Name != "bob (guest)" {
		t.Fatalf("state = %+v, want the demo queue and bob (guest)", st)
	}
	c.Close()
	fi, err := os.Stat(filepath.Join(dir, "tokens.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("tokens.json: %v, mode %v; want 0600", err, fi.Mode())
	}
	guest, hostTok := h.GuestToken, h.HostToken
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}

	// A restart keeps the tokens, so the join line stays the same.
	h2, err := Start(dir, "127.0.0.1:0", "ann", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	if h2.GuestToken != guest || h2.HostToken != hostTok {
		t.Fatal("tokens changed across a restart")
	}
}

func TestPortTakenFallsBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h, err := Start(t.TempDir(), ln.Addr().String(), "ann", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.URL == "http://"+ln.Addr().String() {
		t.Fatal("host claims the taken port")
	}
}

func TestLockedDataDir(t *testing.T) {
	dir := t.TempDir()
	h, err := Start(dir, "127.0.0.1:0", "ann", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := Start(dir, "127.0.0.1:0", "ann", nil); err == nil {
		t.Fatal("second host on the same data directory started")
	}
}

func TestLANAddress(t *testing.T) {
	if got := lanAddress(&net.TCPAddr{IP: net.ParseIP("10.1.2.3")}); got != "10.1.2.3" {
		t.Fatalf("specific address = %q", got)
	}
	got := net.ParseIP(lanAddress(&net.TCPAddr{IP: net.IPv4zero}))
	if got == nil || got.To4() == nil || !(got.IsPrivate() || got.IsLoopback()) {
		t.Fatalf("unspecified address gave %v, want a private or loopback IPv4", got)
	}
}
