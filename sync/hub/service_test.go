package hub

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem"
	"tandem/sync/protocol"
	"tandem/sync/socketio"
)

// events collects one event's payloads from a client.
func events[T any](t *testing.T, c *socketio.Client, name string) chan T {
	ch := make(chan T, 64)
	c.On(name, func(args []json.RawMessage, _ socketio.AckFunc) {
		var v T
		if err := json.Unmarshal(args[0], &v); err != nil {
			t.Errorf("%s payload %s: %v", name, args[0], err)
			return
		}
		select {
		case ch <- v:
		default:
			t.Errorf("%s: too many events", name)
		}
	})
	return ch
}

// next waits for an event matching ok, skipping others.
func next[T any](t *testing.T, ch chan T, what string, ok func(T) bool) T {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case v := <-ch:
			if ok(v) {
				return v
			}
		case <-deadline:
			t.Fatalf("no %s", what)
		}
	}
}

// fail sends a command that must be refused with code, and returns the
// refusal's message.
func fail(t *testing.T, c *socketio.Client, event string, payload any, code string) string {
	t.Helper()
	var ack protocol.Ack
	call(t, c, event, payload, &ack)
	if ack.OK || ack.Error == nil || ack.Error.Code != code {
		t.Fatalf("%s %+v: ack %+v, want error %s", event, payload, ack, code)
	}
	return ack.Error.Message
}

func closedRooms(c *Config) { c.OpenRooms = false }

func TestRoomMembershipAndCodes(t *testing.T) {
	f := newFixture(t, closedRooms)
	ann, bob := f.client(t, "ann"), f.client(t, "bob")
	var join protocol.JoinAck
	call(t, ann, protocol.RoomCreate, protocol.CreateRoomRequest{Room: "lounge"}, &join)
	info := join.State.Info
	if !join.OK || info.Host != "ann" || info.Policy != tandem.Everyone || len(info.Code) != 16 || !slices.Equal(info.Members, []string{"ann"}) {
		t.Fatalf("room:create = %+v", join)
	}
	fail(t, ann, protocol.RoomCreate, protocol.CreateRoomRequest{Room: "lounge"}, tandem.ECONFLICT)

	// bob is not a member: he can neither join nor command the room.
	msg := fail(t, bob, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, tandem.EFORBIDDEN)
	if !strings.Contains(msg, "invite link") {
		t.Errorf("refusal %q does not say how to get in", msg)
	}
	fail(t, bob, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "lounge", TrackID: f.tracks[0]}, tandem.EFORBIDDEN)
	fail(t, bob, protocol.RoomJoin, protocol.JoinRequest{Code: "AAAAAAAAAAAAAAAA"}, tandem.ENOTFOUND)
	fail(t, bob, protocol.RoomJoin, protocol.JoinRequest{Code: "../etc/passwd"}, tandem.EINVALID)
	fail(t, bob, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge", Code: info.Code}, tandem.EINVALID)

	// With the code he is in, and a member from then on.
	roomEvents := events[protocol.RoomInfo](t, ann, protocol.EventRoom)
	join = protocol.JoinAck{}
	call(t, bob, protocol.RoomJoin, protocol.JoinRequest{Code: info.Code}, &join)
	if !join.OK || !slices.Equal(join.State.Info.Members, []string{"ann", "bob"}) {
		t.Fatalf("join by code = %+v", join)
	}
	next(t, roomEvents, "room event with bob", func(ri protocol.RoomInfo) bool { return slices.Contains(ri.Members, "bob") })
	var ack protocol.Ack
	call(t, bob, protocol.RoomLeave, protocol.RoomRequest{Room: "lounge"}, &ack)
	call(t, bob, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &join)
	if !join.OK {
		t.Fatalf("a member's join by name = %+v", join)
	}
	var rooms protocol.RoomsAck
	call(t, bob, protocol.RoomList, nil, &rooms)
	if len(rooms.Rooms) != 1 || rooms.Rooms[0].Room != "lounge" {
		t.Fatalf("room:list = %+v", rooms)
	}

	// Only the host rotates the code; the old one stops working.
	fail(t, bob, protocol.RoomCode, protocol.RoomRequest{Room: "lounge"}, tandem.EFORBIDDEN)
	var rotated protocol.RoomInfoAck
	call(t, ann, protocol.RoomCode, protocol.RoomRequest{Room: "lounge"}, &rotated)
	if !rotated.OK || rotated.Room.Code == info.Code || len(rotated.Room.Code) != 16 {
		t.Fatalf("room:code = %+v", rotated)
	}
	carl := f.client(t, "carl")
	fail(t, carl, protocol.RoomJoin, protocol.JoinRequest{Code: info.Code}, tandem.ENOTFOUND)
	call(t, carl, protocol.RoomJoin, protocol.JoinRequest{Code: rotated.Room.Code}, &join)
	if !join.OK {
		t.Fatalf("join with the new code = %+v", join)
	}
}

