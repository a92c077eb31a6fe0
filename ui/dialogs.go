package ui

import (
	"cmp"
	"errors"
	"fmt"
	"image/color"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"tandem/player/settings"
)

// shortcuts registers the window's keyboard shortcuts. Keys typed while no
// widget has the focus go to typedKey; the table passes its own to
// tableKey.
func (ui *Window) shortcuts() {
	c := ui.win.Canvas()
	mod := fyne.KeyModifierShortcutDefault
	add := func(key fyne.KeyName, fn func()) {
		c.AddShortcut(&desktop.CustomShortcut{KeyName: key, Modifier: mod}, func(fyne.Shortcut) { fn() })
	}
	add(fyne.KeyF, ui.FocusFilter)
	add(fyne.KeyL, ui.joinLink)
	add(fyne.KeyN, ui.newPlaylist)
	add(fyne.KeyA, func() {
		ui.model.selectAll()
		ui.table.Refresh()
	})
	c.SetOnTypedKey(ui.typedKey)
}

// FocusFilter puts the cursor in the filter box.
func (ui *Window) FocusFilter() {
	ui.win.Canvas().Focus(ui.filter)
}

// typedKey handles keys typed while no widget has the focus.
func (ui *Window) typedKey(e *fyne.KeyEvent) {
	ui.tableKey(e)
}

// mainMenu is the window's menu bar.
func (ui *Window) mainMenu() *fyne.MainMenu {
	file := fyne.NewMenu("Music",
		fyne.NewMenuItem("New playlist…", ui.newPlaylist),
		fyne.NewMenuItem("Filter", ui.FocusFilter),
	)
	if ui.opts.Uploads != nil {
		file.Items = append([]*fyne.MenuItem{fyne.NewMenuItem("Add files…", ui.addFiles), fyne.NewMenuItem("Add a folder…", ui.addFolder)}, file.Items...)
	}
	if ui.opts.Settings != nil {
		file.Items = append(file.Items, fyne.NewMenuItemSeparator(), fyne.NewMenuItem("Settings…", ui.showSettings))
	}
	room := fyne.NewMenu("Room",
		fyne.NewMenuItem("Room and invite link…", ui.showRoom),
		fyne.NewMenuItem("Host a room…", ui.hostRoom),
		fyne.NewMenuItem("Join with a link…", ui.joinLink),
		fyne.NewMenuItemSeparator(),
		fyne.NewMenuItem("Leave room", ui.core.LeaveRoom),
	)
	play := fyne.NewMenu("Playback",
		fyne.NewMenuItem("Play/Pause (Space)", ui.TogglePlay),
		fyne.NewMenuItem("Next", ui.core.Next),
		fyne.NewMenuItem("Previous", ui.core.Previous),
		fyne.NewMenuItem("Forward 10 s (→)", func() { ui.SeekBy(seekStep) }),
		fyne.NewMenuItem("Back 10 s (←)", func() { ui.SeekBy(-seekStep) }),
	)
	return fyne.NewMainMenu(file, play, room)
}

// tableKey handles the player's keys: Space plays or pauses, ← and → seek,
// Enter plays the selection, Delete removes it. It reports whether it
// used the key.
func (ui *Window) tableKey(e *fyne.KeyEvent) bool {
	switch e.Name {
	case fyne.KeySpace:
		ui.TogglePlay()
	case fyne.KeyLeft:
		ui.SeekBy(-seekStep)
	case fyne.KeyRight:
		ui.SeekBy(seekStep)
	case fyne.KeyReturn, fyne.KeyEnter:
		ui.Activate(ui.model.firstSelected())
	case fyne.KeyDelete:
		ui.RemoveSelected()
	case fyne.KeyEscape:
		ui.model.unselect()
		ui.table.Refresh()
	default:
		return false
	}
	return true
}

