package store

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"tandem"
)

func TestKeyBetween(t *testing.T) {
	for _, c := range []struct {
		a, b string
		ok   bool
	}{
		{"", "", true},
		{"", "00000000000000000001", true},
		{"00000000000000000001", "00000000000000000002", true},
		{"00000000000000000009", "00000000000000000010", true},
		{"00000000000000000001", "", true},
		{"V", "W", true},
		{"z", "", true},
		{"1", "10", false}, // b is a followed by zeros: nothing between
		{"1", "1", false},
		{"2", "1", false},
		{"a-", "b", false}, // not a key digit
	} {
		k, ok := keyBetween(c.a, c.b)
		if ok != c.ok {
			t.Errorf("keyBetween(%q, %q) = %q, %v; want ok %v", c.a, c.b, k, ok, c.ok)
			continue
		}
		if !ok {
			continue
		}
		if k <= c.a || (c.b != "" && k >= c.b) || strings.HasSuffix(k, "0") {
			t.Errorf("keyBetween(%q, %q) = %q: not strictly between, or ends in 0", c.a, c.b, k)
		}
	}
}

// TestKeyBetweenRandom inserts at random places many times and checks that
// every key lands strictly between its neighbours.
func TestKeyBetweenRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	keys := []string{orderKey(1), orderKey(2)}
	for range 3000 {
		i := r.IntN(len(keys) + 1)
		lo, hi := "", ""
		if i > 0 {
			lo = keys[i-1]
		}
		if i < len(keys) {
			hi = keys[i]
		}
		if hi == "" {
			keys = append(keys, orderKey(uint64(len(keys)+10)))
			continue
		}
		k, ok := keyBetween(lo, hi)
		if !ok {
			continue // the store renumbers then; TestRenumber covers it
		}
		if k <= lo || k >= hi {
			t.Fatalf("keyBetween(%q, %q) = %q", lo, hi, k)
		}
		keys = slices.Insert(keys, i, k)
	}
	if !slices.IsSorted(keys) {
		t.Fatal("keys out of order")
	}
}

// editFixture is a database with two tracks and a collaborative playlist
// owned by ann.
func editFixture(t *testing.T) (*DB, tandem.Playlist, [2]tandem.Track) {
	t.Helper()
	d := openTest(t, t.TempDir())
	trs := [2]tandem.Track{testTrack(1, "So What"), testTrack(2, "All Blues")}
	for _, tr := range trs {
		if err := d.PutTrack(tr); err != nil {
			t.Fatal(err)
		}
	}
	p, dup, err := d.NewPlaylist(tandem.Op{User: "ann", ID: "create-1"}, "Road trip", "ann", true)
	if err != nil || dup {
		t.Fatalf("NewPlaylist = %v, dup %v", err, dup)
	}
	return d, p, trs
}

func entryIDs(t *testing.T, d *DB, id string) string {
	t.Helper()
	p, err := d.Playlist(id)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(p.Entries))
	for i, e := range p.Entries {
		ids[i] = e.ID
	}
	return strings.Join(ids, ",")
}

func mustEdit(t *testing.T, d *DB, op tandem.Op, id string, e tandem.Edit) tandem.EditResult {
	t.Helper()
	res, err := d.EditPlaylist(op, id, e)
	if err != nil {
		t.Fatalf("EditPlaylist(%+v, %+v): %v", op, e, err)
	}
	return res
}

