package ui

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"tandem"
	"tandem/player"
	"tandem/player/settings"
	"tandem/sync/event"
)

const (
	// tickEvery is how often the bottom bar re-reads Core.Now while music
	// plays, and idleTickEvery while nothing moves (paused, stopped): the
	// reconnect banner's countdown and the friends' "ago" still update.
	tickEvery     = 250 * time.Millisecond
	idleTickEvery = time.Second
	// pendingFor is how long the bar shows "…" after a local command that
	// the hub has not answered yet.
	pendingFor = 5 * time.Second
	// seekStep is how far ← and → seek.
	seekStep = 10 * time.Second
)

// Options are the window's optional parts.
type Options struct {
	// Uploads adds files to the hub; nil hides "Add files…" and drops.
	Uploads Uploads
	// Library is the user's own music; nil hides it.
	Library Library
	// Settings keeps the preferences and what the window remembers; nil
	// keeps nothing.
	Settings *settings.File
	// Name is the user's name, to tell the user's own track changes from a
	// friend's (notifications).
	Name string
	// Notify shows a desktop notification; nil means the Fyne app's.
	Notify func(title, body string)
	// Restart, when set, is offered after changing the hub or the name in
	// the settings (they take effect at the next start).
	Restart func()
	Logger  *slog.Logger
}

// Window is Tandem's main window: the sidebar (library, playlists, rooms),
// the track table, the friends pane, and the bottom bar.
//
// Its exported methods must be called on the Fyne UI goroutine (from a
// widget callback or inside fyne.Do), except Close, which may be called
// from any goroutine.
type Window struct {
	win  fyne.Window
	core Core
	em   *event.Emitter
	opts Options
	log  *slog.Logger

	// Owned by the UI goroutine:
	list       string // the list shown in the table: a playlist id, QueueID or LibraryID
	lists      []PlaylistItem
	rooms      []RoomItem
	side       []sideItem
	model      *rowModel
	now        NowPlaying
	friends    []Friend
	activity   []Activity
	room       RoomView
	conn       Connection
	pendingAt  time.Time // when a local command went out unanswered; zero for none
	artTrack   string    // the track whose artwork is shown
	seeking    bool      // the user drags the seek bar
	roomDlg    *roomDialog
	pendingAdd *pendingAdd // rows to add to a playlist being created

	sidebar    *widget.List
	listTitle  *widget.Label
	filter     *widget.Entry
	count      *widget.Label
	table      *trackTable
	uploads    *uploadsPanel
	uploadsBox *fyne.Container
	friendList *widget.List
	noFriends  *widget.Label // shown while the friends pane is empty
	feed       *widget.List
	bar        *nowBar
	banner     *fyne.Container
	bannerText *widget.Label
	syncLabel  *widget.Label
	status     *widget.Label

	listeners []event.Listener
	stopTick  func()
	setTick   func(time.Duration) // changes the ticker's period; nil in tests
	fastTick  bool                // the ticker runs at tickEvery
	quit      chan struct{}       // closed by Close to stop the ticker goroutine
	done      chan struct{}       // closed when the ticker goroutine has returned
	closeOnce sync.Once
	closed    atomic.Bool
}

// NewWindow builds the window's content into w, titles it "Tandem", listens
// on core's emitter and starts a ticker that refreshes the bottom bar. It
// shows the room's queue first. Call Close when the window goes away.
func NewWindow(w fyne.Window, core Core, opts Options) *Window {
	t := time.NewTicker(idleTickEvery)
	ui := newWindow(w, core, opts, t.C, t.Stop)
	ui.setTick = t.Reset
	ui.adjustTick()
	return ui
}

