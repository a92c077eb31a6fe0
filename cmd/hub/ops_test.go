package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem/internal/testhub"
	"tandem/store"
	"tandem/sync/hub"
	"tandem/sync/protocol"
	"tandem/sync/socketio"
)

// runningHub is a hub served by run() in this process.
type runningHub struct {
	addr string
	logs *testhub.LockedBuffer
	stop func() error // cancels run's context and returns its error
}

func startHub(t *testing.T, args ...string) *runningHub {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	logs := &testhub.LockedBuffer{}
	go func() { done <- run(ctx, append([]string{"serve"}, args...), io.Discard, logs, ready) }()
	select {
	case addr := <-ready:
		var once sync.Once
		var err error
		stop := func() error {
			once.Do(func() {
				cancel()
				select {
				case err = <-done:
				case <-time.After(20 * time.Second):
					err = errors.New("serve did not return after cancel")
				}
			})
			return err
		}
		t.Cleanup(func() { _ = stop() })
		return &runningHub{addr: addr, logs: logs, stop: stop}
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v\n%s", err, logs.String())
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatalf("serve did not start\n%s", logs.String())
	}
	return nil
}

// hubCmd runs a CLI command and returns its output.
func hubCmd(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), args, &out, &errOut, nil); err != nil {
		t.Fatalf("hub %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

var codeRE = regexp.MustCompile(`invite code: (\S+)`)

func inviteCode(t *testing.T, out string) string {
	t.Helper()
	m := codeRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no invite code in %q", out)
	}
	return m[1]
}

func redeem(t *testing.T, client *http.Client, base, code, name string) (int, hub.RedeemResponse) {
	t.Helper()
	body, _ := json.Marshal(hub.RedeemRequest{Code: code, Name: name})
	resp, err := client.Post(base+hub.RedeemPath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rr hub.RedeemResponse
	_ = json.NewDecoder(resp.Body).Decode(&rr)
	return resp.StatusCode, rr
}

func connectSocket(t *testing.T, url, token string) (*socketio.Client, <-chan string, error) {
	t.Helper()
	c := socketio.NewClient(url, socketio.ClientOptions{Auth: func() any { return protocol.Auth{Token: token} }})
	gone := make(chan string, 1)
	c.OnDisconnect(func(r string) {
		select {
		case gone <- r:
		default:
		}
	})
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c, gone, c.Connect(ctx)
}

func wantDisconnected(t *testing.T, gone <-chan string) {
	t.Helper()
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the socket is still connected")
	}
}

func wantRefused(t *testing.T, url, token string) {
	t.Helper()
	_, _, err := connectSocket(t, url, token)
	var ce *socketio.ConnectError
	if !errors.As(err, &ce) || ce.Message != "unauthorized" {
		t.Fatalf("reconnect = %v, want CONNECT_ERROR unauthorized", err)
	}
}

// checkBackup opens a backup as a data directory's database and checks
// that it holds the user of token.
func checkBackup(t *testing.T, path, token, user string) {
	t.Helper()
	if err := store.CheckFile(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, store.FileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatalf("open backup: %v", err)
	}
	defer db.Close()
	if u, err := db.Authenticate(token); err != nil || u.Name != user {
		t.Errorf("backup: Authenticate = %+v, %v; want %s", u, err, user)
	}
}

// TestAdminWithoutHub runs the access commands on the database directly.
func TestAdminWithoutHub(t *testing.T) {
	dir := t.TempDir()
	tok := tokenFor(t, dir, "ann")
	out := hubCmd(t, "invite", "create", "--data", dir, "--uses", "2", "--expires", "1h", "--public-url", "https://music.example.org")
	code := inviteCode(t, out)
	for _, want := range []string{"tandem://music.example.org/invite/" + code, "https://music.example.org/invite/" + code, "uses:        2"} {
		if !strings.Contains(out, want) {
			t.Errorf("invite create output lacks %q:\n%s", want, out)
		}
	}
	// The links default to --addr.
	out = hubCmd(t, "invite", "create", "--data", dir, "--addr", "127.0.0.1:9999")
	if !strings.Contains(out, "tandem://127.0.0.1:9999/invite/") {
		t.Errorf("derived link:\n%s", out)
	}

	out = hubCmd(t, "user", "list", "--data", dir)
	if !regexp.MustCompile(`(?m)^ann\s+1\s+active\s+-`).MatchString(out) {
		t.Errorf("user list:\n%s", out)
	}
	backupFile := filepath.Join(t.TempDir(), "tandem-backup.db")
	if out := hubCmd(t, "backup", "--data", dir, "--out", backupFile); !strings.Contains(out, "backup written") {
		t.Errorf("backup: %s", out)
	}
	checkBackup(t, backupFile, tok, "ann")

	// NAME may come before or after the flags.
	out = hubCmd(t, "user", "revoke", "ann", "--data", dir)
	if !strings.Contains(out, "revoked ann: 1 token(s) deleted") {
		t.Errorf("revoke: %s", out)
	}
	out = hubCmd(t, "user", "list", "--data", dir)
	if !regexp.MustCompile(`(?m)^ann\s+0\s+revoked`).MatchString(out) {
		t.Errorf("user list after revoke:\n%s", out)
	}
	err := run(context.Background(), []string{"user", "revoke", "--data", dir, "nobody"}, io.Discard, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "ENOTFOUND") {
		t.Errorf("revoke nobody: %v", err)
	}
}

// TestAdminWithRunningHub runs the same commands through the admin socket
// while a hub holds the database, and revokes a friend who is connected.
func TestAdminWithRunningHub(t *testing.T) {
	dir := t.TempDir()
	annTok := tokenFor(t, dir, "ann")
	h := startHub(t, "--addr", "127.0.0.1:0", "--data", dir)
	base := "http://" + h.addr

	fi, err := os.Stat(filepath.Join(dir, adminSocketName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin socket mode %v, want a socket with 0600", fi.Mode())
	}

	out := hubCmd(t, "invite", "create", "--data", dir, "--uses", "1")
	code := inviteCode(t, out)
	if !strings.Contains(out, "tandem://"+h.addr+"/invite/"+code) || !strings.Contains(out, base+"/invite/"+code) {
		t.Errorf("links should use the hub's address %s:\n%s", h.addr, out)
	}
	client := &http.Client{}
	defer client.CloseIdleConnections()
	status, rr := redeem(t, client, base, code, "bob")
	if status != http.StatusCreated || rr.User.Name != "bob" {
		t.Fatalf("redeem: %d %+v", status, rr)
	}
	if status, _ := redeem(t, client, base, code, "cid"); status != http.StatusForbidden {
		t.Errorf("second redemption of a one-use invite: %d, want 403", status)
	}

	// A token made through the running hub works at once.
	tok2 := strings.TrimSpace(hubCmd(t, "token", "create", "--data", dir, "--name", "dan"))
	if _, _, err := connectSocket(t, base, tok2); err != nil {
		t.Fatalf("dan: %v", err)
	}

	_, gone, err := connectSocket(t, base, rr.Token)
	if err != nil {
		t.Fatal(err)
	}
	out = hubCmd(t, "user", "list", "--data", dir)
	if !regexp.MustCompile(`(?m)^bob\s+1\s+active\s+1\s`).MatchString(out) {
		t.Errorf("user list with a hub:\n%s", out)
	}

	out = hubCmd(t, "user", "revoke", "bob", "--data", dir)
	if !strings.Contains(out, "revoked bob: 1 token(s) deleted, 1 connection(s) closed") {
		t.Errorf("revoke: %s", out)
	}
	wantDisconnected(t, gone)
	wantRefused(t, base, rr.Token)

	backupFile := filepath.Join(t.TempDir(), "online.db")
	hubCmd(t, "backup", "--data", dir, "--out", backupFile)
	checkBackup(t, backupFile, annTok, "ann")
	checkBackup(t, backupFile, tok2, "dan")

	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, adminSocketName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("admin socket left after shutdown: %v", err)
	}
	// With the hub gone, the same command opens the database.
	if out := hubCmd(t, "user", "list", "--data", dir); !strings.Contains(out, "revoked") {
		t.Errorf("user list after the hub stopped:\n%s", out)
	}
}

// TestStaleAdminSocket: a socket file left by a hub that died does not
// stop the commands from opening the database, nor a new hub from
// starting.
func TestStaleAdminSocket(t *testing.T) {
	dir := t.TempDir()
	tokenFor(t, dir, "ann")
	ln, err := net.Listen("unix", filepath.Join(dir, adminSocketName))
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // the file stays, nobody listens
	if out := hubCmd(t, "user", "list", "--data", dir); !strings.Contains(out, "ann") {
		t.Errorf("user list with a stale socket:\n%s", out)
	}
	h := startHub(t, "--addr", "127.0.0.1:0", "--data", dir)
	if out := hubCmd(t, "user", "list", "--data", dir); !regexp.MustCompile(`(?m)^ann\s+1\s+active\s+0\s`).MatchString(out) {
		t.Errorf("user list through the new hub:\n%s", out)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestGracefulShutdown cancels run's context, as SIGTERM does in main.
func TestGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	tok := tokenFor(t, dir, "ann")
	h := startHub(t, "--addr", "127.0.0.1:0", "--data", dir, "--demo")
	c, gone, err := connectSocket(t, "http://"+h.addr, tok)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.EmitWithAck(ctx, protocol.ClockPing, protocol.ClockPingRequest{T0: 1}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := h.stop(); err != nil {
		t.Fatalf("serve returned %v after shutdown\n%s", err, h.logs.String())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	wantDisconnected(t, gone)
	for _, want := range []string{"hub shutting down", "hub: draining", "hub: clients told of the shutdown", "hub stopped"} {
		if !strings.Contains(h.logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, h.logs.String())
		}
	}
	// The client was not disconnected for good: it finds the hub again
	// when it restarts at the same address.
	back := make(chan struct{}, 1)
	c.OnConnect(func() {
		select {
		case back <- struct{}{}:
		default:
		}
	})
	h2 := startHub(t, "--addr", h.addr, "--data", dir)
	select {
	case <-back:
	case <-time.After(15 * time.Second):
		t.Fatal("the client did not reconnect to the restarted hub")
	}
	if err := h2.stop(); err != nil {
		t.Fatal(err)
	}
	// The database is closed: another process may open it at once.
	db, err := store.Open(dir, store.Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("database still held after shutdown: %v", err)
	}
	db.Close()
}

// selfSigned writes a certificate and key for 127.0.0.1 and returns their
// paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "tandem test hub"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t)
	h := startHub(t, "--addr", "127.0.0.1:0", "--data", dir, "--tls-cert", certFile, "--tls-key", keyFile)
	base := "https://" + h.addr
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.TLS == nil {
			t.Errorf("GET %s: %d, TLS %v", path, resp.StatusCode, resp.TLS != nil)
		}
	}
	// Plain HTTP on the TLS port gets nowhere.
	plain := &http.Client{}
	defer plain.CloseIdleConnections()
	if resp, err := plain.Get("http://" + h.addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP served on the TLS port")
		}
	}
	// Invites made through the running hub carry https links, and redeem
	// over TLS.
	out := hubCmd(t, "invite", "create", "--data", dir)
	code := inviteCode(t, out)
	if !strings.Contains(out, base+"/invite/"+code) {
		t.Errorf("invite over TLS:\n%s", out)
	}
	if status, rr := redeem(t, client, base, code, "ann"); status != http.StatusCreated || rr.Token == "" {
		t.Errorf("redeem over TLS: %d", status)
	}

	for _, args := range [][]string{
		{"--tls-cert", certFile},
		{"--tls-cert", certFile, "--tls-key", keyFile, "--acme-domain", "x.example"},
		{"--tls-cert", certFile, "--tls-key", certFile},
		{"--acme-http-addr", ":0"},
	} {
		err := run(context.Background(), append([]string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir()}, args...), io.Discard, io.Discard, nil)
		if err == nil {
			t.Errorf("serve %q succeeded", args)
		}
	}
}

