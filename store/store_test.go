package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"
	"golang.org/x/text/unicode/norm"

	"tandem"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testNow is the time that test databases' clocks return.
var testNow = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

// testTimeout is the lock timeout of test databases; bbolt retries the lock
// every 50ms.
const testTimeout = 100 * time.Millisecond

// openTest opens the database in dir with a fixed clock. At cleanup it closes
// the database and checks the file's consistency.
func openTest(t testing.TB, dir string) *DB {
	t.Helper()
	d, err := Open(dir, Options{Timeout: testTimeout, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		checkFile(t, d.Path())
	})
	return d
}

// checkFile runs bbolt's consistency check on the closed database at path.
func checkFile(t testing.TB, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Errorf("check: open %s: %v", path, err)
		return
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("check %s: %v", path, err)
		}
		return nil
	})
	if err != nil {
		t.Errorf("check %s: %v", path, err)
	}
}

// wantCode fails t unless err carries the tandem error code want.
func wantCode(t testing.TB, err error, want string) {
	t.Helper()
	var te *tandem.Error
	if !errors.As(err, &te) {
		t.Fatalf("error %v: not a *tandem.Error, want code %s", err, want)
	}
	if got := te.Code; got != want {
		t.Fatalf("error %v: code %s, want %s", err, got, want)
	}
	if !strings.HasPrefix(err.Error(), "store: ") {
		t.Errorf("error %q lacks the store: context", err)
	}
}

func TestOpenCreatesDirAndFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "data")
	d := openTest(t, dir)
	if got, want := d.Path(), filepath.Join(dir, FileName); got != want {
		t.Errorf("Path() = %q, want %q", got, want)
	}
	for _, c := range []struct {
		path string
		want os.FileMode
	}{
		{dir, 0o700 | os.ModeDir},
		{d.Path(), 0o600},
	} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		// The umask may clear permission bits, never add them.
		if got := fi.Mode().Perm(); got&^c.want != 0 || fi.IsDir() != c.want.IsDir() {
			t.Errorf("mode of %s = %v, want %v", c.path, fi.Mode(), c.want)
		}
	}
}

