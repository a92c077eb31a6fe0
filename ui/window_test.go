package ui

import (
	"slices"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	"go.uber.org/goleak"

	"tandem"
	"tandem/player"
	"tandem/sync/event"
)

// TestMain checks that no test leaves a goroutine behind: Close must stop
// the ticker. The Fyne test app starts no goroutines of its own, so nothing
// needs to be ignored.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeCore is a Core whose answers the tests set.
type fakeCore struct {
	em *event.Emitter

	mu        sync.Mutex // guards the following
	playlists []PlaylistItem
	rows      map[string][]Row
	friends   []Friend
	now       NowPlaying
	status    string
}

func newFakeCore() *fakeCore {
	day := func(d int) time.Time { return time.Date(2013, 11, d, 12, 0, 0, 0, time.Local) }
	return &fakeCore{
		em:        event.New(nil),
		playlists: []PlaylistItem{{ID: "p1", Name: "Indie"}, {ID: "p2", Name: "Grunge"}},
		rows: map[string][]Row{
			"p1": {
				{EntryID: "e1", TrackID: "t1", Song: "Rough Gem", Artist: "Islands", User: "Joseph Michael Allen", Date: day(13)},
				{EntryID: "e2", TrackID: "t2", Song: "Tangled Up With You", Artist: "The Mumlers", User: "Elissa Erwin", Date: day(14)},
				{EntryID: "e3", TrackID: "t3", Song: "Tick Tick Boom", Artist: "The Hives", User: "Elissa Erwin", Date: day(15)},
			},
			"p2": {
				{EntryID: "e4", TrackID: "t4", Song: "Touch Me I'm Sick", Artist: "Mudhoney", User: "Joseph Michael Allen", Date: day(15)},
			},
		},
		friends: []Friend{{Name: "Elissa Erwin", Listening: "Wave Of Mutilation — Pixies"}, {Name: "Joseph"}},
		now: NowPlaying{EntryID: "e1", Title: "Rough Gem", Artist: "Islands",
			Position: 83 * time.Second, Duration: 225 * time.Second},
		status: `Hosting room "lounge" — friends join with: player --hub ws://192.168.1.20:7878 --token abc`,
	}
}

func (c *fakeCore) Emitter() *event.Emitter { return c.em }
func (c *fakeCore) Room() string            { return "lounge" }

func (c *fakeCore) Playlists() []PlaylistItem {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.playlists)
}

func (c *fakeCore) Rows(id string) []Row {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.rows[id])
}

func (c *fakeCore) Friends() []Friend {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.friends)
}

func (c *fakeCore) Now() NowPlaying {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeCore) Status() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

func (c *fakeCore) set(f func(c *fakeCore)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c)
}

