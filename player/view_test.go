package player_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem"
	"tandem/audio"
	"tandem/internal/hubmedia"
	"tandem/player"
	"tandem/store"
	"tandem/sync/event"
	"tandem/sync/hub"
)

// switchProxy is a TCP proxy in front of a hub that can be taken down
// (its listener closed and every connection cut) and brought up again
// on the same address: the hub is unreachable meanwhile.
type switchProxy struct {
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newSwitchProxy(t *testing.T, target string) *switchProxy {
	t.Helper()
	p := &switchProxy{target: strings.TrimPrefix(target, "http://")}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() { p.down(); p.wg.Wait() })
	return p
}

func (p *switchProxy) url() string { return "http://" + p.addr }

func (p *switchProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				down.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, down, up)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); io.Copy(up, down); up.Close(); down.Close() }()
			go func() { defer p.wg.Done(); io.Copy(down, up); up.Close(); down.Close() }()
		}
	}()
}

// down makes the hub unreachable.
func (p *switchProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// up makes it reachable again, on the same address.
func (p *switchProxy) up(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("listen on %s again: %v", p.addr, err)
	}
	p.serve(ln)
}

// plainHub starts a hub without a fallback playlist and with the music
// API, whose rooms admit members only unless open.
func plainHub(t *testing.T, open bool) *testHub {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := hub.SeedDemo(db, audio.DemoTracks())
	if err != nil {
		t.Fatal(err)
	}
	cfg := hub.Config{Store: db, OpenRooms: open}
	if err := hubmedia.Wire(&cfg, db, dir, nil); err != nil {
		t.Fatal(err)
	}
	h := hub.New(cfg)
	ts := httptest.NewServer(h.Handler())
	t.Cleanup(func() {
		h.Close()
		ts.Close()
		db.Close()
	})
	return &testHub{url: ts.URL, db: db, pl: pl}
}

