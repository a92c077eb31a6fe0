package hub

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"tandem"
	"tandem/sync/protocol"
	"tandem/sync/socketio"
)

// TestGaplessAdvance: the next entry starts exactly when the current one
// ends, and its changeTrack arrives before that instant.
func TestGaplessAdvance(t *testing.T) {
	f := newFixture(t)
	tr, err := f.db.Track(f.tracks[0])
	if err != nil {
		t.Fatal(err)
	}
	tr.Duration = 1500 * time.Millisecond
	if err := f.db.PutTrack(tr); err != nil {
		t.Fatal(err)
	}
	ann := f.client(t, "ann")
	type arrival struct {
		ev protocol.ChangeTrack
		at time.Time
	}
	changes := make(chan arrival, 4)
	ann.On(protocol.EventChangeTrack, func(args []json.RawMessage, _ socketio.AckFunc) {
		var ev protocol.ChangeTrack
		_ = json.Unmarshal(args[0], &ev)
		changes <- arrival{ev, time.Now()}
	})
	var join protocol.JoinAck
	call(t, ann, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &join)
	var ack protocol.VersionAck
	call(t, ann, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "lounge", EntryID: f.playlist.Entries[0].ID}, &ack)
	first := <-changes
	select {
	case second := <-changes:
		end := first.ev.StartAt + protocol.Ms(tr.Duration)
		if second.ev.EntryID != f.playlist.Entries[1].ID || second.ev.StartAt != end {
			t.Fatalf("next starts at %.3f, want %.3f (the end of the first): %+v", second.ev.StartAt, end, second.ev)
		}
		if lead := protocol.FromMillis(second.ev.StartAt).Sub(second.at); lead < 100*time.Millisecond {
			t.Errorf("the next entry's changeTrack arrived only %v before its start", lead)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no advance")
	}
}

// TestAdaptiveLead: the lead follows the slowest member's reported round
// trip, within MinLead and MaxLead.
func TestAdaptiveLead(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Lead = 0 })
	ann, bob := f.client(t, "ann"), f.client(t, "bob")
	var join protocol.JoinAck
	call(t, ann, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &join)
	call(t, bob, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &join)
	leadOf := func() time.Duration {
		t.Helper()
		before := time.Now()
		var ack protocol.VersionAck
		call(t, ann, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "lounge", TrackID: f.tracks[0]}, &ack)
		var j protocol.JoinAck
		call(t, ann, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &j)
		return protocol.FromMillis(j.State.NowPlaying.StartAt).Sub(before)
	}
	for _, c := range []struct {
		annRTT, bobRTT float64 // ms; 0: not reported
		min, max       time.Duration
	}{
		{0, 0, 300 * time.Millisecond, 360 * time.Millisecond},      // none reported: 100 ms assumed, plus 200
		{10, 20, MinLead, MinLead + 60*time.Millisecond},            // a LAN: the floor
		{10, 900, 1100 * time.Millisecond, 1160 * time.Millisecond}, // one far member sets it
		{10, 5000, MaxLead, MaxLead + 60*time.Millisecond},          // capped
	} {
		for _, r := range []struct {
			c   *socketio.Client
			rtt float64
		}{{ann, c.annRTT}, {bob, c.bobRTT}} {
			if r.rtt == 0 {
				continue
			}
			var la protocol.LeadAck
			call(t, r.c, protocol.ClockReport, protocol.ClockReportRequest{RTT: r.rtt}, &la)
			if !la.OK {
				t.Fatalf("clock:report: %+v", la)
			}
		}
		if got := leadOf(); got < c.min || got > c.max {
			t.Errorf("rtts %v/%v ms: lead %v, want %v to %v", c.annRTT, c.bobRTT, got, c.min, c.max)
		}
	}
	fail(t, ann, protocol.ClockReport, protocol.ClockReportRequest{RTT: -1}, tandem.EINVALID)
}

func TestStaleCommandsAreRefused(t *testing.T) {
	f := newFixture(t)
	ann := f.client(t, "ann")
	var join protocol.JoinAck
	call(t, ann, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &join)
	v := join.State.Version
	var ack protocol.VersionAck
	call(t, ann, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "lounge", TrackID: f.tracks[0], Version: &v}, &ack)
	if !ack.OK || ack.Version != v+1 {
		t.Fatalf("changeTrack at the current version: %+v", ack)
	}
	msg := fail(t, ann, protocol.PlaybackSeek, protocol.SeekRequest{Room: "lounge", Position: new(float64), Version: &v}, tandem.ECONFLICT)
	if want := "stale command"; len(msg) < len(want) || msg[:len(want)] != want {
		t.Errorf("refusal %q", msg)
	}
	fail(t, ann, protocol.PlaybackNext, protocol.StepRequest{Room: "lounge", Version: &v}, tandem.ECONFLICT)
	fail(t, ann, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "lounge", TrackID: f.tracks[1], Version: &v}, tandem.ECONFLICT)
	var rooms protocol.RoomsAck
	call(t, ann, protocol.RoomList, nil, &rooms)
	if rooms.Rooms[0].Version != v+1 {
		t.Fatalf("stale commands changed the room: version %d", rooms.Rooms[0].Version)
	}
	// Without a version, a command applies to whatever is current.
	call(t, ann, protocol.PlaybackPause, protocol.SeekRequest{Room: "lounge"}, &ack)
	if !ack.OK {
		t.Fatalf("pause without a version: %+v", ack)
	}
}

