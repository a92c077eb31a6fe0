// Package hub is Tandem's hub application: it authenticates friends, keeps
// rooms and their timelines, and relays playback commands to every member
// of a room over Socket.IO (docs/PROTOCOL.md). It reaches storage through
// the Store interface, which it defines and package store implements.
package hub

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"tandem"
	"tandem/store"
	"tandem/sync/engineio"
	"tandem/sync/protocol"
	"tandem/sync/socketio"
)

// Store is the storage the hub needs. Methods return *tandem.Error values
// with ENOTFOUND or EUNAUTHORIZED codes where they apply. A Put returns
// only once the change is durable.
type Store interface {
	Authenticate(token string) (tandem.User, error)
	Users() ([]tandem.User, error)
	Track(id string) (tandem.Track, error)

	Playlist(id string) (tandem.Playlist, error)
	PlaylistSummaries() ([]tandem.Playlist, error)
	// NewPlaylist and EditPlaylist remember op ids: a retried op returns
	// its first result (marked duplicate) and changes nothing.
	NewPlaylist(op tandem.Op, name, owner string, collaborative bool) (tandem.Playlist, bool, error)
	EditPlaylist(op tandem.Op, playlistID string, e tandem.Edit) (tandem.EditResult, error)

	Room(name string) (tandem.Room, error)
	RoomByCode(code string) (tandem.Room, error)
	Rooms() ([]tandem.Room, error)
	PutRoom(r tandem.Room) error

	AddActivity(a tandem.Activity) (tandem.Activity, error)
	Activities(n int) ([]tandem.Activity, error)
}

// Config configures a Hub.
type Config struct {
	Store  Store
	Logger *slog.Logger
	// Now is the hub clock; nil means time.Now.
	Now func() time.Time
	// Lead, when set, fixes how far ahead commands are scheduled; 0 makes
	// it adapt to the members' round trips, within MinLead and MaxLead
	// (timeline.go).
	Lead time.Duration
	// FallbackPlaylist is the playlist a new room plays while its queue is
	// empty (the Demo playlist with --demo), or "".
	FallbackPlaylist string
	// GuestUser, when set, is the user of a token shared by several
	// friends: they appear under the name they send in the auth payload,
	// marked "(guest)".
	GuestUser string
	// Engine configures the transport.
	Engine engineio.Options
	// OpenRooms lets every authenticated friend into every room, as on a
	// player's built-in hub, where the join line is the invitation.
	// Otherwise a room admits its host and the friends who joined it with
	// its invite code.
	OpenRooms bool
	// RoomLinksAdmit lets a newcomer who holds a room's invite link make
	// an account on the hub with it (POST /api/invites/redeem with the
	// room's code), as on a player's built-in hub, where hosting a room
	// and sharing its link is all it takes. Otherwise only hub invites
	// make accounts, and a room link is for friends who have one.
	RoomLinksAdmit bool
	// RateLimit is how many commands a second one connection may send,
	// sustained, and RateBurst how many at once; zero means
	// DefaultRateLimit and DefaultRateBurst.
	RateLimit float64
	RateBurst int
	// AuthFailures is how many failed sign-ins (unknown tokens, refused
	// invite codes) one client address may make at once, and AuthWindow
	// how long the whole budget takes to come back; with none left, the
	// address's sign-ins are refused unchecked until some has (limit.go).
	// Zero means DefaultAuthFailures (10) and DefaultAuthWindow (a
	// minute); a negative AuthFailures turns the limit off.
	AuthFailures int
	AuthWindow   time.Duration
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client; nil means loopback (127.0.0.0/8, ::1), empty none.
	TrustedProxies []netip.Prefix
	// WaitFirstLoad and WaitLoad bound how long a "wait for everyone"
	// room waits for buffering members; zero means the defaults.
	WaitFirstLoad, WaitLoad time.Duration
	// ConnectTimeout is how long a new connection may take to be let into
	// the namespace (its Socket.IO CONNECT accepted) before it is closed;
	// zero means DefaultConnectTimeout.
	ConnectTimeout time.Duration

	// Access and operations (access.go, invite.go, admin.go, metrics.go).
	// Accounts enables invite redemption and the admin API; PublicURL is
	// the hub's address for friends (http(s)://HOST:PORT), for invite
	// links; Metrics are the hub's metrics (nil: new ones).
	Accounts  Accounts
	PublicURL string
	Metrics   *Metrics

	// Music (media.go): the HTTP API for uploading and downloading tracks
	// under /api/. It is served only when both Media and Probe are set.
	//
	// Media stores tracks' files and resumable upload sessions; Probe
	// checks uploaded files and reads their tags; MaxUpload is the largest
	// file accepted, in bytes (0 means DefaultMaxUpload, 200 MB).
	Media     Media
	Probe     Probe
	MaxUpload int64
}

