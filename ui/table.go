package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// trackTable is the centre table: a widget.Table over a rowModel, with
// sortable headers, multi-select (Ctrl and Shift clicks), a double tap or
// Enter to play, and a context menu on the secondary button. It sizes its
// columns to its width.
type trackTable struct {
	widget.Table
	m *rowModel

	// Callbacks, set by the window.
	onEnter     func()                          // Enter or Return on the table
	onActivate  func(row int)                   // double tap on a row
	onMenu      func(row int, at fyne.Position) // secondary tap on a row, at an absolute position
	onSelection func()                          // the selection changed
	onSort      func(SortOrder)                 // a header was tapped
	playing     func(Row) bool                  // whether a row is the one playing
	onKey       func(*fyne.KeyEvent) bool       // the player's keys; true when used

	focusing bool         // focusRow moves the keyboard focus, selecting nothing
	cells    []*trackCell // every cell made, to find where a row is drawn
}

func newTrackTable(m *rowModel) *trackTable {
	t := &trackTable{m: m}
	t.ShowHeaderRow = true
	t.Length = func() (int, int) { return m.len(), numCols }
	t.CreateCell = func() fyne.CanvasObject {
		c := newTrackCell(t)
		t.cells = append(t.cells, c)
		return c
	}
	t.UpdateCell = t.updateCell
	t.CreateHeader = func() fyne.CanvasObject { return newHeaderCell(t) }
	t.UpdateHeader = func(id widget.TableCellID, o fyne.CanvasObject) {
		if id.Col >= 0 && id.Col < numCols {
			o.(*headerCell).set(id.Col, t.m.sort)
		}
	}
	// The table keeps its own selection of rows, and highlights whole
	// rows; the Table's one-cell selection (made by the keyboard) becomes
	// a plain click on that row, and is dropped at once. The Table still
	// tracks the keyboard focus.
	t.OnSelected = func(id widget.TableCellID) {
		t.Unselect(id)
		if !t.focusing {
			t.click(id.Row, 0)
		}
	}
	t.ExtendBaseWidget(t)
	return t
}

// click selects a row as a click with the given modifiers does.
func (t *trackTable) click(row int, mod fyne.KeyModifier) {
	t.m.click(row, mod&(fyne.KeyModifierControl|fyne.KeyModifierSuper) != 0, mod&fyne.KeyModifierShift != 0)
	t.Refresh()
	if t.onSelection != nil {
		t.onSelection()
	}
}

// focusRow moves the Table's keyboard focus to a cell, so that ↑ and ↓
// go on from the row clicked.
func (t *trackTable) focusRow(id widget.TableCellID) {
	t.focusing = true
	t.Select(id)
	t.focusing = false
}

// TypedKey moves the selection with ↑ and ↓, plays it with Enter, gives
// the player's keys (Space, ←, →, Delete) to onKey, and leaves the others
// to the Table.
func (t *trackTable) TypedKey(e *fyne.KeyEvent) {
	switch e.Name {
	case fyne.KeyUp, fyne.KeyDown:
		t.Table.TypedKey(e)
		t.Table.TypedKey(&fyne.KeyEvent{Name: fyne.KeySpace}) // select the focused row
	case fyne.KeyReturn, fyne.KeyEnter:
		if t.onEnter != nil {
			t.onEnter()
		}
	default:
		if t.onKey == nil || !t.onKey(e) {
			t.Table.TypedKey(e)
		}
	}
}

// Resize lays the table out and shares its width among the columns: DATE
// and LENGTH get what they need, the rest goes to SONG, ARTIST, ALBUM and
// USER. It redraws the cells, which a Table sized after its last refresh
// lacks.
func (t *trackTable) Resize(s fyne.Size) {
	if s == t.Size() {
		return
	}
	t.Table.Resize(s)
	th := t.Theme()
	pad := th.Size(theme.SizeNamePadding)
	date := widget.NewLabel("0000-00-00").MinSize().Width + pad
	length := widget.NewLabel("LENGTH ▼").MinSize().Width + pad
	rest := s.Width - date - length - numCols*pad - th.Size(theme.SizeNameScrollBar)
	const minCol = 80 // fyne units
	song, artist, album, user := max(rest*0.34, minCol), max(rest*0.24, minCol), max(rest*0.24, minCol), max(rest*0.18, minCol)
	for col, w := range [numCols]float32{song, artist, album, user, date, length} {
		t.SetColumnWidth(col, w) // refreshes when w changes
	}
	t.Refresh()
}