// newTestWindow builds a Window on a test app, with ticks that the test sends.
func newTestWindow(t *testing.T) (*Window, *fakeCore, chan time.Time) {
	t.Helper()
	test.NewTempApp(t)
	core := newFakeCore()
	w := test.NewWindow(nil)
	t.Cleanup(w.Close)
	ticks := make(chan time.Time)
	ui := newWindow(w, core, nil, ticks, func() {})
	t.Cleanup(ui.Close)
	w.Resize(fyne.NewSize(1100, 680))
	return ui, core, ticks
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

// labels returns the texts of the visible labels under o.
func labels(o fyne.CanvasObject) []string {
	var texts []string
	for _, o := range visible(o) {
		if l, ok := o.(*widget.Label); ok {
			texts = append(texts, l.Text)
		}
	}
	return texts
}

func TestTable(t *testing.T) {
	ui, _, _ := newTestWindow(t)
	if got, want := ui.win.Title(), "Tandem"; got != want {
		t.Errorf("title = %q, want %q", got, want)
	}
	texts := labels(ui.table)
	for _, h := range []string{"SONG", "ARTIST", "USER", "DATE"} {
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
		{0, colUser, "Joseph Michael Allen"},
		{0, colDate, "2013-11-13"},
		{2, colSong, "Tick Tick Boom"},
		{2, colDate, "2013-11-15"},
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
}

func TestPlaylistSelection(t *testing.T) {
	ui, _, _ := newTestWindow(t)
	if got, want := labels(ui.playlistList), []string{"Indie", "Grunge"}; !slices.Equal(got, want) {
		t.Errorf("playlists = %q, want %q", got, want)
	}
	ui.playlistList.Select(1)
	if got, want := len(ui.rows), 1; got != want {
		t.Fatalf("rows = %d, want %d", got, want)
	}
	if got, want := cell(t, ui, 0, colArtist).label.Text, "Mudhoney"; got != want {
		t.Errorf("artist = %q, want %q", got, want)
	}
}

func TestDoubleTapActivates(t *testing.T) {
	ui, core, _ := newTestWindow(t)
	got := record(t, core.em, player.ChangeTrack)

	test.DoubleTap(cell(t, ui, 2, colArtist))

	want := []player.TrackChange{{Origin: player.Local, Room: "lounge", EntryID: "e3", TrackID: "t3"}}
	if !slices.Equal(*got, want) {
		t.Errorf("emitted %+v, want %+v", *got, want)
	}
	if got, want := ui.selected, 2; got != want {
		t.Errorf("selected row = %d, want %d", got, want)
	}
	if got, want := ui.pending.Text, "…"; got != want {
		t.Errorf("pending = %q, want %q", got, want)
	}
}

func TestTapSelectsOnly(t *testing.T) {
	ui, core, _ := newTestWindow(t)
	got := record(t, core.em, player.ChangeTrack)

	test.Tap(cell(t, ui, 1, colSong))

	if len(*got) != 0 {
		t.Errorf("a single tap emitted %+v", *got)
	}
	if got, want := ui.selected, 1; got != want {
		t.Errorf("selected row = %d, want %d", got, want)
	}
	if !cell(t, ui, 1, colArtist).bg.Visible() {
		t.Error("selected row is not highlighted")
	}
	if cell(t, ui, 0, colArtist).bg.Visible() {
		t.Error("unselected row is highlighted")
	}
}

func TestEnterActivatesSelected(t *testing.T) {
	ui, core, _ := newTestWindow(t)
	got := record(t, core.em, player.ChangeTrack)
	c := ui.win.Canvas()

	test.Tap(cell(t, ui, 1, colSong)) // selects the row and focuses the table
	focused := c.Focused()
	if focused != fyne.Focusable(ui.table) {
		t.Fatalf("focused = %T, want the table", focused)
	}
	focused.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})

	want := []player.TrackChange{{Origin: player.Local, Room: "lounge", EntryID: "e2", TrackID: "t2"}}
	if !slices.Equal(*got, want) {
		t.Fatalf("Return on the table emitted %+v, want %+v", *got, want)
	}

	// With nothing focused, the canvas' handler takes Enter.
	c.Unfocus()
	c.OnTypedKey()(&fyne.KeyEvent{Name: fyne.KeyEnter})
	if want = append(want, want[0]); !slices.Equal(*got, want) {
		t.Errorf("Enter on the canvas emitted %+v, want %+v", *got, want)
	}
}

