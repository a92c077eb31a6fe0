package store

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"tandem"
)

// lookalikes are the outside probe's names that pass for "alice", each
// with the code it must be refused with once alice exists.
var lookalikes = []struct {
	what, name, code string
}{
	{"upper case", "ALICE", tandem.ECONFLICT},
	{"zero-width space", "a\u200blice", tandem.EINVALID},
	{"Cyrillic a", "\u0430lice", tandem.ECONFLICT},
	{"right-to-left override", "\u202eecila", tandem.EINVALID},
	{"left-to-right mark", "alice\u200e", tandem.EINVALID},
	{"fullwidth", "\uff41\uff4c\uff49\uff43\uff45", tandem.ECONFLICT},
	{"Greek and Cyrillic mix", "\u0430l\u0456c\u0435", tandem.ECONFLICT},
	{"Hangul filler", "alice\u3164", tandem.EINVALID},
	{"broken emoji", "alice\ufffd", tandem.EINVALID},
}

// TestLookalikeUserNamesRefused: with alice present, none of the probe's
// lookalikes becomes a new user, whichever way users are made, and the
// confusable ones are refused with a sentence naming alice.
func TestLookalikeUserNamesRefused(t *testing.T) {
	d := openTest(t, t.TempDir())
	if _, err := d.CreateToken("alice"); err != nil {
		t.Fatal(err)
	}
	const roomCode = "MZXW6YTBOI3DAMRQ"
	if err := d.PutRoom(tandem.Room{Name: "lounge", Host: "alice", Code: roomCode}); err != nil {
		t.Fatal(err)
	}
	code, _, err := d.CreateInvite(MaxInviteUses, 0)
	if err != nil {
		t.Fatal(err)
	}
	ways := map[string]func(name string) error{
		"invite": func(name string) error {
			_, _, err := d.RedeemInvite(code, name)
			return err
		},
		"room link": func(name string) error {
			_, _, err := d.RedeemRoomCode(roomCode, name)
			return err
		},
		"token": func(name string) error {
			_, err := d.CreateToken(name)
			return err
		},
	}
	for way, create := range ways {
		for _, l := range lookalikes {
			t.Run(way+"/"+l.what, func(t *testing.T) {
				err := create(l.name)
				if err == nil {
					t.Fatalf("%q was accepted as a new user beside alice", l.name)
				}
				wantCode(t, err, l.code)
				msg := tandem.ErrorMessage(err)
				if l.code == tandem.ECONFLICT && !strings.Contains(msg, "“alice”") {
					t.Errorf("message %q does not name alice", msg)
				}
				if strings.ContainsAny(msg, "\u200b\u202e\u200e\u3164") {
					t.Errorf("message %q repeats the hidden character", msg)
				}
			})
		}
	}
	users, err := d.Users()
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 {
		t.Errorf("users = %+v, want alice alone", users)
	}
}

// TestLoneSurrogateName: a lone surrogate in a JSON string decodes to
// U+FFFD, which no name may hold.
func TestLoneSurrogateName(t *testing.T) {
	d := openTest(t, t.TempDir())
	var req struct{ Name string }
	if err := json.Unmarshal([]byte(`{"Name":"bob\ud800"}`), &req); err != nil {
		t.Fatal(err)
	}
	_, err := d.CreateToken(req.Name)
	wantCode(t, err, tandem.EINVALID)
	err = d.PutRoom(tandem.Room{Name: req.Name})
	wantCode(t, err, tandem.EINVALID)
	_, _, err = d.NewPlaylist(tandem.Op{}, req.Name, "bob", false)
	wantCode(t, err, tandem.EINVALID)
}

