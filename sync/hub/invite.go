package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"tandem"
	"tandem/sync/protocol"
)

// RedeemPath is where a friend redeems an invite code for a token.
const RedeemPath = "/api/invites/redeem"

// InvitePath is the prefix of an invite's web page, /invite/CODE.
const InvitePath = "/invite/"

// maxRedeemBody bounds the JSON body of a redemption.
const maxRedeemBody = 4 << 10

// RedeemRequest is the body of POST /api/invites/redeem.
type RedeemRequest struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// RedeemResponse is the body of its 201 answer.
type RedeemResponse struct {
	Token string      `json:"token"`
	User  tandem.User `json:"user"`
}

// InviteLinks returns the two links of an invite code on the hub whose
// public address is publicURL (http:// or https://, host and port, no
// path): tandem://HOST:PORT/invite/CODE for the player, and
// http(s)://HOST:PORT/invite/CODE for a browser, which shows how to join.
// The player takes either.
func InviteLinks(publicURL, code string) (app, web string, err error) {
	return links(publicURL, InvitePath, code)
}

// links returns a code's two links under path on the hub whose public
// address is publicURL: tandem://HOST:PORT/path/CODE for the player and
// http(s)://HOST:PORT/path/CODE for a browser.
func links(publicURL, path, code string) (app, web string, err error) {
	u, err := url.Parse(strings.TrimSuffix(publicURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return "", "", fmt.Errorf("hub: public URL %q: want http(s)://HOST[:PORT]", publicURL)
	}
	code = url.PathEscape(code)
	return "tandem://" + u.Host + path + code, u.Scheme + "://" + u.Host + path + code, nil
}

// plainPage sets the headers of the hub's small text pages: not cached,
// no referrer, no type sniffing.
func plainPage(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Content-Type-Options", "nosniff")
}

// looksLikeInviteCode reports whether s looks like an invite code (base64url, at
// most 64 characters), so that the page never echoes anything else.
func looksLikeInviteCode(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// invitePage serves GET /invite/CODE: a plain page that tells a friend who
// opened the link in a browser how to join with the player. It does not
// look the code up, so it tells nothing about whether the code is good.
func (h *Hub) invitePage(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	if !looksLikeInviteCode(code) {
		http.NotFound(w, r)
		return
	}
	app, web, err := InviteLinks(h.publicBase(r), code)
	if err != nil {
		h.log.Error("hub: invite page", "err", err)
		http.Error(w, "this hub's public address is misconfigured", http.StatusInternalServerError)
		return
	}
	plainPage(w)
	fmt.Fprintf(w, `You are invited to listen to music with friends on Tandem.

To join, start the Tandem player with this invite and the name your
friends will see:

    player --invite %s --name YOUR-NAME

(or with the app link %s)

The player redeems the invite once, saves your token in your
configuration directory, and connects. After that, start it with:

    player --hub %s

An invite may be good for a limited number of friends and a limited time;
if it is refused, ask for a new one.
`, web, app, strings.TrimSuffix(web, InvitePath+url.PathEscape(code)))
}

// roomCodeRedeemer is the part of the store that makes an account from a
// room's invite code (Config.RoomLinksAdmit).
type roomCodeRedeemer interface {
	RedeemRoomCode(code, name string) (tandem.User, string, error)
}

// redeemInvite serves POST /api/invites/redeem: {code, name} -> 201
// {token, user}. Refusals are {ok:false, error:{code, message}}: 400
// EINVALID (bad body or name), 403 EFORBIDDEN (unknown, used-up or
// expired code), 409 ECONFLICT (name taken), 415 (not JSON).
func (h *Hub) redeemInvite(w http.ResponseWriter, r *http.Request) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		// Also keeps plain cross-site form posts out.
		opsError(w, http.StatusUnsupportedMediaType, tandem.Errorf(tandem.EINVALID, "the body must be application/json"))
		return
	}
	addr := h.clientAddr(r)
	if d := h.signInWait(signInInvite, addr); d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(d)))
		opsError(w, http.StatusTooManyRequests, signInLimitError(d))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxRedeemBody)
	var req RedeemRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		h.log.Debug("hub: malformed redemption", "err", err)
		msg := `the body must be a JSON object with "code" and "name" and nothing else`
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			msg = fmt.Sprintf("the body is larger than %d bytes", maxRedeemBody)
		}
		opsError(w, http.StatusBadRequest, tandem.Errorf(tandem.EINVALID, "%s", msg))
		return
	}
	if req.Code == "" {
		opsError(w, http.StatusBadRequest, tandem.Errorf(tandem.EINVALID, "code is required"))
		return
	}
	if err := validName(req.Name); err != nil {
		opsError(w, http.StatusBadRequest, err)
		return
	}
	u, token, err := h.ops.accounts.RedeemInvite(req.Code, req.Name)
	if rc, ok := h.ops.accounts.(roomCodeRedeemer); ok && err != nil && h.roomLinksAdmit &&
		tandem.ErrorCode(err) == tandem.EFORBIDDEN && validCode(req.Code) == nil {
		// Not a hub invite: a room's code, on a hub whose room links
		// admit newcomers.
		u, token, err = rc.RedeemRoomCode(req.Code, req.Name)
	}
	if err != nil {
		err = tandem.NoSpace(err)
		switch tandem.ErrorCode(err) {
		case tandem.EINTERNAL, tandem.ENOSPACE:
			h.log.Error("hub: redeem invite", "name", req.Name, "err", err)
		case tandem.EFORBIDDEN: // an unknown, used-up or expired code
			h.signInFailed(signInInvite, addr, fmt.Sprintf("an invite code of %d characters, for the name %q", len(req.Code), clip(req.Name)))
		default:
			h.log.Info("hub: invite refused", "name", req.Name, "err", err)
		}
		opsError(w, opsStatus(err), err)
		return
	}
	h.ops.metrics.invitesRedeemed.Inc()
	h.log.Info("hub: invite redeemed", "user", u.Name)
	opsJSON(w, http.StatusCreated, RedeemResponse{Token: token, User: u})
}

// statusOf maps an error's code to its HTTP status.
func opsStatus(err error) int {
	switch tandem.ErrorCode(err) {
	case tandem.EINVALID:
		return http.StatusBadRequest
	case tandem.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case tandem.EFORBIDDEN:
		return http.StatusForbidden
	case tandem.ENOTFOUND:
		return http.StatusNotFound
	case tandem.ECONFLICT:
		return http.StatusConflict
	case tandem.ELIMIT:
		return http.StatusTooManyRequests
	case tandem.ENOSPACE:
		return http.StatusInsufficientStorage
	}
	return http.StatusInternalServerError
}

// writeError answers with {ok:false, error:{code, message}}; internal
// errors show no details.
func opsError(w http.ResponseWriter, status int, err error) {
	var te *tandem.Error
	if !errors.As(err, &te) {
		err = tandem.Errorf(tandem.EINTERNAL, "internal error")
	}
	opsJSON(w, status, protocol.Fail(err))
}

func opsJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