// showRowMenu opens the context menu of the selected rows at pos.
func (ui *Window) showRowMenu(_ int, pos fyne.Position) {
	rows := ui.model.selection()
	if len(rows) == 0 {
		return
	}
	what := "1 song"
	if len(rows) > 1 {
		what = fmt.Sprintf("%d songs", len(rows))
	}
	items := []*fyne.MenuItem{
		fyne.NewMenuItem("Play", func() { ui.Activate(ui.model.firstSelected()) }),
	}
	add := fyne.NewMenuItem("Add to playlist", nil)
	for _, p := range ui.lists {
		if p.ID == QueueID || !p.Editable || p.ID == ui.list {
			continue
		}
		id := p.ID
		add.ChildMenu = appendMenu(add.ChildMenu, fyne.NewMenuItem(p.Name, func() { ui.addTo(id, rows) }))
	}
	add.ChildMenu = appendMenu(add.ChildMenu, fyne.NewMenuItem("New playlist…", func() {
		ui.askName("New playlist", "Create", func(name string) {
			ui.core.CreatePlaylist(name)
			ui.pendingAdd = &pendingAdd{name: name, rows: rows}
		})
	}))
	items = append(items, add)
	if ui.list != QueueID && ui.core.Room() != "" {
		items = append(items, fyne.NewMenuItem("Add to room queue", func() { ui.addTo(QueueID, rows) }))
	}
	if ui.list != LibraryID && ui.editable() {
		if ui.model.sort == unsorted && ui.model.query == "" {
			// Moves make sense in the list's own order only.
			items = append(items,
				fyne.NewMenuItem("Move to top", func() { ui.MoveSelected(-2) }),
				fyne.NewMenuItem("Move up", func() { ui.MoveSelected(-1) }),
				fyne.NewMenuItem("Move down", func() { ui.MoveSelected(1) }))
		}
		items = append(items, fyne.NewMenuItem("Remove "+what, ui.RemoveSelected))
	}
	if r := rows[0]; r.TrackID != "" {
		items = append(items, fyne.NewMenuItem("Copy link", func() {
			var links []string
			for _, r := range rows {
				if r.TrackID != "" {
					links = append(links, ui.core.TrackLink(r.TrackID))
				}
			}
			ui.win.Clipboard().SetContent(strings.Join(links, "\n"))
		}))
	}
	widget.ShowPopUpMenuAtPosition(fyne.NewMenu("", items...), ui.win.Canvas(), pos)
}

func appendMenu(m *fyne.Menu, it *fyne.MenuItem) *fyne.Menu {
	if m == nil {
		return fyne.NewMenu("", it)
	}
	m.Items = append(m.Items, it)
	return m
}

// pendingAdd is an "add to a new playlist" waiting for the playlist.
type pendingAdd struct {
	name string
	rows []Row
}

// flushPendingAdd adds the rows waiting for a new playlist once it shows up.
func (ui *Window) flushPendingAdd() {
	if ui.pendingAdd == nil {
		return
	}
	for _, p := range ui.lists {
		if p.Name == ui.pendingAdd.name && p.Editable {
			rows := ui.pendingAdd.rows
			ui.pendingAdd = nil
			ui.addTo(p.ID, rows)
			return
		}
	}
}

// askName asks for a name in a small form.
func (ui *Window) askName(title, confirm string, done func(string)) {
	e := widget.NewEntry()
	e.Validator = func(s string) error {
		s = strings.TrimSpace(s)
		if s == "" {
			return errors.New("a name is needed")
		}
		if len([]rune(s)) > 64 {
			return errors.New("at most 64 characters")
		}
		return nil
	}
	d := dialog.NewForm(title, confirm, "Cancel", []*widget.FormItem{widget.NewFormItem("Name", e)}, func(ok bool) {
		if ok {
			done(strings.TrimSpace(e.Text))
		}
	}, ui.win)
	d.Resize(fyne.NewSize(380, 0))
	d.Show()
	ui.win.Canvas().Focus(e)
}

// newPlaylist asks for a name and creates a playlist.
func (ui *Window) newPlaylist() {
	ui.askName("New playlist", "Create", ui.core.CreatePlaylist)
}

// hostRoom asks for a room's name and whether only the host controls it,
// and creates it.
func (ui *Window) hostRoom() {
	name := widget.NewEntry()
	name.SetPlaceHolder("Friday")
	name.Validator = func(s string) error {
		if strings.TrimSpace(s) == "" {
			return errors.New("a name is needed")
		}
		return nil
	}
	hostOnly := widget.NewCheck("Only I control playback", nil)
	d := dialog.NewForm("Host a room", "Host", "Cancel", []*widget.FormItem{
		widget.NewFormItem("Room", name),
		widget.NewFormItem("", hostOnly),
	}, func(ok bool) {
		if ok {
			ui.core.HostRoom(strings.TrimSpace(name.Text), hostOnly.Checked)
			ui.showList(QueueID)
		}
	}, ui.win)
	d.Resize(fyne.NewSize(400, 0))
	d.Show()
	ui.win.Canvas().Focus(name)
}

