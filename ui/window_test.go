package ui

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
	"go.uber.org/goleak"

	"tandem"
	"tandem/player"
	"tandem/player/settings"
	"tandem/sync/event"
)

// TestMain checks that no test leaves a goroutine behind: Close must stop
// the ticker. The Fyne test app starts no goroutines of its own, so nothing
// needs to be ignored.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeCore is a Core whose answers the tests set, and which records the
// commands it is given.
type fakeCore struct {
	em *event.Emitter

	mu        sync.Mutex // guards the following
	room      RoomView
	rooms     []RoomItem
	playlists []PlaylistItem
	rows      map[string][]Row
	friends   []Friend
	activity  []Activity
	now       NowPlaying
	conn      Connection
	sync      SyncQuality
	status    string
	volume    float64
	muted     bool
	joinErr   error
	calls     []string // the commands, as "Name arg…"
}

func newFakeCore() *fakeCore {
	day := func(d int) time.Time { return time.Date(2013, 11, d, 12, 0, 0, 0, time.Local) }
	return &fakeCore{
		em:    event.New(nil),
		rooms: []RoomItem{{Name: "lounge", Host: "ann", Current: true}, {Name: "Friday", Host: "bob"}},
		room: RoomView{Name: "lounge", Host: "ann", IsHost: true, Code: "MZXW6YTBOI3DAMRQ",
			Link: "tandem://192.168.1.20:7878/join/MZXW6YTBOI3DAMRQ",
			Members: []Friend{
				{Name: "ann", Online: true, InRoom: true},
				{Name: "Elissa Erwin", Online: true, InRoom: true, Buffering: true},
				{Name: "Joseph Michael Allen", Online: true, InRoom: true},
			}},
		playlists: []PlaylistItem{
			{ID: QueueID, Name: "Room: lounge", Editable: true, Count: 3},
			{ID: "p1", Name: "Indie", Owner: "ann", Collaborative: true, Editable: true, Count: 3},
			{ID: "p2", Name: "Grunge", Owner: "bob", Count: 1},
		},
		rows: map[string][]Row{
			QueueID: {
				{EntryID: "e1", TrackID: "t1", Song: "Rough Gem", Artist: "Islands", Album: "Arm's Way", User: "Joseph Michael Allen", Date: day(13), Length: 225 * time.Second},
				{EntryID: "e2", TrackID: "t2", Song: "Tangled Up With You", Artist: "The Mumlers", Album: "Don't Go Yet", User: "Elissa Erwin", Date: day(14), Length: 190 * time.Second},
				{EntryID: "e3", TrackID: "t3", Song: "Tick Tick Boom", Artist: "The Hives", Album: "The Black and White Album", User: "Elissa Erwin", Date: day(15), Length: 205 * time.Second},
			},
			"p1": {
				{EntryID: "e11", TrackID: "t1", Song: "Rough Gem", Artist: "Islands", User: "ann", Date: day(13)},
			},
			"p2": {
				{EntryID: "e4", TrackID: "t4", Song: "Touch Me I'm Sick", Artist: "Mudhoney", User: "bob", Date: day(15)},
			},
		},
		friends: []Friend{
			{Name: "Elissa Erwin", Online: true, Room: "lounge", InRoom: true, Listening: "Wave Of Mutilation — Pixies", Since: time.Now().Add(-3 * time.Minute)},
			{Name: "Joseph Michael Allen", Online: true, Room: "lounge", InRoom: true},
			{Name: "zoe", Online: false, Since: time.Now().Add(-26 * time.Hour)},
		},
		activity: []Activity{{ID: "a1", User: "bob", Kind: "added", Text: "bob added So What to Road trip", At: time.Now().Add(-10 * time.Minute)}},
		now: NowPlaying{EntryID: "e1", TrackID: "t1", Title: "Rough Gem", Artist: "Islands",
			Position: 83 * time.Second, Duration: 225 * time.Second},
		conn:   Connection{Connected: true},
		sync:   SyncQuality{Settled: true, Error: 3 * time.Millisecond},
		status: `Hosting room "lounge"`,
		volume: 0.8,
	}
}

func (c *fakeCore) lock() func() { c.mu.Lock(); return c.mu.Unlock }

func (c *fakeCore) call(s string) { defer c.lock()(); c.calls = append(c.calls, s) }

// called returns the commands given so far.
func (c *fakeCore) called() []string { defer c.lock()(); return slices.Clone(c.calls) }

func (c *fakeCore) set(f func(c *fakeCore)) { defer c.lock()(); f(c) }