// core starts a core for name on url (the hub, or a proxy) in room.
func (th *testHub) core(t *testing.T, url, name, room string) *player.Core {
	t.Helper()
	tok, err := th.db.CreateToken(name)
	if err != nil {
		t.Fatal(err)
	}
	eng := audio.New(nil, audio.NewMuted())
	c := player.New(player.Config{HubURL: url, Token: tok, Room: room, Audio: eng, Library: audio.DemoLibrary(),
		ReconnectDelay: 50 * time.Millisecond, ReconnectDelayMax: 200 * time.Millisecond})
	t.Cleanup(func() {
		c.Close()
		eng.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return c
}

// errorsOf collects a core's error events.
func errorsOf(em *event.Emitter) chan error {
	ch := make(chan error, 32)
	event.Error.On(em, func(err error) {
		select {
		case ch <- err:
		default:
		}
	})
	return ch
}

func nextError(t *testing.T, ch chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no error event")
		return nil
	}
}

func playlistNamed(c *player.Core, name string) (player.PlaylistItem, bool) {
	i := slices.IndexFunc(c.Playlists(), func(p player.PlaylistItem) bool { return p.Name == name })
	if i < 0 {
		return player.PlaylistItem{}, false
	}
	return c.Playlists()[i], true
}

// TestOutboxAcrossReconnection: playlist edits made while the hub is
// unreachable wait in the outbox (Pending), and arrive once each, in
// order, after the reconnection.
func TestOutboxAcrossReconnection(t *testing.T) {
	th := plainHub(t, true)
	px := newSwitchProxy(t, th.url)
	a := th.core(t, px.url(), "ann", "lounge")
	a.CreatePlaylist("Road trip")
	waitFor(t, "the new playlist", func() bool { _, ok := playlistNamed(a, "Road trip"); return ok })
	p, _ := playlistNamed(a, "Road trip")
	if p.Owner != "ann" || !p.Editable || p.Collaborative || p.Count != 0 {
		t.Fatalf("new playlist = %+v", p)
	}
	tracks := th.pl.Entries
	a.AddTracks(p.ID, []string{tracks[0].TrackID})
	waitFor(t, "the first add", func() bool { return len(a.Rows(p.ID)) == 1 && a.Connection().Pending == 0 })

	px.down()
	waitFor(t, "the disconnection", func() bool { return !a.Connection().Connected })
	if err := a.Connection().Error; err == "" {
		t.Error("no connection error while disconnected")
	}
	a.AddTracks(p.ID, []string{tracks[1].TrackID, tracks[2].TrackID, tracks[3].TrackID})
	a.RemoveEntries(p.ID, []string{a.Rows(p.ID)[0].EntryID})
	a.AddTracks(p.ID, []string{tracks[1].TrackID})
	time.Sleep(300 * time.Millisecond) // reconnection attempts fail meanwhile
	if n := a.Connection().Pending; n != 5 {
		t.Fatalf("pending = %d, want 5", n)
	}
	px.up(t)
	waitFor(t, "the outbox to empty", func() bool { c := a.Connection(); return c.Connected && c.Pending == 0 })
	stored, err := th.db.Playlist(p.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range stored.Entries {
		got = append(got, e.TrackID)
	}
	want := []string{tracks[1].TrackID, tracks[2].TrackID, tracks[3].TrackID, tracks[1].TrackID}
	if !slices.Equal(got, want) {
		t.Fatalf("stored entries = %v, want %v", got, want)
	}
	waitFor(t, "the rows to follow", func() bool { return len(a.Rows(p.ID)) == 4 })
}

// TestAddToQueueMakesRoomPlaylist: adding to the queue of a room that
// plays no playlist makes one, named after the room, its queue.
func TestAddToQueueMakesRoomPlaylist(t *testing.T) {
	th := plainHub(t, true)
	a := th.core(t, th.url, "ann", "lounge")
	b := th.core(t, th.url, "bob", "lounge")
	if q := a.Playlists()[0]; q.ID != player.QueueID || !q.Editable || q.Count != 0 {
		t.Fatalf("queue item = %+v", q)
	}
	ids := []string{th.pl.Entries[0].TrackID, th.pl.Entries[1].TrackID}
	a.AddTracks(player.QueueID, ids)
	waitFor(t, "bob's queue", func() bool { return len(b.Rows(player.QueueID)) == 2 })
	rows := b.Rows(player.QueueID)
	if rows[0].TrackID != ids[0] || rows[1].TrackID != ids[1] || rows[0].User != "ann" || rows[0].Length <= 0 || rows[0].Song == "" {
		t.Fatalf("bob's queue = %+v", rows)
	}
	st := b.RoomClient().State()
	p, err := th.db.Playlist(st.Info.Playlist)
	if err != nil || p.Name != "lounge" || !p.Collaborative || len(p.Entries) != 2 {
		t.Fatalf("room's playlist %q = %+v, %v", st.Info.Playlist, p, err)
	}
	waitFor(t, "bob's queue item", func() bool {
		q := b.Playlists()[0]
		return q.Count == 2 && q.Owner == "ann" && q.Collaborative && q.Editable
	})
	// Bob removes one; then both add to the playlist as it is.
	b.RemoveEntries(player.QueueID, []string{rows[0].EntryID})
	waitFor(t, "ann's queue after the removal", func() bool {
		r := a.Rows(player.QueueID)
		return len(r) == 1 && r[0].TrackID == ids[1]
	})
	if n := len(a.Playlists()); n != 3 { // queue, Demo, lounge
		t.Fatalf("ann's playlists = %+v", a.Playlists())
	}
}

// TestRooms: hosting, switching, links, leaving, the host's controls and
// removal, as the window sees them.
func TestRooms(t *testing.T) {
	th := plainHub(t, false)
	a := th.core(t, th.url, "ann", "jam")
	b := th.core(t, th.url, "bob", "")
	errsA, errsB := errorsOf(a.Emitter()), errorsOf(b.Emitter())
	if b.Room() != "" || b.RoomView().Name != "" {
		t.Fatalf("bob in room %q", b.Room())
	}

	a.HostRoom("party", true)
	waitFor(t, "ann in party", func() bool { return a.Room() == "party" && a.RoomView().Code != "" })
	v := a.RoomView()
	hubHost := strings.TrimPrefix(th.url, "http://")
	if !v.IsHost || v.Host != "ann" || !v.HostOnly || v.Repeat != player.RepeatOff ||
		v.Link != "tandem://"+hubHost+"/join/"+v.Code || len(v.Members) != 1 || !v.Members[0].Online {
		t.Fatalf("room view = %+v", v)
	}
	waitFor(t, "two rooms", func() bool { return len(a.Rooms()) == 2 })
	if r := a.Rooms(); r[0].Name != "jam" || r[1].Name != "party" || !r[1].Current || r[1].Online != 1 {
		t.Fatalf("rooms = %+v", r)
	}
	if tl := a.TrackLink(th.pl.Entries[0].TrackID); tl != "tandem://"+hubHost+"/track/"+th.pl.Entries[0].TrackID {
		t.Fatalf("track link %q", tl)
	}

	// Links: another hub's is refused at once; this hub's, and a bare
	// code, join.
	if err := b.JoinLink("tandem://elsewhere.example:7878/join/" + v.Code); err == nil || !strings.Contains(err.Error(), "another hub") {
		t.Fatalf("a link to another hub: %v", err)
	}
	if err := b.JoinLink("not a link"); err == nil {
		t.Fatal("a malformed link was accepted")
	}
	if err := b.JoinLink(v.Link); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob in party", func() bool { return b.Room() == "party" })
	if b.RoomView().IsHost {
		t.Fatal("bob is host")
	}
	waitFor(t, "ann sees bob", func() bool { return len(a.RoomView().Members) == 2 })
	b.SwitchRoom("jam")
	if err := nextError(t, errsB); tandem.ErrorCode(err) != tandem.EFORBIDDEN || b.Room() != "party" {
		t.Fatalf("switch to a room bob is not a member of: %v, in %q", err, b.Room())
	}
	b.LeaveRoom()
	waitFor(t, "bob out", func() bool { return b.Room() == "" && b.RoomView().Name == "" })
	if err := b.JoinLink(strings.ToLower(v.Code)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob back by code", func() bool { return b.Room() == "party" })

	// The host's controls.
	b.SetWait(true)
	if err := nextError(t, errsB); tandem.ErrorCode(err) != tandem.EFORBIDDEN {
		t.Fatalf("a guest's wait under the host policy: %v", err)
	}
	a.SetHostOnly(false)
	a.SetWait(true)
	a.SetShuffle(true)
	waitFor(t, "bob to see the settings", func() bool {
		v := b.RoomView()
		return !v.HostOnly && v.Wait && v.Shuffle
	})
	a.RotateCode()
	waitFor(t, "a new code", func() bool { return b.RoomView().Code != v.Code && b.RoomView().Code != "" })

	// Removal: bob is out, and told by whom.
	a.RemoveMember("bob")
	err := nextError(t, errsB)
	if err == nil || !strings.Contains(err.Error(), "ann removed you") {
		t.Fatalf("bob's error = %v", err)
	}
	if b.Room() != "" {
		t.Fatalf("bob still in %q", b.Room())
	}
	a.RemoveMember("bob")
	if err := nextError(t, errsA); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Fatalf("removing a non-member: %v", err)
	}
}

// TestLeaveStopsAudio: leaving the room stops the audio; switching back
// plays the room's track again.
func TestLeaveStopsAudio(t *testing.T) {
	th := newHub(t)
	a, aAudio := th.newCore(t, "ann")
	rows := a.Rows(player.QueueID)
	player.ChangeTrack.Emit(a.Emitter(), player.TrackChange{Origin: player.Local, Room: "lounge", EntryID: rows[0].EntryID, TrackID: rows[0].TrackID})
	waitFor(t, "ann to play", func() bool { return aAudio.Playing() })
	if np := a.Now(); np.TrackID != rows[0].TrackID || np.Album != rows[0].Album {
		t.Fatalf("now = %+v, want track %s", np, rows[0].TrackID)
	}
	a.LeaveRoom()
	waitFor(t, "the audio to stop", func() bool { return !aAudio.Playing() && a.Room() == "" })
	a.SwitchRoom("lounge")
	waitFor(t, "the room's track again", func() bool { return aAudio.Playing() && aAudio.Current() == rows[0].TrackID })
}

// TestTransportAndVolume: next, previous, seek and repeat reach the room;
// volume and mute reach the engine.
func TestTransportAndVolume(t *testing.T) {
	th := newHub(t)
	a, aAudio := th.newCore(t, "ann")
	rows := a.Rows(player.QueueID)
	a.Next() // nothing playing: the first entry
	waitFor(t, "the first entry", func() bool { return a.Now().EntryID == rows[0].EntryID })
	a.Next()
	waitFor(t, "the second entry", func() bool { return a.Now().EntryID == rows[1].EntryID })
	a.Previous()
	waitFor(t, "the first entry again", func() bool { return a.Now().EntryID == rows[0].EntryID })
	waitFor(t, "ann to play", func() bool { return aAudio.Playing() })
	a.Seek(5 * time.Second)
	waitFor(t, "the seek", func() bool { return aAudio.Position() > 5*time.Second })
	a.SetRepeat(player.RepeatOne)
	waitFor(t, "repeat one", func() bool { return a.RoomView().Repeat == player.RepeatOne })
	a.SetRepeat(player.RepeatAll)
	waitFor(t, "repeat all", func() bool { return a.RoomView().Repeat == player.RepeatAll })

	a.SetVolume(0.25)
	if a.Volume() != 0.25 || aAudio.Volume() != 0.25 {
		t.Fatalf("volume %v, engine %v", a.Volume(), aAudio.Volume())
	}
	a.SetMuted(true)
	if !a.Muted() {
		t.Fatal("not muted")
	}
	a.SetMuted(false)
	if a.Muted() {
		t.Fatal("still muted")
	}
	if s := a.Sync(); !s.Settled || s.Error <= 0 {
		t.Fatalf("sync = %+v", s)
	}
}

// TestFriendsAndActivity: every friend, online first, with their room and
// track; the feed from the join on.
func TestFriendsAndActivity(t *testing.T) {
	th := plainHub(t, true)
	if _, err := th.db.CreateToken("zoe"); err != nil { // a friend who never connects
		t.Fatal(err)
	}
	a := th.core(t, th.url, "ann", "lounge")
	b := th.core(t, th.url, "bob", "lounge")
	c := th.core(t, th.url, "cat", "elsewhere")
	waitFor(t, "three friends, cat in her room", func() bool {
		fs := a.Friends()
		return len(fs) == 3 && fs[1].Room == "elsewhere"
	})
	fs := a.Friends()
	if fs[0].Name != "bob" || fs[1].Name != "cat" || fs[2].Name != "zoe" || !fs[0].Online || fs[2].Online ||
		!fs[0].InRoom || fs[1].InRoom || fs[1].Room != "elsewhere" {
		t.Fatalf("friends = %+v", fs)
	}
	if !fs[2].Since.IsZero() {
		t.Fatalf("since = %v for zoe, who never changed while ann looked", fs[2].Since)
	}
	// Cat plays a track in her room: ann sees it, and since when.
	tr := th.pl.Entries[2]
	before := time.Now()
	player.ChangeTrack.Emit(c.Emitter(), player.TrackChange{Origin: player.Local, Room: "elsewhere", TrackID: tr.TrackID})
	waitFor(t, "cat to play", func() bool { return c.Now().Playing })
	// The hub sends friends when someone connects, joins or leaves (not
	// yet on a change of track): dan's arrival carries cat's track.
	th.core(t, th.url, "dan", "lounge")
	waitFor(t, "cat's track in ann's friends", func() bool {
		f := a.Friends()[1]
		return f.Name == "cat" && f.Listening != "" && !f.Since.Before(before)
	})
	// Bob adds a track: the feed says so.
	b.AddTracks(player.QueueID, []string{tr.TrackID})
	waitFor(t, "the feed", func() bool {
		as := a.Activity()
		return len(as) > 0 && as[len(as)-1].Kind == tandem.ActivityAdded && as[len(as)-1].User == "bob"
	})
	if as := a.Activity(); !slices.ContainsFunc(as, func(x player.Activity) bool { return x.Kind == tandem.ActivityListening }) {
		t.Fatalf("feed = %+v, want the listening items from before", as)
	}
	c.Close()
	waitFor(t, "cat offline", func() bool {
		fs := a.Friends()
		i := slices.IndexFunc(fs, func(f player.Friend) bool { return f.Name == "cat" })
		return i == 2 && !fs[i].Online
	})
}

// TestArt: artwork comes from the hub once and then from memory; a track
// without any gives nil.
func TestArt(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pl, err := hub.SeedDemo(db, audio.DemoTracks())
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := store.OpenBlobs(filepath.Join(dir, store.BlobDir), nil)
	if err != nil {
		t.Fatal(err)
	}
	img := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 100)...)
	withArt := pl.Entries[0].TrackID
	tr, err := db.Track(withArt)
	if err != nil {
		t.Fatal(err)
	}
	tr.Art = "image/png"
	if err := db.PutTrack(tr); err != nil {
		t.Fatal(err)
	}
	if err := blobs.PutArt(withArt, img); err != nil {
		t.Fatal(err)
	}
	cfg := hub.Config{Store: db, OpenRooms: true, FallbackPlaylist: pl.ID}
	if err := hubmedia.Wire(&cfg, db, dir, nil); err != nil {
		t.Fatal(err)
	}
	h := hub.New(cfg)
	defer h.Close()
	ts := httptest.NewServer(h.Handler())
	defer ts.Close()
	th := &testHub{url: ts.URL, db: db, pl: pl}
	a := th.core(t, ts.URL, "ann", "lounge")

	get := func(id string) []byte {
		ch := make(chan []byte, 1)
		a.Art(id, func(b []byte) { ch <- b })
		select {
		case b := <-ch:
			return b
		case <-time.After(10 * time.Second):
			t.Fatalf("no artwork answer for %s", id)
			return nil
		}
	}
	if got := get(withArt); !bytes.Equal(got, img) {
		t.Fatalf("art = %d bytes, want %d", len(got), len(img))
	}
	player.ChangeTrack.Emit(a.Emitter(), player.TrackChange{Origin: player.Local, Room: "lounge", EntryID: pl.Entries[0].ID, TrackID: withArt})
	waitFor(t, "now playing with art", func() bool { np := a.Now(); return np.TrackID == withArt && np.HasArt })
	ts.CloseClientConnections()
	ts.Close() // from memory now
	if got := get(withArt); !bytes.Equal(got, img) {
		t.Fatal("cached art differs")
	}
	if got := get(pl.Entries[1].TrackID); got != nil {
		t.Fatalf("art of a track without any: %d bytes", len(got))
	}
	if got := get("../x"); got != nil {
		t.Fatal("art for a bad id")
	}
}