func TestEditPositions(t *testing.T) {
	d, p, trs := editFixture(t)
	n := 0
	op := func(user string) tandem.Op { n++; return tandem.Op{User: user, ID: fmt.Sprint("op-", n)} }
	add := func(pos tandem.Position) string {
		return mustEdit(t, d, op("bob"), p.ID, tandem.Edit{Kind: tandem.EditAdd, TrackID: trs[n%2].ID, Position: pos}).Entry.ID
	}
	e1 := add(tandem.Position{})            // e1
	e2 := add(tandem.Position{})            // e1 e2
	e3 := add(tandem.Position{Start: true}) // e3 e1 e2
	e4 := add(tandem.Position{After: e1})   // e3 e1 e4 e2
	e5 := add(tandem.Position{Before: e3})  // e5 e3 e1 e4 e2
	e6 := add(tandem.Position{After: e2})   // ... e2 e6
	want := strings.Join([]string{e5, e3, e1, e4, e2, e6}, ",")
	if got := entryIDs(t, d, p.ID); got != want {
		t.Fatalf("after adds: %s, want %s", got, want)
	}
	mustEdit(t, d, op("ann"), p.ID, tandem.Edit{Kind: tandem.EditMove, EntryID: e6, Position: tandem.Position{Start: true}})
	mustEdit(t, d, op("ann"), p.ID, tandem.Edit{Kind: tandem.EditMove, EntryID: e5, Position: tandem.Position{}}) // to the end
	mustEdit(t, d, op("ann"), p.ID, tandem.Edit{Kind: tandem.EditMove, EntryID: e1, Position: tandem.Position{Before: e3}})
	mustEdit(t, d, op("ann"), p.ID, tandem.Edit{Kind: tandem.EditMove, EntryID: e4, Position: tandem.Position{After: e1}}) // already there
	res := mustEdit(t, d, op("ann"), p.ID, tandem.Edit{Kind: tandem.EditRemove, EntryID: e2})
	if res.Entry.ID != e2 {
		t.Errorf("remove returned entry %q, want %q", res.Entry.ID, e2)
	}
	want = strings.Join([]string{e6, e1, e4, e3, e5}, ",")
	if got := entryIDs(t, d, p.ID); got != want {
		t.Fatalf("after moves: %s, want %s", got, want)
	}
	// 6 adds + 4 moves + 1 remove.
	if got, err := d.Playlist(p.ID); err != nil || got.Version != 11 {
		t.Errorf("version = %d, %v; want 11", got.Version, err)
	}
	if _, _, err := d.Entry(e2); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("removed entry: %v, want ENOTFOUND", err)
	}
	// The order index and the entries agree with a plain sort by key.
	pl, _ := d.Playlist(p.ID)
	if !slices.IsSortedFunc(pl.Entries, func(a, b tandem.Entry) int { return strings.Compare(a.Order, b.Order) }) {
		t.Error("entries are not sorted by order key")
	}
}

func TestEditErrors(t *testing.T) {
	d, p, trs := editFixture(t)
	mine, _, err := d.NewPlaylist(tandem.Op{}, "Mine", "ann", false)
	if err != nil {
		t.Fatal(err)
	}
	e := mustEdit(t, d, tandem.Op{User: "ann", ID: "a"}, mine.ID, tandem.Edit{Kind: tandem.EditAdd, TrackID: trs[0].ID})
	for _, c := range []struct {
		name string
		user string
		id   string
		edit tandem.Edit
		code string
	}{
		{"guest adds to owner-only", "bob", mine.ID, tandem.Edit{Kind: tandem.EditAdd, TrackID: trs[0].ID}, tandem.EFORBIDDEN},
		{"guest removes from owner-only", "bob", mine.ID, tandem.Edit{Kind: tandem.EditRemove, EntryID: e.Entry.ID}, tandem.EFORBIDDEN},
		{"guest renames collaborative", "bob", p.ID, tandem.Edit{Kind: tandem.EditRename, Name: "x"}, tandem.EFORBIDDEN},
		{"guest shares", "bob", p.ID, tandem.Edit{Kind: tandem.EditShare}, tandem.EFORBIDDEN},
		{"unknown playlist", "ann", "p99", tandem.Edit{Kind: tandem.EditAdd, TrackID: trs[0].ID}, tandem.ENOTFOUND},
		{"bad playlist id", "ann", "../p1", tandem.Edit{Kind: tandem.EditAdd, TrackID: trs[0].ID}, tandem.ENOTFOUND},
		{"unknown track", "ann", p.ID, tandem.Edit{Kind: tandem.EditAdd, TrackID: strings.Repeat("f", 64)}, tandem.ENOTFOUND},
		{"entry of another playlist", "ann", p.ID, tandem.Edit{Kind: tandem.EditRemove, EntryID: e.Entry.ID}, tandem.ENOTFOUND},
		{"after an unknown entry", "ann", p.ID, tandem.Edit{Kind: tandem.EditAdd, TrackID: trs[0].ID, Position: tandem.Position{After: "e999"}}, tandem.ENOTFOUND},
		{"two positions", "ann", p.ID, tandem.Edit{Kind: tandem.EditAdd, TrackID: trs[0].ID, Position: tandem.Position{After: "e1", Start: true}}, tandem.EINVALID},
		{"relative to itself", "ann", mine.ID, tandem.Edit{Kind: tandem.EditMove, EntryID: e.Entry.ID, Position: tandem.Position{After: e.Entry.ID}}, tandem.EINVALID},
		{"rename to a taken name", "ann", p.ID, tandem.Edit{Kind: tandem.EditRename, Name: "Mine"}, tandem.ECONFLICT},
		{"rename to a bad name", "ann", p.ID, tandem.Edit{Kind: tandem.EditRename, Name: " x"}, tandem.EINVALID},
		{"unknown edit", "ann", p.ID, tandem.Edit{Kind: "explode"}, tandem.EINVALID},
	} {
		before, _ := d.Playlist(c.id)
		_, err := d.EditPlaylist(tandem.Op{User: c.user, ID: "err-" + c.name}, c.id, c.edit)
		if got := tandem.ErrorCode(err); got != c.code {
			t.Errorf("%s: %v (code %s), want %s", c.name, err, got, c.code)
		}
		if after, _ := d.Playlist(c.id); after.Version != before.Version || len(after.Entries) != len(before.Entries) {
			t.Errorf("%s: the playlist changed: %+v -> %+v", c.name, before, after)
		}
	}
	// The owner may rename and share; the name moves with it.
	mustEdit(t, d, tandem.Op{User: "ann", ID: "r"}, mine.ID, tandem.Edit{Kind: tandem.EditRename, Name: "Ours"})
	res := mustEdit(t, d, tandem.Op{User: "ann", ID: "s"}, mine.ID, tandem.Edit{Kind: tandem.EditShare, Collaborative: true})
	if !res.Playlist.Collaborative || res.Playlist.Name != "Ours" {
		t.Errorf("after rename and share: %+v", res.Playlist)
	}
	if _, err := d.PlaylistByName("Mine"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("old name still resolves: %v", err)
	}
	mustEdit(t, d, tandem.Op{User: "bob", ID: "b"}, mine.ID, tandem.Edit{Kind: tandem.EditAdd, TrackID: trs[1].ID})
}