func TestEnterWithoutSelection(t *testing.T) {
	ui, core, _ := newTestWindow(t)
	got := record(t, core.em, player.ChangeTrack)
	ui.win.Canvas().OnTypedKey()(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if len(*got) != 0 {
		t.Errorf("Enter with no row selected emitted %+v", *got)
	}
}

func TestPlayButton(t *testing.T) {
	ui, core, _ := newTestWindow(t)
	got := record(t, core.em, player.Playback)

	test.Tap(ui.playButton)
	want := []player.PlaybackChange{{Origin: player.Local, Room: "lounge", State: tandem.Playing, Position: 83 * time.Second}}
	if !slices.Equal(*got, want) {
		t.Fatalf("play emitted %+v, want %+v", *got, want)
	}
	if got, want := ui.playButton.Icon, theme.MediaPlayIcon(); got != want {
		t.Errorf("icon changed on a local event")
	}

	// The hub says the room plays: the button offers pause.
	core.set(func(c *fakeCore) { c.now.Playing = true })
	player.Playback.Emit(core.em, player.PlaybackChange{Origin: player.Hub, Room: "lounge", State: tandem.Playing})
	if got, want := ui.playButton.Icon, theme.MediaPauseIcon(); got != want {
		t.Errorf("icon = %v, want pause", got.Name())
	}
	if got := ui.pending.Text; got != "" {
		t.Errorf("pending = %q after the hub answered", got)
	}

	test.Tap(ui.playButton)
	if got, want := (*got)[len(*got)-1].State, tandem.Paused; got != want {
		t.Errorf("pause emitted state %q, want %q", got, want)
	}
}

func TestNowPlayingFollowsHub(t *testing.T) {
	ui, core, _ := newTestWindow(t)
	if got, want := ui.title.Text, "Rough Gem"; got != want {
		t.Fatalf("title = %q, want %q", got, want)
	}
	if got, want := ui.progressText(), "1:23 / 3:45"; got != want {
		t.Errorf("progress = %q, want %q", got, want)
	}
	core.set(func(c *fakeCore) {
		c.now = NowPlaying{EntryID: "e3", Title: "Tick Tick Boom", Artist: "The Hives", Playing: true, Duration: time.Minute}
	})

	player.ChangeTrack.Emit(core.em, player.TrackChange{Origin: player.Local, EntryID: "e3", TrackID: "t3"})
	if got, want := ui.title.Text, "Rough Gem"; got != want {
		t.Errorf("after a local event, title = %q, want %q", got, want)
	}

	player.ChangeTrack.Emit(core.em, player.TrackChange{Origin: player.Hub, EntryID: "e3", TrackID: "t3"})
	if got, want := ui.title.Text, "Tick Tick Boom"; got != want {
		t.Errorf("after a hub event, title = %q, want %q", got, want)
	}
	if got, want := ui.artist.Text, "The Hives"; got != want {
		t.Errorf("after a hub event, artist = %q, want %q", got, want)
	}
	if !cell(t, ui, 2, colSong).label.TextStyle.Bold || cell(t, ui, 0, colSong).label.TextStyle.Bold {
		t.Error("bold row did not follow the track")
	}
}

func TestTickRefreshesBar(t *testing.T) {
	ui, core, ticks := newTestWindow(t)
	core.set(func(c *fakeCore) { c.now.Position = 100 * time.Second })
	ticks <- time.Now()
	ticks <- time.Now() // received only once the first tick's refresh is done
	ui.Close()          // waits for the ticker goroutine: no refresh runs after
	if got, want := ui.progress.Value, 100.0; got != want {
		t.Errorf("progress = %v, want %v", got, want)
	}
	if got, want := ui.progress.Max, 225.0; got != want {
		t.Errorf("progress max = %v, want %v", got, want)
	}
}

func TestFriends(t *testing.T) {
	ui, core, _ := newTestWindow(t)
	texts := labels(ui.friendList)
	for _, s := range []string{"Elissa Erwin", "♪ Wave Of Mutilation — Pixies", "Joseph", "idle"} {
		if !slices.Contains(texts, s) {
			t.Errorf("%q missing from friends %q", s, texts)
		}
	}
	if got, want := ui.room.Text, "ROOM “lounge”"; got != want {
		t.Errorf("room = %q, want %q", got, want)
	}

	core.set(func(c *fakeCore) { c.friends = []Friend{{Name: "Kim Deal", Listening: "Gigantic — Pixies"}} })
	player.Members.Emit(core.em, []tandem.Member{{Name: "Kim Deal", NowPlaying: "t9"}})
	if got, want := labels(ui.friendList), []string{"Kim Deal", "♪ Gigantic — Pixies"}; !slices.Equal(got, want) {
		t.Errorf("friends = %q, want %q", got, want)
	}
}

func TestStatus(t *testing.T) {
	ui, core, _ := newTestWindow(t)
	if got, want := ui.status.Text, core.Status(); got != want {
		t.Errorf("status = %q, want %q", got, want)
	}
	core.set(func(c *fakeCore) {
		c.status = "muted: no audio output device"
		c.playlists = c.playlists[1:]
	})
	player.State.Emit(core.em, "audio")
	if got, want := ui.status.Text, "muted: no audio output device"; got != want {
		t.Errorf("status = %q, want %q", got, want)
	}
	// The selected playlist went away: the first one left is selected.
	if got, want := ui.playlist, "p2"; got != want {
		t.Errorf("playlist = %q, want %q", got, want)
	}
}

func TestCloseRemovesListeners(t *testing.T) {
	ui, core, _ := newTestWindow(t)
	ui.Close()
	ui.Close() // idempotent
	for _, name := range []string{player.ChangeTrack.Name(), player.Playback.Name(), player.Members.Name(), player.State.Name()} {
		if n := core.em.ListenerCount(name); n != 0 {
			t.Errorf("%d listeners left on %q", n, name)
		}
	}
}

func TestNewWindowTicker(t *testing.T) {
	test.NewTempApp(t)
	w := test.NewWindow(nil)
	defer w.Close()
	core := newFakeCore()
	ui := NewWindow(w, core, nil)
	ui.Close() // goleak in TestMain checks that the ticker goroutine is gone
}

func TestMarkup(t *testing.T) {
	ui, _, _ := newTestWindow(t)
	test.Tap(cell(t, ui, 1, colSong))
	test.AssertRendersToMarkup(t, "window.xml", ui.win.Canvas())
}
