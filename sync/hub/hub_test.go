package hub

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"tandem"
	"tandem/store"
	"tandem/sync/protocol"
	"tandem/sync/socketio"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fixture struct {
	db       *store.DB
	url      string
	playlist tandem.Playlist
	tracks   []string
}

func trackID(n byte) string {
	id := make([]byte, 64)
	for i := range id {
		id[i] = "0123456789abcdef"[(int(n)+i)%16]
	}
	return string(id)
}

// newFixture serves a hub whose rooms are open to every friend, as on a
// player's built-in hub; options change its Config.
func newFixture(t *testing.T, options ...func(*Config)) *fixture {
	t.Helper()
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{db: db}
	pl, _, err := db.NewPlaylist(tandem.Op{}, "Demo", "hub", true)
	if err != nil {
		t.Fatal(err)
	}
	for i := byte(0); i < 3; i++ {
		id := trackID(i)
		if err := db.PutTrack(tandem.Track{ID: id, Title: "Song " + string('A'+i), Artist: "Band", Duration: 20 * time.Second, Format: "wav"}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.AddEntry(pl.ID, id, "hub", time.Time{}); err != nil {
			t.Fatal(err)
		}
		f.tracks = append(f.tracks, id)
	}
	if f.playlist, err = db.Playlist(pl.ID); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: db, FallbackPlaylist: pl.ID, GuestUser: "guest", OpenRooms: true}
	for _, o := range options {
		o(&cfg)
	}
	h := New(cfg)
	ts := httptest.NewServer(h.Handler())
	t.Cleanup(func() {
		h.Close()
		ts.Close()
	})
	f.url = ts.URL
	return f
}