func (c *fakeCore) Emitter() *event.Emitter   { return c.em }
func (c *fakeCore) Room() string              { defer c.lock()(); return c.room.Name }
func (c *fakeCore) RoomView() RoomView        { defer c.lock()(); return c.room }
func (c *fakeCore) Rooms() []RoomItem         { defer c.lock()(); return slices.Clone(c.rooms) }
func (c *fakeCore) Playlists() []PlaylistItem { defer c.lock()(); return slices.Clone(c.playlists) }
func (c *fakeCore) Rows(id string) []Row      { defer c.lock()(); return slices.Clone(c.rows[id]) }
func (c *fakeCore) Friends() []Friend         { defer c.lock()(); return slices.Clone(c.friends) }
func (c *fakeCore) Activity() []Activity      { defer c.lock()(); return slices.Clone(c.activity) }
func (c *fakeCore) Now() NowPlaying           { defer c.lock()(); return c.now }
func (c *fakeCore) Connection() Connection    { defer c.lock()(); return c.conn }
func (c *fakeCore) Sync() SyncQuality         { defer c.lock()(); return c.sync }
func (c *fakeCore) Status() string            { defer c.lock()(); return c.status }
func (c *fakeCore) Art(id string, done func([]byte)) {
	c.call("Art " + id)
	done(nil)
}
func (c *fakeCore) TrackLink(id string) string { return "tandem://hub/track/" + id }
func (c *fakeCore) Next()                      { c.call("Next") }
func (c *fakeCore) Previous()                  { c.call("Previous") }
func (c *fakeCore) Seek(p time.Duration)       { c.call("Seek " + p.String()) }
func (c *fakeCore) SetShuffle(on bool)         { c.call("SetShuffle " + bstr(on)) }
func (c *fakeCore) SetRepeat(r player.Repeat)  { c.call("SetRepeat " + string(r)) }
func (c *fakeCore) Volume() float64            { defer c.lock()(); return c.volume }
func (c *fakeCore) SetVolume(v float64)        { defer c.lock()(); c.volume = v }
func (c *fakeCore) Muted() bool                { defer c.lock()(); return c.muted }
func (c *fakeCore) SetMuted(m bool)            { defer c.lock()(); c.muted = m }
func (c *fakeCore) CreatePlaylist(name string) { c.call("CreatePlaylist " + name) }
func (c *fakeCore) AddTracks(p string, ids []string) {
	c.call("AddTracks " + p + " " + strings.Join(ids, ","))
}
func (c *fakeCore) RemoveEntries(p string, ids []string) {
	c.call("RemoveEntries " + p + " " + strings.Join(ids, ","))
}
func (c *fakeCore) MoveEntries(p string, ids []string, after string) {
	c.call("MoveEntries " + p + " " + strings.Join(ids, ",") + " after " + after)
}
func (c *fakeCore) RenamePlaylist(id, name string)   { c.call("RenamePlaylist " + id + " " + name) }
func (c *fakeCore) SharePlaylist(id string, on bool) { c.call("SharePlaylist " + id + " " + bstr(on)) }
func (c *fakeCore) HostRoom(name string, hostOnly bool) {
	c.call("HostRoom " + name + " " + bstr(hostOnly))
}
func (c *fakeCore) SwitchRoom(name string) { c.call("SwitchRoom " + name) }
func (c *fakeCore) JoinLink(link string) error {
	c.call("JoinLink " + link)
	defer c.lock()()
	return c.joinErr
}
func (c *fakeCore) LeaveRoom()               { c.call("LeaveRoom") }
func (c *fakeCore) SetHostOnly(on bool)      { c.call("SetHostOnly " + bstr(on)) }
func (c *fakeCore) SetWait(on bool)          { c.call("SetWait " + bstr(on)) }
func (c *fakeCore) RemoveMember(name string) { c.call("RemoveMember " + name) }
func (c *fakeCore) RotateCode()              { c.call("RotateCode") }
func (c *fakeCore) Retry()                   { c.call("Retry") }