// Hub serves Tandem's protocol. Create it with New, serve Handler, and
// Close it.
type Hub struct {
	store     Store
	log       *slog.Logger
	now       func() time.Time
	lead      time.Duration
	fallback  string
	guest     string
	openRooms bool
	// roomLinksAdmit: a room's code also redeems an account (Config).
	roomLinksAdmit bool
	io             *socketio.Server
	mux            *http.ServeMux
	handler        http.Handler
	auth           *authBudget    // failed sign-ins by address; nil: no limit
	proxies        []netip.Prefix // Config.TrustedProxies

	mu     sync.Mutex // guards rooms and closed; never held while taking a liveRoom's mu
	rooms  map[string]*liveRoom
	closed bool

	rmu     sync.Mutex // guards runners
	runners map[string]*runner
	running sync.WaitGroup // the runners' goroutines, and record's

	limit   *limiter
	logs    *logGate // keeps floods of refusals out of the log (limit.go)
	rtt     rtts
	waits   [2]time.Duration // first load, later loads
	friends friendsState
	feed    feedState

	tmu    sync.RWMutex // guards tracks
	tracks map[string]tandem.Track

	ops opsState // access and operations: access.go, metrics.go
}

// runner holds one socket's commands waiting to run, in arrival order.
type runner struct{ queue []func() }

// maxPending bounds a socket's commands waiting to run; more are refused.
const maxPending = 64

// run runs a socket's command after the ones before it, on a goroutine
// that lives only while the socket has commands waiting. Commands thus
// keep their order without running on the connection's reader, whose
// stack stays small, and an idle connection keeps no goroutine for them.
// It reports false when too many commands are already waiting.
func (h *Hub) run(sid string, fn func()) bool {
	h.rmu.Lock()
	r, busy := h.runners[sid]
	if !busy {
		r = &runner{}
		h.runners[sid] = r
	}
	if len(r.queue) >= maxPending {
		h.rmu.Unlock()
		return false
	}
	r.queue = append(r.queue, fn)
	h.rmu.Unlock()
	if busy {
		return true
	}
	h.running.Add(1)
	go func() {
		defer h.running.Done()
		for {
			h.rmu.Lock()
			if len(r.queue) == 0 {
				delete(h.runners, sid)
				h.rmu.Unlock()
				return
			}
			next := r.queue[0]
			r.queue = r.queue[1:]
			h.rmu.Unlock()
			next()
		}
	}()
	return true
}

// liveRoom is a room's state while the hub runs. Commands on one room are
// serialised by its mutex; the copy in room is what the store holds.
type liveRoom struct {
	mu         sync.Mutex // guards the following
	room       tandem.Room
	members    map[string]*socketio.Socket // socket id -> socket
	ended      *time.Timer                 // fires when the playing track ends
	presence   *time.Timer                 // a coalesced presence event on its way
	presenceAt time.Time                   // when the last presence event went out
	// Buffering (buffering.go): the sockets getting the current track
	// ready, the end of a wait for them, and whether the room's first
	// track has loaded.
	buffering map[string]string // socket id -> track id it buffers
	waitEnd   *time.Timer
	loadedOne bool
}