func TestHostOnlyPolicyAndRemove(t *testing.T) {
	f := newFixture(t, closedRooms)
	ann, bob := f.client(t, "ann"), f.client(t, "bob")
	var join protocol.JoinAck
	call(t, ann, protocol.RoomCreate, protocol.CreateRoomRequest{Room: "jam", Policy: tandem.HostOnly}, &join)
	code := join.State.Info.Code
	call(t, bob, protocol.RoomJoin, protocol.JoinRequest{Code: code}, &join)

	// Under "host only", bob's controls are refused and change nothing.
	before := join.State.Version
	for _, c := range []struct {
		event   string
		payload any
	}{
		{protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "jam", TrackID: f.tracks[0]}},
		{protocol.PlaybackPlay, protocol.RoomRequest{Room: "jam"}},
		{protocol.PlaybackPause, protocol.RoomRequest{Room: "jam"}},
		{protocol.PlaybackSeek, protocol.SeekRequest{Room: "jam", Position: new(float64)}},
		{protocol.RoomPlaylist, protocol.RoomPlaylistRequest{Room: "jam", PlaylistID: f.playlist.ID}},
		{protocol.RoomRepeat, protocol.RepeatRequest{Room: "jam", Repeat: protocol.RepeatAll}},
		{protocol.RoomPolicy, protocol.PolicyRequest{Room: "jam", Policy: tandem.Everyone}},
		{protocol.RoomRemove, protocol.RemoveRequest{Room: "jam", User: "ann"}},
	} {
		msg := fail(t, bob, c.event, c.payload, tandem.EFORBIDDEN)
		if !strings.Contains(msg, "host") {
			t.Errorf("%s refusal %q does not name the host", c.event, msg)
		}
	}
	var rooms protocol.RoomsAck
	call(t, bob, protocol.RoomList, nil, &rooms)
	if rooms.Rooms[0].Version != before {
		t.Fatalf("refused commands changed the room: version %d -> %d", before, rooms.Rooms[0].Version)
	}
	var v protocol.VersionAck
	call(t, ann, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "jam", TrackID: f.tracks[0]}, &v)
	if !v.OK {
		t.Fatalf("the host's changeTrack = %+v", v)
	}

	// The host opens the controls to everyone.
	fail(t, ann, protocol.RoomPolicy, protocol.PolicyRequest{Room: "jam", Policy: "anarchy"}, tandem.EINVALID)
	var info protocol.RoomInfoAck
	call(t, ann, protocol.RoomPolicy, protocol.PolicyRequest{Room: "jam", Policy: tandem.Everyone}, &info)
	call(t, bob, protocol.PlaybackPause, protocol.RoomRequest{Room: "jam"}, &v)
	if !v.OK {
		t.Fatalf("bob's pause under everyone = %+v", v)
	}

	// The host removes bob: he is told, is out at once, and cannot
	// come back by name.
	removed := events[protocol.Removed](t, bob, protocol.EventRemoved)
	fail(t, ann, protocol.RoomRemove, protocol.RemoveRequest{Room: "jam", User: "ann"}, tandem.EINVALID)
	fail(t, ann, protocol.RoomRemove, protocol.RemoveRequest{Room: "jam", User: "zed"}, tandem.ENOTFOUND)
	call(t, ann, protocol.RoomRemove, protocol.RemoveRequest{Room: "jam", User: "bob"}, &info)
	if !info.OK || slices.Contains(info.Room.Members, "bob") {
		t.Fatalf("room:remove = %+v", info)
	}
	if ev := next(t, removed, "removed event", func(protocol.Removed) bool { return true }); ev.Room != "jam" || ev.By != "ann" {
		t.Errorf("removed event = %+v", ev)
	}
	fail(t, bob, protocol.PlaybackPlay, protocol.RoomRequest{Room: "jam"}, tandem.EFORBIDDEN)
	fail(t, bob, protocol.RoomJoin, protocol.JoinRequest{Room: "jam"}, tandem.EFORBIDDEN)
}