func bstr(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// newTestWindow builds a Window on a test app; the test calls onTick.
func newTestWindow(t *testing.T, opts Options) (*Window, *fakeCore) {
	t.Helper()
	test.NewTempApp(t)
	core := newFakeCore()
	w := test.NewWindow(nil)
	t.Cleanup(w.Close)
	w.Resize(fyne.NewSize(1200, 720))
	ui := newWindow(w, core, opts, nil, func() {})
	t.Cleanup(ui.Close)
	return ui, core
}

// record collects the payloads emitted on topic.
func record[T any](t *testing.T, em *event.Emitter, topic event.Topic[T]) *[]T {
	t.Helper()
	var got []T
	l := topic.On(em, func(v T) { got = append(got, v) })
	t.Cleanup(func() { em.Off(l) })
	return &got
}

// visible returns o and the visible objects under it, as drawn. (Unlike
// test.LaidOutObjects, it reaches a Table's cells.)
func visible(o fyne.CanvasObject) []fyne.CanvasObject {
	if o == nil || !o.Visible() {
		return nil
	}
	all := []fyne.CanvasObject{o}
	switch o := o.(type) {
	case fyne.Widget:
		for _, c := range test.WidgetRenderer(o).Objects() {
			all = append(all, visible(c)...)
		}
	case *fyne.Container:
		for _, c := range o.Objects {
			all = append(all, visible(c)...)
		}
	}
	return all
}

// cell returns the table's visible cell at row and col.
func cell(t *testing.T, ui *Window, row, col int) *trackCell {
	t.Helper()
	for _, o := range visible(ui.table) {
		if c, ok := o.(*trackCell); ok && c.id == (widget.TableCellID{Row: row, Col: col}) {
			return c
		}
	}
	t.Fatalf("no cell at row %d col %d", row, col)
	return nil
}

// header returns the table's header cell of a column.
func header(t *testing.T, ui *Window, col int) *headerCell {
	t.Helper()
	for _, o := range visible(ui.table) {
		if h, ok := o.(*headerCell); ok && h.col == col {
			return h
		}
	}
	t.Fatalf("no header for column %d", col)
	return nil
}

// labels returns the texts of the visible labels under o.
func labels(o fyne.CanvasObject) []string {
	var texts []string
	for _, o := range visible(o) {
		switch o := o.(type) {
		case *widget.Label:
			texts = append(texts, o.Text)
		case *widget.Button:
			texts = append(texts, o.Text)
		case *widget.RichText:
			texts = append(texts, o.String())
		case *canvas.Text:
			texts = append(texts, o.Text)
		}
	}
	return texts
}

// songs returns the SONG column as shown.
func songs(ui *Window) []string {
	var out []string
	for i := range ui.model.len() {
		out = append(out, ui.model.row(i).Song)
	}
	return out
}

// button finds a visible button by its text under o.
func button(t *testing.T, o fyne.CanvasObject, text string) *widget.Button {
	t.Helper()
	for _, o := range visible(o) {
		if b, ok := o.(*widget.Button); ok && b.Text == text {
			return b
		}
	}
	t.Fatalf("no button %q", text)
	return nil
}

func TestWindowMarkup(t *testing.T) {
	ui, _ := newTestWindow(t, Options{})
	test.AssertRendersToMarkup(t, "window.xml", ui.win.Canvas())
}

func TestTable(t *testing.T) {
	ui, _ := newTestWindow(t, Options{})
	if got, want := ui.win.Title(), "Tandem"; got != want {
		t.Errorf("title = %q, want %q", got, want)
	}
	texts := labels(ui.table)
	for _, h := range columnNames {
		if !slices.Contains(texts, h) {
			t.Errorf("header %q missing from %q", h, texts)
		}
	}
	for _, tc := range []struct {
		row, col int
		want     string
	}{
		{0, colSong, "Rough Gem"},
		{0, colArtist, "Islands"},
		{0, colAlbum, "Arm's Way"},
		{0, colUser, "Joseph Michael Allen"},
		{0, colDate, "2013-11-13"},
		{0, colLength, "3:45"},
		{2, colSong, "Tick Tick Boom"},
	} {
		if got := cell(t, ui, tc.row, tc.col).label.Text; got != tc.want {
			t.Errorf("cell (%d, %d) = %q, want %q", tc.row, tc.col, got, tc.want)
		}
	}
	if !cell(t, ui, 0, colSong).label.TextStyle.Bold {
		t.Error("row now playing is not bold")
	}
	if cell(t, ui, 1, colSong).label.TextStyle.Bold {
		t.Error("row not playing is bold")
	}
	if got := ui.count.Text; got != "3 songs" {
		t.Errorf("count = %q", got)
	}
}

func TestSortByHeader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.json")
	st, err := settings.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ui, _ := newTestWindow(t, Options{Settings: st})
	test.Tap(header(t, ui, colArtist))
	if got, want := songs(ui), []string{"Rough Gem", "Tick Tick Boom", "Tangled Up With You"}; !slices.Equal(got, want) {
		t.Fatalf("by artist: %q, want %q", got, want)
	}
	if got := header(t, ui, colArtist).label.Text; got != "ARTIST ▲" {
		t.Errorf("header = %q", got)
	}
	test.Tap(header(t, ui, colArtist))
	if got, want := songs(ui), []string{"Tangled Up With You", "Tick Tick Boom", "Rough Gem"}; !slices.Equal(got, want) {
		t.Fatalf("by artist, descending: %q, want %q", got, want)
	}
	if s := st.Get(); s.SortCol != colArtist+1 || !s.SortDesc {
		t.Errorf("sort saved as %d/%v", s.SortCol, s.SortDesc)
	}
	// A new window restores the sort.
	again, err := settings.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ui2, _ := newTestWindow(t, Options{Settings: again})
	if got := songs(ui2); got[0] != "Tangled Up With You" {
		t.Errorf("restored sort: %q", got)
	}
	test.Tap(header(t, ui, colArtist))
	if got, want := songs(ui), []string{"Rough Gem", "Tangled Up With You", "Tick Tick Boom"}; !slices.Equal(got, want) {
		t.Fatalf("third tap: %q, want the queue's order %q", got, want)
	}
}