// newWindow is NewWindow with the ticks given. Tests give none and call
// onTick on their own goroutine: the test driver runs fyne.Do at once on
// the calling goroutine, so a ticker's goroutine would race with them.
func newWindow(w fyne.Window, core Core, opts Options, ticks <-chan time.Time, stopTick func()) *Window {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ui := &Window{
		win:      w,
		core:     core,
		em:       core.Emitter(),
		opts:     opts,
		log:      log,
		list:     QueueID,
		model:    newRowModel(),
		stopTick: stopTick,
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	w.SetTitle("Tandem")
	w.SetContent(ui.build())
	w.SetMainMenu(ui.mainMenu())
	ui.shortcuts()
	if opts.Uploads != nil {
		w.SetOnDropped(ui.dropped)
	}
	ui.restore()

	ui.refreshAll()
	ui.listen()
	go ui.tick(ticks)
	return ui
}

// restore applies what the settings remember: the window's size, the
// sort order, the theme and the volume.
func (ui *Window) restore() {
	size := fyne.NewSize(1200, 720)
	if ui.opts.Settings != nil {
		s := ui.opts.Settings.Get()
		if s.Width >= 400 && s.Height >= 300 {
			size = fyne.NewSize(s.Width, s.Height)
		}
		ui.model.setSort(SortOrder{Column: s.SortCol - 1, Desc: s.SortDesc})
		applyTheme(s.Theme)
		if s.Volume != nil {
			ui.core.SetVolume(*s.Volume)
		}
	}
	if ui.win.Canvas().Size().Width < 900 {
		ui.win.Resize(size)
	}
}

// save changes the settings, logging a failure.
func (ui *Window) save(fn func(*settings.Settings)) {
	if ui.opts.Settings == nil {
		return
	}
	if err := ui.opts.Settings.Update(fn); err != nil {
		ui.log.Warn("ui: save settings", "err", err)
	}
}

// build makes the widgets and lays them out.
func (ui *Window) build() fyne.CanvasObject {
	left := ui.buildSidebar()

	// Centre: the shown list's tracks.
	ui.listTitle = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	ui.listTitle.Truncation = fyne.TextTruncateEllipsis
	ui.filter = widget.NewEntry()
	ui.filter.SetPlaceHolder("Filter (Ctrl+F)")
	ui.filter.OnChanged = func(q string) {
		ui.model.setFilter(q)
		ui.table.Refresh()
		ui.refreshCount()
	}
	ui.count = widget.NewLabel("")
	ui.count.SizeName = theme.SizeNameCaptionText
	ui.table = newTrackTable(ui.model)
	ui.table.onActivate = ui.Activate
	ui.table.onEnter = func() { ui.Activate(ui.model.firstSelected()) }
	ui.table.onMenu = ui.showRowMenu
	ui.table.onSort = func(s SortOrder) {
		ui.save(func(st *settings.Settings) { st.SortCol, st.SortDesc = s.Column+1, s.Desc })
	}
	ui.table.playing = func(r Row) bool {
		return r.EntryID != "" && r.EntryID == ui.now.EntryID || r.EntryID == "" && r.TrackID != "" && r.TrackID == ui.now.TrackID
	}
	ui.table.onKey = ui.tableKey
	var tools []fyne.CanvasObject
	if ui.opts.Uploads != nil {
		tools = append(tools, widget.NewButtonWithIcon("Add files…", theme.ContentAddIcon(), ui.addFiles),
			widget.NewButtonWithIcon("Add a folder…", theme.FolderOpenIcon(), ui.addFolder))
	}
	head := container.NewBorder(nil, nil, nil, container.NewHBox(append([]fyne.CanvasObject{ui.count}, tools...)...), ui.listTitle)
	top := container.NewVBox(head, ui.filter)
	centre := fyne.CanvasObject(container.NewBorder(top, nil, nil, nil, ui.table))
	if ui.opts.Uploads != nil {
		ui.uploads = newUploadsPanel(ui.opts.Uploads, ui.addFiles)
		ui.uploadsBox = container.NewGridWrap(fyne.NewSize(10, 160), ui.uploads.Object())
		ui.uploadsBox.Layout = layout.NewStackLayout()
		split := container.NewVSplit(centre, ui.uploadsBox)
		split.Offset = 0.72
		ui.uploadsBox.Hide()
		centre = container.NewBorder(nil, nil, nil, nil, split)
	}

	right := ui.buildFriends()

	ui.bar = newNowBar(ui)
	ui.bannerText = widget.NewLabel("")
	ui.bannerText.Wrapping = fyne.TextWrapWord
	bannerBG := canvas.NewRectangle(theme.Color(theme.ColorNameWarning))
	bannerBG.CornerRadius = 4
	ui.banner = container.NewStack(bannerBG, container.NewBorder(nil, nil, widget.NewIcon(theme.WarningIcon()),
		widget.NewButtonWithIcon("Retry now", theme.ViewRefreshIcon(), ui.core.Retry), ui.bannerText))
	ui.banner.Hide()

	ui.syncLabel = widget.NewLabel("")
	ui.syncLabel.SizeName = theme.SizeNameCaptionText
	ui.status = widget.NewLabel("")
	ui.status.Selectable = true // so the join line and errors can be copied
	ui.status.Wrapping = fyne.TextWrapWord
	ui.status.SizeName = theme.SizeNameCaptionText

	inner := container.NewHSplit(centre, right)
	inner.Offset = 0.76
	outer := container.NewHSplit(left, inner)
	outer.Offset = 0.17
	bottom := container.NewVBox(widget.NewSeparator(), container.NewPadded(ui.bar.object()),
		container.NewBorder(nil, nil, ui.syncLabel, nil, ui.status))
	return container.NewBorder(ui.banner, bottom, nil, nil, outer)
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
				do(func() {
					ui.hubChanged()
					ui.notifyChange(c)
				})
			}
		}),
		player.Playback.On(ui.em, func(p player.PlaybackChange) {
			if p.Origin == player.Hub {
				do(ui.hubChanged)
			}
		}),
		player.Members.On(ui.em, func([]tandem.Member) { do(ui.refreshFriends) }),
		player.State.On(ui.em, func(what string) {
			do(func() { ui.refresh(what) })
		}),
		event.Error.On(ui.em, func(error) { do(ui.refreshStatus) }),
	}
}

