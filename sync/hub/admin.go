package hub

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"tandem"
)

// The admin API is plain HTTP, served by the running hub on a unix socket
// in its data directory (mode 0600), never on the network. `hub invite
// create`, `hub user list`, `hub user revoke`, `hub token create` and
// `hub backup` use it while a hub runs, since the hub holds the
// database's lock. Answers are JSON; errors are {ok:false, error:{code,
// message}} with the status of their code (see opsStatus).
//
//	POST /invites             {"uses":1,"expires":"72h"}  -> 201 AdminInvite
//	GET  /users                                           -> 200 {"users":[AdminUser]}
//	POST /users/{name}/revoke                             -> 200 AdminRevoke
//	POST /tokens              {"name":"ann"}              -> 201 AdminToken
//	GET  /backup                                          -> 200 the database file
//
// "expires" is a Go duration; "0" or "" means never. Omitted uses mean 1.

// AdminInviteRequest is the body of POST /invites.
type AdminInviteRequest struct {
	Uses    int    `json:"uses,omitempty"`
	Expires string `json:"expires,omitempty"`
}

// AdminInvite is a new invite: its code and links.
type AdminInvite struct {
	Code      string    `json:"code"`
	Uses      int       `json:"uses"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"` // zero: never
	Link      string    `json:"link"`               // tandem://…
	URL       string    `json:"url"`                // http(s)://…
}

// AdminUser is one user in the list.
type AdminUser struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
	Tokens    int       `json:"tokens"`
	Revoked   bool      `json:"revoked"`   // no token left
	Connected int       `json:"connected"` // sockets now; 0 when no hub runs
}

// AdminRevoke is the outcome of a revocation.
type AdminRevoke struct {
	Name         string `json:"name"`
	Tokens       int    `json:"tokens"`       // tokens deleted
	Disconnected int    `json:"disconnected"` // sockets closed
}

// AdminToken is a new token.
type AdminToken struct {
	Name  string `json:"name"`
	Token string `json:"token"`
}

// CreateInvite makes an invite on acc and its links on the hub at
// publicURL. The CLI uses it directly when no hub runs.
func CreateInvite(acc Accounts, publicURL string, uses int, ttl time.Duration) (AdminInvite, error) {
	if _, _, err := InviteLinks(publicURL, "x"); err != nil {
		return AdminInvite{}, err // before spending an invite on a bad address
	}
	code, exp, err := acc.CreateInvite(uses, ttl)
	if err != nil {
		return AdminInvite{}, err
	}
	link, web, err := InviteLinks(publicURL, code)
	if err != nil {
		return AdminInvite{}, err
	}
	return AdminInvite{Code: code, Uses: uses, ExpiresAt: exp, Link: link, URL: web}, nil
}

// ListUsers lists acc's users with their token counts, sorted by name;
// connected, when not nil, gives each user's live sockets.
func ListUsers(acc Accounts, connected func(name string) int) ([]AdminUser, error) {
	users, err := acc.Users()
	if err != nil {
		return nil, err
	}
	counts, err := acc.TokenCounts()
	if err != nil {
		return nil, err
	}
	out := make([]AdminUser, 0, len(users))
	for _, u := range users {
		au := AdminUser{Name: u.Name, CreatedAt: u.CreatedAt, Tokens: counts[u.Name], Revoked: counts[u.Name] == 0}
		if connected != nil {
			au.Connected = connected(u.Name)
		}
		out = append(out, au)
	}
	slices.SortFunc(out, func(a, b AdminUser) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// ParseExpiry reads an invite's lifetime: a Go duration such as 72h or
// 30m, with "" and "0" meaning never. The error has code EINVALID.
func ParseExpiry(s string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, tandem.Errorf(tandem.EINVALID, "expires %q: want a duration such as 72h, or 0 for never", s)
	}
	return d, nil
}

// AdminHandler returns the admin API's handler, for a unix socket only. It
// needs Config.Accounts; without it every request gets 501.
func (h *Hub) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	if h.ops.accounts == nil {
		mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
			opsError(w, http.StatusNotImplemented, tandem.Errorf(tandem.EINVALID, "this hub has no accounts store"))
		})
		return mux
	}
	acc := h.ops.accounts
	mux.HandleFunc("POST /invites", func(w http.ResponseWriter, r *http.Request) {
		var req AdminInviteRequest
		if !decodeAdmin(w, r, &req) {
			return
		}
		if req.Uses == 0 {
			req.Uses = 1
		}
		ttl, err := ParseExpiry(req.Expires)
		if err != nil {
			opsError(w, http.StatusBadRequest, err)
			return
		}
		inv, err := CreateInvite(acc, h.ops.publicURL, req.Uses, ttl)
		if err != nil {
			h.adminFail(w, "create invite", err)
			return
		}
		h.log.Info("hub: invite created", "uses", inv.Uses, "expires", inv.ExpiresAt)
		opsJSON(w, http.StatusCreated, inv)
	})
	mux.HandleFunc("GET /users", func(w http.ResponseWriter, _ *http.Request) {
		users, err := ListUsers(acc, h.Connections)
		if err != nil {
			h.adminFail(w, "list users", err)
			return
		}
		opsJSON(w, http.StatusOK, map[string][]AdminUser{"users": users})
	})
	mux.HandleFunc("POST /users/{name}/revoke", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		n, err := acc.RevokeUser(name)
		if err != nil {
			h.adminFail(w, "revoke", err)
			return
		}
		k := h.DisconnectUser(name)
		h.log.Info("hub: user revoked", "user", name, "tokens", n, "disconnected", k)
		opsJSON(w, http.StatusOK, AdminRevoke{Name: name, Tokens: n, Disconnected: k})
	})
	mux.HandleFunc("POST /tokens", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Name string `json:"name"`
		}
		if !decodeAdmin(w, r, &req) {
			return
		}
		tok, err := acc.CreateToken(req.Name)
		if err != nil {
			h.adminFail(w, "create token", err)
			return
		}
		h.log.Info("hub: token created", "user", req.Name)
		opsJSON(w, http.StatusCreated, AdminToken{Name: req.Name, Token: tok})
	})
	mux.HandleFunc("GET /backup", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		n, err := acc.WriteBackup(w)
		if err != nil {
			// The status is sent; cutting the stream short tells the client.
			h.log.Error("hub: backup", "bytes", n, "err", err)
			panic(http.ErrAbortHandler)
		}
		h.log.Info("hub: backup sent", "bytes", n)
	})
	return mux
}

// decodeAdmin reads a strict JSON body; on failure it answers 400.
func decodeAdmin(w http.ResponseWriter, r *http.Request, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxRedeemBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		opsError(w, http.StatusBadRequest, tandem.Errorf(tandem.EINVALID, "malformed body: %v", err))
		return false
	}
	return true
}

func (h *Hub) adminFail(w http.ResponseWriter, what string, err error) {
	if tandem.ErrorCode(err) == tandem.EINTERNAL {
		h.log.Error("hub: admin "+what, "err", err)
		// Whoever holds the socket is the hub's operator: show the cause.
		err = tandem.Errorf(tandem.EINTERNAL, "%s: %v", what, err)
	}
	opsError(w, opsStatus(err), err)
}

// String formats an invite for the terminal.
func (inv AdminInvite) String() string {
	exp := "never expires"
	if !inv.ExpiresAt.IsZero() {
		exp = "expires " + inv.ExpiresAt.Local().Format(time.RFC1123)
	}
	return fmt.Sprintf("invite code: %s\nuses:        %d, %s\nplayer link: %s\nweb link:    %s\n",
		inv.Code, inv.Uses, exp, inv.Link, inv.URL)
}