// joinLink asks for an invite link or code and joins its room.
func (ui *Window) joinLink() {
	e := widget.NewEntry()
	e.SetPlaceHolder("tandem://host:7878/join/CODE")
	if s, err := readClipboard(ui.win); err == nil && strings.Contains(s, "/join/") {
		e.SetText(strings.TrimSpace(s))
	}
	d := dialog.NewForm("Join a room", "Join", "Cancel", []*widget.FormItem{
		widget.NewFormItem("Invite link", e),
	}, func(ok bool) {
		if !ok {
			return
		}
		if err := ui.core.JoinLink(strings.TrimSpace(e.Text)); err != nil {
			dialog.ShowError(err, ui.win)
			return
		}
		ui.showList(QueueID)
	}, ui.win)
	d.Resize(fyne.NewSize(480, 0))
	d.Show()
	ui.win.Canvas().Focus(e)
}

// readClipboard reads the clipboard, which a test window may lack.
func readClipboard(w fyne.Window) (s string, err error) {
	defer func() {
		if recover() != nil {
			err = errors.New("no clipboard")
		}
	}()
	return w.Clipboard().Content(), nil
}

// addFiles opens a file dialog and uploads the file chosen, to the shown
// list when it takes additions.
func (ui *Window) addFiles() {
	if ui.opts.Uploads == nil {
		return
	}
	target := ui.addTarget()
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil || r == nil {
			return
		}
		path := r.URI().Path()
		r.Close()
		ui.opts.Uploads.Add([]string{path}, target, false)
		ui.showUploads()
	}, ui.win)
	d.Resize(fyne.NewSize(760, 520))
	d.Show()
}

// addFolder opens a folder dialog and uploads the music in the folder
// chosen and below it, to the shown list when it takes additions.
func (ui *Window) addFolder() {
	if ui.opts.Uploads == nil {
		return
	}
	target := ui.addTarget()
	d := dialog.NewFolderOpen(func(u fyne.ListableURI, err error) {
		if err != nil || u == nil {
			return
		}
		ui.opts.Uploads.Add([]string{u.Path()}, target, false)
		ui.showUploads()
	}, ui.win)
	d.Resize(fyne.NewSize(760, 520))
	d.Show()
}

// roomDialog is the room view: the invite link, the controls switch, the
// members with their state, and leaving.
type roomDialog struct {
	ui       *Window
	d        dialog.Dialog
	title    *widget.Label
	link     *widget.Entry
	hostOnly *widget.Check
	wait     *widget.Check
	rotate   *widget.Button
	members  *widget.List
	view     RoomView
	setting  bool
}