// TestRoomAndPlaylistNamesRefuseHidden: room and playlist names take no
// format (zero-width, bidi) characters.
func TestRoomAndPlaylistNamesRefuseHidden(t *testing.T) {
	d := openTest(t, t.TempDir())
	for _, name := range []string{
		"party\u200b", "\u202eytrap", "par\u2066ty\u2069", "\ufeffparty", "par\u200dty", "party\u2028",
	} {
		err := d.PutRoom(tandem.Room{Name: name})
		wantCode(t, err, tandem.EINVALID)
		_, _, err = d.NewPlaylist(tandem.Op{}, name, "ann", false)
		wantCode(t, err, tandem.EINVALID)
	}
	rooms, err := d.Rooms()
	if err != nil || len(rooms) != 0 {
		t.Errorf("rooms = %+v, %v; want none", rooms, err)
	}
	// Renaming a playlist follows the same rules.
	p, _, err := d.NewPlaylist(tandem.Op{}, "Road trip", "ann", false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.EditPlaylist(tandem.Op{User: "ann"}, p.ID, tandem.Edit{Kind: tandem.EditRename, Name: "Road\u200btrip"})
	wantCode(t, err, tandem.EINVALID)
}

// TestNamesStoredNFC: a decomposed name is stored in its composed (NFC)
// form, so that the two spellings are one name.
func TestNamesStoredNFC(t *testing.T) {
	d := openTest(t, t.TempDir())
	code, _, err := d.CreateInvite(10, 0)
	if err != nil {
		t.Fatal(err)
	}
	u, _, err := d.RedeemInvite(code, "Zoe\u0308")
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "Zo\u00eb" {
		t.Errorf("user name %q, want the NFC %q", u.Name, "Zo\u00eb")
	}
	if _, err := d.User("Zo\u00eb"); err != nil {
		t.Errorf("the NFC name: %v", err)
	}
	_, _, err = d.RedeemInvite(code, "Zo\u00eb")
	wantCode(t, err, tandem.ECONFLICT)

	p, _, err := d.NewPlaylist(tandem.Op{}, "Cafe\u0301", "Zo\u00eb", false)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "Caf\u00e9" {
		t.Errorf("playlist name %q, want the NFC %q", p.Name, "Caf\u00e9")
	}
	_, _, err = d.NewPlaylist(tandem.Op{}, "Caf\u00e9", "Zo\u00eb", false)
	wantCode(t, err, tandem.ECONFLICT)
}

// TestSkeletons: lookalikes share a skeleton, names that only resemble
// each other do not.
func TestSkeletons(t *testing.T) {
	same := func(a, b string) bool {
		fa, va := Skeletons(a)
		fb, vb := Skeletons(b)
		return fa == fb || va == vb
	}
	for _, c := range [][2]string{
		{"alice", "ALICE"},
		{"alice", "Alice"},
		{"alice", "\u0430lice"},                     // Cyrillic а
		{"alice", "a\u200blice"},                    // an old name with a zero-width space
		{"alice", "\uff41\uff4c\uff49\uff43\uff45"}, // fullwidth
		{"alice", "aIice"},                          // capital I for l
		{"HACK", "\u041d\u0410\u0421\u041a"},        // Cyrillic capitals
		{"bob", "b0b"},
		{"Sam", "Sarn"},
		{"Ann Smith", "Ann  Smith"},
		{"Ann Smith", "Ann\u00a0Smith"},
		{"Zo\u00eb", "Zoe\u0308"},
	} {
		if !same(c[0], c[1]) {
			f0, v0 := Skeletons(c[0])
			f1, v1 := Skeletons(c[1])
			t.Errorf("%q (%q %q) and %q (%q %q) have different skeletons", c[0], f0, v0, c[1], f1, v1)
		}
	}
	for _, c := range [][2]string{
		{"alice", "alicia"},
		{"bob", "rob"},
		{"Zo\u00eb", "Zoe"},
		{"ann", "anne"},
		{"\u65e5\u672c", "\u65e5\u672c\u8a9e"},
	} {
		if same(c[0], c[1]) {
			t.Errorf("%q and %q share a skeleton", c[0], c[1])
		}
	}
}

// TestCheckNewNameExcept: a user may take a name like its own (a rename
// from alice to Alice), and no one else may.
func TestCheckNewNameExcept(t *testing.T) {
	d := openTest(t, t.TempDir())
	for _, name := range []string{"alice", "bob"} {
		if _, err := d.CreateToken(name); err != nil {
			t.Fatal(err)
		}
	}
	err := d.db.View(func(tx *bolt.Tx) error {
		if n, err := CheckNewName(tx, "Alice", "alice"); err != nil || n != "Alice" {
			t.Errorf("alice renamed Alice: %q, %v", n, err)
		}
		if n, err := CheckNewName(tx, "alice", "alice"); err != nil || n != "alice" {
			t.Errorf("alice renamed alice: %q, %v", n, err)
		}
		if _, err := CheckNewName(tx, "Alice", "bob"); tandem.ErrorCode(err) != tandem.ECONFLICT {
			t.Errorf("bob renamed Alice: %v, want ECONFLICT", err)
		}
		if _, err := CheckNewName(tx, "alice", "bob"); tandem.ErrorCode(err) != tandem.ECONFLICT {
			t.Errorf("bob renamed alice: %v, want ECONFLICT", err)
		}
		if n, err := CheckNewName(tx, "Cafe\u0301", ""); err != nil || n != "Caf\u00e9" {
			t.Errorf("a decomposed name: %q, %v; want the NFC form", n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigrateUserSkeletons: migration 6 indexes the users of an older
// database; users that already look alike keep their names, the first
// holds the index entry, the others are logged, and the store opens.
func TestMigrateUserSkeletons(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir, Options{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	// Make it a schema-5 database whose users were made before the rules.
	err = d.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket([]byte(bucketUserSkeletons)); err != nil {
			return err
		}
		for _, name := range []string{"BOB", "bob", "b\u200bob", "alice", "Zoe\u0308"} {
			v, err := json.Marshal(tandem.User{Name: name, CreatedAt: testNow})
			if err != nil {
				return err
			}
			if err := bucket(tx, bucketUsers).Put([]byte(name), v); err != nil {
				return err
			}
		}
		return bucket(tx, bucketMeta).Put([]byte(keyVersion), itob(5))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	d, err = Open(dir, Options{Timeout: testTimeout, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("open the schema-5 database: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	if got := strings.Count(logs.String(), "lookalike names"); got != 2 {
		t.Errorf("%d lookalike warnings, want 2 (bob and b\\u200bob, both like BOB):\n%s", got, logs.String())
	}
	users, err := d.Users()
	if err != nil || len(users) != 5 {
		t.Errorf("users = %+v, %v; want the 5 old ones", users, err)
	}
	_, err = d.CreateToken("B\u043eb") // Cyrillic о
	wantCode(t, err, tandem.ECONFLICT)
	if msg := tandem.ErrorMessage(err); !strings.Contains(msg, "“BOB”") {
		t.Errorf("message %q does not name BOB, the first of the old lookalikes", msg)
	}
	_, err = d.CreateToken("zo\u00eb")
	wantCode(t, err, tandem.ECONFLICT)
	// The old users still get tokens by the names they have.
	for _, name := range []string{"b\u200bob", "Zoe\u0308", "bob"} {
		tok, err := d.CreateToken(name)
		if err != nil {
			t.Errorf("token for old user %q: %v", name, err)
			continue
		}
		if u, err := d.Authenticate(tok); err != nil || u.Name != name {
			t.Errorf("token for %q authenticates %+v, %v", name, u, err)
		}
	}
	if users, _ := d.Users(); len(users) != 5 {
		t.Errorf("users = %+v; tokens for old users made new ones", users)
	}
}

// TestOldRoomKeepsItsName: a room stored before the name rules can still
// be updated under the name it has.
func TestOldRoomKeepsItsName(t *testing.T) {
	d := openTest(t, t.TempDir())
	const old = "party\u200b"
	err := d.db.Update(func(tx *bolt.Tx) error {
		v, err := json.Marshal(tandem.Room{Name: old})
		if err != nil {
			return err
		}
		return bucket(tx, bucketRooms).Put([]byte(old), v)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.PutRoom(tandem.Room{Name: old, Version: 1}); err != nil {
		t.Fatalf("update the old room: %v", err)
	}
	if r, err := d.Room(old); err != nil || r.Version != 1 {
		t.Errorf("old room = %+v, %v", r, err)
	}
}

// BenchmarkCheckNewName measures the name check of a new user: NFC, the
// character rules, two skeletons and three lookups.
func BenchmarkCheckNewName(b *testing.B) {
	d := openTest(b, b.TempDir())
	if _, err := d.CreateToken("alice"); err != nil {
		b.Fatal(err)
	}
	err := d.db.View(func(tx *bolt.Tx) error {
		for b.Loop() {
			if _, err := CheckNewName(tx, "Ann-Kathrin Müller-Lüdenscheidt", ""); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