func TestEnvConfig(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TANDEM_DATA", dir)
	t.Setenv("TANDEM_ADDR", "127.0.0.1:0")
	t.Setenv("TANDEM_LOG_FORMAT", "json")
	t.Setenv("TANDEM_PUBLIC_URL", "https://from-env.example")
	h := startHub(t)
	line := strings.SplitN(h.logs.String(), "\n", 2)[0]
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("TANDEM_LOG_FORMAT=json: first log line %q: %v", line, err)
	}
	if _, err := os.Stat(filepath.Join(dir, store.FileName)); err != nil {
		t.Errorf("TANDEM_DATA not used: %v", err)
	}
	if out := hubCmd(t, "invite", "create"); !strings.Contains(out, "https://from-env.example/invite/") {
		t.Errorf("TANDEM_PUBLIC_URL not used:\n%s", out)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}

	// A flag wins over its variable.
	h = startHub(t, "--log-format", "text", "--log-level", "debug")
	if logs := h.logs.String(); strings.HasPrefix(logs, "{") || !strings.Contains(logs, "level=") {
		t.Errorf("--log-format text did not win over TANDEM_LOG_FORMAT=json:\n%s", logs)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}

	t.Setenv("TANDEM_SHUTDOWN_TIMEOUT", "soon")
	err := run(context.Background(), []string{"serve"}, io.Discard, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "TANDEM_SHUTDOWN_TIMEOUT") {
		t.Errorf("bad variable: %v", err)
	}
}