func TestFilterAsYouType(t *testing.T) {
	ui, _ := newTestWindow(t, Options{})
	test.Type(ui.filter, "the hiv")
	if got := songs(ui); !slices.Equal(got, []string{"Tick Tick Boom"}) {
		t.Fatalf("filter %q: %q", ui.filter.Text, got)
	}
	if got := ui.count.Text; got != "1 of 3 songs" {
		t.Errorf("count = %q", got)
	}
	ui.filter.SetText("ELISSA")
	if got := songs(ui); len(got) != 2 {
		t.Fatalf("filter by user: %q", got)
	}
	ui.filter.SetText("")
	if got := songs(ui); len(got) != 3 {
		t.Fatalf("no filter: %q", got)
	}
}

func TestMultiSelectAndDelete(t *testing.T) {
	ui, core := newTestWindow(t, Options{})
	test.Tap(cell(t, ui, 0, colSong))
	c := cell(t, ui, 2, colArtist)
	c.MouseDown(&desktop.MouseEvent{Modifier: fyne.KeyModifierControl})
	test.Tap(c)
	if got := ui.model.selection(); len(got) != 2 || got[0].EntryID != "e1" || got[1].EntryID != "e3" {
		t.Fatalf("Ctrl-click selection: %+v", got)
	}
	if !cell(t, ui, 2, colDate).bg.Visible() || cell(t, ui, 1, colDate).bg.Visible() {
		t.Error("the selected rows are not the highlighted ones")
	}
	ui.table.TypedKey(&fyne.KeyEvent{Name: fyne.KeyDelete})
	if got := core.called(); !slices.Contains(got, "RemoveEntries queue e1,e3") {
		t.Fatalf("Delete: %q", got)
	}
	// Shift-click selects a range.
	test.Tap(cell(t, ui, 0, colSong))
	c = cell(t, ui, 2, colSong)
	c.MouseDown(&desktop.MouseEvent{Modifier: fyne.KeyModifierShift})
	test.Tap(c)
	if got := ui.model.selection(); len(got) != 3 {
		t.Fatalf("Shift-click selection: %d rows", len(got))
	}
}

func TestDoubleTapPlays(t *testing.T) {
	ui, _ := newTestWindow(t, Options{})
	got := record(t, ui.em, player.ChangeTrack)
	test.DoubleTap(cell(t, ui, 1, colArtist))
	if len(*got) != 1 || (*got)[0].EntryID != "e2" || (*got)[0].Origin != player.Local || (*got)[0].Room != "lounge" {
		t.Fatalf("double tap emitted %+v", *got)
	}
	if ui.bar.pending.Text != "…" {
		t.Error("no pending mark after a local command")
	}
	// Keyboard: ↓ moves the selection, Enter plays it.
	ui.win.Canvas().Focus(ui.table)
	ui.table.TypedKey(&fyne.KeyEvent{Name: fyne.KeyDown})
	ui.table.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if len(*got) != 2 || (*got)[1].EntryID != "e3" {
		t.Fatalf("↓ then Enter emitted %+v", *got)
	}
}

func TestContextMenu(t *testing.T) {
	ui, core := newTestWindow(t, Options{})
	test.TapSecondary(cell(t, ui, 2, colSong))
	menu := popupMenu(t, ui)
	items := labels(menu)
	for _, want := range []string{"Play", "Add to playlist", "Remove 1 song", "Copy link"} {
		if !slices.Contains(items, want) {
			t.Errorf("menu item %q missing from %q", want, items)
		}
	}
	ui.addTo("p1", ui.model.selection())
	if got := core.called(); !slices.Contains(got, "AddTracks p1 t3") {
		t.Fatalf("add to playlist: %q", got)
	}
}

// popupMenu returns the pop-up menu shown on the window's canvas.
func popupMenu(t *testing.T, ui *Window) fyne.CanvasObject {
	t.Helper()
	if top := ui.win.Canvas().Overlays().Top(); top != nil {
		return top
	}
	t.Fatal("no pop-up menu")
	return nil
}

