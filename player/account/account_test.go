package account

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"tandem"
	"tandem/store"
	"tandem/sync/hub"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testHub serves a real hub over ts; tls picks HTTPS.
func testHub(t *testing.T, tls bool) (*store.DB, *httptest.Server) {
	t.Helper()
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := hub.New(hub.Config{Store: db, Accounts: db, RoomLinksAdmit: true})
	var ts *httptest.Server
	if tls {
		ts = httptest.NewTLSServer(h.Handler())
	} else {
		ts = httptest.NewServer(h.Handler())
	}
	t.Cleanup(func() {
		h.Close()
		ts.Close()
		db.Close()
	})
	return db, ts
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var te *tandem.Error
	if !errors.As(err, &te) || te.Code != code {
		t.Fatalf("err = %v, want code %s", err, code)
	}
}

func TestJoinTandemLinkPlainHTTP(t *testing.T) {
	db, ts := testHub(t, false)
	code, _, err := db.CreateInvite(1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(ts.URL, "http://")
	link, _, err := hub.InviteLinks(ts.URL, code)
	if err != nil {
		t.Fatal(err)
	}
	if link != "tandem://"+host+"/invite/"+code {
		t.Fatalf("link %q", link)
	}
	path := filepath.Join(t.TempDir(), "config", "tandem", FileName)
	// tandem:// tries https first; this hub speaks plain HTTP.
	a, err := Join(ctx(t), path, link, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if a.Hub != ts.URL || a.Name != "ann" || a.Token == "" {
		t.Errorf("account %+v", a)
	}
	if u, err := db.Authenticate(a.Token); err != nil || u.Name != "ann" {
		t.Errorf("token: %+v, %v", u, err)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("accounts file mode %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("config dir mode %v, want 0700", di.Mode().Perm())
	}
	if tok, err := TokenFor(path, ts.URL+"/"); err != nil || tok != a.Token {
		t.Errorf("TokenFor = %q, %v", tok, err)
	}
	if tok, err := TokenFor(path, "http://elsewhere:1"); err != nil || tok != "" {
		t.Errorf("TokenFor another hub = %q, %v", tok, err)
	}

	// The invite had one use.
	_, err = Join(ctx(t), path, link, "bob")
	wantCode(t, err, tandem.EFORBIDDEN)
}

func TestRedeemHTTPS(t *testing.T) {
	db, ts := testHub(t, true)
	code, _, err := db.CreateInvite(3, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	app, web, err := hub.InviteLinks(ts.URL, code)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Redeem(ctx(t), ts.Client(), web, "ann")
	if err != nil || a.Hub != ts.URL {
		t.Fatalf("https link: %+v, %v", a, err)
	}
	b, err := Redeem(ctx(t), ts.Client(), app, "bob")
	if err != nil || b.Hub != ts.URL {
		t.Fatalf("tandem link to a TLS hub: %+v, %v", b, err)
	}
	_, err = Redeem(ctx(t), ts.Client(), web, "ann")
	wantCode(t, err, tandem.ECONFLICT)
	_, err = Redeem(ctx(t), ts.Client(), web, " spaced")
	wantCode(t, err, tandem.EINVALID)
}

func TestParseInvite(t *testing.T) {
	for _, c := range []struct {
		link string
		hubs []string
		code string
	}{
		{"tandem://hub.example:7878/invite/abc_-1", []string{"https://hub.example:7878", "http://hub.example:7878"}, "abc_-1"},
		{"https://hub.example/invite/xyz", []string{"https://hub.example"}, "xyz"},
		{" http://10.0.0.2:7878/invite/q ", []string{"http://10.0.0.2:7878"}, "q"},
	} {
		hubs, code, err := ParseInvite(c.link)
		if err != nil || code != c.code || !reflect.DeepEqual(hubs, c.hubs) {
			t.Errorf("ParseInvite(%q) = %v, %q, %v", c.link, hubs, code, err)
		}
	}
	for _, bad := range []string{"", "ftp://h/invite/x", "https://h/join/x", "https://h/invite/", "https://h/invite/a/b", "tandem:///invite/x"} {
		if _, _, err := ParseInvite(bad); err == nil {
			t.Errorf("ParseInvite(%q) succeeded", bad)
		}
	}
}

func TestFilePutReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	var f File
	f.Put(Account{Hub: "http://a:1", Name: "ann", Token: "t1"})
	f.Put(Account{Hub: "http://b:1", Name: "ann", Token: "t2"})
	f.Put(Account{Hub: "HTTP://A:1/", Name: "ann", Token: "t3"})
	if err := Save(path, f); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Accounts) != 2 || got.Accounts[0].Token != "t3" || got.Accounts[1].Token != "t2" {
		t.Errorf("accounts %+v", got.Accounts)
	}
	if empty, err := Load(filepath.Join(t.TempDir(), "missing.json")); err != nil || len(empty.Accounts) != 0 {
		t.Errorf("missing file: %+v, %v", empty, err)
	}
}

// TestJoinByRoomLink: a room's invite link alone makes an account on a hub
// whose room links admit newcomers, and it is saved.
func TestJoinByRoomLink(t *testing.T) {
	db, ts := testHub(t, false)
	const code = "MZXW6YTBOI3DAMRQ"
	if err := db.PutRoom(tandem.Room{Name: "lounge", Host: "ann", Code: code}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), FileName)
	link := "tandem://" + strings.TrimPrefix(ts.URL, "http://") + "/join/" + code
	a, err := JoinByRoomLink(ctx(t), path, link, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if u, err := db.Authenticate(a.Token); err != nil || u.Name != "bob" || a.Hub != ts.URL {
		t.Fatalf("account %+v: %+v, %v", a, u, err)
	}
	if tok, err := TokenFor(path, ts.URL); err != nil || tok != a.Token {
		t.Errorf("saved token %q, %v", tok, err)
	}
	_, err = JoinByRoomLink(ctx(t), path, link, "bob")
	wantCode(t, err, tandem.ECONFLICT)
	_, err = JoinByRoomLink(ctx(t), path, "tandem://"+strings.TrimPrefix(ts.URL, "http://")+"/join/AAAAAAAAAAAAAAAA", "cat")
	wantCode(t, err, tandem.EFORBIDDEN)
}