// TestRoomStateSurvivesRestart restarts the hub on the same store: the
// queue, the timeline, the members and the policy come back.
func TestRoomStateSurvivesRestart(t *testing.T) {
	f := newFixture(t, closedRooms)
	ann, bob := f.client(t, "ann"), f.client(t, "bob")
	var join protocol.JoinAck
	call(t, ann, protocol.RoomCreate, protocol.CreateRoomRequest{Room: "jam", Policy: tandem.HostOnly}, &join)
	call(t, bob, protocol.RoomJoin, protocol.JoinRequest{Code: join.State.Info.Code}, &join)
	var v protocol.VersionAck
	call(t, ann, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "jam", EntryID: f.playlist.Entries[1].ID}, &v)
	call(t, ann, protocol.PlaybackPause, protocol.RoomRequest{Room: "jam"}, &v)

	c := f.restarted(t, "bob")
	join = protocol.JoinAck{}
	call(t, c, protocol.RoomJoin, protocol.JoinRequest{Room: "jam"}, &join)
	st := join.State
	if !join.OK || st.Version != v.Version || st.NowPlaying.State != tandem.Paused || st.NowPlaying.EntryID != f.playlist.Entries[1].ID ||
		st.Info.Policy != tandem.HostOnly || st.Info.Host != "ann" || !slices.Equal(st.Info.Members, []string{"ann", "bob"}) || len(st.Queue) != 3 {
		t.Fatalf("after restart: %+v", join)
	}
	fail(t, c, protocol.PlaybackPlay, protocol.RoomRequest{Room: "jam"}, tandem.EFORBIDDEN)
}

