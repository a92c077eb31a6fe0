package hub

import (
	"testing"

	"tandem/sync/protocol"
	"tandem/sync/socketio"
)

// TestJoinSaysWhoYouAre: room:join and room:create tell the joining user
// their name as the hub knows it, a guest's included, and the queue's
// tracks carry their artwork's type.
func TestJoinSaysWhoYouAre(t *testing.T) {
	f := newFixture(t)
	tr, err := f.db.Track(f.tracks[0])
	if err != nil {
		t.Fatal(err)
	}
	tr.Art = "image/png"
	if err := f.db.PutTrack(tr); err != nil {
		t.Fatal(err)
	}
	ann := f.client(t, "ann")
	var join protocol.JoinAck
	call(t, ann, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &join)
	if !join.OK || join.State.You != "ann" {
		t.Fatalf("room:join = %+v, want you ann", join.State)
	}
	if q := join.State.Queue; len(q) == 0 || q[0].Track == nil || q[0].Track.Art != "image/png" {
		t.Fatalf("queue = %+v, want the first track's art type", q)
	}
	call(t, ann, protocol.RoomCreate, protocol.CreateRoomRequest{Room: "party"}, &join)
	if !join.OK || join.State.You != "ann" {
		t.Fatalf("room:create = %+v, want you ann", join.State)
	}

	tok, err := f.db.CreateToken("guest")
	if err != nil {
		t.Fatal(err)
	}
	dana := socketio.NewClient(f.url, socketio.ClientOptions{Auth: func() any { return protocol.Auth{Token: tok, Name: "dana"} }})
	defer dana.Close()
	if err := dana.Connect(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	call(t, dana, protocol.RoomJoin, protocol.JoinRequest{Room: "lounge"}, &join)
	if !join.OK || join.State.You != "dana (guest)" {
		t.Fatalf("a guest's room:join = %+v, want you \"dana (guest)\"", join.State)
	}
}
