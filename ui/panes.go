package ui

import (
	"fmt"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// sideKind is what a line of the sidebar is.
type sideKind int

const (
	sideHeader  sideKind = iota
	sideList             // a list shown in the table: the library, the queue, a playlist
	sideRoom             // a room to move into
	sideNothing          // a hint, such as "no rooms yet"
)

// sideItem is one line of the sidebar.
type sideItem struct {
	kind   sideKind
	id     string // the list's id, or the room's name
	text   string
	icon   fyne.Resource
	action func() // the header's button, or nil
	tip    fyne.Resource
	menu   func(anchor fyne.CanvasObject) // the item's "⋯" button, or nil
}

// buildSidebar makes the left pane: the library, the playlists with a
// "new playlist" button, and the rooms with "host" and "join" buttons.
func (ui *Window) buildSidebar() fyne.CanvasObject {
	ui.sidebar = widget.NewList(
		func() int { return len(ui.side) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("Playlist name")
			l.Truncation = fyne.TextTruncateEllipsis
			b := widget.NewButtonWithIcon("", theme.ContentAddIcon(), nil)
			b.Importance = widget.LowImportance
			return container.NewBorder(nil, nil, widget.NewIcon(theme.ListIcon()), b, l)
		},
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id >= len(ui.side) {
				return
			}
			it := ui.side[id]
			c := o.(*fyne.Container)
			l, icon, b := c.Objects[0].(*widget.Label), c.Objects[1].(*widget.Icon), c.Objects[2].(*widget.Button)
			bold := it.kind == sideHeader
			if l.TextStyle.Bold != bold {
				l.TextStyle.Bold = bold
				l.Refresh()
			}
			italic := it.kind == sideNothing
			if l.TextStyle.Italic != italic {
				l.TextStyle.Italic = italic
				l.Refresh()
			}
			setText(l, it.text)
			if it.icon == nil {
				icon.Hide()
			} else {
				icon.SetResource(it.icon)
				icon.Show()
			}
			switch {
			case it.action != nil:
				b.SetIcon(it.tip)
				b.OnTapped = it.action
				b.Show()
			case it.menu != nil:
				b.SetIcon(theme.MoreHorizontalIcon())
				b.OnTapped = func() { it.menu(b) }
				b.Show()
			default:
				b.Hide()
			}
		})
	ui.sidebar.OnSelected = func(id widget.ListItemID) {
		if id >= len(ui.side) {
			return
		}
		it := ui.side[id]
		switch it.kind {
		case sideList:
			ui.showList(it.id)
		case sideRoom:
			if it.id == "" {
				ui.joinLink()
			} else if it.id != ui.core.Room() {
				ui.core.SwitchRoom(it.id)
				ui.showList(QueueID)
			} else {
				ui.showRoom()
			}
		}
		ui.selectSidebar()
	}
	return ui.sidebar
}

// refreshSidebar re-reads the playlists and the rooms.
func (ui *Window) refreshSidebar() {
	ui.lists = ui.core.Playlists()
	ui.rooms = ui.core.Rooms()
	side := ui.side[:0:0]
	if ui.opts.Library != nil {
		side = append(side, sideItem{kind: sideHeader, text: "LIBRARY", action: ui.rescan, tip: theme.ViewRefreshIcon()})
		text := "Your music"
		if running, n := ui.opts.Library.Scanning(); running {
			text = fmt.Sprintf("Your music (scanning, %d files)", n)
		}
		side = append(side, sideItem{kind: sideList, id: LibraryID, text: text, icon: theme.StorageIcon()})
	}
	side = append(side, sideItem{kind: sideHeader, text: "PLAYLISTS", action: ui.newPlaylist, tip: theme.ContentAddIcon()})
	found := ui.list == LibraryID && ui.opts.Library != nil
	for _, p := range ui.lists {
		text, icon := p.Name, theme.ListIcon()
		if p.ID == QueueID {
			text, icon = "Room queue", theme.MediaMusicIcon()
		} else if p.Collaborative {
			icon = theme.AccountIcon()
		}
		it := sideItem{kind: sideList, id: p.ID, text: text, icon: icon}
		if p.Mine && p.ID != QueueID {
			p := p
			it.menu = func(anchor fyne.CanvasObject) { ui.playlistMenu(p, anchor) }
		}
		side = append(side, it)
		found = found || p.ID == ui.list
	}
	side = append(side, sideItem{kind: sideHeader, text: "ROOMS", action: ui.hostRoom, tip: theme.ContentAddIcon()})
	for _, r := range ui.rooms {
		text := r.Name
		if r.Current {
			text = "● " + r.Name
		}
		side = append(side, sideItem{kind: sideRoom, id: r.Name, text: text, icon: theme.HomeIcon()})
	}
	if len(ui.rooms) == 0 {
		side = append(side, sideItem{kind: sideNothing, text: "no rooms yet"})
	}
	side = append(side, sideItem{kind: sideRoom, id: "", text: "Join with a link…", icon: theme.LoginIcon()})
	ui.side = side
	ui.flushPendingAdd()
	if !found {
		ui.list = QueueID
		ui.model.unselect()
	}
	ui.sidebar.Refresh()
	ui.selectSidebar()
}

