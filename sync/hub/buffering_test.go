package hub

import (
	"slices"
	"testing"
	"time"

	"tandem"
	"tandem/sync/protocol"
)

func buffering(ms []tandem.Member, name string) bool {
	i := slices.IndexFunc(ms, func(m tandem.Member) bool { return m.Name == name })
	return i >= 0 && ms[i].Buffering
}

// TestBufferingPlaysOn: by default the room plays on while a member
// buffers, and everyone sees who is buffering.
func TestBufferingPlaysOn(t *testing.T) {
	f := newFixture(t)
	ann, bob := f.client(t, "ann"), f.client(t, "bob")
	presence := events[protocol.Presence](t, ann, protocol.EventPresence)
	playback := events[protocol.PlaybackEvent](t, ann, protocol.EventPlayback)
	var join protocol.JoinAck
	call(t, ann, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &join)
	call(t, bob, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &join)
	var v protocol.VersionAck
	call(t, ann, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "lounge", TrackID: f.tracks[0]}, &v)
	var ack protocol.Ack
	call(t, bob, protocol.PlaybackBuffering, protocol.BufferingRequest{Room: "lounge", TrackID: f.tracks[0], Buffering: true}, &ack)
	next(t, presence, "presence with bob buffering", func(p protocol.Presence) bool { return buffering(p.Members, "bob") })
	call(t, bob, protocol.PlaybackBuffering, protocol.BufferingRequest{Room: "lounge", TrackID: f.tracks[0], Buffering: false}, &ack)
	next(t, presence, "presence with bob ready", func(p protocol.Presence) bool { return !buffering(p.Members, "bob") && len(p.Members) == 2 })
	select {
	case ev := <-playback:
		t.Fatalf("the room changed while a member buffered: %+v", ev)
	case <-time.After(200 * time.Millisecond):
	}
	// A report about a track the room is not playing changes nothing.
	call(t, bob, protocol.PlaybackBuffering, protocol.BufferingRequest{Room: "lounge", TrackID: f.tracks[2], Buffering: true}, &ack)
	call(t, ann, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &join)
	if buffering(join.State.Members, "bob") || join.State.Version != v.Version {
		t.Fatalf("a report about another track: %+v", join.State)
	}
	fail(t, bob, protocol.PlaybackBuffering, protocol.BufferingRequest{Room: "lounge", TrackID: "nope"}, tandem.EINVALID)
}

// TestWaitForEveryone: a "wait" room holds while a member buffers and
// resumes when they are ready, from where it held.
func TestWaitForEveryone(t *testing.T) {
	f := newFixture(t)
	ann, bob := f.client(t, "ann"), f.client(t, "bob")
	playback := events[protocol.PlaybackEvent](t, ann, protocol.EventPlayback)
	var join protocol.JoinAck
	call(t, ann, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &join)
	call(t, bob, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &join)
	var v protocol.VersionAck
	call(t, ann, protocol.RoomWait, protocol.WaitRequest{Room: "lounge", Wait: true}, &v)
	call(t, ann, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "lounge", TrackID: f.tracks[0]}, &v)
	var ack protocol.Ack
	call(t, bob, protocol.PlaybackBuffering, protocol.BufferingRequest{Room: "lounge", TrackID: f.tracks[0], Buffering: true}, &ack)
	held := next(t, playback, "waiting", func(ev protocol.PlaybackEvent) bool { return ev.State == tandem.Waiting })
	time.Sleep(300 * time.Millisecond)
	call(t, bob, protocol.PlaybackBuffering, protocol.BufferingRequest{Room: "lounge", TrackID: f.tracks[0], Buffering: false}, &ack)
	resumed := next(t, playback, "playing again", func(ev protocol.PlaybackEvent) bool { return ev.State == tandem.Playing })
	if resumed.Position != held.Position || resumed.StartAt <= held.StartAt {
		t.Fatalf("resumed %+v after holding %+v: want the held position, later", resumed, held)
	}
}

// TestWaitRunsOut: a room waits at most its bound for a laggard, then
// plays on; the room's first track gets the longer bound.
func TestWaitRunsOut(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.WaitFirstLoad, c.WaitLoad = 600*time.Millisecond, 300*time.Millisecond })
	ann, bob := f.client(t, "ann"), f.client(t, "bob")
	playback := events[protocol.PlaybackEvent](t, ann, protocol.EventPlayback)
	var join protocol.JoinAck
	call(t, ann, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &join)
	call(t, bob, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &join)
	var v protocol.VersionAck
	call(t, ann, protocol.RoomWait, protocol.WaitRequest{Room: "lounge", Wait: true}, &v)
	waitOnce := func(track string) time.Duration {
		t.Helper()
		call(t, ann, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "lounge", TrackID: track}, &v)
		var ack protocol.Ack
		call(t, bob, protocol.PlaybackBuffering, protocol.BufferingRequest{Room: "lounge", TrackID: track, Buffering: true}, &ack)
		next(t, playback, "waiting", func(ev protocol.PlaybackEvent) bool { return ev.State == tandem.Waiting })
		start := time.Now()
		next(t, playback, "playing on", func(ev protocol.PlaybackEvent) bool { return ev.State == tandem.Playing })
		return time.Since(start)
	}
	if d := waitOnce(f.tracks[0]); d < 500*time.Millisecond || d > 2*time.Second {
		t.Errorf("first load waited %v, want about 600 ms", d)
	}
	if d := waitOnce(f.tracks[1]); d < 200*time.Millisecond || d > 550*time.Millisecond {
		t.Errorf("a later load waited %v, want about 300 ms", d)
	}
}
