// Package account keeps the player's accounts on hubs, and redeems invite
// links for them.
//
// A friend joins a hub once with an invite link (`player --invite LINK
// --name NAME`): the player redeems the code at the hub
// (POST /api/invites/redeem) for a token, and saves the hub's address and
// the token in the user's configuration directory
// (os.UserConfigDir()/tandem/accounts.json: directory 0700, file 0600).
// Later runs find the token by the hub's address.
package account

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"tandem"
	"tandem/internal/atomicfile"
)

// FileName is the accounts file inside the configuration directory.
const FileName = "accounts.json"

// redeemPath is the hub's redemption endpoint (docs/SELF-HOSTING.md).
const redeemPath = "/api/invites/redeem"

// Account is the player's account on one hub.
type Account struct {
	Hub   string `json:"hub"` // http(s)://HOST[:PORT]
	Name  string `json:"name"`
	Token string `json:"token"`
}

// File is the content of the accounts file.
type File struct {
	Accounts []Account `json:"accounts"`
}

// DefaultPath returns os.UserConfigDir()/tandem/accounts.json.
func DefaultPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("account: %w", err)
	}
	return filepath.Join(dir, "tandem", FileName), nil
}

// Load reads the accounts file; a missing file is an empty one.
func Load(path string) (File, error) {
	var f File
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("account: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("account: %s: %w", path, err)
	}
	return f, nil
}

// Save writes the accounts file atomically, readable by the user only,
// creating its directory (0700) if needed.
func Save(path string, f File) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("account: %w", err)
	}
	if err := atomicfile.Write(path, append(b, '\n'), 0o600, 0o700); err != nil {
		return fmt.Errorf("account: %w", err)
	}
	return nil
}

// Find returns the account on hub.
func (f File) Find(hub string) (Account, bool) {
	key := normalize(hub)
	for _, a := range f.Accounts {
		if normalize(a.Hub) == key {
			return a, true
		}
	}
	return Account{}, false
}

// Put adds a, replacing the account on the same hub.
func (f *File) Put(a Account) {
	key := normalize(a.Hub)
	for i, old := range f.Accounts {
		if normalize(old.Hub) == key {
			f.Accounts[i] = a
			return
		}
	}
	f.Accounts = append(f.Accounts, a)
}