// showRoom opens the room view, or offers to host or join a room.
func (ui *Window) showRoom() {
	if ui.core.Room() == "" {
		dialog.ShowCustom("Not in a room", "Close", container.NewVBox(
			widget.NewLabel("Host a room for your friends, or join one with its invite link."),
			container.NewHBox(
				widget.NewButtonWithIcon("Host a room…", theme.ContentAddIcon(), ui.hostRoom),
				widget.NewButtonWithIcon("Join with a link…", theme.LoginIcon(), ui.joinLink))), ui.win)
		return
	}
	r := &roomDialog{ui: ui}
	r.title = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	r.link = widget.NewEntry()
	r.link.OnChanged = func(string) {
		if r.link.Text != r.view.Link {
			r.link.SetText(r.view.Link) // read-only, but selectable
		}
	}
	copyLink := widget.NewButtonWithIcon("Copy", theme.ContentCopyIcon(), func() {
		ui.win.Clipboard().SetContent(r.view.Link)
	})
	r.rotate = widget.NewButtonWithIcon("New link", theme.ViewRefreshIcon(), func() {
		dialog.ShowConfirm("New invite link", "The old link stops working. Friends already in the room stay.", func(ok bool) {
			if ok {
				ui.core.RotateCode()
			}
		}, ui.win)
	})
	r.hostOnly = widget.NewCheck("Only the host controls playback", func(on bool) {
		if !r.setting {
			ui.core.SetHostOnly(on)
		}
	})
	r.wait = widget.NewCheck("Wait for everyone who is buffering", func(on bool) {
		if !r.setting {
			ui.core.SetWait(on)
		}
	})
	r.members = widget.NewList(
		func() int { return len(r.view.Members) },
		func() fyne.CanvasObject {
			b := widget.NewButtonWithIcon("Remove", theme.ContentRemoveIcon(), nil)
			b.Importance = widget.LowImportance
			return container.NewBorder(nil, nil, nil, b, newFriendRow())
		},
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id >= len(r.view.Members) {
				return
			}
			m := r.view.Members[id]
			c := o.(*fyne.Container)
			c.Objects[0].(*friendRow).set(m, time.Now())
			b := c.Objects[1].(*widget.Button)
			if r.view.IsHost && m.Name != r.view.Host {
				name := m.Name
				b.OnTapped = func() {
					dialog.ShowConfirm("Remove "+name, name+" leaves the room and needs the invite link to come back.", func(ok bool) {
						if ok {
							ui.core.RemoveMember(name)
						}
					}, ui.win)
				}
				b.Show()
			} else {
				b.Hide()
			}
		})
	leave := widget.NewButtonWithIcon("Leave room", theme.LogoutIcon(), func() {
		ui.core.LeaveRoom()
		r.d.Hide()
	})
	leave.Importance = widget.DangerImportance
	top := container.NewVBox(r.title,
		widget.NewLabel("Invite friends with this link:"),
		container.NewBorder(nil, nil, nil, container.NewHBox(copyLink, r.rotate), r.link),
		r.hostOnly, r.wait, heading("MEMBERS"))
	content := container.NewBorder(top, container.NewHBox(leave), nil, nil, r.members)
	r.d = dialog.NewCustom("Room", "Close", content, ui.win)
	r.d.SetOnClosed(func() { ui.roomDlg = nil })
	r.d.Resize(fyne.NewSize(520, 560))
	ui.roomDlg = r
	r.refresh(ui.core.RoomView())
	r.d.Show()
}

// refresh shows a room.
func (r *roomDialog) refresh(v RoomView) {
	r.view = v
	host := "Hosted by " + v.Host
	if v.IsHost {
		host = "Hosted by you"
	}
	setText(r.title, fmt.Sprintf("%s · %s", v.Name, host))
	if r.link.Text != v.Link {
		r.link.SetText(v.Link)
	}
	r.setting = true
	r.hostOnly.SetChecked(v.HostOnly)
	r.wait.SetChecked(v.Wait)
	r.setting = false
	controls := !v.HostOnly || v.IsHost
	for _, w := range []fyne.Disableable{r.hostOnly, r.rotate} {
		if v.IsHost {
			w.Enable()
		} else {
			w.Disable()
		}
	}
	if controls {
		r.wait.Enable()
	} else {
		r.wait.Disable()
	}
	r.members.Refresh()
}

