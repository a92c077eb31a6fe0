package hub

import (
	"math"
	"slices"
	"testing"
	"time"

	"tandem"
	"tandem/sync/protocol"
	"tandem/sync/socketio"
)

// shorten gives the fixture's tracks i… the duration d, before the hub
// reads (and caches) them.
func (f *fixture) shorten(t *testing.T, d time.Duration, i ...int) {
	t.Helper()
	for _, n := range i {
		tr, err := f.db.Track(f.tracks[n])
		if err != nil {
			t.Fatal(err)
		}
		tr.Duration = d
		if err := f.db.PutTrack(tr); err != nil {
			t.Fatal(err)
		}
	}
}

// setRepeat sets a room's repeat mode and returns the new version.
func setRepeat(t *testing.T, c *socketio.Client, room, mode string) uint64 {
	t.Helper()
	var ack protocol.VersionAck
	call(t, c, protocol.RoomRepeat, protocol.RepeatRequest{Room: room, Repeat: mode}, &ack)
	if !ack.OK {
		t.Fatalf("room:repeat %s: %+v", mode, ack)
	}
	return ack.Version
}

// TestRepeatAtTrackEnd: at the end of a track, off moves on and stops
// after the last entry, all wraps to the first, one plays the same entry
// again; each move starts exactly at the end, by the hub.
func TestRepeatAtTrackEnd(t *testing.T) {
	const short = 300 * time.Millisecond
	for _, c := range []struct {
		name   string
		mode   string
		start  int  // index of the entry played; -1: track 2 by id
		want   int  // index of the entry that follows; -1: the same track by id
		stops  bool // the room stops instead
		viaOff bool // set all, then off: off is a mode, not just the default
	}{
		{name: "off after the last", mode: protocol.RepeatOff, start: 2, stops: true, viaOff: true},
		{name: "off in the middle", mode: protocol.RepeatOff, start: 1, want: 2},
		{name: "all after the last", mode: protocol.RepeatAll, start: 2, want: 0},
		{name: "all in the middle", mode: protocol.RepeatAll, start: 0, want: 1},
		{name: "one at the last", mode: protocol.RepeatOne, start: 2, want: 2},
		{name: "one in the middle", mode: protocol.RepeatOne, start: 1, want: 1},
		{name: "one by track id", mode: protocol.RepeatOne, start: -1, want: -1},
		{name: "all by track id", mode: protocol.RepeatAll, start: -1, stops: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.shorten(t, short, 0, 1, 2)
			ann := f.client(t, "ann")
			changes := events[protocol.ChangeTrack](t, ann, protocol.EventChangeTrack)
			playback := events[protocol.PlaybackEvent](t, ann, protocol.EventPlayback)
			var join protocol.JoinAck
			call(t, ann, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &join)
			if c.viaOff {
				setRepeat(t, ann, "lounge", protocol.RepeatAll)
			}
			setRepeat(t, ann, "lounge", c.mode)
			es := f.playlist.Entries
			req := protocol.ChangeTrackRequest{Room: "lounge", TrackID: f.tracks[2]}
			if c.start >= 0 {
				req = protocol.ChangeTrackRequest{Room: "lounge", EntryID: es[c.start].ID}
			}
			var ack protocol.VersionAck
			call(t, ann, protocol.PlaybackChangeTrack, req, &ack)
			first := next(t, changes, "the changeTrack", func(ev protocol.ChangeTrack) bool { return ev.Version == ack.Version })
			if c.stops {
				ev := next(t, playback, "the stop", func(protocol.PlaybackEvent) bool { return true })
				if ev.State != tandem.Stopped || ev.TrackID != first.TrackID || ev.Version != ack.Version+1 {
					t.Fatalf("end = %+v, want stopped at version %d", ev, ack.Version+1)
				}
				return
			}
			then := next(t, changes, "the move at the end", func(protocol.ChangeTrack) bool { return true })
			wantEntry, wantTrack := "", f.tracks[2]
			if c.want >= 0 {
				wantEntry, wantTrack = es[c.want].ID, es[c.want].TrackID
			}
			if then.EntryID != wantEntry || then.TrackID != wantTrack || then.By != "" || then.Version != ack.Version+1 {
				t.Fatalf("at the end: %+v, want entry %q track %.8s by the hub at version %d", then, wantEntry, wantTrack, ack.Version+1)
			}
			if end := first.StartAt + protocol.Ms(short); math.Abs(then.StartAt-end) > 0.001 {
				t.Fatalf("the move starts at %.3f, want %.3f: the end of the track", then.StartAt, end)
			}
			select {
			case ev := <-playback:
				t.Fatalf("a playback event while repeating: %+v", ev)
			default:
			}
		})
	}
}