func TestKeys(t *testing.T) {
	ui, core := newTestWindow(t, Options{})
	playback := record(t, ui.em, player.Playback)
	core.set(func(c *fakeCore) { c.now.Playing = true })
	ui.typedKey(&fyne.KeyEvent{Name: fyne.KeySpace})
	if len(*playback) != 1 || (*playback)[0].State != tandem.Paused {
		t.Fatalf("Space while playing emitted %+v", *playback)
	}
	ui.typedKey(&fyne.KeyEvent{Name: fyne.KeyRight})
	ui.typedKey(&fyne.KeyEvent{Name: fyne.KeyLeft})
	if got := core.called(); !slices.Contains(got, "Seek 1m33s") || !slices.Contains(got, "Seek 1m13s") {
		t.Fatalf("→ and ← seek: %q", got)
	}
	// Ctrl+F focuses the filter.
	ui.FocusFilter()
	if ui.win.Canvas().Focused() != ui.filter {
		t.Error("Ctrl+F does not focus the filter")
	}
}

func TestFriendsPane(t *testing.T) {
	ui, _ := newTestWindow(t, Options{})
	texts := labels(ui.friendList)
	for _, want := range []string{"Elissa Erwin", "♪ Wave Of Mutilation — Pixies · in lounge", "3 min", "zoe", "offline", "26 h"} {
		if !slices.Contains(texts, want) {
			t.Errorf("friends pane lacks %q: %q", want, texts)
		}
	}
	if got := labels(ui.feed); !slices.Contains(got, "bob added So What to Road trip") {
		t.Errorf("feed: %q", got)
	}
	for name, want := range map[string]string{"Elissa Erwin": "EE", "zoe": "ZO", "Joseph Michael Allen": "JM", "dana (guest)": "DA", "x": "X"} {
		if got := initials(name); got != want {
			t.Errorf("initials(%q) = %q, want %q", name, got, want)
		}
	}
	if avatarColor("ann") != avatarColor("ann (guest)") {
		t.Error("a guest's colour differs from the name's")
	}
}

func TestBottomBar(t *testing.T) {
	ui, core := newTestWindow(t, Options{Name: "ann"})
	if got := ui.bar.room.Text; got != "In lounge with 2 friends" {
		t.Errorf("room summary = %q", got)
	}
	if ui.bar.elapsed.Text != "1:23" || ui.bar.remaining.Text != "-2:22" {
		t.Errorf("times %q %q", ui.bar.elapsed.Text, ui.bar.remaining.Text)
	}
	core.set(func(c *fakeCore) { c.now.Position = 100 * time.Second })
	ui.onTick()
	waitFor(t, func() bool { return ui.bar.elapsed.Text == "1:40" })
	test.Tap(ui.bar.next)
	test.Tap(ui.bar.shuffle)
	test.Tap(ui.bar.repeat)
	if got := core.called(); !slices.Contains(got, "Next") || !slices.Contains(got, "SetShuffle on") || !slices.Contains(got, "SetRepeat all") {
		t.Fatalf("bar buttons: %q", got)
	}
	test.Tap(ui.bar.mute)
	if !core.Muted() || ui.bar.mute.Icon == nil {
		t.Error("mute button does not mute")
	}
	ui.bar.volume.SetValue(0.3)
	if core.Volume() != 0.3 || core.Muted() {
		t.Errorf("volume %v, muted %v after moving the slider", core.Volume(), core.Muted())
	}
	// Under the host policy a guest's controls are disabled.
	core.set(func(c *fakeCore) { c.room.HostOnly, c.room.IsHost = true, false })
	player.State.Emit(core.em, "room")
	waitFor(t, func() bool { return ui.bar.next.Disabled() })
}

// waitFor waits for the Fyne test app to run what fyne.Do queued.
func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !fyneDo(ok) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fyneDo runs f on the UI goroutine and returns its answer.
func fyneDo(f func() bool) bool {
	var ok bool
	fyne.DoAndWait(func() { ok = f() })
	return ok
}

func TestReconnectBanner(t *testing.T) {
	ui, core := newTestWindow(t, Options{})
	if ui.banner.Visible() {
		t.Fatal("banner shown while connected")
	}
	core.set(func(c *fakeCore) {
		c.conn = Connection{Error: "connection refused", RetryAt: time.Now().Add(4200 * time.Millisecond), Pending: 2}
	})
	ui.onTick()
	waitFor(t, func() bool { return ui.banner.Visible() })
	text := ui.bannerText.Text
	for _, want := range []string{"connection refused", "Reconnecting in 4 s", "2 edits wait to be sent"} {
		if !strings.Contains(text, want) {
			t.Errorf("banner %q lacks %q", text, want)
		}
	}
	if ui.syncLabel.Text != "offline" {
		t.Errorf("sync label %q", ui.syncLabel.Text)
	}
	test.Tap(button(t, ui.banner, "Retry now"))
	if !slices.Contains(core.called(), "Retry") {
		t.Fatal("Retry now does not retry")
	}
	core.set(func(c *fakeCore) { c.conn = Connection{Connected: true} })
	ui.onTick()
	waitFor(t, func() bool { return !ui.banner.Visible() && ui.syncLabel.Text == "in sync ±3 ms" })
}

