package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"tandem"
	"tandem/sync/protocol"
	"tandem/sync/socketio"
)

// Accounts is the storage of friends' access: invites, users, tokens and
// backups. Methods return *tandem.Error values with EINVALID, ENOTFOUND,
// ECONFLICT or EFORBIDDEN codes where they apply; *store.DB implements it.
type Accounts interface {
	// CreateInvite makes a code good for uses redemptions until ttl from
	// now (0: never), and returns it with its expiry (zero: never).
	CreateInvite(uses int, ttl time.Duration) (code string, expiresAt time.Time, err error)
	// RedeemInvite spends one use of code on a new user called name and
	// returns the user and a new token, in one transaction.
	RedeemInvite(code, name string) (tandem.User, string, error)
	Users() ([]tandem.User, error)
	// TokenCounts returns the number of tokens of each user that has any.
	TokenCounts() (map[string]int, error)
	CreateToken(name string) (string, error)
	// RevokeUser deletes every token of the user and returns how many.
	RevokeUser(name string) (int, error)
	// WriteBackup writes a consistent copy of the database to w.
	WriteBackup(w io.Writer) (int64, error)
}

// opsState is the hub's state for access and operations (this file,
// metrics.go, invite.go, admin.go). New sets it up with initOps.
type opsState struct {
	metrics   *Metrics
	accounts  Accounts // nil: no invites and no admin API
	publicURL string
	draining  atomic.Bool

	mu sync.Mutex // guards the following
	// conns holds the connected sockets by account (the user that owns
	// the token, "guest" for guests), for revocation and shutdown.
	conns map[string]map[*socketio.Socket]struct{}
	// revokes counts revocations; a connection that sees it change while
	// it registers checks its token again (see trackConnection).
	revokes uint64
}

// accountKey is the Socket value holding the account a socket is tracked
// under.
const accountKey = "account"

// initOps sets up metrics, access tracking and the operational routes:
// /readyz, /metrics, the invite page and, with Accounts, invite redemption.
func (h *Hub) initOps(cfg Config) {
	h.ops.metrics = h.initMetrics(cfg.Metrics)
	h.ops.accounts = cfg.Accounts
	h.ops.publicURL = cfg.PublicURL
	h.ops.conns = map[string]map[*socketio.Socket]struct{}{}
	h.mux.HandleFunc("GET /readyz", h.readyz)
	h.mux.Handle("GET /metrics", h.ops.metrics.handler())
	h.mux.HandleFunc("GET /invite/{code}", h.invitePage)
	if cfg.Accounts != nil {
		h.mux.HandleFunc("POST "+RedeemPath, h.redeemInvite)
	}
}

// trackConnection registers a new socket under its account, so that
// revoking the account or shutting down reaches it; onConnection calls it.
//
// The socket's token is checked again after the socket is registered:
// a revocation that committed before that check is seen by it, and one
// that commits after it finds the socket registered. The revocation
// counter covers the check having read the store just before the commit.
func (h *Hub) trackConnection(s *socketio.Socket) {
	m := h.ops.metrics
	m.connections.Inc()
	m.connectionsTotal.Inc()
	var a protocol.Auth
	_ = json.Unmarshal(s.Auth(), &a) // authenticate already accepted it
	account := ""
	for {
		h.ops.mu.Lock()
		seen := h.ops.revokes
		h.ops.mu.Unlock()
		u, err := h.store.Authenticate(a.Token)
		if err != nil {
			h.log.Info("hub: token revoked while connecting", "user", userOf(s), "sid", s.ID())
			s.OnDisconnect(func(string) { m.connections.Dec() })
			s.Disconnect(true)
			return
		}
		h.ops.mu.Lock()
		if h.ops.revokes != seen {
			h.ops.mu.Unlock()
			continue // a revocation committed meanwhile: check again
		}
		account = u.Name
		set := h.ops.conns[account]
		if set == nil {
			set = map[*socketio.Socket]struct{}{}
			h.ops.conns[account] = set
		}
		set[s] = struct{}{}
		h.ops.mu.Unlock()
		break
	}
	s.Set(accountKey, account)
	s.OnDisconnect(func(string) { h.untrack(s, account) })
	if h.ops.draining.Load() {
		s.Disconnect(true) // Drain may have looked before this socket registered
	}
}