// New returns a hub.
func New(cfg Config) *Hub {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Hub{
		store: cfg.Store, log: log, now: cfg.Now, lead: cfg.Lead, fallback: cfg.FallbackPlaylist,
		guest: cfg.GuestUser, openRooms: cfg.OpenRooms, roomLinksAdmit: cfg.RoomLinksAdmit,
		rooms: map[string]*liveRoom{}, runners: map[string]*runner{},
		friends: friendsState{online: map[string]int{}}, tracks: map[string]tandem.Track{},
		rtt: rtts{rtt: map[string]time.Duration{}},
	}
	if h.now == nil {
		h.now = time.Now
	}
	rate, burst := cfg.RateLimit, cfg.RateBurst
	if rate <= 0 {
		rate = DefaultRateLimit
	}
	if burst <= 0 {
		burst = DefaultRateBurst
	}
	h.limit = newLimiter(rate, burst, h.now)
	h.logs = newLogGate(gateLines, gatePeriod)
	h.proxies = cfg.TrustedProxies
	if h.proxies == nil {
		h.proxies = loopback
	}
	if cfg.AuthFailures >= 0 {
		h.auth = newAuthBudget(cmp.Or(cfg.AuthFailures, DefaultAuthFailures), cmp.Or(cfg.AuthWindow, DefaultAuthWindow), h.now)
	}
	h.waits = [2]time.Duration{cmp.Or(cfg.WaitFirstLoad, WaitFirstLoad), cmp.Or(cfg.WaitLoad, WaitLoad)}
	// Connection state recovery: a member whose connection drops for less
	// than two minutes comes back with its socket id and rooms, and gets
	// the room events it missed.
	h.io = socketio.NewServer(socketio.Options{Engine: cfg.Engine, Logger: log, Recovery: &socketio.RecoveryOptions{},
		ClientAddr: h.clientAddr, ConnectTimeout: cmp.Or(cfg.ConnectTimeout, DefaultConnectTimeout)})
	nsp := h.io.Of("/")
	nsp.Use(h.authenticate)
	nsp.OnConnection(h.onConnection)
	h.registerCommands(nsp)
	h.mux = http.NewServeMux()
	h.mux.Handle("/socket.io/", h.io)
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	h.registerMedia(cfg)
	h.mux.HandleFunc("GET /join/{code}", h.joinPage) // a room's invite link (rooms.go)
	h.initOps(cfg)                                   // metrics, revocation, /readyz, /metrics, invites (access.go)
	h.handler = http.HandlerFunc(h.serveHTTP)        // the sign-in limit of the HTTP API (limit.go)
	return h
}

// Handler returns the hub's HTTP handler: /socket.io/ and /healthz.
func (h *Hub) Handler() http.Handler { return h.handler }

// Close disconnects every client.
func (h *Hub) Close() error {
	h.mu.Lock()
	h.closed = true
	rooms := make([]*liveRoom, 0, len(h.rooms))
	for _, lr := range h.rooms {
		rooms = append(rooms, lr)
	}
	h.mu.Unlock()
	for _, lr := range rooms {
		lr.mu.Lock()
		for _, t := range []*time.Timer{lr.ended, lr.presence, lr.waitEnd} {
			if t != nil {
				t.Stop()
			}
		}
		lr.mu.Unlock()
	}
	h.friends.mu.Lock()
	if h.friends.pending != nil {
		h.friends.pending.Stop()
	}
	h.friends.mu.Unlock()
	h.feed.mu.Lock()
	if h.feed.pending != nil {
		h.feed.pending.Stop()
	}
	h.feed.mu.Unlock()
	err := h.io.Close()
	h.running.Wait()
	return err
}

const userKey = "user"

func (h *Hub) authenticate(s *socketio.Socket, auth json.RawMessage) error {
	addr := s.ClientAddr()
	if d := h.signInWait(signInSocket, addr); d > 0 {
		return &socketio.ConnectError{Message: signInLimited, Data: signInLimitData{
			Code: tandem.ELIMIT, Message: tandem.ErrorMessage(signInLimitError(d)), RetryAfter: retrySeconds(d)}}
	}
	var a protocol.Auth
	tried := "no auth payload"
	if len(auth) > 0 {
		if json.Unmarshal(auth, &a) != nil {
			tried = "a malformed auth payload"
		} else {
			tried = triedToken(a.Token)
		}
	}
	u, err := h.store.Authenticate(a.Token)
	if err != nil {
		if tandem.ErrorCode(err) != tandem.EUNAUTHORIZED {
			h.log.Error("hub: authenticate", "err", err)
		} else {
			h.signInFailed(signInSocket, addr, tried)
		}
		return &socketio.ConnectError{Message: protocol.Unauthorized}
	}
	name := u.Name
	if h.guest != "" && u.Name == h.guest && a.Name != "" {
		n, err := store.NormalizeName(a.Name)
		if err != nil {
			return &socketio.ConnectError{Message: "invalid name", Data: tandem.ErrorMessage(err)}
		}
		name = n + " (guest)"
	}
	s.Set(userKey, name)
	return nil
}

// signInLimitData is the data of a CONNECT_ERROR for an address with no
// failed sign-ins left.
type signInLimitData struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	RetryAfter int    `json:"retryAfter"` // seconds
}

func userOf(s *socketio.Socket) string {
	name, _ := s.Get(userKey).(string)
	return name
}

// command is a handler of one client command. It returns the ack payload or
// an error, which becomes an error ack.
type command func(s *socketio.Socket, payload json.RawMessage) (any, error)

