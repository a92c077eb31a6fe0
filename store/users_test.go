package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"tandem"
)

func TestCreateTokenAuthenticate(t *testing.T) {
	d := openTest(t, t.TempDir())

	t1, err := d.CreateToken("ann")
	if err != nil {
		t.Fatal(err)
	}
	t2, err := d.CreateToken("ann") // a second device
	if err != nil {
		t.Fatal(err)
	}
	t3, err := d.CreateToken("bob")
	if err != nil {
		t.Fatal(err)
	}
	if t1 == t2 || t1 == t3 || t2 == t3 {
		t.Fatalf("tokens repeat: %q %q %q", t1, t2, t3)
	}
	raw, err := base64.RawURLEncoding.DecodeString(t1)
	if err != nil {
		t.Fatalf("token %q: %v", t1, err)
	}
	if got, want := len(raw), 32; got != want {
		t.Errorf("token has %d random bytes, want %d", got, want)
	}

	for _, c := range []struct{ token, user string }{{t1, "ann"}, {t2, "ann"}, {t3, "bob"}} {
		u, err := d.Authenticate(c.token)
		if err != nil {
			t.Fatalf("Authenticate(%q): %v", c.token, err)
		}
		if got, want := u, (tandem.User{Name: c.user, CreatedAt: testNow}); got != want {
			t.Errorf("Authenticate(%q) = %+v, want %+v", c.token, got, want)
		}
	}

	users, err := d.Users()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(users), 2; got != want {
		t.Fatalf("Users() = %+v, want %d users", users, want)
	}
	if got, want := users[0].Name+","+users[1].Name, "ann,bob"; got != want {
		t.Errorf("Users() names = %s, want %s", got, want)
	}
	if u, err := d.User("bob"); err != nil || u.Name != "bob" {
		t.Errorf("User(bob) = %+v, %v", u, err)
	}
	_, err = d.User("cat")
	wantCode(t, err, tandem.ENOTFOUND)
}

func TestTokenStoredOnlyAsHash(t *testing.T) {
	dir := t.TempDir()
	d := openTest(t, dir)
	token, err := d.CreateToken("ann")
	if err != nil {
		t.Fatal(err)
	}
	hash := sha256.Sum256([]byte(token))
	err = d.db.View(func(tx *bolt.Tx) error {
		if got, want := string(bucket(tx, bucketTokens).Get(hash[:])), "ann"; got != want {
			t.Errorf("tokens[sha256] = %q, want %q", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(d.Path())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(token)
	if bytes.Contains(file, []byte(token)) || bytes.Contains(file, raw) {
		t.Error("the database file holds the token itself")
	}
}

func TestAuthenticateUnauthorized(t *testing.T) {
	d := openTest(t, t.TempDir())
	token, err := d.CreateToken("ann")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, token string }{
		{"empty", ""},
		{"garbage", "not a token"},
		{"never issued", strings.Repeat("A", len(token))},
		{"extended", token + "A"},
		{"truncated", token[:len(token)-1]},
		{"padded", " " + token},
	} {
		t.Run(c.name, func(t *testing.T) {
			u, err := d.Authenticate(c.token)
			if err == nil {
				t.Fatalf("Authenticate(%q) = %+v, want an error", c.token, u)
			}
			wantCode(t, err, tandem.EUNAUTHORIZED)
		})
	}
}

func TestCreateTokenInvalidName(t *testing.T) {
	d := openTest(t, t.TempDir())
	for _, name := range []string{"", " ", " ann", "ann\n", "a\x00b", strings.Repeat("x", 65), "\xff"} {
		_, err := d.CreateToken(name)
		if err == nil {
			t.Fatalf("CreateToken(%q) succeeded", name)
		}
		wantCode(t, err, tandem.EINVALID)
	}
	users, err := d.Users()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(users), 0; got != want {
		t.Errorf("Users() = %+v, want none", users)
	}
}

func TestRevokeUser(t *testing.T) {
	d := openTest(t, t.TempDir())
	a1, err := d.CreateToken("ann")
	if err != nil {
		t.Fatal(err)
	}
	a2, err := d.CreateToken("ann")
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.CreateToken("bob")
	if err != nil {
		t.Fatal(err)
	}
	n, err := d.RevokeUser("ann")
	if err != nil || n != 2 {
		t.Fatalf("RevokeUser(ann) = %d, %v; want 2 tokens", n, err)
	}
	for _, tok := range []string{a1, a2} {
		_, err := d.Authenticate(tok)
		wantCode(t, err, tandem.EUNAUTHORIZED)
	}
	if u, err := d.Authenticate(b); err != nil || u.Name != "bob" {
		t.Errorf("bob after ann's revocation: %+v, %v", u, err)
	}
	// The user stays, with no tokens.
	if _, err := d.User("ann"); err != nil {
		t.Errorf("User(ann) after revocation: %v", err)
	}
	counts, err := d.TokenCounts()
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 1 || counts["bob"] != 1 {
		t.Errorf("TokenCounts() = %v, want map[bob:1]", counts)
	}
	if n, err := d.RevokeUser("ann"); err != nil || n != 0 {
		t.Errorf("second RevokeUser(ann) = %d, %v", n, err)
	}
	_, err = d.RevokeUser("nobody")
	wantCode(t, err, tandem.ENOTFOUND)
}
