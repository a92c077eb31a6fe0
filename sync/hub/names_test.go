package hub

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"tandem"
	"tandem/store"
	"tandem/sync/protocol"
	"tandem/sync/socketio"
)

// probeLookalikes are the names an outside probe got accepted beside an
// existing alice, as raw JSON strings, with the status and code each must
// now be refused with.
var probeLookalikes = []struct {
	what, json string
	status     int
	code       string
}{
	{"upper case", `"ALICE"`, http.StatusConflict, tandem.ECONFLICT},
	{"zero-width space", `"a\u200blice"`, http.StatusBadRequest, tandem.EINVALID},
	{"Cyrillic a", `"\u0430lice"`, http.StatusConflict, tandem.ECONFLICT},
	{"right-to-left override", `"\u202eecila"`, http.StatusBadRequest, tandem.EINVALID},
	{"lone surrogate", `"alice\ud800"`, http.StatusBadRequest, tandem.EINVALID},
}

// postRedeem posts a raw redeem body and returns the status and answer.
func postRedeem(t *testing.T, url, body string) (int, protocol.Ack) {
	t.Helper()
	resp, err := http.Post(url+RedeemPath, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var a protocol.Ack
	if resp.StatusCode != http.StatusCreated {
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatalf("redeem answer %d %s: %v", resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode, a
}

// TestLookalikeNamesRedeem: with alice present, redeeming an invite under
// any of the probe's lookalike names is refused with a sentence, through
// the hub's HTTP endpoint; so is an admin's token for a new lookalike user.
func TestLookalikeNamesRedeem(t *testing.T) {
	f := newOpsFixture(t)
	var inv AdminInvite
	if code := f.adminDo(t, "POST", "/invites", `{"uses":20}`, &inv); code != http.StatusCreated {
		t.Fatalf("create invite: %d", code)
	}
	if status, a := postRedeem(t, f.url, `{"code":"`+inv.Code+`","name":"alice"}`); status != http.StatusCreated {
		t.Fatalf("redeem alice: %d %+v", status, a)
	}
	for _, l := range probeLookalikes {
		t.Run(l.what, func(t *testing.T) {
			status, a := postRedeem(t, f.url, `{"code":"`+inv.Code+`","name":`+l.json+`}`)
			if status != l.status || a.Error == nil || a.Error.Code != l.code {
				t.Fatalf("redeem %s: %d %+v, want %d %s", l.json, status, a, l.status, l.code)
			}
			if l.code == tandem.ECONFLICT && !strings.Contains(a.Error.Message, "too like “alice”") {
				t.Errorf("message %q does not say it is too like alice", a.Error.Message)
			}
			var admin protocol.Ack
			code := f.adminDo(t, "POST", "/tokens", `{"name":`+l.json+`}`, &admin)
			if code != l.status || admin.Error == nil || admin.Error.Code != l.code {
				t.Errorf("admin token for %s: %d %+v, want %d %s", l.json, code, admin, l.status, l.code)
			}
		})
	}
	users, err := f.db.Users()
	if err != nil || len(users) != 1 {
		t.Errorf("users = %+v, %v; want alice alone", users, err)
	}
}

// TestLookalikeNamesRoomLink: a room link that admits newcomers refuses a
// lookalike of a member's name too.
func TestLookalikeNamesRoomLink(t *testing.T) {
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.CreateToken("alice"); err != nil {
		t.Fatal(err)
	}
	const code = "MZXW6YTBOI3DAMRQ"
	if err := db.PutRoom(tandem.Room{Name: "lounge", Host: "alice", Code: code}); err != nil {
		t.Fatal(err)
	}
	h := New(Config{Store: db, Accounts: db, RoomLinksAdmit: true})
	ts := httptest.NewServer(h.Handler())
	t.Cleanup(func() {
		h.Close()
		ts.Close()
	})
	for _, l := range probeLookalikes {
		status, a := postRedeem(t, ts.URL, `{"code":"`+code+`","name":`+l.json+`}`)
		if status != l.status || a.Error == nil || a.Error.Code != l.code {
			t.Errorf("room link for %s: %d %+v, want %d %s", l.json, status, a, l.status, l.code)
		}
	}
	if status, a := postRedeem(t, ts.URL, `{"code":"`+code+`","name":"bob"}`); status != http.StatusCreated {
		t.Errorf("room link for bob: %d %+v", status, a)
	}
}

// rawCall sends a command whose payload is raw JSON and decodes its ack.
func rawCall(t *testing.T, c *socketio.Client, event, payload string, v any) {
	t.Helper()
	call(t, c, event, json.RawMessage(payload), v)
}

// TestRoomNamesRefuseHidden: room and playlist names with zero-width or
// bidi characters, or a lone surrogate, are refused; no room is made.
func TestRoomNamesRefuseHidden(t *testing.T) {
	f := newFixture(t)
	ann := f.client(t, "ann")
	for _, name := range []string{
		`"party\u200b"`, `"\u202eytrap"`, `"par\u2066ty\u2069"`, `"\ufeffparty"`, `"party\ud800"`, `"party\udc00x"`,
	} {
		for _, event := range []string{protocol.RoomCreate, protocol.RoomJoin} {
			var ack protocol.JoinAck
			rawCall(t, ann, event, `{"room":`+name+`}`, &ack)
			if ack.OK || ack.Error == nil || ack.Error.Code != tandem.EINVALID {
				t.Errorf("%s %s: %+v, want EINVALID", event, name, ack)
			} else if !strings.Contains(ack.Error.Message, "name") {
				t.Errorf("%s %s: message %q does not speak of the name", event, name, ack.Error.Message)
			}
		}
		var pl protocol.PlaylistAck
		rawCall(t, ann, protocol.PlaylistCreate, `{"opId":"op-`+strings.Trim(name, `"\`)+`","name":`+name+`}`, &pl)
		if pl.OK || pl.Error == nil || pl.Error.Code != tandem.EINVALID {
			t.Errorf("playlist:create %s: %+v, want EINVALID", name, pl)
		}
	}
	rooms, err := f.db.Rooms()
	if err != nil || len(rooms) != 0 {
		t.Errorf("rooms = %+v, %v; want none", rooms, err)
	}
}

// TestRoomNameNFC: a room named in decomposed form is made under the
// composed (NFC) name, and either spelling enters it.
func TestRoomNameNFC(t *testing.T) {
	f := newFixture(t)
	ann, bob, cy := f.client(t, "ann"), f.client(t, "bob"), f.client(t, "cy")
	var ack protocol.JoinAck
	call(t, ann, protocol.RoomCreate, protocol.CreateRoomRequest{Room: "Cafe\u0301"}, &ack)
	if !ack.OK || ack.State == nil || ack.State.Room != "Caf\u00e9" {
		t.Fatalf("room:create Cafe\\u0301: %+v, want the room Caf\\u00e9", ack)
	}
	call(t, bob, protocol.RoomJoin, protocol.RoomRequest{Room: "Caf\u00e9"}, &ack)
	if !ack.OK || ack.State == nil || ack.State.Room != "Caf\u00e9" {
		t.Fatalf("bob joins Caf\\u00e9: %+v", ack)
	}
	call(t, cy, protocol.RoomJoin, protocol.RoomRequest{Room: "Cafe\u0301"}, &ack)
	if !ack.OK || ack.State == nil || ack.State.Room != "Caf\u00e9" {
		t.Fatalf("cy joins Cafe\\u0301: %+v", ack)
	}
	var names []string
	for _, m := range ack.State.Members {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"ann", "bob", "cy"}) {
		t.Errorf("members = %v, want ann, bob and cy in one room", names)
	}
	// A command may name the room either way.
	var v protocol.VersionAck
	call(t, cy, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: "Cafe\u0301", EntryID: f.playlist.Entries[1].ID}, &v)
	if !v.OK || v.Version != 1 {
		t.Errorf("change track in Cafe\\u0301: %+v", v)
	}
	rooms, err := f.db.Rooms()
	if err != nil || len(rooms) != 1 || rooms[0].Name != "Caf\u00e9" {
		t.Errorf("rooms = %+v, %v; want Caf\\u00e9 alone", rooms, err)
	}
}

// TestGuestNameRefusesHidden: a guest's chosen name follows the same
// character rules.
func TestGuestNameRefusesHidden(t *testing.T) {
	f := newFixture(t)
	tok, err := f.db.CreateToken("guest")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"\u202eecila", "da\u200bna", "dana\ufffd"} {
		c := socketio.NewClient(f.url, socketio.ClientOptions{Auth: func() any { return protocol.Auth{Token: tok, Name: name} }})
		err := c.Connect(testCtx(t))
		c.Close()
		var ce *socketio.ConnectError
		if !errors.As(err, &ce) || ce.Message != "invalid name" {
			t.Errorf("guest name %q: %v, want refused", name, err)
		}
	}
}
