package ui

import (
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"tandem/player"
)

// uploadsPanel is the list of the files being added to the hub: one row
// per file with its name, a progress bar, its state or, when it failed,
// the reason in the theme's error colour, and a cancel button while it
// runs. Above the list: "Add files…", "Clear finished" and a count.
type uploadsPanel struct {
	u        Uploads
	addFiles func()

	items   []UploadItem // as last read from u, in the order added
	list    *widget.List
	add     *widget.Button
	clear   *widget.Button
	summary *widget.Label
	empty   *widget.Label
	root    fyne.CanvasObject
}

// newUploadsPanel shows the uploads of u: one row per file with its name,
// a progress bar (Sent/Size), its state or error reason (the error in the
// theme's error colour), and a cancel button while it runs; a "Clear
// finished" button and an "Add files…" button at the top.
func newUploadsPanel(u Uploads, addFiles func()) *uploadsPanel {
	p := &uploadsPanel{u: u, addFiles: addFiles}
	p.add = widget.NewButtonWithIcon("Add files…", theme.ContentAddIcon(), func() {
		if p.addFiles != nil {
			p.addFiles()
		}
	})
	p.clear = widget.NewButtonWithIcon("Clear finished", theme.ContentClearIcon(), func() {
		p.u.Clear()
		p.Refresh()
	})
	p.summary = widget.NewLabel("")
	p.summary.Truncation = fyne.TextTruncateEllipsis
	p.empty = widget.NewLabel("No uploads. Add music files or folders to share them with the room.")
	p.empty.Alignment = fyne.TextAlignCenter
	p.empty.Wrapping = fyne.TextWrapWord
	p.list = widget.NewList(
		func() int { return len(p.items) },
		func() fyne.CanvasObject { return newUploadRow() },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id >= 0 && id < len(p.items) {
				o.(*uploadRow).set(p.items[id], p.u.Cancel)
			}
		})
	// Rows are not picked: a tap does nothing but on the cancel button.
	p.list.OnSelected = func(id widget.ListItemID) { p.list.Unselect(id) }
	top := container.NewBorder(nil, nil, container.NewHBox(p.add, p.clear), nil, p.summary)
	p.root = container.NewBorder(top, nil, nil, nil, container.NewStack(p.list, p.empty))
	p.Refresh()
	return p
}

// Object is the panel's canvas object.
func (p *uploadsPanel) Object() fyne.CanvasObject { return p.root }

// Refresh re-reads u.Items(). It runs on the Fyne goroutine.
func (p *uploadsPanel) Refresh() {
	p.items = p.u.Items()
	finished := 0
	for _, it := range p.items {
		if it.State.Finished() {
			finished++
		}
	}
	if finished > 0 {
		p.clear.Enable()
	} else {
		p.clear.Disable()
	}
	p.summary.SetText(uploadsSummary(p.items))
	if len(p.items) == 0 {
		p.empty.Show()
	} else {
		p.empty.Hide()
	}
	p.list.Refresh()
}