func TestRooms(t *testing.T) {
	ui, core := newTestWindow(t, Options{Name: "ann"})
	ui.showRoom()
	if ui.roomDlg == nil || ui.roomDlg.link.Text != "tandem://192.168.1.20:7878/join/MZXW6YTBOI3DAMRQ" {
		t.Fatal("room view without its link")
	}
	test.Tap(ui.roomDlg.hostOnly)
	if !slices.Contains(core.called(), "SetHostOnly on") {
		t.Fatalf("host-only switch: %q", core.called())
	}
	var removes []*widget.Button
	for _, o := range visible(ui.roomDlg.members) {
		if b, ok := o.(*widget.Button); ok && b.Text == "Remove" {
			removes = append(removes, b)
		}
	}
	if len(removes) != 2 {
		t.Fatalf("%d Remove buttons for 2 members besides the host", len(removes))
	}
	ui.core.RemoveMember("Elissa Erwin") // the confirmation dialog's answer
	if !slices.Contains(core.called(), "RemoveMember Elissa Erwin") {
		t.Fatal("remove member")
	}
}

func TestJoinLinkError(t *testing.T) {
	ui, core := newTestWindow(t, Options{})
	core.set(func(c *fakeCore) { c.joinErr = errors.New("that link is for another hub") })
	ui.joinLink()
	top := ui.win.Canvas().Overlays().Top()
	if top == nil {
		t.Fatal("no join dialog")
	}
	var entry *widget.Entry
	for _, o := range visible(top) {
		if e, ok := o.(*widget.Entry); ok {
			entry = e
		}
	}
	test.Type(entry, "tandem://elsewhere:7878/join/MZXW6YTBOI3DAMRQ")
	test.Tap(button(t, top, "Join"))
	if got := core.called(); !slices.Contains(got, "JoinLink tandem://elsewhere:7878/join/MZXW6YTBOI3DAMRQ") {
		t.Fatalf("join: %q", got)
	}
	waitFor(t, func() bool {
		o := ui.win.Canvas().Overlays().Top()
		return o != nil && slices.Contains(labels(o), "That link is for another hub")
	})
}

func TestNotification(t *testing.T) {
	st, err := settings.Open(filepath.Join(t.TempDir(), "s.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Update(func(s *settings.Settings) { s.Notifications = true }); err != nil {
		t.Fatal(err)
	}
	var got []string
	ui, core := newTestWindow(t, Options{Settings: st, Name: "ann", Notify: func(title, body string) { got = append(got, title+": "+body) }})
	player.ChangeTrack.Emit(core.em, player.TrackChange{Origin: player.Hub, Room: "lounge", By: "ann"})
	player.ChangeTrack.Emit(core.em, player.TrackChange{Origin: player.Hub, Room: "lounge", By: "bob"})
	waitFor(t, func() bool { return len(got) == 1 })
	if got[0] != "Tandem · lounge: bob played Rough Gem by Islands" {
		t.Errorf("notification %q", got[0])
	}
	_ = ui
}

func TestRowCenter(t *testing.T) {
	ui, _ := newTestWindow(t, Options{})
	x0, y0, ok0 := ui.RowCenter(0)
	x1, y1, ok1 := ui.RowCenter(1)
	if !ok0 || !ok1 || y1 <= y0 || x0 != x1 || x0 <= 0 {
		t.Fatalf("row 0 at (%v, %v) %v, row 1 at (%v, %v) %v", x0, y0, ok0, x1, y1, ok1)
	}
	if _, _, ok := ui.RowCenter(50); ok {
		t.Error("a row that does not exist has a place")
	}
	// The place found is the cell's: a tap there lands on row 1.
	o, _ := findTappable(ui, fyne.NewPos(x1, y1))
	if c, ok := o.(*trackCell); !ok || c.id.Row != 1 {
		t.Errorf("at row 1's centre: %T %+v", o, o)
	}
}

// findTappable returns the deepest visible tappable object at pos.
func findTappable(ui *Window, pos fyne.Position) (fyne.CanvasObject, fyne.Position) {
	var found fyne.CanvasObject
	d := fyne.CurrentApp().Driver()
	for _, o := range visible(ui.win.Content()) {
		if _, ok := o.(fyne.Tappable); !ok {
			continue
		}
		p, s := d.AbsolutePositionForObject(o), o.Size()
		if pos.X >= p.X && pos.X < p.X+s.Width && pos.Y >= p.Y && pos.Y < p.Y+s.Height {
			found = o
		}
	}
	return found, pos
}

// fakeLibrary is a Library whose rows the test sets.
type fakeLibrary struct {
	mu      sync.Mutex
	rows    []Row
	folders []string
	err     string
}

func (l *fakeLibrary) Rows() []Row { l.mu.Lock(); defer l.mu.Unlock(); return slices.Clone(l.rows) }
func (l *fakeLibrary) Folders() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.folders)
}
func (l *fakeLibrary) SetFolders(dirs []string) { l.mu.Lock(); defer l.mu.Unlock(); l.folders = dirs }
func (l *fakeLibrary) Rescan()                  {}
func (l *fakeLibrary) Scanning() (bool, int)    { return false, 0 }
func (l *fakeLibrary) Err() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.err }