func TestPlaylistEditsArePushedLive(t *testing.T) {
	f := newFixture(t)
	ann, bob := f.client(t, "ann"), f.client(t, "bob")
	var created protocol.PlaylistAck
	call(t, ann, protocol.PlaylistCreate, protocol.CreatePlaylistRequest{OpID: "c1", Name: "Road trip", Collaborative: true}, &created)
	p := created.Playlist
	if !created.OK || p.Owner != "ann" || !p.Collaborative || p.Version != 0 {
		t.Fatalf("playlist:create = %+v", created)
	}
	var open protocol.PlaylistAck
	call(t, bob, protocol.PlaylistOpen, protocol.PlaylistRequest{PlaylistID: p.ID}, &open)
	bobSees := events[protocol.PlaylistEvent](t, bob, protocol.EventPlaylist)
	feed := events[protocol.ActivityEvent](t, ann, protocol.EventActivity)
	var subscribed protocol.ActivityAck
	call(t, ann, protocol.ActivityList, protocol.ActivityRequest{}, &subscribed)

	var add protocol.EditAck
	call(t, ann, protocol.PlaylistAdd, protocol.EditRequest{OpID: "a1", PlaylistID: p.ID, TrackID: f.tracks[0]}, &add)
	if !add.OK || add.Version != 1 || add.Entry == nil || add.Entry.AddedBy != "ann" || add.Entry.Track == nil {
		t.Fatalf("playlist:add = %+v", add)
	}
	ev := next(t, bobSees, "add event", func(protocol.PlaylistEvent) bool { return true })
	if ev.Kind != "add" || ev.Version != 1 || ev.By != "ann" || ev.Entry == nil || ev.Entry.ID != add.Entry.ID || ev.Entry.Order == "" {
		t.Fatalf("add event = %+v", ev)
	}
	if a := next(t, feed, "activity", func(protocol.ActivityEvent) bool { return true }); len(a.Items) != 1 || a.Items[0].Text != "ann added Song A to Road trip" {
		t.Errorf("activity = %+v", a)
	}

	// A retry of the same op (its ack was lost) changes nothing and gets
	// the same answer.
	var again protocol.EditAck
	call(t, ann, protocol.PlaylistAdd, protocol.EditRequest{OpID: "a1", PlaylistID: p.ID, TrackID: f.tracks[0]}, &again)
	if again.Version != add.Version || again.Entry.ID != add.Entry.ID {
		t.Fatalf("retry = %+v, want %+v", again, add)
	}

	// bob inserts before ann's entry, then moves and removes.
	var b protocol.EditAck
	call(t, bob, protocol.PlaylistAdd, protocol.EditRequest{OpID: "b1", PlaylistID: p.ID, TrackID: f.tracks[1], Before: add.Entry.ID}, &b)
	call(t, bob, protocol.PlaylistMove, protocol.EditRequest{OpID: "b2", PlaylistID: p.ID, EntryID: b.Entry.ID, After: add.Entry.ID}, &b)
	call(t, bob, protocol.PlaylistRemove, protocol.EditRequest{OpID: "b3", PlaylistID: p.ID, EntryID: add.Entry.ID}, &b)
	if !b.OK || b.Version != 4 {
		t.Fatalf("bob's edits: %+v", b)
	}
	for _, kind := range []string{"add", "move", "remove"} {
		ev := next(t, bobSees, kind+" event", func(protocol.PlaylistEvent) bool { return true })
		if ev.Kind != kind || ev.By != "bob" {
			t.Errorf("event %+v, want %s by bob", ev, kind)
		}
	}
	call(t, bob, protocol.PlaylistOpen, protocol.PlaylistRequest{PlaylistID: p.ID}, &open)
	if len(open.Playlist.Entries) != 1 || open.Playlist.Version != 4 || open.Playlist.Entries[0].AddedBy != "bob" {
		t.Fatalf("after edits: %+v", open.Playlist)
	}

	// Owner-only: bob's edits are refused once ann unshares it.
	share := false
	var ack protocol.EditAck
	call(t, ann, protocol.PlaylistShare, protocol.EditRequest{OpID: "s1", PlaylistID: p.ID, Collaborative: &share}, &ack)
	fail(t, bob, protocol.PlaylistAdd, protocol.EditRequest{OpID: "b4", PlaylistID: p.ID, TrackID: f.tracks[2]}, tandem.EFORBIDDEN)
	fail(t, bob, protocol.PlaylistRename, protocol.EditRequest{OpID: "b5", PlaylistID: p.ID, Name: "mine"}, tandem.EFORBIDDEN)

	// bob closes it and hears no more.
	var okAck protocol.Ack
	call(t, bob, protocol.PlaylistClose, protocol.PlaylistRequest{PlaylistID: p.ID}, &okAck)
	next(t, bobSees, "share event", func(ev protocol.PlaylistEvent) bool { return ev.Kind == "share" })
	call(t, ann, protocol.PlaylistRename, protocol.EditRequest{OpID: "r1", PlaylistID: p.ID, Name: "Road trip 2"}, &ack)
	select {
	case ev := <-bobSees:
		t.Fatalf("event after close: %+v", ev)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestPlaylistCommandValidation(t *testing.T) {
	f := newFixture(t)
	ann := f.client(t, "ann")
	pid := f.playlist.ID
	long := strings.Repeat("x", 65)
	for _, c := range []struct {
		event   string
		payload any
		code    string
	}{
		{protocol.PlaylistAdd, protocol.EditRequest{PlaylistID: pid, TrackID: f.tracks[0]}, tandem.EINVALID},             // no op id
		{protocol.PlaylistAdd, protocol.EditRequest{OpID: long, PlaylistID: pid, TrackID: f.tracks[0]}, tandem.EINVALID}, // op id too long
		{protocol.PlaylistAdd, protocol.EditRequest{OpID: "a b", PlaylistID: pid, TrackID: f.tracks[0]}, tandem.EINVALID},
		{protocol.PlaylistAdd, protocol.EditRequest{OpID: "1", PlaylistID: "../p1", TrackID: f.tracks[0]}, tandem.EINVALID},
		{protocol.PlaylistAdd, protocol.EditRequest{OpID: "1", PlaylistID: pid, TrackID: "../../etc/passwd"}, tandem.EINVALID},
		{protocol.PlaylistAdd, protocol.EditRequest{OpID: "1", PlaylistID: pid, TrackID: strings.Repeat("A", 64)}, tandem.EINVALID},
		{protocol.PlaylistAdd, protocol.EditRequest{OpID: "1", PlaylistID: pid, TrackID: strings.Repeat("a", 64)}, tandem.ENOTFOUND},
		{protocol.PlaylistAdd, protocol.EditRequest{OpID: "1", PlaylistID: "p999", TrackID: f.tracks[0]}, tandem.ENOTFOUND},
		{protocol.PlaylistAdd, protocol.EditRequest{OpID: "1", PlaylistID: pid, TrackID: f.tracks[0], After: "e1", Before: "e2"}, tandem.EINVALID},
		{protocol.PlaylistAdd, protocol.EditRequest{OpID: "1", PlaylistID: pid, TrackID: f.tracks[0], After: "x1"}, tandem.EINVALID},
		{protocol.PlaylistAdd, protocol.EditRequest{OpID: "1", PlaylistID: pid, TrackID: f.tracks[0], EntryID: "e1"}, tandem.EINVALID},
		{protocol.PlaylistMove, protocol.EditRequest{OpID: "1", PlaylistID: pid, EntryID: "e01"}, tandem.EINVALID},
		{protocol.PlaylistRemove, protocol.EditRequest{OpID: "1", PlaylistID: pid, EntryID: "e1", Start: true}, tandem.EINVALID},
		{protocol.PlaylistRename, protocol.EditRequest{OpID: "1", PlaylistID: pid, Name: ""}, tandem.EINVALID},
		{protocol.PlaylistShare, protocol.EditRequest{OpID: "1", PlaylistID: pid}, tandem.EINVALID},
		{protocol.PlaylistCreate, protocol.CreatePlaylistRequest{OpID: "1", Name: long}, tandem.EINVALID},
		{protocol.PlaylistCreate, protocol.CreatePlaylistRequest{OpID: "1", Name: "Demo"}, tandem.ECONFLICT},
		{protocol.PlaylistOpen, protocol.PlaylistRequest{PlaylistID: "p0"}, tandem.EINVALID},
		{protocol.PlaylistOpen, protocol.PlaylistRequest{PlaylistID: "p77"}, tandem.ENOTFOUND},
		{protocol.PlaylistOpen, map[string]any{"playlistId": 7}, tandem.EINVALID},
		{protocol.PlaylistOpen, map[string]any{"playlistId": "p1", "extra": true}, tandem.EINVALID},
		{protocol.PlaylistOpen, []int{1}, tandem.EINVALID},
		{protocol.ActivityList, protocol.ActivityRequest{Limit: 501}, tandem.EINVALID},
		{protocol.RoomCreate, protocol.CreateRoomRequest{Room: "x", Policy: "none"}, tandem.EINVALID},
	} {
		fail(t, ann, c.event, c.payload, c.code)
	}
	var open protocol.PlaylistAck
	call(t, ann, protocol.PlaylistOpen, protocol.PlaylistRequest{PlaylistID: pid}, &open)
	if open.Playlist.Version != f.playlist.Version || len(open.Playlist.Entries) != 3 {
		t.Fatalf("refused commands changed the playlist: %+v", open.Playlist)
	}
}

// TestConcurrentEditsConverge has three friends insert at the same place
// at once; everyone who watches ends with the same order.
func TestConcurrentEditsConverge(t *testing.T) {
	f := newFixture(t)
	names := []string{"ann", "bob", "cat"}
	clients := make([]*socketio.Client, len(names))
	views := make([]chan protocol.PlaylistEvent, len(names))
	for i, n := range names {
		clients[i] = f.client(t, n)
		var open protocol.PlaylistAck
		call(t, clients[i], protocol.PlaylistOpen, protocol.PlaylistRequest{PlaylistID: f.playlist.ID}, &open)
		views[i] = events[protocol.PlaylistEvent](t, clients[i], protocol.EventPlaylist)
	}
	anchor := f.playlist.Entries[0].ID
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			for k := range 5 {
				var ack protocol.EditAck
				call(t, c, protocol.PlaylistAdd, protocol.EditRequest{OpID: fmt.Sprint(names[i], k), PlaylistID: f.playlist.ID,
					TrackID: f.tracks[k%3], After: anchor}, &ack)
				if !ack.OK {
					t.Errorf("%s add %d: %+v", names[i], k, ack)
				}
			}
		})
	}
	wg.Wait()
	// Each client applies the events it got to the list it opened.
	var orders []string
	for i := range clients {
		entries := map[string]string{}
		for _, e := range f.playlist.Entries {
			entries[e.ID] = e.Order
		}
		for range 15 {
			ev := next(t, views[i], "add event", func(protocol.PlaylistEvent) bool { return true })
			entries[ev.Entry.ID] = ev.Entry.Order
		}
		ids := make([]string, 0, len(entries))
		for id := range entries {
			ids = append(ids, id)
		}
		slices.SortFunc(ids, func(a, b string) int {
			return strings.Compare(entries[a], entries[b])
		})
		orders = append(orders, strings.Join(ids, ","))
	}
	var open protocol.PlaylistAck
	call(t, clients[0], protocol.PlaylistOpen, protocol.PlaylistRequest{PlaylistID: f.playlist.ID}, &open)
	var hub []string
	for _, e := range open.Playlist.Entries {
		hub = append(hub, e.ID)
	}
	for i, o := range orders {
		if o != strings.Join(hub, ",") {
			t.Errorf("%s's order %s differs from the hub's %s", names[i], o, strings.Join(hub, ","))
		}
	}
	if len(hub) != 18 || open.Playlist.Version != f.playlist.Version+15 {
		t.Errorf("%d entries at version %d", len(hub), open.Playlist.Version)
	}
}

