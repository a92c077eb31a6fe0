package ui

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"tandem"
	"tandem/player"
	"tandem/sync/event"
)

const (
	// tickEvery is how often the now-playing bar re-reads Core.Now.
	tickEvery = 250 * time.Millisecond
	// pendingFor is how long the bar shows "…" after a local command that
	// the hub has not answered yet.
	pendingFor = 5 * time.Second
)

// Window is Tandem's main window. It fills a fyne.Window with the playlists,
// the track table, the room's members, the now-playing bar and a status line.
//
// Activate and TogglePlay must be called on the Fyne UI goroutine (from a
// widget callback or inside fyne.Do). Close may be called from any goroutine.
type Window struct {
	win  fyne.Window
	core Core
	em   *event.Emitter
	log  *slog.Logger

	// Owned by the UI goroutine:
	playlists []PlaylistItem
	playlist  string // ID of the selected playlist, "" for none
	rows      []Row
	selected  int // selected row, -1 for none
	friends   []Friend
	now       NowPlaying
	pendingAt time.Time // when a local command went out unanswered; zero for none

	playlistList *widget.List
	table        *trackTable
	friendList   *widget.List
	room         *widget.Label
	title        *widget.Label
	artist       *widget.Label
	pending      *widget.Label
	playButton   *widget.Button
	progress     *widget.ProgressBar
	status       *widget.Label

	listeners []event.Listener
	stopTick  func()
	quit      chan struct{} // closed by Close to stop the ticker goroutine
	done      chan struct{} // closed when the ticker goroutine has returned
	closeOnce sync.Once
	closed    atomic.Bool
}

// NewWindow builds the window's content into w, titles it "Tandem", listens
// on core's emitter and starts a ticker that refreshes the now-playing bar.
// It selects the first playlist. Call Close when the window goes away.
// A nil log discards.
func NewWindow(w fyne.Window, core Core, log *slog.Logger) *Window {
	t := time.NewTicker(tickEvery)
	return newWindow(w, core, log, t.C, t.Stop)
}

