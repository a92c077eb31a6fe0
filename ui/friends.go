package ui

import (
	"hash/fnv"
	"image/color"
	"strings"
	"time"
	"unicode"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// avatarSize is an avatar's diameter, in Fyne units.
const avatarSize = 36

// avatarColors are the avatars' background colours, picked by a hash of
// the name so that a friend keeps a colour everywhere.
var avatarColors = [...]color.NRGBA{
	{0xE5, 0x39, 0x35, 0xFF}, {0xD8, 0x1B, 0x60, 0xFF}, {0x8E, 0x24, 0xAA, 0xFF}, {0x5E, 0x35, 0xB1, 0xFF},
	{0x39, 0x49, 0xAB, 0xFF}, {0x1E, 0x88, 0xE5, 0xFF}, {0x00, 0x89, 0x7B, 0xFF}, {0x43, 0xA0, 0x47, 0xFF},
	{0xF4, 0x51, 0x1E, 0xFF}, {0x6D, 0x4C, 0x41, 0xFF}, {0x54, 0x6E, 0x7A, 0xFF}, {0xC0, 0xCA, 0x33, 0xFF},
}

// initials are up to two letters of a name: the first letters of its first
// two words, or its first two letters.
func initials(name string) string {
	name = strings.TrimSuffix(name, " (guest)")
	words := strings.FieldsFunc(name, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	var out []rune
	for _, w := range words {
		out = append(out, []rune(w)[0])
		if len(out) == 2 {
			break
		}
	}
	if len(out) == 1 {
		if r := []rune(words[0]); len(r) > 1 {
			out = append(out, r[1])
		}
	}
	return strings.ToUpper(string(out))
}

// avatarColor is a name's colour.
func avatarColor(name string) color.NRGBA {
	h := fnv.New32a()
	h.Write([]byte(strings.TrimSuffix(name, " (guest)")))
	return avatarColors[h.Sum32()%uint32(len(avatarColors))]
}

// avatar is a friend's round badge: initials on a colour, with a green dot
// when online.
type avatar struct {
	widget.BaseWidget
	circle *canvas.Circle
	text   *canvas.Text
	dot    *canvas.Circle
	ring   *canvas.Circle
}

func newAvatar() *avatar {
	a := &avatar{
		circle: canvas.NewCircle(color.Gray{Y: 0x80}),
		text:   canvas.NewText("", color.White),
		dot:    canvas.NewCircle(color.NRGBA{0x2E, 0xC2, 0x5B, 0xFF}),
		ring:   canvas.NewCircle(color.Transparent),
	}
	a.text.TextStyle.Bold = true
	a.text.Alignment = fyne.TextAlignCenter
	a.text.TextSize = 14
	a.ring.StrokeWidth = 2
	a.ExtendBaseWidget(a)
	return a
}

// set shows a friend.
func (a *avatar) set(name string, online bool) {
	a.circle.FillColor = avatarColor(name)
	if !online {
		c := a.circle.FillColor.(color.NRGBA)
		c.A = 0x70
		a.circle.FillColor = c
	}
	a.text.Text = initials(name)
	if online {
		a.dot.Show()
		a.ring.Show()
	} else {
		a.dot.Hide()
		a.ring.Hide()
	}
	a.Refresh()
}

func (a *avatar) CreateRenderer() fyne.WidgetRenderer {
	return &avatarRenderer{a: a}
}

func (a *avatar) MinSize() fyne.Size { return fyne.NewSquareSize(avatarSize) }

type avatarRenderer struct{ a *avatar }

func (r *avatarRenderer) Layout(s fyne.Size) {
	d := min(s.Width, s.Height)
	off := fyne.NewPos((s.Width-d)/2, (s.Height-d)/2)
	r.a.circle.Move(off)
	r.a.circle.Resize(fyne.NewSquareSize(d))
	r.a.text.Move(off.AddXY(0, (d-r.a.text.MinSize().Height)/2))
	r.a.text.Resize(fyne.NewSize(d, r.a.text.MinSize().Height))
	dot := d * 0.32
	r.a.ring.FillColor = color.Transparent
	r.a.ring.StrokeColor = theme.Color(theme.ColorNameBackground)
	r.a.dot.Move(off.AddXY(d-dot, d-dot))
	r.a.dot.Resize(fyne.NewSquareSize(dot))
	r.a.ring.Move(off.AddXY(d-dot-1, d-dot-1))
	r.a.ring.Resize(fyne.NewSquareSize(dot + 2))
}

func (r *avatarRenderer) MinSize() fyne.Size { return r.a.MinSize() }

func (r *avatarRenderer) Refresh() {
	r.Layout(r.a.Size())
	for _, o := range r.Objects() {
		o.Refresh()
	}
}

func (r *avatarRenderer) Objects() []fyne.CanvasObject {
	return []fyne.CanvasObject{r.a.circle, r.a.text, r.a.ring, r.a.dot}
}

func (r *avatarRenderer) Destroy() {}

// friendRow is one line of the friends pane: the avatar, the name and how
// long ago, and what the friend plays where.
type friendRow struct {
	widget.BaseWidget
	avatar    *avatar
	name      *widget.Label
	when      *widget.Label
	listening *widget.Label
}

func newFriendRow() *friendRow {
	f := &friendRow{
		avatar:    newAvatar(),
		name:      widget.NewLabelWithStyle("Friend name", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		when:      widget.NewLabel("59 min"),
		listening: widget.NewLabel("Title — Artist"),
	}
	f.name.Truncation = fyne.TextTruncateEllipsis
	f.listening.Truncation = fyne.TextTruncateEllipsis
	f.listening.SizeName = theme.SizeNameCaptionText
	f.when.SizeName = theme.SizeNameCaptionText
	f.ExtendBaseWidget(f)
	return f
}

func (f *friendRow) CreateRenderer() fyne.WidgetRenderer {
	top := container.NewBorder(nil, nil, nil, f.when, f.name)
	return widget.NewSimpleRenderer(container.NewBorder(nil, nil, container.NewCenter(f.avatar), nil,
		container.NewVBox(top, f.listening)))
}

// set shows a friend, at now.
func (f *friendRow) set(fr Friend, now time.Time) {
	f.avatar.set(fr.Name, fr.Online)
	setText(f.name, fr.Name)
	when := ""
	if fr.Online || !fr.Since.IsZero() {
		when = ago(now, fr.Since)
	}
	setText(f.when, when)
	italic := true
	var text string
	switch {
	case !fr.Online:
		text = "offline"
	case fr.Buffering:
		text = "buffering…"
	case fr.Listening != "":
		italic = false
		text = "♪ " + fr.Listening
		if fr.Room != "" {
			text += " · in " + fr.Room
		}
	case fr.Room != "":
		text = "in " + fr.Room
	default:
		text = "online"
	}
	if f.listening.TextStyle.Italic != italic {
		f.listening.TextStyle.Italic = italic
		f.listening.Refresh()
	}
	setText(f.listening, text)
}