// showSettings opens the settings.
func (ui *Window) showSettings() {
	if ui.opts.Settings == nil {
		return
	}
	s := ui.opts.Settings.Get()
	hub := widget.NewEntry()
	hub.SetText(s.Hub)
	hub.SetPlaceHolder("empty: host on this computer")
	name := widget.NewEntry()
	name.SetText(s.Name)
	cache := widget.NewEntry()
	if s.CacheMB > 0 {
		cache.SetText(strconv.FormatInt(s.CacheMB, 10))
	}
	cache.SetPlaceHolder("2048")
	cache.Validator = func(v string) error {
		if v == "" {
			return nil
		}
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 64 {
			return errors.New("a number of megabytes, at least 64")
		}
		return nil
	}
	folders := widget.NewMultiLineEntry()
	folders.SetPlaceHolder("one folder per line, e.g. ~/Music")
	if ui.opts.Library != nil {
		folders.SetText(strings.Join(ui.opts.Library.Folders(), "\n"))
	} else {
		folders.SetText(strings.Join(s.MusicFolders, "\n"))
	}
	folders.SetMinRowsVisible(3)
	themes := widget.NewRadioGroup([]string{settings.ThemeSystem, settings.ThemeLight, settings.ThemeDark}, nil)
	themes.Horizontal = true
	themes.SetSelected(cmp.Or(s.Theme, settings.ThemeSystem))
	notify := widget.NewCheck("Tell me when a friend changes the track", nil)
	notify.SetChecked(s.Notifications)
	items := []*widget.FormItem{
		widget.NewFormItem("Hub", hub),
		widget.NewFormItem("Your name", name),
		widget.NewFormItem("Cache (MB)", cache),
		widget.NewFormItem("Music folders", folders),
		widget.NewFormItem("Theme", themes),
		widget.NewFormItem("", notify),
	}
	d := dialog.NewForm("Settings", "Save", "Cancel", items, func(ok bool) {
		if !ok {
			return
		}
		var dirs []string
		for _, l := range strings.Split(folders.Text, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				dirs = append(dirs, expandHome(l))
			}
		}
		mb, _ := strconv.ParseInt(cache.Text, 10, 64)
		restart := strings.TrimSpace(hub.Text) != s.Hub || strings.TrimSpace(name.Text) != s.Name || mb != s.CacheMB
		ui.save(func(st *settings.Settings) {
			st.Hub, st.Name, st.CacheMB = strings.TrimSpace(hub.Text), strings.TrimSpace(name.Text), mb
			st.MusicFolders, st.Theme, st.Notifications = dirs, themes.Selected, notify.Checked
		})
		applyTheme(themes.Selected)
		if ui.opts.Library != nil && !slices.Equal(dirs, ui.opts.Library.Folders()) {
			ui.opts.Library.SetFolders(dirs)
			ui.refreshSidebar()
		}
		if restart {
			msg := "The hub, your name and the cache size take effect when Tandem starts again."
			if ui.opts.Restart != nil {
				dialog.ShowConfirm("Restart Tandem?", msg+" Restart now?", func(ok bool) {
					if ok {
						ui.opts.Restart()
					}
				}, ui.win)
			} else {
				dialog.ShowInformation("Settings saved", msg, ui.win)
			}
		}
	}, ui.win)
	d.Resize(fyne.NewSize(560, 0))
	d.Show()
}

// expandHome turns a leading ~ into the home directory.
func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~"); ok && (rest == "" || rest[0] == '/') {
		if home, err := os.UserHomeDir(); err == nil {
			return home + rest
		}
	}
	return p
}

// variantTheme is the default theme held to a light or dark variant.
type variantTheme struct {
	fyne.Theme
	variant fyne.ThemeVariant
}

func (t variantTheme) Color(n fyne.ThemeColorName, _ fyne.ThemeVariant) color.Color {
	return t.Theme.Color(n, t.variant)
}

// applyTheme applies a theme setting to the app.
func applyTheme(name string) {
	a := fyne.CurrentApp()
	if a == nil {
		return
	}
	var t fyne.Theme = theme.DefaultTheme()
	switch name {
	case settings.ThemeLight:
		t = variantTheme{Theme: theme.DefaultTheme(), variant: theme.VariantLight}
	case settings.ThemeDark:
		t = variantTheme{Theme: theme.DefaultTheme(), variant: theme.VariantDark}
	}
	a.Settings().SetTheme(t)
}

// trayMenu is the system tray's menu: play/pause, next, show/hide.
func (ui *Window) trayMenu(show, hide func()) *fyne.Menu {
	visible := true
	var toggle *fyne.MenuItem
	toggle = fyne.NewMenuItem("Hide Tandem", func() {
		if visible {
			hide()
			toggle.Label = "Show Tandem"
		} else {
			show()
			toggle.Label = "Hide Tandem"
		}
		visible = !visible
	})
	return fyne.NewMenu("Tandem",
		fyne.NewMenuItem("Play/Pause", ui.TogglePlay),
		fyne.NewMenuItem("Next", ui.core.Next),
		fyne.NewMenuItem("Previous", ui.core.Previous),
		fyne.NewMenuItemSeparator(),
		toggle)
}

// SetupTray puts Tandem's menu in the system tray when the app has one,
// and hides the window to the tray instead of quitting on close.
func (ui *Window) SetupTray() bool {
	d, ok := fyne.CurrentApp().(desktop.App)
	if !ok {
		return false
	}
	d.SetSystemTrayMenu(ui.trayMenu(ui.win.Show, ui.win.Hide))
	return true
}