// tick refreshes the bottom bar at every tick until Close.
func (ui *Window) tick(ticks <-chan time.Time) {
	defer close(ui.done)
	for {
		select {
		case <-ui.quit:
			return
		case <-ticks:
			fyne.Do(func() {
				if !ui.closed.Load() {
					ui.onTick()
				}
			})
		}
	}
}

// onTick re-reads what moves with time: the bottom bar, the reconnect
// banner's countdown and the sync status.
func (ui *Window) onTick() {
	ui.refreshNow()
	ui.refreshConnection()
	ui.refreshSync()
}

// Close removes the window's listeners from the emitter, stops its ticker
// and saves the window's size, and returns once the ticker's goroutine has
// returned. It leaves the fyne.Window itself to the caller. Close is
// idempotent.
func (ui *Window) Close() {
	ui.closeOnce.Do(func() {
		ui.closed.Store(true)
		for _, l := range ui.listeners {
			ui.em.Off(l)
		}
		ui.stopTick()
		close(ui.quit)
		<-ui.done
		if s := ui.win.Canvas().Size(); s.Width >= 400 && s.Height >= 300 {
			ui.save(func(st *settings.Settings) { st.Width, st.Height = s.Width, s.Height })
		}
	})
}

// Activate plays a shown row of the table: an entry of the room's queue
// or of a playlist through player.ChangeTrack (Origin Local); a file of the
// library through Uploads, which plays it once the hub has it. Rows out of
// range are ignored.
func (ui *Window) Activate(row int) {
	if row < 0 || row >= ui.model.len() {
		return
	}
	r := ui.model.row(row)
	if r.TrackID == "" {
		if r.Path != "" && ui.opts.Uploads != nil {
			ui.opts.Uploads.Add([]string{r.Path}, "", true)
			ui.showUploads()
		}
		return
	}
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
// track loaded it plays the selected row, or the first one, instead.
func (ui *Window) TogglePlay() {
	n := ui.core.Now()
	if n.EntryID == "" && n.TrackID == "" {
		ui.Activate(max(ui.model.firstSelected(), 0))
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

// SeekBy moves the room's position by d.
func (ui *Window) SeekBy(d time.Duration) {
	n := ui.core.Now()
	if n.EntryID == "" && n.TrackID == "" {
		return
	}
	pos := max(0, n.Position+d)
	if n.Duration > 0 {
		pos = min(pos, n.Duration)
	}
	ui.setPending()
	ui.core.Seek(pos)
}

// setPending shows "…" until the hub answers or pendingFor passes.
func (ui *Window) setPending() {
	ui.pendingAt = time.Now()
	ui.bar.setPending(true)
	ui.adjustTick()
}

// hubChanged follows an authoritative track or playback change.
func (ui *Window) hubChanged() {
	ui.pendingAt = time.Time{}
	ui.refreshNow()
}

// notifyChange tells the user, when they asked for it, that a friend
// changed the track.
func (ui *Window) notifyChange(c player.TrackChange) {
	if c.By == "" || isMe(c.By, ui.opts.Name) || ui.opts.Settings == nil {
		return
	}
	if !ui.opts.Settings.Get().Notifications {
		return
	}
	n := ui.core.Now()
	title := n.Title
	if title == "" {
		title = "a new track"
	}
	body := fmt.Sprintf("%s played %s", c.By, title)
	if n.Artist != "" {
		body += " by " + n.Artist
	}
	if ui.opts.Notify != nil {
		ui.opts.Notify("Tandem · "+c.Room, body)
	} else if a := fyne.CurrentApp(); a != nil {
		a.SendNotification(fyne.NewNotification("Tandem · "+c.Room, body))
	}
}

// refresh re-reads what a State event says changed.
func (ui *Window) refresh(what string) {
	switch what {
	case "uploads":
		ui.refreshUploads()
	case "library":
		if ui.list == LibraryID {
			ui.refreshRows()
		}
		ui.refreshSidebar()
		ui.refreshStatus()
	case "friends", "activity":
		ui.refreshFriends()
	case "connection":
		ui.refreshConnection()
		ui.refreshStatus()
	default:
		ui.refreshAll()
	}
}

// refreshAll re-reads everything from the core.
func (ui *Window) refreshAll() {
	ui.refreshSidebar()
	ui.refreshRows()
	ui.refreshFriends()
	ui.refreshNow()
	ui.refreshConnection()
	ui.refreshSync()
	ui.refreshStatus()
	ui.refreshUploads()
}

// refreshStatus re-reads the status line.
func (ui *Window) refreshStatus() {
	s := ui.core.Status()
	if ui.opts.Library != nil {
		if err := ui.opts.Library.Err(); err != "" {
			s = "library: " + err + " · " + s
		}
	}
	setText(ui.status, s)
}

// refreshRows re-reads the shown list's rows.
func (ui *Window) refreshRows() {
	var rows []Row
	switch {
	case ui.list == LibraryID && ui.opts.Library != nil:
		rows = ui.opts.Library.Rows()
	case ui.list != "":
		rows = ui.core.Rows(ui.list)
	}
	ui.model.setRows(rows)
	ui.table.Refresh()
	setText(ui.listTitle, ui.listName())
	ui.refreshCount()
}

// listName is the shown list's title.
func (ui *Window) listName() string {
	switch ui.list {
	case LibraryID:
		return "Your music"
	case QueueID:
		if r := ui.core.Room(); r != "" {
			return "Queue · " + r
		}
		return "Queue (not in a room)"
	}
	for _, p := range ui.lists {
		if p.ID == ui.list {
			s := p.Name
			if p.Owner != "" {
				s += " · by " + p.Owner
			}
			if p.Collaborative {
				s += " · collaborative"
			}
			return s
		}
	}
	return ""
}

// refreshCount shows how many rows the filter lets through.
func (ui *Window) refreshCount() {
	n, all := ui.model.len(), len(ui.model.all)
	unit := "songs"
	if all == 1 {
		unit = "song"
	}
	if n == all {
		setText(ui.count, fmt.Sprintf("%d %s", all, unit))
	} else {
		setText(ui.count, fmt.Sprintf("%d of %d %s", n, all, unit))
	}
}

// showList shows a list in the table.
func (ui *Window) showList(id string) {
	if id == ui.list {
		return
	}
	ui.list = id
	ui.model.unselect()
	ui.refreshRows()
	ui.table.ScrollToTop()
}

// refreshFriends re-reads the friends, the feed and the room.
func (ui *Window) refreshFriends() {
	ui.friends = ui.core.Friends()
	ui.activity = ui.core.Activity()
	ui.friendList.Refresh()
	if len(ui.friends) == 0 {
		ui.noFriends.Show()
	} else {
		ui.noFriends.Hide()
	}
	ui.feed.Refresh()
	if len(ui.activity) > 0 {
		ui.feed.ScrollToBottom()
	}
	ui.refreshRoom()
}

// refreshRoom re-reads the room for the bottom bar and the room dialog.
func (ui *Window) refreshRoom() {
	prev := ui.room.Name
	ui.room = ui.core.RoomView()
	ui.bar.setRoom(ui.room)
	if ui.roomDlg != nil {
		ui.roomDlg.refresh(ui.room)
	}
	if ui.room.Name != prev && ui.room.Name != "" {
		ui.save(func(s *settings.Settings) { s.LastRoom = ui.room.Name })
		if ui.list == QueueID {
			setText(ui.listTitle, ui.listName())
		}
	}
}

// refreshNow re-reads what is playing into the bottom bar.
func (ui *Window) refreshNow() {
	n := ui.core.Now()
	if n.EntryID != ui.now.EntryID || n.TrackID != ui.now.TrackID {
		defer ui.table.Refresh() // moves the bold "now playing" row
	}
	ui.now = n
	if !ui.pendingAt.IsZero() && time.Since(ui.pendingAt) > pendingFor {
		ui.pendingAt = time.Time{}
	}
	ui.bar.setNow(n, !ui.pendingAt.IsZero())
	ui.adjustTick()
	if n.TrackID != ui.artTrack {
		ui.artTrack = n.TrackID
		ui.bar.setArt(nil)
		if n.HasArt && n.TrackID != "" {
			id := n.TrackID
			ui.core.Art(id, func(b []byte) {
				fyne.Do(func() {
					if !ui.closed.Load() && ui.artTrack == id {
						ui.bar.setArt(b)
					}
				})
			})
		}
	}
}

// adjustTick runs the ticker fast while the bar moves: music plays, a
// command waits for its answer, or the user drags the seek bar.
func (ui *Window) adjustTick() {
	fast := ui.now.Playing || !ui.pendingAt.IsZero() || ui.seeking
	if fast != ui.fastTick && ui.setTick != nil {
		ui.fastTick = fast
		if fast {
			ui.setTick(tickEvery)
		} else {
			ui.setTick(idleTickEvery)
		}
	}
}

// refreshConnection shows or hides the reconnect banner.
func (ui *Window) refreshConnection() {
	c := ui.core.Connection()
	ui.conn = c
	if c.Connected {
		if ui.banner.Visible() {
			ui.banner.Hide()
		}
		return
	}
	text := "Can't reach the hub"
	if c.Error != "" {
		text += ": " + c.Error
	}
	text += ". Music you have keeps playing."
	if !c.RetryAt.IsZero() {
		if s := time.Until(c.RetryAt).Round(time.Second); s > 0 {
			text += fmt.Sprintf(" Reconnecting in %d s.", int(s/time.Second))
		} else {
			text += " Reconnecting…"
		}
	}
	switch c.Pending {
	case 0:
	case 1:
		text += " 1 edit waits to be sent."
	default:
		text += fmt.Sprintf(" %d edits wait to be sent.", c.Pending)
	}
	setText(ui.bannerText, text)
	if !ui.banner.Visible() {
		ui.banner.Show()
	}
}

// refreshSync shows how well the player follows the room's clock.
func (ui *Window) refreshSync() {
	s := ui.core.Sync()
	text := "syncing clock…"
	switch {
	case !ui.conn.Connected:
		text = "offline"
	case s.Settled:
		ms := float64(s.Error) / float64(time.Millisecond)
		text = fmt.Sprintf("in sync ±%.0f ms", max(ms, 1))
		if off := s.Offset.Abs(); off >= 5*time.Millisecond && ui.now.Playing {
			text += fmt.Sprintf(", audio %+.0f ms", float64(s.Offset)/float64(time.Millisecond))
		}
	}
	setText(ui.syncLabel, text)
}

// refreshUploads shows the uploads panel while it has files.
func (ui *Window) refreshUploads() {
	if ui.uploads == nil {
		return
	}
	ui.uploads.Refresh()
	if len(ui.opts.Uploads.Items()) > 0 {
		ui.showUploads()
	} else if ui.uploadsBox.Visible() {
		ui.uploadsBox.Hide()
	}
}

func (ui *Window) showUploads() {
	if ui.uploadsBox != nil && !ui.uploadsBox.Visible() {
		ui.uploadsBox.Show()
	}
}

// editable reports whether the shown list takes additions and removals.
func (ui *Window) editable() bool {
	if ui.list == QueueID {
		return ui.core.Room() != ""
	}
	i := slices.IndexFunc(ui.lists, func(p PlaylistItem) bool { return p.ID == ui.list })
	return i >= 0 && ui.lists[i].Editable
}

// RemoveSelected removes the selected rows from the shown playlist or
// queue. The library's files are not removed.
func (ui *Window) RemoveSelected() {
	if ui.list == LibraryID || !ui.editable() {
		return
	}
	var ids []string
	for _, r := range ui.model.selection() {
		if r.EntryID != "" {
			ids = append(ids, r.EntryID)
		}
	}
	if len(ids) > 0 {
		ui.core.RemoveEntries(ui.list, ids)
		ui.model.unselect()
		ui.table.Refresh()
	}
}

// MoveSelected moves the selected rows of the shown playlist as a block:
// by one place up (-1) or down (1), or to the top (-2). The rows keep
// their order. It does nothing on a sorted or filtered table, where a
// place means nothing.
func (ui *Window) MoveSelected(by int) {
	m := ui.model
	if ui.list == LibraryID || !ui.editable() || m.sort != unsorted || m.query != "" {
		return
	}
	var ids []string
	first, last := -1, -1
	for i := range m.len() {
		if m.isSelected(i) && m.row(i).EntryID != "" {
			ids = append(ids, m.row(i).EntryID)
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if len(ids) == 0 {
		return
	}
	var after string
	switch {
	case by == -2 || by == -1 && first <= 1:
		if first == 0 && last == len(ids)-1 {
			return // already on top
		}
		after = ""
	case by == -1:
		after = m.row(first - 2).EntryID
	default:
		if last+1 >= m.len() {
			return
		}
		after = m.row(last + 1).EntryID
	}
	ui.core.MoveEntries(ui.list, ids, after)
}

// addTo adds the selected rows to a playlist (QueueID: the room's queue):
// shared tracks at once, library files through Uploads.
func (ui *Window) addTo(playlistID string, rows []Row) {
	var ids, paths []string
	for _, r := range rows {
		switch {
		case r.TrackID != "":
			ids = append(ids, r.TrackID)
		case r.Path != "":
			paths = append(paths, r.Path)
		}
	}
	if len(ids) > 0 {
		ui.core.AddTracks(playlistID, ids)
	}
	if len(paths) > 0 && ui.opts.Uploads != nil {
		ui.opts.Uploads.Add(paths, playlistID, false)
		ui.showUploads()
	}
}

// addTarget is the list that files added now go into: the shown one when
// it takes additions, else none (they only go to the hub).
func (ui *Window) addTarget() string {
	if ui.list != LibraryID && ui.editable() {
		return ui.list
	}
	return ""
}

// dropped adds files and folders dropped on the window to the hub, and to
// the shown list when it takes them.
func (ui *Window) dropped(_ fyne.Position, uris []fyne.URI) {
	var paths []string
	for _, u := range uris {
		if u.Scheme() == "file" {
			paths = append(paths, u.Path())
		}
	}
	if len(paths) == 0 {
		return
	}
	target := ui.addTarget()
	ui.log.Debug("ui: dropped", "files", len(paths), "to", target)
	ui.opts.Uploads.Add(paths, target, false)
	ui.showUploads()
}

// RowCenter returns where the middle of a shown row's SONG cell is drawn,
// in pixels from the window's top left corner, for end-to-end tests that
// click it; ok is false when the row is not on screen. Call it on the UI
// goroutine.
func (ui *Window) RowCenter(row int) (x, y float32, ok bool) {
	d := fyne.CurrentApp().Driver()
	for _, c := range ui.table.cells {
		if c.id.Row != row || c.id.Col != colSong || !c.Visible() || d.CanvasForObject(c) == nil {
			continue
		}
		p := d.AbsolutePositionForObject(c)
		s, scale := c.Size(), ui.win.Canvas().Scale()
		tp, ts := d.AbsolutePositionForObject(ui.table), ui.table.Size()
		cx, cy := p.X+s.Width/2, p.Y+s.Height/2
		if cy < tp.Y || cy > tp.Y+ts.Height {
			continue // a cell scrolled out of view
		}
		return cx * scale, cy * scale, true
	}
	return 0, 0, false
}

// setText sets a label's text when it differs, to spare a refresh.
func setText(l *widget.Label, s string) {
	if l.Text != s {
		l.SetText(s)
	}
}

// clock formats d as m:ss, or h:mm:ss from an hour on.
func clock(d time.Duration) string {
	s := int(max(d, 0) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