func TestPublicURL(t *testing.T) {
	for _, c := range []struct {
		explicit, addr, domain string
		tls                    bool
		want                   string
	}{
		{"", "127.0.0.1:7878", "", false, "http://127.0.0.1:7878"},
		{"", "127.0.0.1:443", "", true, "https://127.0.0.1"},
		{"", "127.0.0.1:7878", "", true, "https://127.0.0.1:7878"},
		{"", ":443", "music.example.org", true, "https://music.example.org"},
		{"", "[::1]:7878", "", false, "http://[::1]:7878"},
		{"https://hub.example:8443/", "127.0.0.1:7878", "", false, "https://hub.example:8443"},
	} {
		got, err := publicURL(c.explicit, c.addr, c.domain, c.tls)
		if err != nil || got != c.want {
			t.Errorf("publicURL(%q, %q, %q, %v) = %q, %v; want %q", c.explicit, c.addr, c.domain, c.tls, got, err, c.want)
		}
	}
	if u, err := publicURL("", "0.0.0.0:7878", "", false); err != nil || !strings.HasPrefix(u, "http://") || strings.Contains(u, "0.0.0.0") {
		t.Errorf("publicURL for all interfaces = %q, %v", u, err)
	}
	for _, bad := range []string{"ftp://x", "http://x/path", "x:1"} {
		if _, err := publicURL(bad, "127.0.0.1:1", "", false); err == nil {
			t.Errorf("publicURL(%q) succeeded", bad)
		}
	}
}