// TestNextWithRepeat: next after the last entry goes to the first with
// repeat all; with repeat one, next still moves on (the user skips).
func TestNextWithRepeat(t *testing.T) {
	f := newFixture(t)
	ann := f.client(t, "ann")
	var join protocol.JoinAck
	call(t, ann, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &join)
	es := f.playlist.Entries
	playing := func() string {
		t.Helper()
		var j protocol.JoinAck
		call(t, ann, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &j)
		return j.State.NowPlaying.EntryID
	}
	var ack protocol.VersionAck
	call(t, ann, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "lounge", EntryID: es[2].ID}, &ack)
	fail(t, ann, protocol.PlaybackNext, protocol.StepRequest{Room: "lounge"}, tandem.ECONFLICT) // off

	v := setRepeat(t, ann, "lounge", protocol.RepeatAll)
	call(t, ann, protocol.PlaybackNext, protocol.StepRequest{Room: "lounge", Version: &v}, &ack)
	if !ack.OK || ack.Version != v+1 || playing() != es[0].ID {
		t.Fatalf("next after the last with repeat all: %+v, playing %s, want %s", ack, playing(), es[0].ID)
	}

	setRepeat(t, ann, "lounge", protocol.RepeatOne)
	call(t, ann, protocol.PlaybackNext, protocol.StepRequest{Room: "lounge"}, &ack)
	if got := playing(); got != es[1].ID {
		t.Fatalf("next with repeat one plays %s, want the next entry %s", got, es[1].ID)
	}
	call(t, ann, protocol.PlaybackNext, protocol.StepRequest{Room: "lounge"}, &ack)
	fail(t, ann, protocol.PlaybackNext, protocol.StepRequest{Room: "lounge"}, tandem.ECONFLICT)
	if got := playing(); got != es[2].ID {
		t.Fatalf("refused next moved the room to %s", got)
	}
}

// TestRepeatCommand: room:repeat takes exactly off, all or one, only from
// those who may control the room; each change bumps the version, tells
// the room, and is stored.
func TestRepeatCommand(t *testing.T) {
	f := newFixture(t, closedRooms)
	ann, bob := f.client(t, "ann"), f.client(t, "bob")
	var join protocol.JoinAck
	call(t, ann, protocol.RoomCreate, protocol.CreateRoomRequest{Room: "jam", Policy: tandem.HostOnly}, &join)
	if join.State.Info.Repeat != protocol.RepeatOff {
		t.Fatalf("a new room's repeat = %q, want off", join.State.Info.Repeat)
	}
	call(t, bob, protocol.RoomJoin, protocol.JoinRequest{Code: join.State.Info.Code}, &join)
	before := join.State.Version
	roomEvents := events[protocol.RoomInfo](t, bob, protocol.EventRoom)

	for _, payload := range []any{
		protocol.RepeatRequest{Room: "jam", Repeat: ""},
		protocol.RepeatRequest{Room: "jam", Repeat: "ALL"},
		protocol.RepeatRequest{Room: "jam", Repeat: "loop"},
		map[string]any{"room": "jam"},
		map[string]any{"room": "jam", "repeat": true},
		map[string]any{"room": "jam", "repeat": "all", "extra": 1},
		"all",
	} {
		fail(t, ann, protocol.RoomRepeat, payload, tandem.EINVALID)
	}
	fail(t, ann, protocol.RoomRepeat, protocol.RepeatRequest{Room: "elsewhere", Repeat: "all"}, tandem.EFORBIDDEN)
	fail(t, bob, protocol.RoomRepeat, protocol.RepeatRequest{Room: "jam", Repeat: "all"}, tandem.EFORBIDDEN) // host only
	var rooms protocol.RoomsAck
	call(t, bob, protocol.RoomList, nil, &rooms)
	if rooms.Rooms[0].Version != before || rooms.Rooms[0].Repeat != protocol.RepeatOff {
		t.Fatalf("refused commands changed the room: %+v", rooms.Rooms[0])
	}

	for i, mode := range []string{protocol.RepeatAll, protocol.RepeatOne, protocol.RepeatOff, protocol.RepeatOne} {
		v := setRepeat(t, ann, "jam", mode)
		if v != before+uint64(i)+1 {
			t.Fatalf("room:repeat %s: version %d, want %d", mode, v, before+uint64(i)+1)
		}
		ev := next(t, roomEvents, "room event", func(ri protocol.RoomInfo) bool { return ri.Version == v })
		if ev.Repeat != mode {
			t.Fatalf("room event after room:repeat %s: %+v", mode, ev)
		}
	}
	// Under the "everyone" policy, any member sets it.
	var info protocol.RoomInfoAck
	call(t, ann, protocol.RoomPolicy, protocol.PolicyRequest{Room: "jam", Policy: tandem.Everyone}, &info)
	setRepeat(t, bob, "jam", protocol.RepeatAll)
	setRepeat(t, ann, "jam", protocol.RepeatOne)
	call(t, ann, protocol.RoomPolicy, protocol.PolicyRequest{Room: "jam", Policy: tandem.HostOnly}, &info)

	// Stored, and back after a restart of the hub.
	r, err := f.db.Room("jam")
	if err != nil || r.Repeat != protocol.RepeatOne {
		t.Fatalf("stored room: repeat %q, %v", r.Repeat, err)
	}
	c := f.restarted(t, "bob")
	join = protocol.JoinAck{}
	call(t, c, protocol.RoomJoin, protocol.JoinRequest{Room: "jam"}, &join)
	if !join.OK || join.State.Info.Repeat != protocol.RepeatOne || join.State.Version != info.Room.Version {
		t.Fatalf("after a restart: %+v", join.State.Info)
	}
	fail(t, c, protocol.RoomRepeat, protocol.RepeatRequest{Room: "jam", Repeat: "off"}, tandem.EFORBIDDEN)
}