// uploadsSummary counts the uploads by outcome: "5 files: 2 on the hub,
// 1 failed, 2 to go".
func uploadsSummary(items []UploadItem) string {
	if len(items) == 0 {
		return ""
	}
	var hub, failed, canceled, togo int
	for _, it := range items {
		switch it.State {
		case player.UploadDone, player.UploadDuplicate:
			hub++
		case player.UploadFailed:
			failed++
		case player.UploadCanceled:
			canceled++
		default:
			togo++
		}
	}
	parts := []string{}
	for _, c := range []struct {
		n    int
		what string
	}{{hub, "on the hub"}, {failed, "failed"}, {canceled, "canceled"}, {togo, "to go"}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	files := "files"
	if len(items) == 1 {
		files = "file"
	}
	return fmt.Sprintf("%d %s: %s", len(items), files, strings.Join(parts, ", "))
}

// uploadRow is one file of the list.
type uploadRow struct {
	widget.BaseWidget
	name   *widget.Label
	bar    *widget.ProgressBar
	state  *widget.Label
	reason *widget.Label // the error, instead of the bar and the state
	cancel *widget.Button
	id     string // the upload shown
	onTap  func(id string)
}

func newUploadRow() *uploadRow {
	r := &uploadRow{
		name:   widget.NewLabel(""),
		bar:    widget.NewProgressBar(),
		state:  widget.NewLabel(""),
		reason: widget.NewLabel(""),
	}
	r.name.Truncation = fyne.TextTruncateEllipsis
	r.state.Truncation = fyne.TextTruncateEllipsis
	r.reason.Truncation = fyne.TextTruncateEllipsis
	r.reason.Importance = widget.DangerImportance
	r.cancel = widget.NewButtonWithIcon("", theme.CancelIcon(), func() {
		if r.onTap != nil && r.id != "" {
			r.onTap(r.id)
		}
	})
	r.cancel.Importance = widget.LowImportance
	r.ExtendBaseWidget(r)
	return r
}

// set shows it; cancel is called with its id when the cancel button is
// tapped.
func (r *uploadRow) set(it UploadItem, cancel func(id string)) {
	r.id, r.onTap = it.ID, cancel
	r.name.SetText(it.Name)
	if it.State == player.UploadFailed {
		r.bar.Hide()
		r.state.Hide()
		reason := it.Err
		if reason == "" {
			reason = string(it.State)
		}
		r.reason.SetText(reason)
		r.reason.Show()
	} else {
		r.reason.Hide()
		r.bar.Max = 1
		r.bar.SetValue(uploadFraction(it))
		r.bar.Show()
		r.state.SetText(uploadStateText(it))
		r.state.Show()
	}
	if it.State.Finished() {
		r.cancel.Hide()
	} else {
		r.cancel.Show()
	}
}

// uploadFraction is how far an upload has come, from 0 to 1.
func uploadFraction(it UploadItem) float64 {
	switch {
	case it.State == player.UploadDone || it.State == player.UploadDuplicate:
		return 1
	case it.State == player.UploadQueued || it.Size <= 0:
		return 0
	}
	return min(1, float64(it.Sent)/float64(it.Size))
}

// uploadStateText is the state in words, with the amount sent while it
// uploads.
func uploadStateText(it UploadItem) string {
	switch it.State {
	case player.UploadSending:
		return fmt.Sprintf("uploading %s of %s", byteSize(it.Sent), byteSize(it.Size))
	case player.UploadDone:
		return "done, " + byteSize(it.Size)
	}
	return string(it.State)
}

// byteSize writes n bytes for people: 512 B, 14 KB, 3.2 MB.
func byteSize(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%d KB", n>>10)
	case n < 1<<30:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.2f GB", float64(n)/(1<<30))
}

func (r *uploadRow) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(container.New(uploadRowLayout{},
		r.name, r.bar, r.state, r.reason, r.cancel))
}

// uploadRowLayout places a row's parts: the name on the left third, the
// bar and the state side by side in the rest (or the reason across both),
// and the cancel button at the right end, whose room is kept even while
// it is hidden so that the columns line up.
type uploadRowLayout struct{}

func (uploadRowLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	h := float32(0)
	for _, o := range objs {
		h = max(h, o.MinSize().Height)
	}
	// Room for the button and a little of each column; the list
	// stretches the row to its width.
	w := objs[4].MinSize().Width + 3*theme.Padding() + 3*objs[0].MinSize().Width
	return fyne.NewSize(w, h)
}

func (uploadRowLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	name, bar, state, reason, cancel := objs[0], objs[1], objs[2], objs[3], objs[4]
	pad := theme.Padding()
	cw := cancel.MinSize().Width
	rest := max(0, size.Width-cw-3*pad)
	nameW := rest * 0.35
	barW := rest * 0.30
	stateW := rest - nameW - barW
	x := float32(0)
	place := func(o fyne.CanvasObject, x, w float32) {
		mh := min(o.MinSize().Height, size.Height)
		o.Move(fyne.NewPos(x, (size.Height-mh)/2))
		o.Resize(fyne.NewSize(w, mh))
	}
	place(name, x, nameW)
	x += nameW + pad
	place(bar, x, barW)
	place(reason, x, barW+pad+stateW)
	x += barW + pad
	place(state, x, stateW)
	place(cancel, size.Width-cw, cw)
}

var _ fyne.Layout = uploadRowLayout{}