func TestRoomPlaysAPlaylist(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.FallbackPlaylist = "" })
	ann := f.client(t, "ann")
	var join protocol.JoinAck
	call(t, ann, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &join)
	if len(join.State.Queue) != 0 {
		t.Fatalf("queue = %+v, want empty", join.State.Queue)
	}
	queue := events[protocol.QueueEvent](t, ann, protocol.EventQueue)
	playlist := events[protocol.PlaylistEvent](t, ann, protocol.EventPlaylist)
	var v protocol.VersionAck
	call(t, ann, protocol.RoomPlaylist, protocol.RoomPlaylistRequest{Room: "lounge", PlaylistID: f.playlist.ID}, &v)
	if q := next(t, queue, "queue event", func(protocol.QueueEvent) bool { return true }); len(q.Queue) != 3 || q.PlaylistID != f.playlist.ID {
		t.Fatalf("queue event = %+v", q)
	}
	// An edit of the playlist reaches the room that plays it.
	var add protocol.EditAck
	call(t, ann, protocol.PlaylistAdd, protocol.EditRequest{OpID: "x", PlaylistID: f.playlist.ID, TrackID: f.tracks[0]}, &add)
	next(t, playlist, "playlist event in the room", func(ev protocol.PlaylistEvent) bool { return ev.Entry != nil && ev.Entry.ID == add.Entry.ID })
	call(t, ann, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "lounge", EntryID: add.Entry.ID}, &v)
	if !v.OK {
		t.Fatalf("changeTrack to the new entry = %+v", v)
	}
	fail(t, ann, protocol.RoomPlaylist, protocol.RoomPlaylistRequest{Room: "lounge", PlaylistID: "p404"}, tandem.ENOTFOUND)
}