// updateCell fills one cell.
func (t *trackTable) updateCell(id widget.TableCellID, o fyne.CanvasObject) {
	c := o.(*trackCell)
	if id.Row < 0 || id.Row >= t.m.len() {
		c.set(id, "", false, false)
		return
	}
	r := t.m.row(id.Row)
	playing := t.playing != nil && t.playing(r)
	c.set(id, cellText(r, id.Col), playing, t.m.isSelected(id.Row))
}

// headerCell is a column's header: its name, and an arrow when the table
// is sorted by it. A tap sorts by the column.
type headerCell struct {
	widget.BaseWidget
	t     *trackTable
	col   int
	label *widget.Label
}

func newHeaderCell(t *trackTable) *headerCell {
	h := &headerCell{t: t, label: widget.NewLabelWithStyle("ARTIST ▲", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})}
	h.label.Truncation = fyne.TextTruncateEllipsis
	h.ExtendBaseWidget(h)
	return h
}

func (h *headerCell) CreateRenderer() fyne.WidgetRenderer { return widget.NewSimpleRenderer(h.label) }

func (h *headerCell) set(col int, s SortOrder) {
	h.col = col
	text := columnNames[col]
	if s.Column == col {
		if s.Desc {
			text += " ▼"
		} else {
			text += " ▲"
		}
	}
	if h.label.Text != text {
		h.label.SetText(text)
	}
}

// Tapped sorts by the column.
func (h *headerCell) Tapped(*fyne.PointEvent) {
	h.t.m.toggleSort(h.col)
	h.t.Refresh()
	if h.t.onSort != nil {
		h.t.onSort(h.t.m.sort)
	}
}

// Cursor shows that the header is a button.
func (h *headerCell) Cursor() desktop.Cursor { return desktop.PointerCursor }

// trackCell is one cell. It takes taps itself, since a Table has no double
// tap nor modifiers on a tap: a tap selects the row (Ctrl toggles, Shift
// extends), a double tap plays it, the secondary button opens the context
// menu. Its background marks selected rows.
type trackCell struct {
	widget.BaseWidget
	t     *trackTable
	bg    *canvas.Rectangle
	label *widget.Label
	id    widget.TableCellID
	mod   fyne.KeyModifier // held at the last mouse press
}

func newTrackCell(t *trackTable) *trackCell {
	c := &trackCell{
		t:     t,
		bg:    canvas.NewRectangle(theme.Color(theme.ColorNameSelection)),
		label: widget.NewLabel("Template song title"),
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

// MouseDown notes the modifiers held, for the tap that follows.
func (c *trackCell) MouseDown(e *desktop.MouseEvent) { c.mod = e.Modifier }

// MouseUp is part of desktop.Mouseable.
func (c *trackCell) MouseUp(*desktop.MouseEvent) {}

// Tapped selects the row, with the modifiers of the press.
func (c *trackCell) Tapped(*fyne.PointEvent) {
	mod := c.mod
	c.mod = 0
	c.t.click(c.id.Row, mod)
	c.t.focusRow(c.id)
	if cv := fyne.CurrentApp().Driver().CanvasForObject(c); cv != nil {
		cv.Focus(c.t)
	}
}

// DoubleTapped plays the row.
func (c *trackCell) DoubleTapped(*fyne.PointEvent) {
	if !c.t.m.isSelected(c.id.Row) {
		c.t.click(c.id.Row, 0)
	}
	c.t.focusRow(c.id)
	if c.t.onActivate != nil {
		c.t.onActivate(c.id.Row)
	}
}

// TappedSecondary opens the context menu for the selection, selecting the
// row first when it is not part of it.
func (c *trackCell) TappedSecondary(e *fyne.PointEvent) {
	if !c.t.m.isSelected(c.id.Row) {
		c.t.click(c.id.Row, 0)
	}
	if c.t.onMenu != nil {
		c.t.onMenu(c.id.Row, e.AbsolutePosition)
	}
}

// set shows text in the cell; bold marks the row playing, and highlight
// the selected rows.
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