// registerCommands sets the command handlers once for the namespace; they
// serve every socket, so a connection costs no handler state of its own.
func (h *Hub) registerCommands(nsp *socketio.Namespace) {
	cmds := map[string]command{
		protocol.RoomJoin:            h.join,
		protocol.RoomLeave:           h.leave,
		protocol.PlaybackChangeTrack: h.changeTrack,
		protocol.PlaybackPlay:        h.play,
		protocol.PlaybackPause:       h.pause,
		protocol.PlaybackSeek:        h.seek,
		protocol.PlaylistList:        h.playlists,
		protocol.ClockPing:           h.clockPing,

		protocol.RoomCreate:   h.createRoom,
		protocol.RoomList:     h.listRooms,
		protocol.RoomPolicy:   h.setPolicy,
		protocol.RoomRemove:   h.removeMember,
		protocol.RoomCode:     h.rotateCode,
		protocol.RoomPlaylist: h.setRoomPlaylist,

		protocol.PlaylistCreate: h.createPlaylist,
		protocol.PlaylistOpen:   h.openPlaylist,
		protocol.PlaylistClose:  h.closePlaylist,
		protocol.PlaylistAdd:    h.editCommand(tandem.EditAdd),
		protocol.PlaylistMove:   h.editCommand(tandem.EditMove),
		protocol.PlaylistRemove: h.editCommand(tandem.EditRemove),
		protocol.PlaylistRename: h.editCommand(tandem.EditRename),
		protocol.PlaylistShare:  h.editCommand(tandem.EditShare),

		protocol.PlaybackNext:      h.next,
		protocol.PlaybackPrevious:  h.previous,
		protocol.RoomShuffle:       h.setShuffle,
		protocol.RoomRepeat:        h.setRepeat,
		protocol.ClockReport:       h.clockReport,
		protocol.RoomWait:          h.setWait,
		protocol.PlaybackBuffering: h.bufferingReport,

		protocol.ActivityList: h.listActivity,
		protocol.FriendsList:  h.listFriends,
	}
	for name, cmd := range cmds {
		nsp.On(name, h.wrap(name, cmd))
	}
	nsp.OnAny(func(s *socketio.Socket, event string, _ []json.RawMessage, ack socketio.AckFunc) {
		if !h.allowed(s, event, ack) {
			return
		}
		h.logLimited(slog.LevelInfo, "unknown event", "hub: unknown event", "user", userOf(s), "event", clip(event))
		if ack != nil {
			_ = ack(protocol.Fail(tandem.Errorf(tandem.EUNKNOWN, "unknown event %q", event)))
		}
	})
}

func (h *Hub) onConnection(s *socketio.Socket) {
	user := userOf(s)
	h.log.Info("hub: connected", "user", user, "sid", s.ID())
	h.connected(user)
	s.OnDisconnect(func(reason string) {
		h.log.Info("hub: disconnected", "user", user, "sid", s.ID(), "reason", reason)
		h.dropMember(s)
		h.limit.forget(s.ID())
		h.rtt.forget(s.ID())
		h.disconnected(user)
	})
	if s.Recovered() {
		h.restoreMember(s)
	}
	h.trackConnection(s) // for revocation, shutdown and metrics (access.go)
}

// wrap turns a command into an event handler: it decodes nothing itself,
// answers the ack with the result or the error, and logs internal errors.
func (h *Hub) wrap(name string, cmd command) socketio.SocketHandler {
	return func(s *socketio.Socket, args []json.RawMessage, ack socketio.AckFunc) {
		if !h.allowed(s, name, ack) {
			return
		}
		if !h.run(s.ID(), func() { h.exec(s, name, cmd, args, ack) }) {
			h.logLimited(slog.LevelInfo, "commands waiting", "hub: too many commands waiting", "user", userOf(s), "event", name)
			if ack != nil {
				_ = ack(protocol.Fail(tandem.Errorf(tandem.ELIMIT, "too many commands waiting; slow down")))
			}
		}
	}
}

// allowed takes a token of the socket's rate limit for an event, known or
// not; without one, it answers the ack with ELIMIT and reports false.
func (h *Hub) allowed(s *socketio.Socket, event string, ack socketio.AckFunc) bool {
	if h.limit.allow(s.ID()) {
		return true
	}
	h.logLimited(slog.LevelInfo, "rate limit", "hub: rate limit", "user", userOf(s), "event", clip(event))
	if ack != nil {
		_ = ack(protocol.Fail(tandem.Errorf(tandem.ELIMIT,
			"rate limit: at most %g commands a second (bursts of %d); slow down", h.limit.rate, int(h.limit.burst))))
	}
	return false
}