func TestSchemaVersion(t *testing.T) {
	if got, want := len(migrations(slog.New(slog.DiscardHandler))), SchemaVersion; got != want {
		t.Fatalf("len(migrations(slog.New(slog.DiscardHandler))) = %d, want SchemaVersion %d", got, want)
	}
	d := openTest(t, t.TempDir())
	err := d.db.View(func(tx *bolt.Tx) error {
		v := bucket(tx, bucketMeta).Get([]byte(keyVersion))
		if got, want := string(v), string(itob(SchemaVersion)); got != want {
			t.Errorf("stored version = %x, want %x", got, want)
		}
		for _, name := range []string{
			bucketUsers, bucketTokens, bucketTracks, bucketPlaylists,
			bucketPlaylistNames, bucketEntries, bucketEntryIndex, bucketRooms,
		} {
			if bucket(tx, name) == nil {
				t.Errorf("bucket %s missing", name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenNewerSchema(t *testing.T) {
	dir := t.TempDir()
	d := openTest(t, dir)
	err := d.db.Update(func(tx *bolt.Tx) error {
		return bucket(tx, bucketMeta).Put([]byte(keyVersion), itob(SchemaVersion+1))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d2, err := Open(dir, Options{Timeout: testTimeout})
	if err == nil {
		d2.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("Open: %v, want ErrNewerSchema", err)
	}
	// The failed Open released the lock.
	d3, err := Open(dir, Options{Timeout: testTimeout})
	if errors.Is(err, ErrLocked) {
		t.Fatalf("Open after a failed Open: %v", err)
	}
	if err == nil {
		d3.Close()
	}
}

func TestOpenLockedSameProcess(t *testing.T) {
	dir := t.TempDir()
	d := openTest(t, dir)

	d2, err := Open(dir, Options{Timeout: testTimeout})
	if err == nil {
		d2.Close()
		t.Fatal("second Open of a held database succeeded")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	want := fmt.Sprintf("store: open %s: database is locked by another process (is a hub or player already running with this data directory?)", d.Path())
	if got := err.Error(); got != want {
		t.Errorf("error = %q\nwant %q", got, want)
	}

	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	openTest(t, dir) // the lock is free again
}

// helperEnv names the environment variable that turns TestHelperProcess on
// in a child process; its value is the data directory to open.
const helperEnv = "TANDEM_STORE_HELPER_DIR"

// TestHelperProcess is not a test: run as a child process by
// TestOpenLockedOtherProcess, it opens the database named by helperEnv and
// prints a line "result: locked", "result: opened" or "result: error: ...".
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("helper process for TestOpenLockedOtherProcess")
	}
	d, err := Open(dir, Options{Timeout: testTimeout})
	switch {
	case errors.Is(err, ErrLocked):
		fmt.Printf("result: locked\nmessage: %v\n", err)
	case err != nil:
		fmt.Printf("result: error: %v\n", err)
	default:
		d.Close()
		fmt.Println("result: opened")
	}
}

// runHelper runs TestHelperProcess in a child process on dir and returns its
// result line, without the "result: " prefix.
func runHelper(t *testing.T, dir string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if r, ok := strings.CutPrefix(sc.Text(), "result: "); ok {
			return r
		}
	}
	t.Fatalf("child process printed no result:\n%s", out)
	return ""
}

func TestOpenLockedOtherProcess(t *testing.T) {
	dir := t.TempDir()
	d := openTest(t, dir)
	if got, want := runHelper(t, dir), "locked"; got != want {
		t.Fatalf("child with the database held: %q, want %q", got, want)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := runHelper(t, dir), "opened"; got != want {
		t.Fatalf("child with the database free: %q, want %q", got, want)
	}
}

func TestReopenPersists(t *testing.T) {
	dir := t.TempDir()
	d := openTest(t, dir)

	token, err := d.CreateToken("ann")
	if err != nil {
		t.Fatal(err)
	}
	track := testTrack(1, "Blue in Green")
	if err := d.PutTrack(track); err != nil {
		t.Fatal(err)
	}
	p, err := d.CreatePlaylist("Evening", "ann")
	if err != nil {
		t.Fatal(err)
	}
	e, err := d.AddEntry(p.ID, track.ID, "ann", testNow)
	if err != nil {
		t.Fatal(err)
	}
	room := tandem.Room{Name: "lounge", Host: "ann", Queue: []tandem.Entry{e}, Version: 3, CreatedAt: testNow}
	if err := d.PutRoom(room); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d = openTest(t, dir)
	if u, err := d.Authenticate(token); err != nil || u.Name != "ann" {
		t.Errorf("Authenticate after reopen = %+v, %v", u, err)
	}
	if got, err := d.Track(track.ID); err != nil || got != track {
		t.Errorf("Track after reopen = %+v, %v; want %+v", got, err, track)
	}
	got, err := d.Playlist(p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 1 || got.Entries[0] != e {
		t.Errorf("Playlist entries after reopen = %+v, want [%+v]", got.Entries, e)
	}
	if r, err := d.Room("lounge"); err != nil || r.Version != 3 || len(r.Queue) != 1 || r.Queue[0] != e {
		t.Errorf("Room after reopen = %+v, %v", r, err)
	}

	// Sequences continue where they were.
	p2, err := d.CreatePlaylist("Morning", "ann")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p2.ID, "p2"; got != want {
		t.Errorf("second playlist ID = %q, want %q", got, want)
	}
	e2, err := d.AddEntry(p2.ID, track.ID, "ann", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e2.ID, "e2"; got != want {
		t.Errorf("second entry ID = %q, want %q", got, want)
	}
}

func TestParseID(t *testing.T) {
	for _, c := range []struct {
		id   string
		want uint64
		ok   bool
	}{
		{"p1", 1, true},
		{"p18446744073709551615", 1<<64 - 1, true},
		{"p18446744073709551616", 0, false},
		{"p0", 0, false},
		{"p01", 0, false},
		{"p", 0, false},
		{"", 0, false},
		{"e1", 0, false},
		{"p-1", 0, false},
		{"p+1", 0, false},
		{"p1 ", 0, false},
	} {
		t.Run(c.id, func(t *testing.T) {
			key, ok := parseID("p", c.id)
			if ok != c.ok {
				t.Fatalf("parseID(%q) ok = %v, want %v", c.id, ok, c.ok)
			}
			if ok && string(key) != string(itob(c.want)) {
				t.Errorf("parseID(%q) = %x, want %x", c.id, key, itob(c.want))
			}
			if ok {
				if got := formatID("p", c.want); got != c.id {
					t.Errorf("formatID = %q, want %q", got, c.id)
				}
			}
		})
	}
}

func TestValidateName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"ann", true},
		{"Ann Smith", true},
		{"Zoë", true},
		{"日本語", true},
		{strings.Repeat("x", MaxNameLen), true},
		{strings.Repeat("é", MaxNameLen), true},
		{"", false},
		{" ", false},
		{" ann", false},
		{"ann ", false},
		{"ann\n", false},
		{"a\x00b", false},
		{"a\tb", false},
		{"a\x7fb", false},
		{"a\u0085b", false},
		{"a\xffb", false},
		{strings.Repeat("x", MaxNameLen+1), false},
		{"\u2764\ufe0f Sam", true}, // emoji style after a symbol
		{"Zo\u00eb", true},
		{"Zoe\u0308", false}, // not NFC
		{"a\u200blice", false},
		{"\u202eecila", false},
		{"alice\u2066", false},
		{"\ufeffalice", false},
		{"a\u00adlice", false}, // soft hyphen
		{"alice\u3164", false}, // Hangul filler
		{"alice\ufe0f", false}, // emoji style after a letter
		{"alice\u2028", false},
		{"alice\ue000", false}, // private use
		{"alice\ufffd", false},
		{"alice\U000e0041", false}, // tag character
	} {
		t.Run(fmt.Sprintf("%q", c.name), func(t *testing.T) {
			err := ValidateName(c.name)
			if got := err == nil; got != c.ok {
				t.Fatalf("ValidateName(%q) = %v, want ok %v", c.name, err, c.ok)
			}
			if err != nil {
				if got, want := tandem.ErrorCode(err), tandem.EINVALID; got != want {
					t.Errorf("code = %s, want %s", got, want)
				}
			}
		})
	}
}

// FuzzValidateName checks the name rules' invariants: a valid name is
// trimmed UTF-8 of 1 to MaxNameLen characters, in NFC form, with no
// control, format or other hidden character; NormalizeName's result is
// valid and normalises to itself; both skeletons are idempotent.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{
		"ann", " ann", "a\x00", "日本語", strings.Repeat("x", 65), "\xff",
		"Zoe\u0308", "a\u200blice", "\u202eecila", "ALICE", "\u0430lice", "❤\ufe0f Sam", "a\ufe0f",
		"\u1100\u1161\u11a8", "\u0958", "ǅ", "\U0001d4b6lice", "Ann  Smith",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if n, err := NormalizeName(name); err == nil {
			if err := ValidateName(n); err != nil {
				t.Fatalf("NormalizeName(%q) = %q, which ValidateName refuses: %v", name, n, err)
			}
			if n2, err := NormalizeName(n); err != nil || n2 != n {
				t.Fatalf("NormalizeName(%q) = %q, but NormalizeName(%q) = %q, %v", name, n, n, n2, err)
			}
		} else if ValidateName(name) == nil {
			t.Fatalf("ValidateName(%q) passes, NormalizeName refuses: %v", name, err)
		}
		if ValidateName(name) != nil {
			return
		}
		if !utf8.ValidString(name) || strings.ContainsRune(name, utf8.RuneError) {
			t.Fatalf("valid name %q is not clean UTF-8", name)
		}
		if !norm.NFC.IsNormalString(name) {
			t.Fatalf("valid name %q is not NFC", name)
		}
		n := 0
		for _, r := range name {
			if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
				t.Fatalf("valid name %q has control or format character %U", name, r)
			}
			n++
		}
		if n < 1 || n > MaxNameLen {
			t.Fatalf("valid name %q has %d runes", name, n)
		}
		if strings.TrimSpace(name) != name {
			t.Fatalf("valid name %q is not trimmed", name)
		}
		folded, visual := Skeletons(name)
		if f2, _ := Skeletons(folded); f2 != folded {
			t.Fatalf("folded skeleton of %q: %q, then %q", name, folded, f2)
		}
		if _, v2 := Skeletons(visual); v2 != visual {
			t.Fatalf("visual skeleton of %q: %q, then %q", name, visual, v2)
		}
	})
}

func TestCheck(t *testing.T) {
	d := openTest(t, t.TempDir())
	if _, err := d.CreateToken("ann"); err != nil {
		t.Fatal(err)
	}
	if err := d.Check(); err != nil {
		t.Fatalf("Check of a sound database: %v", err)
	}
}
