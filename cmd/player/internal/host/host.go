// Package host runs the hub a player keeps inside itself when it is given
// no --hub: a store in the player's data directory, the demo library, the
// host's and the guests' tokens, and an HTTP server for friends to join.
package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"tandem/audio"
	"tandem/internal/hubmedia"
	"tandem/internal/netguard"
	"tandem/store"
	"tandem/sync/hub"
)

// Host is the hub a player runs inside itself.
type Host struct {
	URL        string // where this player connects (loopback)
	JoinURL    string // what friends use (a LAN address when there is one)
	HostToken  string
	GuestToken string

	db   *store.DB
	hub  *hub.Hub
	srv  *http.Server
	done chan error
}

// guestUser owns the token the host shares with friends; each friend
// appears under the --name they give.
const guestUser = "guest"

// hostTokens are kept in the data directory, readable only by the user, so
// that the join line stays the same from one run to the next.
type hostTokens struct {
	Host  string `json:"host"`
	Guest string `json:"guest"`
}

// Start opens the store in dir, loads the demo library, and serves a hub
// on listen (falling back to any free port when that one is taken).
func Start(dir, listen, hostName string, log *slog.Logger) (*Host, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := store.Open(filepath.Join(dir, "hub"), store.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("built-in hub: %w", err)
	}
	h := &Host{db: db, done: make(chan error, 1)}
	ok := false
	defer func() {
		if !ok {
			db.Close()
		}
	}()
	pl, err := hub.SeedDemo(db, audio.DemoTracks())
	if err != nil {
		return nil, fmt.Errorf("built-in hub: %w", err)
	}
	if h.HostToken, h.GuestToken, err = tokens(db, dir, hostName); err != nil {
		return nil, fmt.Errorf("built-in hub: %w", err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		log.Warn("built-in hub: address taken; using any free port", "addr", listen, "err", err)
		ip, _, _ := net.SplitHostPort(listen)
		if ln, err = net.Listen("tcp", net.JoinHostPort(ip, "0")); err != nil {
			return nil, fmt.Errorf("built-in hub: listen: %w", err)
		}
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	h.URL = "http://" + net.JoinHostPort("127.0.0.1", port)
	h.JoinURL = "http://" + net.JoinHostPort(lanAddress(ln.Addr().(*net.TCPAddr)), port)
	cfg := hub.Config{Store: db, Logger: log.With("part", "hub"), FallbackPlaylist: pl.ID, GuestUser: guestUser,
		// The join line is the invitation: whoever holds it may enter every room.
		OpenRooms: true,
		// A room's invite link is all a newcomer needs: it makes their
		// account (POST /api/invites/redeem with the room's code).
		RoomLinksAdmit: true, Accounts: db, PublicURL: h.JoinURL}
	if err := hubmedia.Wire(&cfg, db, dir, log.With("part", "hub")); err != nil { // the music API
		ln.Close()
		return nil, fmt.Errorf("built-in hub: %w", err)
	}
	h.hub = hub.New(cfg)
	// The hub's own limits: idle and body timeouts, and the cap on
	// connections from one address (friends on the LAN; loopback, this
	// player, is not capped).
	guard := netguard.New(netguard.Config{MaxConnsPerIP: netguard.DefaultMaxConnsPerIP, Logger: log.With("part", "hub")})
	h.srv = guard.Server(h.hub.Handler(), slog.NewLogLogger(log.Handler(), slog.LevelWarn))
	go func() { h.done <- h.srv.Serve(guard.Listener(ln)) }()
	log.Info("built-in hub listening", "addr", ln.Addr().String(), "join", h.JoinURL)
	ok = true
	return h, nil
}

// Close stops the hub and closes the store.
func (h *Host) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = h.srv.Shutdown(ctx)
	err := h.hub.Shutdown(ctx)
	if serr := <-h.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return errors.Join(err, h.db.Close())
}

// tokens returns the host's and the guests' tokens, creating them on the
// first run and whenever the saved ones no longer authenticate.
func tokens(db *store.DB, dir, hostName string) (hostTok, guestTok string, err error) {
	path := filepath.Join(dir, "tokens.json")
	var t hostTokens
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &t)
	}
	if u, err := db.Authenticate(t.Host); err != nil || u.Name != hostName {
		if t.Host, err = db.CreateToken(hostName); err != nil {
			return "", "", err
		}
	}
	if _, err := db.Authenticate(t.Guest); err != nil {
		if t.Guest, err = db.CreateToken(guestUser); err != nil {
			return "", "", err
		}
	}
	b, _ := json.Marshal(t)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "", "", fmt.Errorf("save tokens: %w", err)
	}
	return t.Host, t.Guest, nil
}

// lanAddress returns the address friends should use: the listener's own
// address when it is specific, else the first private IPv4 address of this
// machine, else loopback.
func lanAddress(addr *net.TCPAddr) string {
	if !addr.IP.IsUnspecified() {
		return addr.IP.String()
	}
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsPrivate() {
				return n.IP.String()
			}
		}
	}
	return "127.0.0.1"
}