func TestNextAndPrevious(t *testing.T) {
	f := newFixture(t)
	ann := f.client(t, "ann")
	var join protocol.JoinAck
	call(t, ann, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &join)
	es := f.playlist.Entries
	now := func() protocol.Playback {
		var j protocol.JoinAck
		call(t, ann, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &j)
		return j.State.NowPlaying
	}
	var ack protocol.VersionAck
	call(t, ann, protocol.PlaybackNext, protocol.StepRequest{Room: "lounge"}, &ack) // nothing playing: the first
	if np := now(); np.EntryID != es[0].ID {
		t.Fatalf("next from nothing: %+v", np)
	}
	call(t, ann, protocol.PlaybackNext, protocol.StepRequest{Room: "lounge"}, &ack)
	call(t, ann, protocol.PlaybackNext, protocol.StepRequest{Room: "lounge"}, &ack)
	if np := now(); np.EntryID != es[2].ID {
		t.Fatalf("after two nexts: %+v", np)
	}
	fail(t, ann, protocol.PlaybackNext, protocol.StepRequest{Room: "lounge"}, tandem.ECONFLICT) // past the last
	call(t, ann, protocol.PlaybackPrevious, protocol.StepRequest{Room: "lounge"}, &ack)
	if np := now(); np.EntryID != es[1].ID || np.Position != 0 {
		t.Fatalf("previous near the start: %+v", np)
	}
	// Well into a track, previous restarts it.
	pos := 10_000.0
	call(t, ann, protocol.PlaybackSeek, protocol.SeekRequest{Room: "lounge", Position: &pos}, &ack)
	call(t, ann, protocol.PlaybackPrevious, protocol.StepRequest{Room: "lounge"}, &ack)
	if np := now(); np.EntryID != es[1].ID || np.Position != 0 {
		t.Fatalf("previous 10 s in: %+v", np)
	}
}

func TestShuffleOrderIsTheHubs(t *testing.T) {
	f := newFixture(t)
	ann, bob := f.client(t, "ann"), f.client(t, "bob")
	// More entries, so that a shuffle is sure to differ from the order.
	for i := range 20 {
		var add protocol.EditAck
		call(t, ann, protocol.PlaylistAdd, protocol.EditRequest{OpID: string(rune('a' + i)), PlaylistID: f.playlist.ID, TrackID: f.tracks[i%3]}, &add)
	}
	var join protocol.JoinAck
	call(t, ann, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &join)
	plain := ids(join.State.Queue)
	queue := events[protocol.QueueEvent](t, bob, protocol.EventQueue)
	call(t, bob, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &join)
	var ack protocol.VersionAck
	call(t, ann, protocol.RoomShuffle, protocol.ShuffleRequest{Room: "lounge", Shuffle: true}, &ack)
	shuffled := ids(next(t, queue, "queue event", func(protocol.QueueEvent) bool { return true }).Queue)
	if slices.Equal(shuffled, plain) {
		t.Fatal("shuffle kept the order")
	}
	sorted := slices.Clone(shuffled)
	slices.Sort(sorted)
	want := slices.Clone(plain)
	slices.Sort(want)
	if !slices.Equal(sorted, want) {
		t.Fatal("shuffle lost or added entries")
	}
	// Everyone, and every later join, sees the same order; next follows it.
	var j2 protocol.JoinAck
	call(t, ann, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &j2)
	if !slices.Equal(ids(j2.State.Queue), shuffled) || !j2.State.Info.Shuffle {
		t.Fatalf("join after shuffle sees %v, want %v", ids(j2.State.Queue), shuffled)
	}
	call(t, ann, protocol.PlaybackNext, protocol.StepRequest{Room: "lounge"}, &ack)
	call(t, ann, protocol.PlaybackNext, protocol.StepRequest{Room: "lounge"}, &ack)
	call(t, ann, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &j2)
	if j2.State.NowPlaying.EntryID != shuffled[1] {
		t.Fatalf("next played %s, want the second of the shuffled order %s", j2.State.NowPlaying.EntryID, shuffled[1])
	}
	call(t, ann, protocol.RoomShuffle, protocol.ShuffleRequest{Room: "lounge", Shuffle: false}, &ack)
	call(t, ann, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &j2)
	if !slices.Equal(ids(j2.State.Queue), plain) {
		t.Fatal("shuffle off did not restore the order")
	}
}

func ids(es []protocol.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}