func (h *Hub) untrack(s *socketio.Socket, account string) {
	h.ops.metrics.connections.Dec()
	h.ops.mu.Lock()
	defer h.ops.mu.Unlock()
	if set := h.ops.conns[account]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(h.ops.conns, account)
		}
	}
}

// DisconnectUser disconnects every socket of the account name at once,
// with a Socket.IO DISCONNECT, after the store has revoked its tokens: the
// clients do not reconnect, and a new connection with a revoked token gets
// CONNECT_ERROR "unauthorized". It returns the number of sockets closed.
func (h *Hub) DisconnectUser(name string) int {
	h.ops.mu.Lock()
	h.ops.revokes++
	socks := make([]*socketio.Socket, 0, len(h.ops.conns[name]))
	for s := range h.ops.conns[name] {
		socks = append(socks, s)
	}
	h.ops.mu.Unlock()
	for _, s := range socks {
		s.Disconnect(true)
	}
	m := h.ops.metrics
	m.revocations.Inc()
	m.revokedDisconnect.Add(float64(len(socks)))
	if len(socks) > 0 {
		h.log.Info("hub: revoked user disconnected", "user", name, "sockets", len(socks))
	}
	return len(socks)
}

// Connections returns the number of sockets of the account name.
func (h *Hub) Connections(name string) int {
	h.ops.mu.Lock()
	defer h.ops.mu.Unlock()
	return len(h.ops.conns[name])
}

// drainGrace bounds how long Drain lets commands in flight finish, with
// their acks, before it disconnects the clients.
const drainGrace = time.Second

// Drain starts the hub's graceful shutdown: /readyz answers 503 from now
// on, commands in flight finish (for up to a second, so that their acks
// reach the clients), every client is told with a Socket.IO DISCONNECT
// and its connection closed, and Drain waits, until ctx ends, for the
// commands that were still queued. Close the hub after it. New sockets
// that connect meanwhile are disconnected at once.
func (h *Hub) Drain(ctx context.Context) error {
	if h.ops.draining.Swap(true) {
		return nil
	}
	h.ops.metrics.draining.Set(1)
	h.log.Info("hub: draining")
	gctx, cancel := context.WithTimeout(ctx, drainGrace)
	_ = h.waitIdle(gctx) // past the grace, the rest are drained below
	cancel()
	// Tell every client, then let Close end the transports. A Socket.IO
	// DISCONNECT would end the sessions for good (clients do not
	// reconnect after one); a closed transport makes them reconnect with
	// backoff, to the restarted hub.
	if err := h.io.Of("/").Emit(protocol.EventShutdown, protocol.Shutdown{Reason: "the hub is shutting down; reconnecting"}); err != nil {
		h.log.Debug("hub: tell clients of the shutdown", "err", err)
	}
	h.log.Info("hub: clients told of the shutdown")
	if err := h.waitIdle(ctx); err != nil {
		return fmt.Errorf("hub: drain: commands still running: %w", err)
	}
	return nil
}

// Draining reports whether Drain has begun.
func (h *Hub) Draining() bool { return h.ops.draining.Load() }

// waitIdle waits until no socket has commands running or waiting, or ctx
// ends. The runners are polled: a WaitGroup cannot be waited on while
// commands keep adding to it.
func (h *Hub) waitIdle(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		h.rmu.Lock()
		n := len(h.runners)
		h.rmu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// readyz answers 200 while the hub serves and 503 once it drains, so that a
// load balancer stops sending friends to it.
func (h *Hub) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if h.ops.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "draining\n")
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}
