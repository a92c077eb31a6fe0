package ui

import (
	"bytes"
	"fmt"
	"image"
	_ "image/jpeg" // artwork embedded in tags
	_ "image/png"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"tandem/player"
	"tandem/player/settings"
)

// artSize is the artwork's side in the bottom bar, in Fyne units.
const artSize = 56

// nowBar is the bottom bar: artwork, title and artist; previous,
// play/pause and next; the seek bar with elapsed and remaining time;
// shuffle, repeat, mute and volume; and the room's summary, which opens
// the room view.
type nowBar struct {
	ui *Window

	art       *canvas.Image
	artIcon   *widget.Icon
	title     *widget.Label
	artist    *widget.Label
	pending   *widget.Label
	prev      *widget.Button
	play      *widget.Button
	next      *widget.Button
	seek      *widget.Slider
	elapsed   *widget.Label
	remaining *widget.Label
	shuffle   *widget.Button
	repeat    *widget.Button
	mute      *widget.Button
	volume    *widget.Slider
	room      *widget.Button

	now      NowPlaying
	lastSet  float64 // the seek bar's value as the bar last set it
	settingV bool    // the volume slider is being set from the core
}

func newNowBar(ui *Window) *nowBar {
	b := &nowBar{ui: ui}
	b.art = canvas.NewImageFromImage(nil)
	b.art.FillMode = canvas.ImageFillContain
	b.art.SetMinSize(fyne.NewSquareSize(artSize))
	b.art.Hide()
	b.artIcon = widget.NewIcon(theme.MediaMusicIcon())
	b.title = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	b.title.Truncation = fyne.TextTruncateEllipsis
	b.artist = widget.NewLabel("")
	b.artist.Truncation = fyne.TextTruncateEllipsis
	b.pending = widget.NewLabel("")
	b.prev = widget.NewButtonWithIcon("", theme.MediaSkipPreviousIcon(), ui.core.Previous)
	b.play = widget.NewButtonWithIcon("", theme.MediaPlayIcon(), ui.TogglePlay)
	b.play.Importance = widget.HighImportance
	b.next = widget.NewButtonWithIcon("", theme.MediaSkipNextIcon(), ui.core.Next)
	b.seek = widget.NewSlider(0, 1)
	b.seek.Step = 0
	b.seek.OnChanged = func(v float64) {
		// While dragging, the labels follow the thumb; the bar stops
		// following the core until the drag ends.
		if b.ui.seeking || b.seekDragged(v) {
			b.ui.seeking = true
			b.setTimes(secs(v), b.now.Duration)
		}
	}
	b.seek.OnChangeEnded = func(v float64) {
		if !b.ui.seeking {
			return
		}
		b.ui.seeking = false
		if b.now.EntryID == "" && b.now.TrackID == "" {
			return
		}
		b.ui.setPending()
		b.ui.core.Seek(secs(v))
	}
	b.elapsed = widget.NewLabel("0:00")
	b.elapsed.SizeName = theme.SizeNameCaptionText
	b.remaining = widget.NewLabel("-0:00")
	b.remaining.SizeName = theme.SizeNameCaptionText
	b.shuffle = widget.NewButton("Shuffle", func() { b.ui.core.SetShuffle(!b.ui.room.Shuffle) })
	b.repeat = widget.NewButtonWithIcon("Repeat", theme.MediaReplayIcon(), func() {
		b.ui.core.SetRepeat(nextRepeat(b.ui.room.Repeat))
	})
	b.mute = widget.NewButtonWithIcon("", theme.VolumeUpIcon(), func() {
		b.ui.core.SetMuted(!b.ui.core.Muted())
		b.refreshVolume()
	})
	b.mute.Importance = widget.LowImportance
	b.volume = widget.NewSlider(0, 1)
	b.volume.Step = 0.01
	b.volume.OnChanged = func(v float64) {
		if !b.settingV {
			b.ui.core.SetVolume(v)
			if b.ui.core.Muted() {
				b.ui.core.SetMuted(false)
			}
			b.refreshMuteIcon()
		}
	}
	b.volume.OnChangeEnded = func(v float64) {
		if !b.settingV {
			b.ui.save(func(s *settings.Settings) { s.Volume = &v })
		}
	}
	b.room = widget.NewButtonWithIcon("Not in a room", theme.AccountIcon(), b.ui.showRoom)
	b.room.Importance = widget.LowImportance
	b.refreshVolume()
	return b
}

// seekDragged tells a drag of the seek bar from the bar's own updates:
// those set exactly the value given to SetValue.
func (b *nowBar) seekDragged(v float64) bool {
	return v != b.lastSet
}

// object lays the bar out.
func (b *nowBar) object() fyne.CanvasObject {
	artBox := container.NewGridWrap(fyne.NewSquareSize(artSize), container.NewStack(b.artIcon, b.art))
	labels := container.NewVBox(b.title, b.artist)
	track := container.NewBorder(nil, nil, artBox, nil, container.NewGridWrap(fyne.NewSize(230, labels.MinSize().Height), labels))
	buttons := container.NewHBox(layout.NewSpacer(), b.prev, b.play, b.next, b.pending, layout.NewSpacer())
	seek := container.NewBorder(nil, nil, b.elapsed, b.remaining, b.seek)
	centre := container.NewVBox(buttons, seek)
	vol := container.NewGridWrap(fyne.NewSize(110, b.volume.MinSize().Height), b.volume)
	right := container.NewVBox(
		container.NewHBox(b.shuffle, b.repeat, b.mute, container.NewCenter(vol)),
		container.NewHBox(layout.NewSpacer(), b.room))
	return container.NewBorder(nil, nil, track, right, centre)
}