// recordingUploads records what it is asked to add.
type recordingUploads struct {
	mu    sync.Mutex
	added []string
	items []UploadItem
}

func (u *recordingUploads) Add(paths []string, playlistID string, play bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.added = append(u.added, fmt.Sprintf("%s → %q play=%v", strings.Join(paths, ","), playlistID, play))
	for _, p := range paths {
		u.items = append(u.items, UploadItem{ID: p, Name: filepath.Base(p), Path: p, State: player.UploadQueued})
	}
}
func (u *recordingUploads) Cancel(string) {}
func (u *recordingUploads) Clear()        {}
func (u *recordingUploads) Items() []UploadItem {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.items)
}
func (u *recordingUploads) calls() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.added)
}

// TestLibraryAndUploads: the library's rows show in the table; playing one
// uploads it and plays it once on the hub; adding one to a playlist
// uploads it into that playlist; files dropped on the window go to the
// list shown; the library's error reaches the status line.
func TestLibraryAndUploads(t *testing.T) {
	lib := &fakeLibrary{rows: []Row{
		{Path: "/music/a.flac", Song: "Alpha", Artist: "Ann", Album: "One", Length: 61 * time.Second},
		{Path: "/music/b.mp3", TrackID: "tb", Song: "Beta", Artist: "Bob"},
	}, err: "/nope is not a folder"}
	ups := &recordingUploads{}
	ui, core := newTestWindow(t, Options{Library: lib, Uploads: ups})
	if !strings.Contains(ui.status.Text, "library: /nope is not a folder") {
		t.Errorf("status %q", ui.status.Text)
	}
	ui.showList(LibraryID)
	if got := songs(ui); !slices.Equal(got, []string{"Alpha", "Beta"}) {
		t.Fatalf("library rows %q", got)
	}
	if got := ui.listTitle.Text; got != "Your music" {
		t.Errorf("title %q", got)
	}
	test.DoubleTap(cell(t, ui, 0, colSong))
	changes := record(t, ui.em, player.ChangeTrack)
	test.DoubleTap(cell(t, ui, 1, colSong)) // already shared: played at once
	if got := ups.calls(); len(got) != 1 || got[0] != `/music/a.flac → "" play=true` {
		t.Fatalf("uploads %q", got)
	}
	if len(*changes) != 1 || (*changes)[0].TrackID != "tb" || (*changes)[0].EntryID != "" {
		t.Fatalf("changes %+v", *changes)
	}
	if !ui.uploadsBox.Visible() {
		t.Error("the uploads panel is hidden while files upload")
	}
	test.Tap(cell(t, ui, 0, colSong))
	c := cell(t, ui, 1, colSong)
	c.MouseDown(&desktop.MouseEvent{Modifier: fyne.KeyModifierControl})
	test.Tap(c)
	ui.addTo("p1", ui.model.selection())
	if got := ups.calls(); got[len(got)-1] != `/music/a.flac → "p1" play=false` || !slices.Contains(core.called(), "AddTracks p1 tb") {
		t.Fatalf("add to playlist: uploads %q, core %q", got, core.called())
	}
	// A drop goes to the list shown when it takes additions.
	ui.showList("p1")
	ui.dropped(fyne.NewPos(10, 10), []fyne.URI{storage.NewFileURI("/home/dana/song.ogg"), storage.NewFileURI("/home/dana/album")})
	if got := ups.calls(); got[len(got)-1] != `/home/dana/song.ogg,/home/dana/album → "p1" play=false` {
		t.Fatalf("drop: %q", got)
	}
	ui.showList("p2") // bob's, not collaborative
	ui.dropped(fyne.NewPos(10, 10), []fyne.URI{storage.NewFileURI("/x.wav")})
	if got := ups.calls(); got[len(got)-1] != `/x.wav → "" play=false` {
		t.Fatalf("drop on a list that takes no additions: %q", got)
	}
}

