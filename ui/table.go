package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// The table's columns, in order.
const (
	colSong = iota
	colArtist
	colUser
	colDate
	numCols
)

// header returns a column's title, after the seed's screenshot.
func header(col int) string {
	switch col {
	case colSong:
		return "SONG"
	case colArtist:
		return "ARTIST"
	case colUser:
		return "USER"
	default:
		return "DATE"
	}
}

// dateLayout formats the DATE column.
const dateLayout = "2006-01-02"

// trackTable is a widget.Table that also reacts to Enter and Return: they
// select the focused cell, as Space does, and then call onEnter. It sizes its
// columns to its width.
type trackTable struct {
	widget.Table
	onEnter func()
}

func newTrackTable() *trackTable {
	t := &trackTable{}
	t.ShowHeaderRow = true
	t.ExtendBaseWidget(t)
	return t
}

// TypedKey handles Enter and Return, and leaves the other keys to the Table.
func (t *trackTable) TypedKey(e *fyne.KeyEvent) {
	switch e.Name {
	case fyne.KeyReturn, fyne.KeyEnter:
		t.Table.TypedKey(&fyne.KeyEvent{Name: fyne.KeySpace}) // select the focused cell
		if t.onEnter != nil {
			t.onEnter()
		}
	default:
		t.Table.TypedKey(e)
	}
}

// Resize lays the table out and shares its width among the columns: DATE
// gets what a date needs, the rest goes 40/30/30 to SONG, ARTIST and USER.
// It redraws the cells, which a Table sized after its last refresh lacks.
func (t *trackTable) Resize(s fyne.Size) {
	if s == t.Size() {
		return
	}
	t.Table.Resize(s)
	th := t.Theme()
	pad := th.Size(theme.SizeNamePadding)
	date := widget.NewLabel("0000-00-00").MinSize().Width + pad
	rest := s.Width - date - numCols*pad - th.Size(theme.SizeNameScrollBar)
	const minCol = 80 // fyne units
	song, other := max(rest*0.4, minCol), max(rest*0.3, minCol)
	for col, w := range [numCols]float32{song, other, other, date} {
		t.SetColumnWidth(col, w) // refreshes when w changes
	}
	t.Refresh()
}

// trackCell is one cell of the track table. It takes taps itself, since a
// Table has no double tap: a tap selects the cell, a double tap selects it
// and activates its row. Its background marks the selected row.
type trackCell struct {
	widget.BaseWidget
	bg    *canvas.Rectangle
	label *widget.Label
	id    widget.TableCellID

	tapped       func(widget.TableCellID)
	doubleTapped func(widget.TableCellID)
}

func newTrackCell(tapped, doubleTapped func(widget.TableCellID)) *trackCell {
	c := &trackCell{
		bg:           canvas.NewRectangle(theme.Color(theme.ColorNameSelection)),
		label:        widget.NewLabel("Template song title"),
		tapped:       tapped,
		doubleTapped: doubleTapped,
	}
	c.bg.CornerRadius = theme.Size(theme.SizeNameSelectionRadius)
	c.bg.Hide()
	c.label.Truncation = fyne.TextTruncateEllipsis
	c.ExtendBaseWidget(c)
	return c
}

// CreateRenderer draws the background under the label.
func (c *trackCell) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(container.NewStack(c.bg, c.label))
}

// Tapped selects the cell.
func (c *trackCell) Tapped(*fyne.PointEvent) { c.tapped(c.id) }

// DoubleTapped selects the cell and activates its row.
func (c *trackCell) DoubleTapped(*fyne.PointEvent) { c.doubleTapped(c.id) }

// set shows text in the cell; bold marks the row now playing, and
// highlight the selected row.
func (c *trackCell) set(id widget.TableCellID, text string, bold, highlight bool) {
	c.id = id
	if c.label.Text != text || c.label.TextStyle.Bold != bold {
		c.label.TextStyle.Bold = bold
		c.label.SetText(text)
	}
	if highlight != c.bg.Visible() {
		if highlight {
			c.bg.FillColor = theme.Color(theme.ColorNameSelection)
			c.bg.Show()
		} else {
			c.bg.Hide()
		}
	}
}