func (f *fixture) client(t *testing.T, name string) *socketio.Client {
	t.Helper()
	tok, err := f.db.CreateToken(name)
	if err != nil {
		t.Fatal(err)
	}
	c := socketio.NewClient(f.url, socketio.ClientOptions{Auth: func() any { return protocol.Auth{Token: tok} }})
	t.Cleanup(func() { c.Close() })
	if err := c.Connect(testCtx(t)); err != nil {
		t.Fatalf("connect %s: %v", name, err)
	}
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// call sends a command and decodes its ack into v.
func call(t *testing.T, c *socketio.Client, event string, payload any, v any) {
	t.Helper()
	args, err := c.EmitWithAck(testCtx(t), event, payload)
	if err != nil {
		t.Fatalf("%s: %v", event, err)
	}
	if len(args) != 1 {
		t.Fatalf("%s: ack has %d args", event, len(args))
	}
	if err := json.Unmarshal(args[0], v); err != nil {
		t.Fatalf("%s: ack %s: %v", event, args[0], err)
	}
}

func TestUnauthorized(t *testing.T) {
	f := newFixture(t)
	for _, auth := range []any{nil, protocol.Auth{Token: "nope"}, map[string]int{"token": 5}} {
		c := socketio.NewClient(f.url, socketio.ClientOptions{Auth: func() any { return auth }})
		err := c.Connect(testCtx(t))
		c.Close()
		var ce *socketio.ConnectError
		if !errors.As(err, &ce) || ce.Message != "unauthorized" {
			t.Fatalf("auth %v: Connect = %v, want CONNECT_ERROR unauthorized", auth, err)
		}
	}
}

func TestJoinAndChangeTrack(t *testing.T) {
	f := newFixture(t)
	ann, bob := f.client(t, "ann"), f.client(t, "bob")
	got := map[string]chan protocol.ChangeTrack{"ann": make(chan protocol.ChangeTrack, 2), "bob": make(chan protocol.ChangeTrack, 2)}
	for name, c := range map[string]*socketio.Client{"ann": ann, "bob": bob} {
		ch := got[name]
		c.On(protocol.EventChangeTrack, func(args []json.RawMessage, _ socketio.AckFunc) {
			var ev protocol.ChangeTrack
			if err := json.Unmarshal(args[0], &ev); err != nil {
				t.Errorf("changeTrack payload: %v", err)
			}
			ch <- ev
		})
		var ack protocol.JoinAck
		call(t, c, protocol.RoomJoin, protocol.RoomRequest{Room: "lounge"}, &ack)
		if !ack.OK || ack.State == nil {
			t.Fatalf("join ack = %+v", ack)
		}
		if got, want := len(ack.State.Queue), 3; got != want {
			t.Fatalf("queue has %d entries, want the %d of the fallback playlist", got, want)
		}
		if ack.State.Queue[0].Track == nil || ack.State.Queue[0].Track.Title != "Song A" {
			t.Fatalf("queue entry lacks its track: %+v", ack.State.Queue[0])
		}
	}
	entry := f.playlist.Entries[1]
	before := time.Now()
	var ack protocol.VersionAck
	call(t, ann, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "lounge", EntryID: entry.ID}, &ack)
	if !ack.OK || ack.Version != 1 {
		t.Fatalf("changeTrack ack = %+v", ack)
	}
	for name, ch := range got {
		select {
		case ev := <-ch:
			if ev.EntryID != entry.ID || ev.TrackID != entry.TrackID || ev.By != "ann" || ev.Version != 1 || ev.Room != "lounge" {
				t.Fatalf("%s got %+v", name, ev)
			}
			if start := protocol.FromMillis(ev.StartAt); start.Before(before) {
				t.Fatalf("%s: startAt %v is before the command", name, start)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s did not get changeTrack", name)
		}
	}
	// The change is durable.
	r, err := f.db.Room("lounge")
	if err != nil || r.Playback.EntryID != entry.ID || r.Version != 1 {
		t.Fatalf("stored room = %+v, %v", r, err)
	}
	// A late joiner sees it.
	carl := f.client(t, "carl")
	var join protocol.JoinAck
	call(t, carl, protocol.RoomJoin, protocol.RoomRequest{Room: "lounge"}, &join)
	if join.State.NowPlaying.EntryID != entry.ID || join.State.Version != 1 || len(join.State.Members) != 3 {
		t.Fatalf("late join state = %+v", join.State)
	}
}

func TestBadInput(t *testing.T) {
	f := newFixture(t)
	ann := f.client(t, "ann")
	var join protocol.JoinAck
	call(t, ann, protocol.RoomJoin, protocol.RoomRequest{Room: "lounge"}, &join)
	tests := []struct {
		event    string
		payload  any
		wantCode string
	}{
		{protocol.PlaybackChangeTrack, "not an object", tandem.EINVALID},
		{protocol.PlaybackChangeTrack, map[string]any{"room": "lounge", "entryId": 7}, tandem.EINVALID},
		{protocol.PlaybackChangeTrack, map[string]any{"room": "lounge", "entryId": "e1", "extra": 1}, tandem.EINVALID},
		{protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "lounge"}, tandem.EINVALID},
		{protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "lounge", EntryID: "e999"}, tandem.ENOTFOUND},
		{protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "lounge", TrackID: trackID(9)}, tandem.ENOTFOUND},
		{protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "elsewhere", EntryID: "e1"}, tandem.EFORBIDDEN},
		{protocol.PlaybackPlay, protocol.RoomRequest{Room: "lounge"}, tandem.ECONFLICT},
		{protocol.PlaybackSeek, protocol.RoomRequest{Room: "lounge"}, tandem.EINVALID},
		{protocol.RoomJoin, protocol.RoomRequest{Room: ""}, tandem.EINVALID},
		{protocol.RoomJoin, protocol.RoomRequest{Room: "bad\x00name"}, tandem.EINVALID},
		{"room:explode", protocol.RoomRequest{Room: "lounge"}, tandem.EUNKNOWN},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			var ack protocol.Ack
			call(t, ann, tt.event, tt.payload, &ack)
			if ack.OK || ack.Error == nil || ack.Error.Code != tt.wantCode || ack.Error.Message == "" {
				t.Fatalf("ack = %+v, want error %s", ack, tt.wantCode)
			}
		})
	}
	if !ann.Connected() {
		t.Fatal("bad input dropped the connection")
	}
	r, err := f.db.Room("lounge")
	if err != nil || r.Version != 0 || r.Playback.State != tandem.Stopped {
		t.Fatalf("room changed by bad input: %+v, %v", r, err)
	}
}

func TestPlayPauseSeek(t *testing.T) {
	f := newFixture(t)
	ann := f.client(t, "ann")
	events := make(chan protocol.PlaybackEvent, 4)
	ann.On(protocol.EventPlayback, func(args []json.RawMessage, _ socketio.AckFunc) {
		var ev protocol.PlaybackEvent
		_ = json.Unmarshal(args[0], &ev)
		events <- ev
	})
	var join protocol.JoinAck
	call(t, ann, protocol.RoomJoin, protocol.RoomRequest{Room: "lounge"}, &join)
	var ack protocol.VersionAck
	call(t, ann, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "lounge", TrackID: f.tracks[0]}, &ack)
	call(t, ann, protocol.PlaybackPause, protocol.RoomRequest{Room: "lounge"}, &ack)
	if ev := <-events; ev.State != tandem.Paused || ev.Version != 2 || ev.By != "ann" {
		t.Fatalf("pause event = %+v", ev)
	}
	pos := 5000.0
	call(t, ann, protocol.PlaybackSeek, protocol.SeekRequest{Room: "lounge", Position: &pos}, &ack)
	if ev := <-events; ev.State != tandem.Paused || ev.Position != 5000 || ev.Version != 3 {
		t.Fatalf("seek event = %+v", ev)
	}
	call(t, ann, protocol.PlaybackPlay, protocol.RoomRequest{Room: "lounge"}, &ack)
	if ev := <-events; ev.State != tandem.Playing || ev.Position != 5000 || ev.StartAt == 0 {
		t.Fatalf("play event = %+v", ev)
	}
}