func TestEditOpIsIdempotent(t *testing.T) {
	d, p, trs := editFixture(t)
	op := tandem.Op{User: "bob", ID: "retry-me"}
	first := mustEdit(t, d, op, p.ID, tandem.Edit{Kind: tandem.EditAdd, TrackID: trs[0].ID})
	again := mustEdit(t, d, op, p.ID, tandem.Edit{Kind: tandem.EditAdd, TrackID: trs[0].ID})
	if !again.Duplicate || first.Duplicate {
		t.Errorf("Duplicate: first %v, again %v", first.Duplicate, again.Duplicate)
	}
	if again.Entry != first.Entry || again.Playlist.Version != first.Playlist.Version {
		t.Errorf("retry answered %+v, want the first answer %+v", again, first)
	}
	if got := entryIDs(t, d, p.ID); got != first.Entry.ID {
		t.Errorf("entries = %s, want only %s", got, first.Entry.ID)
	}
	// The same op id from another user is another op.
	other := mustEdit(t, d, tandem.Op{User: "cat", ID: "retry-me"}, p.ID, tandem.Edit{Kind: tandem.EditAdd, TrackID: trs[0].ID})
	if other.Duplicate || other.Entry.ID == first.Entry.ID {
		t.Errorf("cat's op was taken for bob's: %+v", other)
	}
	// Creating a playlist is idempotent too.
	p2, dup, err := d.NewPlaylist(tandem.Op{User: "ann", ID: "create-1"}, "Road trip", "ann", true)
	if err != nil || !dup || p2.ID != p.ID {
		t.Errorf("NewPlaylist retry = %+v, %v, %v; want %s, duplicate", p2, dup, err, p.ID)
	}
	// tandem.Op ids are remembered across a restart, and forgotten after a day.
	dir := d.path[:len(d.path)-len(FileName)-1]
	d.Close()
	d = openTest(t, dir)
	if res := mustEdit(t, d, op, p.ID, tandem.Edit{Kind: tandem.EditAdd, TrackID: trs[0].ID}); !res.Duplicate {
		t.Error("op forgotten after a restart")
	}
	d.Close()
	later, err := Open(dir, Options{Now: func() time.Time { return testNow.Add(opTTL + 1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer later.Close()
	if res, err := later.EditPlaylist(op, p.ID, tandem.Edit{Kind: tandem.EditAdd, TrackID: trs[0].ID}); err != nil || res.Duplicate {
		t.Errorf("op still remembered after %v: %+v, %v", opTTL, res, err)
	}
}

func TestRenumber(t *testing.T) {
	d, p, trs := editFixture(t)
	first := mustEdit(t, d, tandem.Op{User: "ann", ID: "0"}, p.ID, tandem.Edit{Kind: tandem.EditAdd, TrackID: trs[0].ID}).Entry
	last := mustEdit(t, d, tandem.Op{User: "ann", ID: "1"}, p.ID, tandem.Edit{Kind: tandem.EditAdd, TrackID: trs[0].ID}).Entry
	// Always insert right after the first entry: each key halves the gap,
	// so keys grow until the store renumbers.
	renumbered := 0
	var want []string
	for i := range 400 {
		res := mustEdit(t, d, tandem.Op{User: "ann", ID: fmt.Sprint("ins-", i)}, p.ID,
			tandem.Edit{Kind: tandem.EditAdd, TrackID: trs[1].ID, Position: tandem.Position{After: first.ID}})
		want = slices.Insert(want, 0, res.Entry.ID)
		if res.Renumbered != nil {
			renumbered++
			if len(res.Renumbered) != i+3 {
				t.Fatalf("renumbered list has %d entries, want %d", len(res.Renumbered), i+3)
			}
		}
		if len(res.Entry.Order) > maxKeyLen {
			t.Fatalf("key %q is longer than %d", res.Entry.Order, maxKeyLen)
		}
	}
	if renumbered == 0 {
		t.Error("400 inserts at one place never renumbered")
	}
	wantIDs := strings.Join(append(append([]string{first.ID}, want...), last.ID), ",")
	if got := entryIDs(t, d, p.ID); got != wantIDs {
		t.Errorf("order after renumbering:\n got %s\nwant %s", got, wantIDs)
	}
	// Appends still go last.
	end := mustEdit(t, d, tandem.Op{User: "ann", ID: "end"}, p.ID, tandem.Edit{Kind: tandem.EditAdd, TrackID: trs[0].ID}).Entry
	if got := entryIDs(t, d, p.ID); !strings.HasSuffix(got, ","+end.ID) {
		t.Errorf("append after renumbering is not last: %s", got)
	}
}

// TestConcurrentInsertsConverge has several friends insert at the same
// place at the same time; everyone reads one order that holds every entry.
func TestConcurrentInsertsConverge(t *testing.T) {
	d, p, trs := editFixture(t)
	anchor := mustEdit(t, d, tandem.Op{User: "ann", ID: "anchor"}, p.ID, tandem.Edit{Kind: tandem.EditAdd, TrackID: trs[0].ID}).Entry
	mustEdit(t, d, tandem.Op{User: "ann", ID: "tail"}, p.ID, tandem.Edit{Kind: tandem.EditAdd, TrackID: trs[0].ID})
	var wg sync.WaitGroup
	users := []string{"bob", "cat", "dan", "eve"}
	ids := make([][]string, len(users))
	for u, user := range users {
		wg.Go(func() {
			for i := range 25 {
				res, err := d.EditPlaylist(tandem.Op{User: user, ID: fmt.Sprint(i)}, p.ID,
					tandem.Edit{Kind: tandem.EditAdd, TrackID: trs[1].ID, Position: tandem.Position{After: anchor.ID}})
				if err != nil {
					t.Error(err)
					return
				}
				ids[u] = append(ids[u], res.Entry.ID)
			}
		})
	}
	wg.Wait()
	pl, err := d.Playlist(p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(pl.Entries), 2+len(users)*25; got != want {
		t.Fatalf("%d entries, want %d", got, want)
	}
	if pl.Entries[0].ID != anchor.ID || pl.Version != uint64(len(pl.Entries)) {
		t.Errorf("first entry %s (want %s), version %d", pl.Entries[0].ID, anchor.ID, pl.Version)
	}
	// Each friend's own inserts appear newest first, right after the
	// anchor, as each was placed right after it.
	pos := map[string]int{}
	for i, e := range pl.Entries {
		pos[e.ID] = i
	}
	for u := range users {
		for i := 1; i < len(ids[u]); i++ {
			if pos[ids[u][i]] > pos[ids[u][i-1]] {
				t.Errorf("%s's insert %s sorts after their earlier %s", users[u], ids[u][i], ids[u][i-1])
			}
		}
	}
	keys := map[string]bool{}
	for _, e := range pl.Entries {
		if keys[e.Order] {
			t.Errorf("order key %q used twice", e.Order)
		}
		keys[e.Order] = true
	}
}

func TestAddRecordsActivity(t *testing.T) {
	d, p, trs := editFixture(t)
	res := mustEdit(t, d, tandem.Op{User: "bob", ID: "1"}, p.ID, tandem.Edit{Kind: tandem.EditAdd, TrackID: trs[0].ID})
	if res.Activity == nil || res.Activity.Text != "bob added So What to Road trip" || res.Activity.ID == "" {
		t.Fatalf("activity = %+v", res.Activity)
	}
	items, err := d.Activities(10)
	if err != nil || len(items) != 1 || items[0] != *res.Activity {
		t.Fatalf("Activities = %+v, %v; want [%+v]", items, err, *res.Activity)
	}
}

func TestActivityKeepsTheLast500(t *testing.T) {
	d := openTest(t, t.TempDir())
	for i := range MaxActivity + 20 {
		if _, err := d.AddActivity(tandem.Activity{User: "ann", Kind: tandem.ActivityListening, Text: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	items, err := d.Activities(1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != MaxActivity || items[0].Text != "20" || items[len(items)-1].Text != fmt.Sprint(MaxActivity+19) {
		t.Fatalf("%d items, first %q, last %q", len(items), items[0].Text, items[len(items)-1].Text)
	}
	err = d.db.View(func(tx *bolt.Tx) error {
		if n := bucket(tx, bucketActivity).Stats().KeyN; n != MaxActivity {
			t.Errorf("activity bucket holds %d items, want %d", n, MaxActivity)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigrationIndexesOldEntries opens a schema-2 database whose entries
// have no order index, as an older hub left it.
func TestMigrationIndexesOldEntries(t *testing.T) {
	dir := t.TempDir()
	d := openTest(t, dir)
	tr := testTrack(1, "x")
	if err := d.PutTrack(tr); err != nil {
		t.Fatal(err)
	}
	p, err := d.CreatePlaylist("old", "ann")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for range 3 {
		e, err := d.AddEntry(p.ID, tr.ID, "ann", testNow)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, e.ID)
	}
	// Undo migration 3.
	err = d.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket([]byte(bucketEntryOrder)); err != nil {
			return err
		}
		return bucket(tx, bucketMeta).Put([]byte(keyVersion), itob(2))
	})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	d = openTest(t, dir)
	if got := entryIDs(t, d, p.ID); got != strings.Join(want, ",") {
		t.Errorf("after migration: %s, want %s", got, strings.Join(want, ","))
	}
	res := mustEdit(t, d, tandem.Op{User: "ann", ID: "x"}, p.ID, tandem.Edit{Kind: tandem.EditAdd, TrackID: tr.ID, Position: tandem.Position{Start: true}})
	if got := entryIDs(t, d, p.ID); got != strings.Join(append([]string{res.Entry.ID}, want...), ",") {
		t.Errorf("insert at start after migration: %s", got)
	}
}

func TestEditResultRoundTrip(t *testing.T) {
	// The stored answer of an op decodes to what was returned.
	d, p, trs := editFixture(t)
	res := mustEdit(t, d, tandem.Op{User: "bob", ID: "rt"}, p.ID, tandem.Edit{Kind: tandem.EditAdd, TrackID: trs[0].ID})
	err := d.db.View(func(tx *bolt.Tx) error {
		var back tandem.EditResult
		found, err := loadOp(tx, tandem.Op{User: "bob", ID: "rt"}, &back)
		if err != nil || !found {
			return fmt.Errorf("loadOp: %v, %v", found, err)
		}
		a, _ := json.Marshal(res)
		b, _ := json.Marshal(back)
		if string(a) != string(b) {
			t.Errorf("stored %s, returned %s", b, a)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