// selectSidebar marks the shown list in the sidebar.
func (ui *Window) selectSidebar() {
	for i, it := range ui.side {
		if it.kind == sideList && it.id == ui.list {
			ui.sidebar.Select(i) // OnSelected sees the same list and does nothing
			return
		}
	}
	ui.sidebar.UnselectAll()
}

// rescan scans the music folders again.
func (ui *Window) rescan() {
	if ui.opts.Library != nil {
		ui.opts.Library.Rescan()
		ui.refreshSidebar()
	}
}

// buildFriends makes the right pane: friends, then the activity feed.
func (ui *Window) buildFriends() fyne.CanvasObject {
	ui.friendList = widget.NewList(
		func() int { return len(ui.friends) },
		func() fyne.CanvasObject { return newFriendRow() },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < len(ui.friends) {
				o.(*friendRow).set(ui.friends[id], time.Now())
			}
		})
	ui.friendList.HideSeparators = true
	ui.friendList.OnSelected = func(widget.ListItemID) { ui.friendList.UnselectAll() }
	ui.feed = widget.NewList(
		func() int { return len(ui.activity) },
		func() fyne.CanvasObject {
			text := widget.NewLabel("Someone added a song to a playlist")
			text.Wrapping = fyne.TextWrapWord
			text.SizeName = theme.SizeNameCaptionText
			when := widget.NewLabel("59 min")
			when.SizeName = theme.SizeNameCaptionText
			return container.NewBorder(nil, nil, nil, when, text)
		},
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id >= len(ui.activity) {
				return
			}
			a := ui.activity[id]
			c := o.(*fyne.Container)
			setText(c.Objects[0].(*widget.Label), a.Text)
			setText(c.Objects[1].(*widget.Label), ago(time.Now(), a.At))
		})
	ui.feed.HideSeparators = true
	ui.feed.OnSelected = func(widget.ListItemID) { ui.feed.UnselectAll() }
	ui.noFriends = widget.NewLabel("No friends here yet. Invite them with the room's link: click the room at the bottom right.")
	ui.noFriends.Wrapping = fyne.TextWrapWord
	ui.noFriends.SizeName = theme.SizeNameCaptionText
	friends := container.NewBorder(heading("FRIENDS"), nil, nil, nil, container.NewStack(ui.friendList, container.NewVBox(ui.noFriends)))
	feed := container.NewBorder(heading("ACTIVITY"), nil, nil, nil, ui.feed)
	split := container.NewVSplit(friends, feed)
	split.Offset = 0.55
	return split
}

// playlistMenu is the menu of a playlist of the user's: rename, and share
// with every friend or keep it to oneself.
func (ui *Window) playlistMenu(p PlaylistItem, anchor fyne.CanvasObject) {
	share := fyne.NewMenuItem("Let friends edit it", func() { ui.core.SharePlaylist(p.ID, true) })
	if p.Collaborative {
		share = fyne.NewMenuItem("Keep it to myself", func() { ui.core.SharePlaylist(p.ID, false) })
	}
	menu := fyne.NewMenu("",
		fyne.NewMenuItem("Rename…", func() {
			ui.askName("Rename "+p.Name, "Rename", func(name string) { ui.core.RenamePlaylist(p.ID, name) })
		}),
		share)
	widget.ShowPopUpMenuAtRelativePosition(menu, ui.win.Canvas(), fyne.NewPos(0, anchor.Size().Height), anchor)
}