// exec runs one command and answers its ack.
func (h *Hub) exec(s *socketio.Socket, name string, cmd command, args []json.RawMessage, ack socketio.AckFunc) {
	defer h.observeCommand(name, time.Now()) // metrics: events in (metrics.go)
	var payload json.RawMessage
	if len(args) > 0 {
		payload = args[0]
	}
	res, err := cmd(s, payload)
	if err != nil {
		if tandem.ErrorCode(err) == tandem.EINTERNAL {
			h.log.Error("hub: command failed", "event", name, "user", userOf(s), "err", err)
		} else {
			h.log.Debug("hub: command refused", "event", name, "user", userOf(s), "err", err)
		}
		res = protocol.Fail(err)
	}
	if ack != nil {
		if err := ack(res); err != nil {
			h.log.Debug("hub: ack", "event", name, "err", err)
		}
	}
}

// decode parses a command payload strictly: one JSON object, no unknown
// fields.
func decode(payload json.RawMessage, v any) error {
	if len(payload) == 0 || payload[0] != '{' {
		return tandem.Errorf(tandem.EINVALID, "payload must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return tandem.Errorf(tandem.EINVALID, "malformed payload: %v", err)
	}
	return nil
}

// validName checks a room or display name: 1 to 64 characters, no control
// characters, no surrounding spaces.
func validName(name string) error {
	n := utf8.RuneCountInString(name)
	if n == 0 || n > 64 || !utf8.ValidString(name) || strings.TrimSpace(name) != name ||
		strings.ContainsFunc(name, unicode.IsControl) {
		return tandem.Errorf(tandem.EINVALID, "names must be 1 to 64 printable characters, without surrounding spaces")
	}
	return nil
}

func roomKey(name string) string { return "room:" + name }

// member returns the live room of a command, checking that the socket has
// joined it.
func (h *Hub) member(s *socketio.Socket, name string) (*liveRoom, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	h.mu.Lock()
	lr, ok := h.rooms[name]
	if !ok { // a room named in another normal form than it is stored under
		name = norm.NFC.String(name)
		lr, ok = h.rooms[name]
	}
	h.mu.Unlock()
	if !ok || !s.In(roomKey(name)) {
		return nil, tandem.Errorf(tandem.EFORBIDDEN, "you have not joined room %q", name)
	}
	return lr, nil
}

// queue returns the entries a room plays: its queue, or its fallback
// playlist while the queue is empty.
func (h *Hub) queue(r tandem.Room) ([]tandem.Entry, error) {
	if len(r.Queue) > 0 || r.Fallback == "" {
		return playOrder(r, r.Queue), nil
	}
	p, err := h.store.Playlist(r.Fallback)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		return []tandem.Entry{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("hub: fallback playlist of %q: %w", r.Name, err)
	}
	return playOrder(r, p.Entries), nil
}

func (h *Hub) wireEntries(es []tandem.Entry) []protocol.Entry {
	out := make([]protocol.Entry, 0, len(es))
	for _, e := range es {
		out = append(out, h.wireEntry(e))
	}
	return out
}

// track returns a track's metadata. Tracks are named by their content, so
// their metadata is cached for the life of the hub.
func (h *Hub) track(id string) (tandem.Track, error) {
	h.tmu.RLock()
	t, ok := h.tracks[id]
	h.tmu.RUnlock()
	if ok {
		return t, nil
	}
	t, err := h.store.Track(id)
	if err != nil {
		return tandem.Track{}, err
	}
	h.tmu.Lock()
	h.tracks[id] = t
	h.tmu.Unlock()
	return t, nil
}

func wirePlayback(p tandem.Playback) protocol.Playback {
	return protocol.Playback{EntryID: p.EntryID, TrackID: p.TrackID, State: p.State,
		Position: protocol.Ms(p.Position), StartAt: protocol.Millis(p.StartAt)}
}

// membersLocked lists a room's members; lr.mu must be held.
func (lr *liveRoom) membersLocked() []tandem.Member {
	seen := map[string]bool{}
	var out []tandem.Member
	for _, s := range lr.members {
		name := userOf(s)
		if seen[name] {
			continue
		}
		seen[name] = true
		m := tandem.Member{Name: name}
		if lr.room.Playback.State == tandem.Playing {
			m.NowPlaying = lr.room.Playback.TrackID
		}
		out = append(out, m)
	}
	for sid, s := range lr.members { // a friend with any socket buffering is
		if lr.isBuffering(sid) {
			i := slices.IndexFunc(out, func(m tandem.Member) bool { return m.Name == userOf(s) })
			out[i].Buffering = true
		}
	}
	slices.SortFunc(out, func(a, b tandem.Member) int { return strings.Compare(a.Name, b.Name) })
	if out == nil {
		out = []tandem.Member{}
	}
	return out
}

// restoreMember puts a recovered socket back among the members of the
// rooms it is in again, which dropMember removed it from.
func (h *Hub) restoreMember(s *socketio.Socket) {
	for _, key := range s.Rooms() {
		name, ok := strings.CutPrefix(key, "room:")
		if !ok {
			continue
		}
		h.mu.Lock()
		lr := h.rooms[name]
		h.mu.Unlock()
		if lr == nil {
			continue
		}
		lr.mu.Lock()
		lr.members[s.ID()] = s
		h.presenceLocked(lr)
		lr.mu.Unlock()
	}
}

// dropMember removes a disconnected socket from every room it was in.
func (h *Hub) dropMember(s *socketio.Socket) {
	h.mu.Lock()
	rooms := make(map[string]*liveRoom, len(h.rooms))
	for name, lr := range h.rooms {
		rooms[name] = lr
	}
	h.mu.Unlock()
	for _, lr := range rooms {
		lr.mu.Lock()
		if _, was := lr.members[s.ID()]; was {
			delete(lr.members, s.ID())
			h.readyLocked(lr, s.ID()) // a laggard that left is waited for no more
			h.presenceLocked(lr)
		}
		lr.mu.Unlock()
	}
}

// presenceDelay coalesces presence: a room's members learn of joins and
// leaves at most this long after them, in one event however many there
// were, so filling a room of N costs O(N) events rather than O(N²).
const presenceDelay = 100 * time.Millisecond

// presenceSpacing is the least time between two presence events of a room
// of n members: presenceDelay, plus presencePerMember for each member, up
// to presenceEvery. Each event goes to every member and lists them all, so
// while a big room's membership keeps changing (the storm of reconnections
// after a hub restarts) its events come less often, and a small room's
// friends still show at once.
func presenceSpacing(n int) time.Duration {
	return min(presenceEvery, max(presenceDelay, time.Duration(n)*presencePerMember))
}

const (
	presencePerMember = 10 * time.Millisecond
	presenceEvery     = time.Second
)

// presenceLocked schedules the room's presence event; lr.mu must be held.
func (h *Hub) presenceLocked(lr *liveRoom) {
	if lr.presence != nil {
		return // one is already on its way and will carry this change
	}
	name := lr.room.Name
	delay := presenceDelay
	if wait := presenceSpacing(len(lr.members)) - time.Since(lr.presenceAt); wait > delay {
		delay = wait
	}
	lr.presence = time.AfterFunc(delay, func() {
		lr.mu.Lock()
		lr.presence = nil
		lr.presenceAt = time.Now()
		members := lr.membersLocked()
		lr.mu.Unlock()
		h.mu.Lock()
		closed := h.closed
		h.mu.Unlock()
		if !closed {
			h.emit(name, protocol.EventPresence, protocol.Presence{Room: name, Members: members})
		}
	})
}

// emitTo sends an event to the union of several socket rooms, each socket
// once.
func (h *Hub) emitTo(rooms []string, event string, v any) {
	defer h.observeBroadcast(event, time.Now()) // metrics: events out, broadcast latency (metrics.go)
	if err := h.io.Of("/").To(rooms...).Emit(event, v); err != nil {
		h.log.Error("hub: broadcast", "rooms", rooms, "event", event, "err", err)
	}
}

func (h *Hub) emit(room, event string, v any) {
	defer h.observeBroadcast(event, time.Now()) // metrics: events out, broadcast latency (metrics.go)
	if err := h.io.Of("/").To(roomKey(room)).Emit(event, v); err != nil {
		h.log.Error("hub: broadcast", "room", room, "event", event, "err", err)
	}
}

// update applies fn to a copy of the room, stores it with the version
// bumped, and only then makes it the live state. On any error the room is
// unchanged.
func (h *Hub) update(lr *liveRoom, fn func(r *tandem.Room) error) (tandem.Room, error) {
	r := lr.room
	r.Queue = slices.Clone(r.Queue)
	if err := fn(&r); err != nil {
		return tandem.Room{}, err
	}
	r.Version++
	if err := h.store.PutRoom(r); err != nil {
		return tandem.Room{}, fmt.Errorf("hub: store room %q: %w", r.Name, err)
	}
	before := lr.room
	lr.room = r
	h.armEnd(lr)
	// Friends see what each member plays (friends.go): a new track, or a
	// play, pause, wait or stop, changes that for every member here.
	if len(lr.members) > 0 && listening(before) != listening(r) {
		h.friendsChanged()
	}
	return r, nil
}

// listening is the track a room's members are listening to, as friends
// see it (membersLocked's NowPlaying): the room's track while it plays,
// else "".
func listening(r tandem.Room) string {
	if r.Playback.State != tandem.Playing {
		return ""
	}
	return r.Playback.TrackID
}

// armEnd schedules the end of the room's playing track, when the room
// moves on (trackEnded); lr.mu must be held.
func (h *Hub) armEnd(lr *liveRoom) {
	if lr.ended != nil {
		lr.ended.Stop()
		lr.ended = nil
	}
	p := lr.room.Playback
	if p.State != tandem.Playing {
		return
	}
	t, err := h.track(p.TrackID)
	if err != nil || t.Duration <= 0 {
		return
	}
	// Fire a lead before the end, so that the next entry's changeTrack
	// reaches every member in time to start exactly as this one ends.
	end := p.StartAt.Add(t.Duration - p.Position)
	name, version := lr.room.Name, lr.room.Version
	lr.ended = time.AfterFunc(max(end.Sub(h.now())-h.leadLocked(lr), 0), func() { h.trackEnded(name, version, end) })
}

// trackEnded moves a room on as the track of the given version ends, at
// hub time end, to the entry afterEnd picks: it starts exactly then,
// gaplessly (or after the lead, if end is closer than that, as after a
// restart of the hub). With none, the room stops.
func (h *Hub) trackEnded(name string, version uint64, end time.Time) {
	h.mu.Lock()
	lr, closed := h.rooms[name], h.closed
	h.mu.Unlock()
	if closed || lr == nil {
		return
	}
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if lr.room.Version != version {
		return // a command changed the timeline since
	}
	q, err := h.queue(lr.room)
	if err != nil {
		h.log.Error("hub: advance", "room", name, "err", err)
		return
	}
	if next, ok := afterEnd(lr.room, q); ok {
		// The timer fired about a lead before the end; a late timer costs
		// the members a little notice, but the join stays gapless unless
		// less than half a lead is left (after a restart of the hub).
		at, lead := end, h.leadLocked(lr)
		if end.Sub(h.now()) < lead/2 {
			at = h.now().Add(lead)
		}
		if _, err := h.switchTrackAt(lr, next.ID, next.TrackID, "", at); err != nil {
			h.log.Error("hub: advance", "room", name, "err", err)
		}
		return
	}
	r, err := h.update(lr, func(r *tandem.Room) error {
		r.Playback = tandem.Playback{EntryID: r.Playback.EntryID, TrackID: r.Playback.TrackID, State: tandem.Stopped}
		return nil
	})
	if err != nil {
		h.log.Error("hub: stop at the end of the queue", "room", name, "err", err)
		return
	}
	h.emit(name, protocol.EventPlayback, protocol.PlaybackEvent{Room: name, Playback: wirePlayback(r.Playback), Version: r.Version})
}

func (h *Hub) changeTrack(s *socketio.Socket, payload json.RawMessage) (any, error) {
	var req protocol.ChangeTrackRequest
	if err := decode(payload, &req); err != nil {
		return nil, err
	}
	if (req.EntryID == "") == (req.TrackID == "") {
		return nil, tandem.Errorf(tandem.EINVALID, "give exactly one of entryId and trackId")
	}
	if req.TrackID != "" {
		if err := validTrackID(req.TrackID); err != nil {
			return nil, err
		}
	} else if err := validID("entryId", req.EntryID, 'e'); err != nil {
		return nil, err
	}
	lr, err := h.member(s, req.Room)
	if err != nil {
		return nil, err
	}
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if err := mayControl(lr.room, userOf(s)); err != nil {
		return nil, err
	}
	if err := stale(lr.room, req.Version); err != nil {
		return nil, err
	}
	entryID, trackID := req.EntryID, req.TrackID
	if entryID != "" {
		q, err := h.queue(lr.room)
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(q, func(e tandem.Entry) bool { return e.ID == entryID })
		if i < 0 {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "entry %q is not in room %q's queue", entryID, req.Room)
		}
		trackID = q[i].TrackID
	}
	if _, err := h.track(trackID); err != nil {
		if tandem.ErrorCode(err) == tandem.ENOTFOUND {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "no track %q", trackID)
		}
		return nil, err
	}
	r, err := h.switchTrack(lr, entryID, trackID, userOf(s))
	if err != nil {
		return nil, err
	}
	return protocol.VersionAck{Ack: protocol.OK(), Version: r.Version}, nil
}

// switchTrack starts a track in the room after the scheduling lead, stores
// it and tells the room; by is who asked ("" for the hub itself). lr.mu
// must be held.
func (h *Hub) switchTrack(lr *liveRoom, entryID, trackID, by string) (tandem.Room, error) {
	return h.switchTrackAt(lr, entryID, trackID, by, h.now().Add(h.leadLocked(lr)))
}

// switchTrackAt starts a track in the room at hub time startAt; lr.mu
// must be held.
func (h *Hub) switchTrackAt(lr *liveRoom, entryID, trackID, by string, startAt time.Time) (tandem.Room, error) {
	r, err := h.update(lr, func(r *tandem.Room) error {
		r.Playback = tandem.Playback{EntryID: entryID, TrackID: trackID, State: tandem.Playing, StartAt: startAt}
		return nil
	})
	if err != nil {
		return tandem.Room{}, err
	}
	h.emit(r.Name, protocol.EventChangeTrack, protocol.ChangeTrack{Room: r.Name, EntryID: entryID, TrackID: trackID,
		By: by, Version: r.Version, StartAt: protocol.Millis(startAt)})
	if len(lr.buffering) > 0 { // buffering was about the old track
		clear(lr.buffering)
		h.presenceLocked(lr)
	}
	return r, nil
}

func (h *Hub) play(s *socketio.Socket, payload json.RawMessage) (any, error) {
	return h.playback(s, payload, tandem.Playing)
}

func (h *Hub) pause(s *socketio.Socket, payload json.RawMessage) (any, error) {
	return h.playback(s, payload, tandem.Paused)
}

func (h *Hub) seek(s *socketio.Socket, payload json.RawMessage) (any, error) {
	return h.playback(s, payload, "")
}

// playback handles play, pause and seek (state ""): the new timeline keeps
// the position the old one reaches at the scheduled instant.
func (h *Hub) playback(s *socketio.Socket, payload json.RawMessage, state tandem.PlayState) (any, error) {
	var req protocol.SeekRequest
	if err := decode(payload, &req); err != nil {
		return nil, err
	}
	if state == "" && req.Position == nil {
		return nil, tandem.Errorf(tandem.EINVALID, "seek needs a position")
	}
	if req.Position != nil && (*req.Position < 0 || *req.Position > 1e9) {
		return nil, tandem.Errorf(tandem.EINVALID, "position must be between 0 and 1e9 ms")
	}
	return h.controlled(s, req.Room, req.Version, func(lr *liveRoom) (any, error) {
		if lr.room.Playback.TrackID == "" {
			return nil, tandem.Errorf(tandem.ECONFLICT, "room %q has no track; change track first", req.Room)
		}
		at := h.now().Add(h.leadLocked(lr))
		r, err := h.update(lr, func(r *tandem.Room) error {
			p := r.Playback
			pos := p.PositionAt(at)
			if req.Position != nil {
				pos = protocol.Dur(*req.Position)
			}
			if state != "" {
				p.State = state
			}
			p.Position, p.StartAt = pos, at
			r.Playback = p
			return nil
		})
		if err != nil {
			return nil, err
		}
		h.emit(req.Room, protocol.EventPlayback, protocol.PlaybackEvent{Room: req.Room, Playback: wirePlayback(r.Playback),
			By: userOf(s), Version: r.Version})
		return protocol.VersionAck{Ack: protocol.OK(), Version: r.Version}, nil
	})
}

func (h *Hub) clockPing(_ *socketio.Socket, payload json.RawMessage) (any, error) {
	t1 := protocol.Millis(h.now())
	var req protocol.ClockPingRequest
	if err := decode(payload, &req); err != nil {
		return nil, err
	}
	return protocol.ClockPingAck{Ack: protocol.OK(), T0: req.T0, T1: t1, T2: protocol.Millis(h.now())}, nil
}

// Shutdown closes the hub's connections, waiting at most until ctx ends.
func (h *Hub) Shutdown(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- h.Close() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return errors.Join(errors.New("hub: shutdown"), ctx.Err())
	}
}