// normalize makes hub addresses comparable: lower-case scheme and host,
// no trailing slash.
func normalize(hub string) string {
	u, err := url.Parse(strings.TrimSuffix(hub, "/"))
	if err != nil {
		return hub
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + u.Path
}

// TokenFor returns the saved token for hub, or "" when there is none.
func TokenFor(path, hub string) (string, error) {
	f, err := Load(path)
	if err != nil {
		return "", err
	}
	a, _ := f.Find(hub)
	return a.Token, nil
}

// ParseInvite reads an invite link, tandem://HOST:PORT/invite/CODE or
// http(s)://HOST:PORT/invite/CODE, and returns the hub addresses to try,
// in order, and the code. A tandem:// link does not say whether the hub
// speaks TLS: https is tried first, then http.
func ParseInvite(link string) (hubs []string, code string, err error) {
	return parseLink(link, "invite")
}

// ParseRoomLink reads a room's invite link, tandem://HOST:PORT/join/CODE
// or http(s)://HOST:PORT/join/CODE, and returns the hub addresses to try,
// in order, and the room's code.
func ParseRoomLink(link string) (hubs []string, code string, err error) {
	return parseLink(link, "join")
}

func parseLink(link, kind string) (hubs []string, code string, err error) {
	u, err := url.Parse(strings.TrimSpace(link))
	if err != nil {
		return nil, "", fmt.Errorf("account: %s link %q: %w", kind, link, err)
	}
	code, ok := strings.CutPrefix(u.EscapedPath(), "/"+kind+"/")
	if ok {
		code, err = url.PathUnescape(code)
	}
	if !ok || err != nil || code == "" || strings.Contains(code, "/") || u.Host == "" {
		return nil, "", fmt.Errorf("account: %s link %q: want tandem://HOST:PORT/%s/CODE or https://HOST:PORT/%s/CODE", kind, link, kind, kind)
	}
	switch u.Scheme {
	case "tandem":
		return []string{"https://" + u.Host, "http://" + u.Host}, code, nil
	case "http", "https":
		return []string{u.Scheme + "://" + u.Host}, code, nil
	}
	return nil, "", fmt.Errorf("account: %s link %q: unknown scheme %q", kind, link, u.Scheme)
}

// Redeem redeems the invite link for a new account called name. client
// nil means a client with a 30 s timeout. A refusal by the hub is returned
// as its *tandem.Error (EFORBIDDEN: the invite is unknown, used up or
// expired; ECONFLICT: the name is taken; EINVALID: a bad name).
func Redeem(ctx context.Context, client *http.Client, link, name string) (Account, error) {
	hubs, code, err := ParseInvite(link)
	if err != nil {
		return Account{}, err
	}
	return redeem(ctx, client, hubs, code, name, link)
}

// RedeemRoomLink makes an account called name on the hub of a room's
// invite link (tandem://HOST:PORT/join/CODE), which a hub whose room links
// admit newcomers allows (a player's built-in hub). Others refuse with
// EFORBIDDEN: ask for a hub invite then.
func RedeemRoomLink(ctx context.Context, client *http.Client, link, name string) (Account, error) {
	hubs, code, err := ParseRoomLink(link)
	if err != nil {
		return Account{}, err
	}
	return redeem(ctx, client, hubs, code, name, link)
}

func redeem(ctx context.Context, client *http.Client, hubs []string, code, name, link string) (Account, error) {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	body, err := json.Marshal(map[string]string{"code": code, "name": name})
	if err != nil {
		return Account{}, fmt.Errorf("account: %w", err)
	}
	for i, hub := range hubs {
		a, err := redeemAt(ctx, client, hub, body)
		var notTLS tls.RecordHeaderError
		if err != nil && i+1 < len(hubs) && (errors.Is(err, http.ErrSchemeMismatch) || errors.As(err, &notTLS)) {
			continue // the hub speaks plain HTTP: try the next address
		}
		return a, err
	}
	return Account{}, fmt.Errorf("account: no address to try for %q", link)
}

func redeemAt(ctx context.Context, client *http.Client, hub string, body []byte) (Account, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hub+redeemPath, bytes.NewReader(body))
	if err != nil {
		return Account{}, fmt.Errorf("account: redeem at %s: %w", hub, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return Account{}, fmt.Errorf("account: redeem at %s: %w", hub, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Account{}, fmt.Errorf("account: redeem at %s: %w", hub, err)
	}
	if resp.StatusCode != http.StatusCreated {
		var fail struct {
			Error *tandem.Error `json:"error"`
		}
		if json.Unmarshal(b, &fail) == nil && fail.Error != nil {
			return Account{}, fmt.Errorf("account: redeem at %s: %w", hub, fail.Error)
		}
		return Account{}, fmt.Errorf("account: redeem at %s: %s", hub, resp.Status)
	}
	var ok struct {
		Token string      `json:"token"`
		User  tandem.User `json:"user"`
	}
	if err := json.Unmarshal(b, &ok); err != nil || ok.Token == "" {
		return Account{}, fmt.Errorf("account: redeem at %s: malformed answer", hub)
	}
	return Account{Hub: hub, Name: ok.User.Name, Token: ok.Token}, nil
}

// Join redeems the invite link for name and saves the account in the
// accounts file at path.
func Join(ctx context.Context, path, link, name string) (Account, error) {
	a, err := Redeem(ctx, nil, link, name)
	if err != nil {
		return Account{}, err
	}
	return a, save(path, a)
}

// JoinByRoomLink is Join for a room's invite link: RedeemRoomLink, then
// the account is saved in path.
func JoinByRoomLink(ctx context.Context, path, link, name string) (Account, error) {
	a, err := RedeemRoomLink(ctx, nil, link, name)
	if err != nil {
		return Account{}, err
	}
	return a, save(path, a)
}

// save adds an account to the accounts file in path.
func save(path string, a Account) error {
	f, err := Load(path)
	if err != nil {
		return err
	}
	f.Put(a)
	return Save(path, f)
}