// setPending shows or hides "…", a local command not yet answered.
func (b *nowBar) setPending(on bool) {
	if on {
		setText(b.pending, "…")
	} else {
		setText(b.pending, "")
	}
}

// setNow shows what plays.
func (b *nowBar) setNow(n NowPlaying, pending bool) {
	b.now = n
	title := n.Title
	if title == "" && n.EntryID == "" && n.TrackID == "" {
		title = "Nothing playing"
	}
	setText(b.title, title)
	setText(b.artist, n.Artist)
	icon := theme.MediaPlayIcon()
	if n.Playing {
		icon = theme.MediaPauseIcon()
	}
	if b.play.Icon != icon {
		b.play.SetIcon(icon)
	}
	b.setPending(pending)
	if b.ui.seeking {
		return
	}
	hi := 1.0
	if n.Duration > 0 {
		hi = n.Duration.Seconds()
	}
	v := min(max(0, n.Position.Seconds()), hi)
	if b.seek.Max != hi || b.seek.Value != v {
		b.seek.Max = hi
		b.lastSet = v
		b.seek.SetValue(v)
	}
	b.setTimes(n.Position, n.Duration)
}

// setTimes shows the elapsed and remaining time.
func (b *nowBar) setTimes(pos, dur time.Duration) {
	setText(b.elapsed, clock(pos))
	if dur > 0 {
		setText(b.remaining, "-"+clock(max(0, dur-pos)))
	} else {
		setText(b.remaining, "")
	}
}

// setArt shows the artwork, or the music icon for nil or an image that
// does not decode.
func (b *nowBar) setArt(data []byte) {
	var img image.Image
	if len(data) > 0 {
		if i, _, err := image.Decode(bytes.NewReader(data)); err == nil {
			img = i
		}
	}
	b.art.Image = img
	if img == nil {
		b.art.Hide()
		b.artIcon.Show()
	} else {
		b.artIcon.Hide()
		b.art.Show()
	}
	b.art.Refresh()
}

// setRoom shows the room's summary and its shuffle and repeat modes.
func (b *nowBar) setRoom(r RoomView) {
	text := "Not in a room"
	if r.Name != "" {
		others := 0
		for _, m := range r.Members {
			if m.Online && !isMe(m.Name, b.ui.opts.Name) {
				others++
			}
		}
		switch others {
		case 0:
			text = "In " + r.Name + ", alone"
		case 1:
			text = "In " + r.Name + " with 1 friend"
		default:
			text = fmt.Sprintf("In %s with %d friends", r.Name, others)
		}
	}
	if b.room.Text != text {
		b.room.SetText(text)
	}
	imp := widget.LowImportance
	if r.Shuffle {
		imp = widget.HighImportance
	}
	if b.shuffle.Importance != imp {
		b.shuffle.Importance = imp
		b.shuffle.Refresh()
	}
	rt, ri := "Repeat", widget.LowImportance
	switch r.Repeat {
	case player.RepeatAll:
		rt, ri = "Repeat all", widget.HighImportance
	case player.RepeatOne:
		rt, ri = "Repeat one", widget.HighImportance
	}
	if b.repeat.Text != rt || b.repeat.Importance != ri {
		b.repeat.Text, b.repeat.Importance = rt, ri
		b.repeat.Refresh()
	}
	controls := r.Name != "" && (!r.HostOnly || r.IsHost)
	for _, w := range []*widget.Button{b.prev, b.next, b.shuffle, b.repeat} {
		if controls && w.Disabled() {
			w.Enable()
		} else if !controls && !w.Disabled() {
			w.Disable()
		}
	}
}

// refreshVolume shows the core's volume and mute.
func (b *nowBar) refreshVolume() {
	b.settingV = true
	b.volume.SetValue(b.ui.core.Volume())
	b.settingV = false
	b.refreshMuteIcon()
}

func (b *nowBar) refreshMuteIcon() {
	icon := theme.VolumeUpIcon()
	switch {
	case b.ui.core.Muted():
		icon = theme.VolumeMuteIcon()
	case b.ui.core.Volume() < 0.5:
		icon = theme.VolumeDownIcon()
	}
	if b.mute.Icon != icon {
		b.mute.SetIcon(icon)
	}
}

// isMe reports whether a member's name is the user's: the same, or the
// same as a guest.
func isMe(name, me string) bool {
	return me != "" && (name == me || name == me+" (guest)")
}

// nextRepeat cycles off → all → one → off.
func nextRepeat(r player.Repeat) player.Repeat {
	switch r {
	case player.RepeatAll:
		return player.RepeatOne
	case player.RepeatOne:
		return player.RepeatOff
	}
	return player.RepeatAll
}

// secs converts a slider's seconds.
func secs(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }
