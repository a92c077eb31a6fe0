package room

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem"
	"tandem/store"
	"tandem/sync/hub"
	"tandem/sync/protocol"
)

// membersHub starts a hub whose rooms admit members only, with one track.
func membersHub(t *testing.T) (*store.DB, *httptest.Server, string) {
	t.Helper()
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := "ab" + strings.Repeat("c", 62)
	if err := db.PutTrack(tandem.Track{ID: id, Title: "T", Artist: "A", Format: "wav", Duration: time.Minute}); err != nil {
		t.Fatal(err)
	}
	h := hub.New(hub.Config{Store: db})
	ts := httptest.NewServer(h.Handler())
	t.Cleanup(func() {
		h.Close()
		ts.Close()
		db.Close()
	})
	return db, ts, id
}

// events collects a client's handler calls.
type events struct {
	mu       sync.Mutex
	joined   []string
	infos    []protocol.RoomInfo
	removed  []protocol.Removed
	friends  [][]protocol.Friend
	activity []tandem.Activity
}

func (e *events) handlers() Handlers {
	return Handlers{
		Joined: func(st protocol.RoomState) { e.mu.Lock(); e.joined = append(e.joined, st.Room); e.mu.Unlock() },
		Room:   func(i protocol.RoomInfo) { e.mu.Lock(); e.infos = append(e.infos, i); e.mu.Unlock() },
		Removed: func(r protocol.Removed) {
			e.mu.Lock()
			e.removed = append(e.removed, r)
			e.mu.Unlock()
		},
		Friends:  func(fs []protocol.Friend) { e.mu.Lock(); e.friends = append(e.friends, fs); e.mu.Unlock() },
		Activity: func(as []tandem.Activity) { e.mu.Lock(); e.activity = append(e.activity, as...); e.mu.Unlock() },
	}
}

func (e *events) with(f func(e *events) bool) func() bool {
	return func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return f(e)
	}
}

func TestRoomCommands(t *testing.T) {
	db, ts, track := membersHub(t)
	tokA, _ := db.CreateToken("ann")
	tokB, _ := db.CreateToken("bob")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var ea, eb events
	ann := New(Options{URL: ts.URL, Token: tokA, Room: "jam"}, ea.handlers())
	defer ann.Close()
	if err := ann.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if you := ann.State().You; you != "ann" {
		t.Fatalf("join's you = %q, want ann", you)
	}

	// Create moves into the new room; Join moves back.
	st, err := ann.Create(ctx, "party", tandem.HostOnly)
	if err != nil || st.Room != "party" || ann.RoomName() != "party" || st.Info.Host != "ann" || st.Info.Policy != tandem.HostOnly {
		t.Fatalf("create: %+v, %v", st, err)
	}
	if _, err := ann.Create(ctx, "party", ""); tandem.ErrorCode(err) != tandem.ECONFLICT || ann.RoomName() != "party" {
		t.Fatalf("create of a taken name: %v, room %q", err, ann.RoomName())
	}
	rooms, err := ann.ListRooms(ctx)
	if err != nil || len(rooms) != 2 {
		t.Fatalf("rooms = %+v, %v", rooms, err)
	}
	if _, err := ann.Join(ctx, "jam"); err != nil || ann.RoomName() != "jam" {
		t.Fatalf("join jam: %v, in %q", err, ann.RoomName())
	}
	if _, err := ann.Join(ctx, "party"); err != nil {
		t.Fatal(err)
	}

	// Bob comes in by code; the host's settings reach him.
	code := ann.State().Info.Code
	bob := New(Options{URL: ts.URL, Token: tokB}, eb.handlers())
	defer bob.Close()
	if err := bob.Connect(ctx); err != nil || bob.RoomName() != "" {
		t.Fatalf("connect to no room: %v, in %q", err, bob.RoomName())
	}
	if _, err := bob.Join(ctx, "party"); tandem.ErrorCode(err) != tandem.EFORBIDDEN || bob.RoomName() != "" {
		t.Fatalf("join by name as a stranger: %v, in %q", err, bob.RoomName())
	}
	if _, err := bob.JoinCode(ctx, code); err != nil || bob.RoomName() != "party" {
		t.Fatalf("join by code: %v, in %q", err, bob.RoomName())
	}
	if _, err := bob.SetWait(ctx, true); tandem.ErrorCode(err) != tandem.EFORBIDDEN {
		t.Fatalf("wait under the host policy, by a guest: %v", err)
	}
	if _, err := ann.SetPolicy(ctx, tandem.Everyone); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.SetWait(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.SetShuffle(ctx, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ann to see wait and shuffle", func() bool { i := ann.State().Info; return i.Wait && i.Shuffle })
	waitFor(t, "room events", ea.with(func(e *events) bool { return len(e.infos) >= 3 }))
	info, err := ann.RotateCode(ctx)
	if err != nil || info.Code == code || ann.State().Info.Code != info.Code {
		t.Fatalf("rotate: %+v, %v", info, err)
	}

	// A playlist made the room's queue.
	p, err := ann.CreatePlaylist(ctx, "op-1", "Mix", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ann.SetPlaylist(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob to see the room's playlist", func() bool { return bob.State().Info.Playlist == p.ID })
	first, err := bob.AddTrack(ctx, "op-b1", p.ID, track, Place{})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := bob.AddTrack(ctx, "op-b1", p.ID, track, Place{}); err != nil || again.Entry.ID != first.Entry.ID {
		t.Fatalf("a retried add: %+v, %v; want the first answer", again, err)
	}
	second, err := bob.AddTrack(ctx, "op-b2", p.ID, track, Place{Start: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.MoveEntry(ctx, "op-b3", p.ID, second.Entry.ID, Place{After: first.Entry.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.RemoveEntry(ctx, "op-b4", p.ID, first.Entry.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the queue to follow the edits", func() bool {
		q := ann.State().Queue
		return len(q) == 1 && q[0].ID == second.Entry.ID
	})

	// Friends and the feed, listed and pushed.
	fs, err := ann.Friends(ctx)
	if err != nil || len(fs) != 2 || !fs[0].Online || !fs[1].Online {
		t.Fatalf("friends = %+v, %v", fs, err)
	}
	items, err := ann.Activity(ctx, 10)
	if err != nil || !slices.ContainsFunc(items, func(a tandem.Activity) bool { return a.Kind == tandem.ActivityAdded && a.User == "bob" }) {
		t.Fatalf("activity = %+v, %v", items, err)
	}
	waitFor(t, "pushed friends and activity", ea.with(func(e *events) bool {
		return len(e.friends) > 0 && slices.ContainsFunc(e.activity, func(a tandem.Activity) bool { return a.Kind == tandem.ActivityAdded })
	}))

	// The host removes bob: he is in no room, and told by whom.
	if _, err := ann.RemoveMember(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob removed", eb.with(func(e *events) bool { return len(e.removed) == 1 && e.removed[0].By == "ann" }))
	if bob.RoomName() != "" {
		t.Fatalf("bob is still in %q", bob.RoomName())
	}

	// Leave: in no room, and no rejoin.
	if err := ann.Leave(ctx); err != nil || ann.RoomName() != "" || ann.State().Room != "" {
		t.Fatalf("leave: %v, in %q", err, ann.RoomName())
	}
	if _, err := ann.SetShuffle(ctx, false); tandem.ErrorCode(err) != tandem.EINVALID && tandem.ErrorCode(err) != tandem.EFORBIDDEN {
		t.Fatalf("a room command in no room: %v", err)
	}
}

// TestRejoinSwitchedRoom: after a switch, a reconnection rejoins the new
// room; after a leave, none.
func TestRejoinSwitchedRoom(t *testing.T) {
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h := hub.New(hub.Config{Store: db})
	defer h.Close()
	ts := httptest.NewUnstartedServer(h.Handler())
	dl := &dropListener{Listener: ts.Listener}
	ts.Listener = dl
	ts.Start()
	defer ts.Close()
	tok, _ := db.CreateToken("ann")
	joins := make(chan string, 8)
	conn := make(chan bool, 8)
	c := New(Options{URL: ts.URL, Token: tok, Room: "jam", ReconnectDelay: 20 * time.Millisecond, ReconnectDelayMax: 50 * time.Millisecond},
		Handlers{Joined: func(st protocol.RoomState) { joins <- st.Room }, Connection: func(ok bool, _ error) { conn <- ok }})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	<-joins
	if _, err := c.Join(ctx, "party"); err != nil {
		t.Fatal(err)
	}
	<-joins
	dl.dropAll()
	select {
	case room := <-joins:
		if room != "party" {
			t.Fatalf("rejoined %q, want party", room)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no rejoin")
	}
	if err := c.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	for len(conn) > 0 {
		<-conn
	}
	dl.dropAll()
	waitFor(t, "reconnection", func() bool {
		select {
		case ok := <-conn:
			return ok
		default:
			return false
		}
	})
	select {
	case room := <-joins:
		t.Fatalf("rejoined %q after leaving", room)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestRetryCutsBackoff: while the hub is down the client says when it
// tries again, and Retry makes it try at once.
func TestRetryCutsBackoff(t *testing.T) {
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h := hub.New(hub.Config{Store: db, OpenRooms: true})
	defer h.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	dl := &dropListener{Listener: ln}
	srv := &http.Server{Handler: h.Handler()}
	go srv.Serve(dl)
	tok, _ := db.CreateToken("ann")
	conn := make(chan bool, 16)
	c := New(Options{URL: "http://" + addr, Token: tok, Room: "lounge", ReconnectDelay: 30 * time.Second, ReconnectDelayMax: 30 * time.Second},
		Handlers{Connection: func(ok bool, _ error) { conn <- ok }})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if !c.Connected() || !c.NextAttempt().IsZero() {
		t.Fatalf("connected %v, next attempt %v", c.Connected(), c.NextAttempt())
	}
	srv.Close() // closes the listener and the connections
	dl.dropAll()
	waitFor(t, "a next attempt", func() bool { return !c.NextAttempt().IsZero() })
	if d := time.Until(c.NextAttempt()); d < 5*time.Second {
		t.Fatalf("next attempt in %v, want the long backoff", d)
	}
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	srv2 := &http.Server{Handler: h.Handler()}
	go srv2.Serve(ln2)
	defer srv2.Close()
	start := time.Now()
	c.Retry()
	waitFor(t, "the reconnection", func() bool { return c.Connected() && c.RoomName() == "lounge" && c.State().Room == "lounge" })
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("reconnected after %v", d)
	}
	if !c.NextAttempt().IsZero() {
		t.Fatal("a next attempt while connected")
	}
}