func TestFriendsAndActivity(t *testing.T) {
	f := newFixture(t)
	ann := f.client(t, "ann")
	friends := events[protocol.FriendsEvent](t, ann, protocol.EventFriends)
	feed := events[protocol.ActivityEvent](t, ann, protocol.EventActivity)
	// Listing subscribes; cid, who lists nothing, gets no pushes.
	var sub protocol.FriendsEvent
	call(t, ann, protocol.FriendsList, nil, &sub)
	var subFeed protocol.ActivityAck
	call(t, ann, protocol.ActivityList, protocol.ActivityRequest{}, &subFeed)
	cid := f.client(t, "cid")
	cidFriends := events[protocol.FriendsEvent](t, cid, protocol.EventFriends)
	cidFeed := events[protocol.ActivityEvent](t, cid, protocol.EventActivity)
	bob := f.client(t, "bob")
	var join protocol.JoinAck
	call(t, bob, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &join)
	var v protocol.VersionAck
	call(t, bob, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "lounge", TrackID: f.tracks[1]}, &v)
	next(t, friends, "friends with bob playing", func(ev protocol.FriendsEvent) bool {
		i := slices.IndexFunc(ev.Friends, func(f protocol.Friend) bool { return f.Name == "bob" })
		return i >= 0 && ev.Friends[i].Online && ev.Friends[i].Room == "lounge" && ev.Friends[i].NowPlaying == f.tracks[1]
	})
	if a := next(t, feed, "listening activity", func(protocol.ActivityEvent) bool { return true }); len(a.Items) != 1 ||
		a.Items[0].Text != "bob started listening in lounge" || a.Items[0].Kind != tandem.ActivityListening {
		t.Errorf("activity = %+v", a)
	}
	bob.Close()
	next(t, friends, "friends with bob offline", func(ev protocol.FriendsEvent) bool {
		i := slices.IndexFunc(ev.Friends, func(f protocol.Friend) bool { return f.Name == "bob" })
		return i >= 0 && !ev.Friends[i].Online && ev.Friends[i].Room == ""
	})
	var list protocol.ActivityAck
	call(t, ann, protocol.ActivityList, protocol.ActivityRequest{Limit: 10}, &list)
	if len(list.Items) != 1 || list.Items[0].User != "bob" {
		t.Fatalf("activity:list = %+v", list)
	}
	var fl protocol.FriendsEvent
	call(t, ann, protocol.FriendsList, nil, &fl)
	if len(fl.Friends) != 3 || fl.Friends[0].Name != "ann" || !fl.Friends[0].Online {
		t.Fatalf("friends:list = %+v", fl)
	}
	select {
	case ev := <-cidFriends:
		t.Errorf("cid, who never listed friends, got %+v", ev)
	case ev := <-cidFeed:
		t.Errorf("cid, who never listed the feed, got %+v", ev)
	default:
	}
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RateLimit, c.RateBurst = 5, 10 })
	ann := f.client(t, "ann")
	refused := 0
	var msg string
	for i := range 30 {
		var ack protocol.ClockPingAck
		call(t, ann, protocol.ClockPing, protocol.ClockPingRequest{T0: float64(i)}, &ack)
		if !ack.OK {
			if ack.Error.Code != tandem.ELIMIT {
				t.Fatalf("ping %d: %+v", i, ack)
			}
			refused++
			msg = ack.Error.Message
		}
	}
	// 30 pings in well under a second: the burst of 10 and a few refills.
	if refused < 15 || !strings.Contains(msg, "rate limit") {
		t.Fatalf("%d of 30 refused (%q)", refused, msg)
	}
	// The connection stays up and recovers.
	time.Sleep(400 * time.Millisecond)
	var ack protocol.ClockPingAck
	call(t, ann, protocol.ClockPing, protocol.ClockPingRequest{T0: 1}, &ack)
	if !ack.OK {
		t.Fatalf("after a pause: %+v", ack)
	}
}

// restarted starts a second hub on the fixture's store, as after a
// restart, and connects name to it; both end with the test.
func (f *fixture) restarted(t *testing.T, name string) *socketio.Client {
	t.Helper()
	h := New(Config{Store: f.db})
	ts := httptest.NewServer(h.Handler())
	t.Cleanup(func() {
		h.Close()
		ts.Close()
	})
	tok, err := f.db.CreateToken(name)
	if err != nil {
		t.Fatal(err)
	}
	c := socketio.NewClient(ts.URL, socketio.ClientOptions{Auth: func() any { return protocol.Auth{Token: tok} }})
	t.Cleanup(func() { c.Close() })
	if err := c.Connect(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	return c
}