func TestClockPingAndPlaylists(t *testing.T) {
	f := newFixture(t)
	ann := f.client(t, "ann")
	var ping protocol.ClockPingAck
	call(t, ann, protocol.ClockPing, protocol.ClockPingRequest{T0: 12.5}, &ping)
	if !ping.OK || ping.T0 != 12.5 || ping.T1 == 0 || ping.T2 < ping.T1 {
		t.Fatalf("clock ack = %+v", ping)
	}
	var pls protocol.PlaylistsAck
	call(t, ann, protocol.PlaylistList, struct{}{}, &pls)
	if !pls.OK || len(pls.Playlists) != 1 || pls.Playlists[0].Name != "Demo" || pls.Playlists[0].Entries != nil {
		t.Fatalf("playlists = %+v, want Demo without its entries", pls)
	}
	var open protocol.PlaylistAck
	call(t, ann, protocol.PlaylistOpen, protocol.PlaylistRequest{PlaylistID: pls.Playlists[0].ID}, &open)
	if !open.OK || len(open.Playlist.Entries) != 3 || open.Playlist.Entries[0].Track == nil {
		t.Fatalf("playlist:open = %+v", open)
	}
}

func TestGuestName(t *testing.T) {
	f := newFixture(t)
	tok, err := f.db.CreateToken("guest")
	if err != nil {
		t.Fatal(err)
	}
	connect := func(auth protocol.Auth) (*socketio.Client, error) {
		c := socketio.NewClient(f.url, socketio.ClientOptions{Auth: func() any { return auth }})
		t.Cleanup(func() { c.Close() })
		return c, c.Connect(testCtx(t))
	}
	c, err := connect(protocol.Auth{Token: tok, Name: "dana"})
	if err != nil {
		t.Fatal(err)
	}
	var join protocol.JoinAck
	call(t, c, protocol.RoomJoin, protocol.RoomRequest{Room: "lounge"}, &join)
	if m := join.State.Members; len(m) != 1 || m[0].Name != "dana (guest)" {
		t.Fatalf("members = %+v, want dana (guest)", m)
	}
	_, err = connect(protocol.Auth{Token: tok, Name: " bad\x01"})
	var ce *socketio.ConnectError
	if !errors.As(err, &ce) || ce.Message != "invalid name" {
		t.Fatalf("bad guest name: %v", err)
	}
}

func TestPresenceLeaveAndDisconnect(t *testing.T) {
	f := newFixture(t)
	ann := f.client(t, "ann")
	presence := make(chan []tandem.Member, 8)
	ann.On(protocol.EventPresence, func(args []json.RawMessage, _ socketio.AckFunc) {
		var p protocol.Presence
		_ = json.Unmarshal(args[0], &p)
		presence <- p.Members
	})
	var join protocol.JoinAck
	call(t, ann, protocol.RoomJoin, protocol.RoomRequest{Room: "lounge"}, &join)
	<-presence // ann alone
	bob := f.client(t, "bob")
	call(t, bob, protocol.RoomJoin, protocol.RoomRequest{Room: "lounge"}, &join)
	if m := <-presence; len(m) != 2 {
		t.Fatalf("after bob joined: %+v", m)
	}
	var ack protocol.Ack
	call(t, bob, protocol.RoomLeave, protocol.RoomRequest{Room: "lounge"}, &ack)
	if m := <-presence; len(m) != 1 || m[0].Name != "ann" {
		t.Fatalf("after bob left: %+v", m)
	}
	// Having left, bob may not command the room.
	var refused protocol.Ack
	call(t, bob, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "lounge", TrackID: f.tracks[0]}, &refused)
	if refused.OK || refused.Error.Code != tandem.EFORBIDDEN {
		t.Fatalf("command after leave = %+v", refused)
	}
	call(t, bob, protocol.RoomJoin, protocol.RoomRequest{Room: "lounge"}, &join)
	<-presence
	bob.Close()
	select {
	case m := <-presence:
		if len(m) != 1 {
			t.Fatalf("after bob disconnected: %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no presence after a member disconnected")
	}
}