// TestFriendsSeeTrackChanges: a friend outside the room learns of the
// room's new track, pause, play and stop from friends events, with nobody
// connecting or joining, and a burst of changes makes few events.
func TestFriendsSeeTrackChanges(t *testing.T) {
	f := newFixture(t)
	const short = 300 * time.Millisecond
	f.shorten(t, short, 2)
	ann := f.client(t, "ann") // never joins the room
	friends := events[protocol.FriendsEvent](t, ann, protocol.EventFriends)
	var fl protocol.FriendsEvent
	call(t, ann, protocol.FriendsList, nil, &fl) // subscribes to friends events
	bob := f.client(t, "bob")
	var join protocol.JoinAck
	call(t, bob, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &join)
	bobIs := func(ev protocol.FriendsEvent) protocol.Friend {
		i := slices.IndexFunc(ev.Friends, func(f protocol.Friend) bool { return f.Name == "bob" })
		if i < 0 {
			return protocol.Friend{}
		}
		return ev.Friends[i]
	}
	next(t, friends, "friends with bob in the room", func(ev protocol.FriendsEvent) bool {
		b := bobIs(ev)
		return b.Online && b.Room == "lounge" && b.NowPlaying == ""
	})
	quiet := func() int { // drains friends events until none came for a while
		n := 0
		for {
			select {
			case <-friends:
				n++
			case <-time.After(2 * friendsDelay):
				return n
			}
		}
	}
	quiet() // the connects' and the join's events are out

	// within waits at most a second for a friends event that shows bob
	// playing track.
	within := func(what, track string) {
		t.Helper()
		deadline := time.After(time.Second)
		for {
			select {
			case ev := <-friends:
				if b := bobIs(ev); b.Room == "lounge" && b.NowPlaying == track {
					return
				}
			case <-deadline:
				t.Fatalf("no friends event with bob playing %q within a second of %s", track, what)
			}
		}
	}
	var v protocol.VersionAck
	call(t, bob, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "lounge", TrackID: f.tracks[1]}, &v)
	within("changeTrack", f.tracks[1])
	call(t, bob, protocol.PlaybackPause, protocol.SeekRequest{Room: "lounge"}, &v)
	within("pause", "")
	call(t, bob, protocol.PlaybackPlay, protocol.SeekRequest{Room: "lounge"}, &v)
	within("play", f.tracks[1])

	// A burst of changes: coalesced, at most one event every friendsDelay.
	quiet()
	start := time.Now()
	for i := range 10 {
		call(t, bob, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "lounge", TrackID: f.tracks[i%2]}, &v)
	}
	n, last := 0, protocol.FriendsEvent{}
	for done := false; !done; {
		select {
		case last = <-friends:
			n++
		case <-time.After(2 * friendsDelay):
			done = true
		}
	}
	if b := bobIs(last); b.NowPlaying != f.tracks[1] {
		t.Fatalf("after a burst of changes, friends see bob playing %q, want %q", b.NowPlaying, f.tracks[1])
	}
	if limit := int(time.Since(start)/friendsDelay) + 1; n > limit {
		t.Errorf("%d friends events for 10 changes in %v, want at most %d", n, time.Since(start), limit)
	}

	// The last entry ends: the room stops, and friends see it.
	call(t, bob, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "lounge", EntryID: f.playlist.Entries[2].ID}, &v)
	within("changeTrack to the last entry", f.tracks[2])
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-friends:
			if b := bobIs(ev); b.Room == "lounge" && b.NowPlaying == "" {
				return
			}
		case <-deadline:
			t.Fatal("friends did not see the room stop after its last entry")
		}
	}
}