// newWindow is NewWindow with the ticks given, so that tests drive them.
func newWindow(w fyne.Window, core Core, log *slog.Logger, ticks <-chan time.Time, stopTick func()) *Window {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ui := &Window{
		win:      w,
		core:     core,
		em:       core.Emitter(),
		log:      log,
		selected: -1,
		stopTick: stopTick,
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	w.SetTitle("Tandem")
	w.SetContent(ui.build())
	w.Canvas().SetOnTypedKey(ui.typedKey)
	if w.Canvas().Size().Width < 900 {
		w.Resize(fyne.NewSize(1100, 680))
	}

	ui.refreshAll()
	ui.listen()
	go ui.tick(ticks)
	return ui
}

// build makes the widgets and lays them out.
func (ui *Window) build() fyne.CanvasObject {
	// Left: playlists.
	ui.playlistList = widget.NewList(
		func() int { return len(ui.playlists) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("Playlist name")
			l.Truncation = fyne.TextTruncateEllipsis
			return container.NewBorder(nil, nil, widget.NewIcon(theme.ListIcon()), nil, l)
		},
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < len(ui.playlists) {
				o.(*fyne.Container).Objects[0].(*widget.Label).SetText(ui.playlists[id].Name)
			}
		})
	ui.playlistList.OnSelected = func(id widget.ListItemID) {
		if id < len(ui.playlists) && ui.playlists[id].ID != ui.playlist {
			ui.playlist = ui.playlists[id].ID
			ui.unselectRow()
			ui.refreshRows()
		}
	}
	left := container.NewBorder(heading("PLAYLISTS"), nil, nil, nil, ui.playlistList)

	// Centre: the selected playlist's tracks.
	ui.table = newTrackTable()
	ui.table.Length = func() (int, int) { return len(ui.rows), numCols }
	ui.table.CreateCell = func() fyne.CanvasObject { return newTrackCell(ui.tapCell, ui.doubleTapCell) }
	ui.table.UpdateCell = ui.updateCell
	ui.table.CreateHeader = func() fyne.CanvasObject {
		return widget.NewLabelWithStyle("ARTIST", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	}
	ui.table.UpdateHeader = func(id widget.TableCellID, o fyne.CanvasObject) {
		if id.Row < 0 && id.Col >= 0 && id.Col < numCols {
			o.(*widget.Label).SetText(header(id.Col))
		}
	}
	// The window keeps the selected row and highlights all of it, so the
	// Table's own one-cell selection is dropped as soon as it is made; the
	// Table still tracks its keyboard focus.
	ui.table.OnSelected = func(id widget.TableCellID) {
		ui.table.Unselect(id)
		if id.Row != ui.selected {
			ui.selected = id.Row
			ui.table.Refresh()
		}
	}
	ui.table.onEnter = func() { ui.Activate(ui.selected) }

	// Right: who is in the room.
	ui.room = heading("ROOM")
	ui.friendList = widget.NewList(
		func() int { return len(ui.friends) },
		func() fyne.CanvasObject {
			name := widget.NewLabelWithStyle("Friend name", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
			name.Truncation = fyne.TextTruncateEllipsis
			listening := widget.NewLabel("Title — Artist")
			listening.Truncation = fyne.TextTruncateEllipsis
			listening.SizeName = theme.SizeNameCaptionText
			return container.NewBorder(nil, nil, widget.NewIcon(theme.AccountIcon()), nil,
				container.NewVBox(name, listening))
		},
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id >= len(ui.friends) {
				return
			}
			f := ui.friends[id]
			box := o.(*fyne.Container).Objects[0].(*fyne.Container)
			box.Objects[0].(*widget.Label).SetText(f.Name)
			listening := box.Objects[1].(*widget.Label)
			if f.Buffering {
				listening.TextStyle.Italic = true
				listening.SetText("buffering…")
			} else if f.Listening == "" {
				listening.TextStyle.Italic = true
				listening.SetText("idle")
			} else {
				listening.TextStyle.Italic = false
				listening.SetText("♪ " + f.Listening)
			}
		})
	ui.friendList.HideSeparators = true
	right := container.NewBorder(ui.room, nil, nil, nil, ui.friendList)

	// Bottom: the now-playing bar and the status line.
	ui.title = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	ui.title.Truncation = fyne.TextTruncateEllipsis
	ui.artist = widget.NewLabel("")
	ui.artist.Truncation = fyne.TextTruncateEllipsis
	ui.pending = widget.NewLabel("")
	ui.playButton = widget.NewButtonWithIcon("", theme.MediaPlayIcon(), ui.TogglePlay)
	ui.playButton.Importance = widget.HighImportance
	ui.progress = widget.NewProgressBar()
	ui.progress.TextFormatter = ui.progressText
	labels := container.NewVBox(ui.title, ui.artist)
	// The labels truncate, so give them a fixed share of the bar's width.
	track := container.NewGridWrap(fyne.NewSize(260, labels.MinSize().Height), labels)
	bar := container.NewBorder(nil, nil,
		container.NewHBox(container.NewCenter(ui.playButton), track, container.NewCenter(ui.pending)), nil,
		container.NewVBox(layout.NewSpacer(), ui.progress, layout.NewSpacer()))

	ui.status = widget.NewLabel("")
	ui.status.Selectable = true // so the join command can be copied
	ui.status.Wrapping = fyne.TextWrapWord
	ui.status.SizeName = theme.SizeNameCaptionText

	inner := container.NewHSplit(ui.table, right)
	inner.Offset = 0.75
	outer := container.NewHSplit(left, inner)
	outer.Offset = 0.2
	bottom := container.NewVBox(widget.NewSeparator(), container.NewPadded(bar), ui.status)
	return container.NewBorder(nil, bottom, nil, nil, outer)
}

// heading is a pane's bold title.
func heading(text string) *widget.Label {
	return widget.NewLabelWithStyle(text, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
}

// listen registers the window's listeners on the emitter.
func (ui *Window) listen() {
	do := func(f func()) {
		fyne.Do(func() {
			if !ui.closed.Load() {
				f()
			}
		})
	}
	ui.listeners = []event.Listener{
		player.ChangeTrack.On(ui.em, func(c player.TrackChange) {
			if c.Origin == player.Hub {
				do(ui.hubChanged)
			}
		}),
		player.Playback.On(ui.em, func(p player.PlaybackChange) {
			if p.Origin == player.Hub {
				do(ui.hubChanged)
			}
		}),
		player.Members.On(ui.em, func([]tandem.Member) { do(ui.refreshFriends) }),
		player.State.On(ui.em, func(string) { do(ui.refreshAll) }),
	}
}

// tick refreshes the now-playing bar at every tick until Close.
func (ui *Window) tick(ticks <-chan time.Time) {
	defer close(ui.done)
	for {
		select {
		case <-ui.quit:
			return
		case <-ticks:
			fyne.Do(func() {
				if !ui.closed.Load() {
					ui.refreshNow()
				}
			})
		}
	}
}

// Close removes the window's listeners from the emitter and stops its
// ticker, and returns once the ticker's goroutine has returned. It leaves
// the fyne.Window itself to the caller. Close is idempotent.
func (ui *Window) Close() {
	ui.closeOnce.Do(func() {
		ui.closed.Store(true)
		for _, l := range ui.listeners {
			ui.em.Off(l)
		}
		ui.stopTick()
		close(ui.quit)
		<-ui.done
	})
}

// Activate asks the room to play the given row of the table: it emits
// player.ChangeTrack with Origin Local. A double tap on a row and Enter on
// the selected row both call it. Rows out of range are ignored.
func (ui *Window) Activate(row int) {
	if row < 0 || row >= len(ui.rows) {
		return
	}
	r := ui.rows[row]
	ui.log.Debug("ui: change track", "entry", r.EntryID, "track", r.TrackID)
	ui.setPending() // before Emit: a listener may answer synchronously
	player.ChangeTrack.Emit(ui.em, player.TrackChange{
		Origin:  player.Local,
		Room:    ui.core.Room(),
		EntryID: r.EntryID,
		TrackID: r.TrackID,
	})
}

// TogglePlay is the play/pause button: it emits player.Playback with Origin
// Local, asking to pause when the room plays and to play otherwise. With no
// track loaded it activates the selected row, or the first one, instead.
func (ui *Window) TogglePlay() {
	n := ui.core.Now()
	if n.EntryID == "" {
		ui.Activate(max(ui.selected, 0))
		return
	}
	state := tandem.Playing
	if n.Playing {
		state = tandem.Paused
	}
	ui.log.Debug("ui: playback", "state", state, "position", n.Position)
	ui.setPending()
	player.Playback.Emit(ui.em, player.PlaybackChange{
		Origin:   player.Local,
		Room:     ui.core.Room(),
		State:    state,
		Position: n.Position,
	})
}

// typedKey handles keys typed while no widget has the focus: Enter plays
// the selected row, Space plays or pauses.
func (ui *Window) typedKey(e *fyne.KeyEvent) {
	switch e.Name {
	case fyne.KeyReturn, fyne.KeyEnter:
		ui.Activate(ui.selected)
	case fyne.KeySpace:
		ui.TogglePlay()
	}
}

// tapCell selects a cell and gives the table the keyboard focus.
func (ui *Window) tapCell(id widget.TableCellID) {
	ui.table.Select(id)
	ui.win.Canvas().Focus(ui.table)
}

// doubleTapCell selects a cell and activates its row.
func (ui *Window) doubleTapCell(id widget.TableCellID) {
	ui.tapCell(id)
	ui.Activate(id.Row)
}

// updateCell fills one cell of the table.
func (ui *Window) updateCell(id widget.TableCellID, o fyne.CanvasObject) {
	c := o.(*trackCell)
	if id.Row < 0 || id.Row >= len(ui.rows) {
		c.set(id, "", false, false)
		return
	}
	r := ui.rows[id.Row]
	var text string
	switch id.Col {
	case colSong:
		text = r.Song
	case colArtist:
		text = r.Artist
	case colUser:
		text = r.User
	case colDate:
		if !r.Date.IsZero() {
			text = r.Date.Local().Format(dateLayout)
		}
	}
	playing := r.EntryID != "" && r.EntryID == ui.now.EntryID
	c.set(id, text, playing, id.Row == ui.selected)
}

// unselectRow clears the table's selection.
func (ui *Window) unselectRow() {
	ui.selected = -1
}

// setPending shows "…" until the hub answers or pendingFor passes.
func (ui *Window) setPending() {
	ui.pendingAt = time.Now()
	setText(ui.pending, "…")
}

// hubChanged follows an authoritative track or playback change.
func (ui *Window) hubChanged() {
	ui.pendingAt = time.Time{}
	ui.refreshNow()
}

// refreshAll re-reads everything from the core.
func (ui *Window) refreshAll() {
	ui.refreshPlaylists()
	ui.refreshFriends()
	ui.refreshNow()
	if s := ui.core.Status(); ui.status.Text != s {
		ui.status.SetText(s)
	}
}

// refreshPlaylists re-reads the playlists, keeping the selected one, or
// selecting the first when it is gone, and then the selected one's rows.
func (ui *Window) refreshPlaylists() {
	ui.playlists = ui.core.Playlists()
	ui.playlistList.Refresh()
	sel := slices.IndexFunc(ui.playlists, func(p PlaylistItem) bool { return p.ID == ui.playlist })
	if sel < 0 && len(ui.playlists) > 0 {
		sel = 0
		ui.playlist = ui.playlists[0].ID
		ui.unselectRow()
	}
	if sel < 0 {
		ui.playlist = ""
		ui.playlistList.UnselectAll()
		ui.unselectRow()
	} else {
		ui.playlistList.Select(sel) // OnSelected sees the same ID and does nothing
	}
	ui.refreshRows()
}

// refreshRows re-reads the selected playlist's rows.
func (ui *Window) refreshRows() {
	if ui.playlist == "" {
		ui.rows = nil
	} else {
		ui.rows = ui.core.Rows(ui.playlist)
	}
	if ui.selected >= len(ui.rows) {
		ui.unselectRow()
	}
	ui.table.Refresh()
}

// refreshFriends re-reads the room's members.
func (ui *Window) refreshFriends() {
	if room := "ROOM “" + ui.core.Room() + "”"; ui.room.Text != room {
		ui.room.SetText(room)
	}
	ui.friends = ui.core.Friends()
	ui.friendList.Refresh()
}

// refreshNow re-reads what is playing into the now-playing bar.
func (ui *Window) refreshNow() {
	n := ui.core.Now()
	if n.EntryID != ui.now.EntryID {
		defer ui.table.Refresh() // moves the bold "now playing" row
	}
	ui.now = n

	title := n.Title
	if n.EntryID == "" && title == "" {
		title = "Nothing playing"
	}
	setText(ui.title, title)
	setText(ui.artist, n.Artist)
	icon := theme.MediaPlayIcon()
	if n.Playing {
		icon = theme.MediaPauseIcon()
	}
	if ui.playButton.Icon != icon {
		ui.playButton.SetIcon(icon)
	}
	if !ui.pendingAt.IsZero() && time.Since(ui.pendingAt) > pendingFor {
		ui.pendingAt = time.Time{}
	}
	if ui.pendingAt.IsZero() {
		setText(ui.pending, "")
	} else {
		setText(ui.pending, "…")
	}

	hi, value := 1.0, 0.0
	if n.Duration > 0 {
		hi = n.Duration.Seconds()
		value = min(max(0, n.Position.Seconds()), hi)
	}
	ui.progress.Max = hi
	ui.progress.SetValue(value)
}

// progressText is the progress bar's text: position and duration.
func (ui *Window) progressText() string {
	if ui.now.Duration <= 0 {
		return clock(ui.now.Position)
	}
	return clock(ui.now.Position) + " / " + clock(ui.now.Duration)
}

// clock formats d as m:ss, or h:mm:ss from an hour on.
func clock(d time.Duration) string {
	s := int(max(d, 0) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// setText sets a label's text when it differs, to spare a refresh.
func setText(l *widget.Label, s string) {
	if l.Text != s {
		l.SetText(s)
	}
}