func TestRoomSurvivesRestart(t *testing.T) {
	f := newFixture(t)
	ann := f.client(t, "ann")
	var join protocol.JoinAck
	call(t, ann, protocol.RoomJoin, protocol.RoomRequest{Room: "lounge"}, &join)
	var ack protocol.VersionAck
	call(t, ann, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "lounge", EntryID: f.playlist.Entries[2].ID}, &ack)
	if !ack.OK {
		t.Fatalf("changeTrack = %+v", ack)
	}

	// A second hub on the same store, as after a restart.
	h := New(Config{Store: f.db, OpenRooms: true})
	ts := httptest.NewServer(h.Handler())
	defer func() {
		h.Close()
		ts.Close()
	}()
	tok, _ := f.db.CreateToken("carl")
	c := socketio.NewClient(ts.URL, socketio.ClientOptions{Auth: func() any { return protocol.Auth{Token: tok} }})
	defer c.Close()
	if err := c.Connect(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	join = protocol.JoinAck{}
	call(t, c, protocol.RoomJoin, protocol.RoomRequest{Room: "lounge"}, &join)
	if st := join.State; !join.OK || st.Version != 1 || st.NowPlaying.EntryID != f.playlist.Entries[2].ID || len(st.Queue) != 3 {
		t.Fatalf("state after restart = %+v", st)
	}
}

func TestAdvanceAtTrackEnd(t *testing.T) {
	f := newFixture(t)
	for _, i := range []int{0, 2} { // short first and last tracks
		tr, err := f.db.Track(f.tracks[i])
		if err != nil {
			t.Fatal(err)
		}
		tr.Duration = 300 * time.Millisecond
		if err := f.db.PutTrack(tr); err != nil {
			t.Fatal(err)
		}
	}
	ann := f.client(t, "ann")
	changes := make(chan protocol.ChangeTrack, 4)
	stops := make(chan protocol.PlaybackEvent, 4)
	ann.On(protocol.EventChangeTrack, func(args []json.RawMessage, _ socketio.AckFunc) {
		var ev protocol.ChangeTrack
		_ = json.Unmarshal(args[0], &ev)
		changes <- ev
	})
	ann.On(protocol.EventPlayback, func(args []json.RawMessage, _ socketio.AckFunc) {
		var ev protocol.PlaybackEvent
		_ = json.Unmarshal(args[0], &ev)
		stops <- ev
	})
	var join protocol.JoinAck
	call(t, ann, protocol.RoomJoin, protocol.RoomRequest{Room: "lounge"}, &join)
	es := f.playlist.Entries
	var ack protocol.VersionAck
	call(t, ann, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "lounge", EntryID: es[0].ID}, &ack)
	if ev := <-changes; ev.EntryID != es[0].ID {
		t.Fatalf("first change = %+v", ev)
	}
	select {
	case ev := <-changes:
		if ev.EntryID != es[1].ID || ev.By != "" || ev.Version != 2 {
			t.Fatalf("advance = %+v, want entry %s by the hub", ev, es[1].ID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the room did not move on at the end of the track")
	}
	call(t, ann, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "lounge", EntryID: es[2].ID}, &ack)
	<-changes
	select {
	case ev := <-stops:
		if ev.State != tandem.Stopped || ev.EntryID != es[2].ID {
			t.Fatalf("end of queue = %+v, want stopped", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the room did not stop after the last track")
	}
}

func TestRunnerOrderAndLimit(t *testing.T) {
	h := &Hub{runners: map[string]*runner{}}
	started, release := make(chan struct{}), make(chan struct{})
	var order []int
	var mu sync.Mutex
	if !h.run("s1", func() { close(started); <-release }) {
		t.Fatal("first command refused")
	}
	<-started
	for i := range maxPending {
		ok := h.run("s1", func() {
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		})
		// The first command has left the queue and is running, so the
		// queue holds maxPending more before it refuses.
		if !ok {
			t.Fatalf("command %d refused below the limit", i)
		}
	}
	if h.run("s1", func() {}) {
		t.Fatal("a command beyond the limit was accepted")
	}
	if !h.run("s2", func() {}) {
		t.Fatal("another socket's command was refused")
	}
	close(release)
	h.running.Wait()
	for i, got := range order {
		if got != i {
			t.Fatalf("commands ran in order %v", order)
		}
	}
	if len(order) != maxPending || len(h.runners) != 0 {
		t.Fatalf("ran %d, %d runners left", len(order), len(h.runners))
	}
}

// TestPresenceSpacing: a small room's presence events may follow each
// other after presenceDelay; a big room's are spaced by its size, up to
// presenceEvery.
func TestPresenceSpacing(t *testing.T) {
	for _, c := range []struct {
		members int
		want    time.Duration
	}{{0, presenceDelay}, {2, presenceDelay}, {10, presenceDelay}, {50, 500 * time.Millisecond}, {100, time.Second}, {1000, time.Second}} {
		if got := presenceSpacing(c.members); got != c.want {
			t.Errorf("presenceSpacing(%d) = %v, want %v", c.members, got, c.want)
		}
	}
}