// TestSettingsDialog: the settings saved from the dialog reach the file,
// the library's folders and the theme.
func TestSettingsDialog(t *testing.T) {
	st, err := settings.Open(filepath.Join(t.TempDir(), "settings.json"))
	if err != nil {
		t.Fatal(err)
	}
	lib := &fakeLibrary{folders: []string{"/music"}}
	ui, _ := newTestWindow(t, Options{Settings: st, Library: lib})
	ui.showSettings()
	top := ui.win.Canvas().Overlays().Top()
	if top == nil {
		t.Fatal("no settings dialog")
	}
	var entries []*widget.Entry
	var radio *widget.RadioGroup
	var check *widget.Check
	for _, o := range visible(top) {
		switch o := o.(type) {
		case *widget.Entry:
			entries = append(entries, o)
		case *widget.RadioGroup:
			radio = o
		case *widget.Check:
			check = o
		}
	}
	if len(entries) < 4 || radio == nil || check == nil {
		t.Fatalf("form: %d entries, radio %v, check %v", len(entries), radio != nil, check != nil)
	}
	folders := entries[3]
	if folders.Text != "/music" {
		t.Fatalf("folders shown %q", folders.Text)
	}
	folders.SetText("/music\n/srv/songs\n")
	entries[2].SetText("512")
	radio.SetSelected(settings.ThemeDark)
	check.SetChecked(true)
	test.Tap(button(t, top, "Save"))
	s := st.Get()
	if s.Theme != settings.ThemeDark || !s.Notifications || s.CacheMB != 512 || !slices.Equal(s.MusicFolders, []string{"/music", "/srv/songs"}) {
		t.Fatalf("saved %+v", s)
	}
	if got := lib.Folders(); !slices.Equal(got, []string{"/music", "/srv/songs"}) {
		t.Errorf("library folders %q", got)
	}
	if _, ok := fyne.CurrentApp().Settings().Theme().(variantTheme); !ok {
		t.Error("the dark theme is not applied")
	}
}

// TestMoveRows: Move up, down and to the top move the selection as a
// block, and only in the list's own order.
func TestMoveRows(t *testing.T) {
	ui, core := newTestWindow(t, Options{})
	test.Tap(cell(t, ui, 1, colSong))
	c := cell(t, ui, 2, colSong)
	c.MouseDown(&desktop.MouseEvent{Modifier: fyne.KeyModifierShift})
	test.Tap(c)
	ui.MoveSelected(-1) // rows 1 and 2 up: to the top
	ui.MoveSelected(1)  // past the last row: nothing
	test.Tap(cell(t, ui, 0, colSong))
	ui.MoveSelected(1) // row 0 down: after e2
	ui.MoveSelected(-2)
	test.Tap(cell(t, ui, 2, colSong))
	ui.MoveSelected(-1) // row 2 up: after e1
	want := []string{"MoveEntries queue e2,e3 after ", "MoveEntries queue e1 after e2", "MoveEntries queue e3 after e1"}
	var got []string
	for _, c := range core.called() {
		if strings.HasPrefix(c, "MoveEntries") {
			got = append(got, c)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("moves %q, want %q", got, want)
	}
	before := len(core.called())
	test.Tap(header(t, ui, colSong))
	ui.MoveSelected(-1)
	if got := core.called()[before:]; len(got) != 0 {
		t.Fatalf("a sorted table moved rows: %q", got)
	}
}

// TestPlaylistMenu: the "⋯" of a playlist of the user's renames and
// shares it.
func TestPlaylistMenu(t *testing.T) {
	ui, core := newTestWindow(t, Options{})
	core.set(func(c *fakeCore) { c.playlists[1].Mine = true })
	player.State.Emit(core.em, "playlists")
	var p PlaylistItem
	for _, it := range ui.lists {
		if it.ID == "p1" {
			p = it
		}
	}
	if !p.Mine {
		t.Fatalf("p1 = %+v", p)
	}
	ui.playlistMenu(p, ui.sidebar)
	top := ui.win.Canvas().Overlays().Top()
	if top == nil || !slices.Contains(labels(top), "Rename…") || !slices.Contains(labels(top), "Keep it to myself") {
		t.Fatalf("playlist menu: %q", labels(top))
	}
	ui.core.SharePlaylist(p.ID, false) // what "Keep it to myself" does
	if !slices.Contains(core.called(), "SharePlaylist p1 off") {
		t.Fatal("share")
	}
}

// TestAddDialogs: "Add files…" and "Add a folder…" open their pickers.
func TestAddDialogs(t *testing.T) {
	ui, _ := newTestWindow(t, Options{Uploads: &recordingUploads{}})
	for name, open := range map[string]func(){"files": ui.addFiles, "folder": ui.addFolder} {
		open()
		top := ui.win.Canvas().Overlays().Top()
		if top == nil {
			t.Fatalf("add %s: no dialog", name)
		}
		ui.win.Canvas().Overlays().Remove(top)
	}
}