// TestOutboxSurvivesRestart: edits made while the hub is away, still in
// the outbox when the player quits, are kept in the outbox file and sent
// by the next start, once each and in order.
func TestOutboxSurvivesRestart(t *testing.T) {
	th := plainHub(t, true)
	path := filepath.Join(t.TempDir(), "outbox.json")
	px := newSwitchProxy(t, th.url)
	tok, err := th.db.CreateToken("ann")
	if err != nil {
		t.Fatal(err)
	}
	start := func(url string) *player.Core {
		eng := audio.New(nil, audio.NewMuted())
		c := player.New(player.Config{HubURL: url, Token: tok, Room: "lounge", Audio: eng, Library: audio.DemoLibrary(),
			OutboxPath: path, ReconnectDelay: 50 * time.Millisecond, ReconnectDelayMax: 200 * time.Millisecond})
		t.Cleanup(func() {
			c.Close()
			eng.Close()
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Start(ctx) // the second start may find the hub at once or not
		return c
	}
	a := start(px.url())
	a.CreatePlaylist("Road trip")
	waitFor(t, "the new playlist", func() bool { _, ok := playlistNamed(a, "Road trip"); return ok && a.Connection().Pending == 0 })
	p, _ := playlistNamed(a, "Road trip")
	px.down()
	waitFor(t, "the disconnection", func() bool { return !a.Connection().Connected })
	tracks := th.pl.Entries
	a.AddTracks(p.ID, []string{tracks[2].TrackID, tracks[0].TrackID})
	if n := a.Connection().Pending; n != 2 {
		t.Fatalf("pending = %d, want 2", n)
	}
	a.Close()
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), tracks[2].TrackID) {
		t.Fatalf("outbox file: %s (%v)", b, err)
	}

	a2 := start(th.url)
	waitFor(t, "the outbox to empty", func() bool { c := a2.Connection(); return c.Connected && c.Pending == 0 })
	stored, err := th.db.Playlist(p.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range stored.Entries {
		got = append(got, e.TrackID)
	}
	if want := []string{tracks[2].TrackID, tracks[0].TrackID}; !slices.Equal(got, want) {
		t.Fatalf("stored entries = %v, want %v", got, want)
	}
	// The file follows the outbox (a sent edit left in it by a quit is
	// sent again, with its op id, and not applied twice).
	waitFor(t, "the outbox file to empty", func() bool { b, err := os.ReadFile(path); return err == nil && string(b) == "[]" })
}

// TestMoveRenameShare: moves, renames and shares go through the outbox
// to the hub, and the core's copy follows.
func TestMoveRenameShare(t *testing.T) {
	th := plainHub(t, true)
	a := th.core(t, th.url, "ann", "lounge")
	a.CreatePlaylist("Road trip")
	waitFor(t, "the new playlist", func() bool { _, ok := playlistNamed(a, "Road trip"); return ok })
	p, _ := playlistNamed(a, "Road trip")
	if !p.Mine {
		t.Fatalf("ann's playlist = %+v", p)
	}
	tr := th.pl.Entries
	a.AddTracks(p.ID, []string{tr[0].TrackID, tr[1].TrackID, tr[2].TrackID})
	waitFor(t, "three entries", func() bool { return len(a.Rows(p.ID)) == 3 })
	rows := a.Rows(p.ID)
	a.MoveEntries(p.ID, []string{rows[2].EntryID}, "")
	a.MoveEntries(p.ID, []string{rows[0].EntryID}, rows[1].EntryID)
	want := []string{rows[2].EntryID, rows[1].EntryID, rows[0].EntryID}
	waitFor(t, "the moves", func() bool {
		var got []string
		for _, r := range a.Rows(p.ID) {
			got = append(got, r.EntryID)
		}
		return slices.Equal(got, want)
	})
	a.RenamePlaylist(p.ID, "Night drive")
	a.SharePlaylist(p.ID, true)
	waitFor(t, "the rename and the share", func() bool {
		q, ok := playlistNamed(a, "Night drive")
		return ok && q.Collaborative && q.Mine
	})
	stored, err := th.db.Playlist(p.ID)
	if err != nil || stored.Name != "Night drive" || !stored.Collaborative {
		t.Fatalf("stored %+v (%v)", stored, err)
	}
}
