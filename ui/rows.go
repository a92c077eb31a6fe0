package ui

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The track table's columns, in order.
const (
	colSong = iota
	colArtist
	colAlbum
	colUser
	colDate
	colLength
	numCols
)

// columnNames are the headers, after the seed's screenshot, plus ALBUM and
// the track's length.
var columnNames = [numCols]string{"SONG", "ARTIST", "ALBUM", "USER", "DATE", "LENGTH"}

// SortOrder is the table's sort: a column and a direction. Column -1 keeps
// the playlist's own order.
type SortOrder struct {
	Column int  `json:"column"`
	Desc   bool `json:"desc"`
}

// unsorted is the playlist's own order.
var unsorted = SortOrder{Column: -1}

// rowKey identifies a row across refreshes, filtering and sorting: the
// entry, or for the library the file.
func rowKey(r Row) string {
	if r.EntryID != "" {
		return r.EntryID
	}
	if r.Path != "" {
		return r.Path
	}
	return r.TrackID
}

// rowModel is the table's rows: the rows of the shown list, sorted, then
// filtered, and the selection. It is plain data, owned by the UI
// goroutine, so that filtering and sorting are measured and tested
// without widgets.
type rowModel struct {
	all   []Row    // as the core gave them
	hay   []string // per row of all: its lower-cased searchable text
	order []int    // indices into all, sorted
	shown []int    // indices into all, sorted and filtered: the table's rows
	sort  SortOrder
	query string // lower-cased filter

	selected map[string]bool // by rowKey
	anchor   int             // the shown row a shift-click extends from, -1 for none
}

func newRowModel() *rowModel {
	return &rowModel{sort: unsorted, selected: map[string]bool{}, anchor: -1}
}

// setRows replaces the rows, keeping the sort, the filter and the selected
// rows that remain.
func (m *rowModel) setRows(rows []Row) {
	m.all = rows
	m.hay = make([]string, len(rows))
	for i, r := range rows {
		m.hay[i] = strings.ToLower(r.Song + "\x00" + r.Artist + "\x00" + r.Album + "\x00" + r.User)
	}
	keep := make(map[string]bool, len(m.selected))
	for _, r := range rows {
		if k := rowKey(r); m.selected[k] {
			keep[k] = true
		}
	}
	m.selected = keep
	m.resort()
}

// setSort sorts by a column; the same column again reverses it.
func (m *rowModel) setSort(s SortOrder) {
	if s.Column < -1 || s.Column >= numCols {
		s = unsorted
	}
	m.sort = s
	m.resort()
}

// toggleSort is a tap on a column's header: sort by it ascending, then
// descending, then back to the playlist's order.
func (m *rowModel) toggleSort(col int) {
	switch {
	case m.sort.Column != col:
		m.setSort(SortOrder{Column: col})
	case !m.sort.Desc:
		m.setSort(SortOrder{Column: col, Desc: true})
	default:
		m.setSort(unsorted)
	}
}

func (m *rowModel) resort() {
	m.order = make([]int, len(m.all))
	for i := range m.order {
		m.order[i] = i
	}
	if c := m.sort.Column; c >= 0 {
		sign := 1
		if m.sort.Desc {
			sign = -1
		}
		if key := textKey(c); key != nil {
			// Text columns compare lower-cased keys made once, not
			// folded at every comparison.
			keys := make([]string, len(m.all))
			for i, r := range m.all {
				keys[i] = key(r)
			}
			slices.SortStableFunc(m.order, func(a, b int) int { return sign * strings.Compare(keys[a], keys[b]) })
		} else {
			slices.SortStableFunc(m.order, func(a, b int) int { return sign * compareRows(m.all[a], m.all[b], c) })
		}
	}
	m.refilter()
}

// textKey returns the sort key of a text column, or nil for the others.
func textKey(col int) func(Row) string {
	switch col {
	case colSong:
		return func(r Row) string { return strings.ToLower(r.Song) }
	case colArtist:
		return func(r Row) string { return strings.ToLower(r.Artist) + "\x00" + strings.ToLower(r.Album) }
	case colAlbum:
		return func(r Row) string { return strings.ToLower(r.Album) }
	case colUser:
		return func(r Row) string { return strings.ToLower(r.User) }
	}
	return nil
}

// compareRows compares two rows by a column, text case-insensitively.
func compareRows(a, b Row, col int) int {
	switch col {
	case colSong:
		return compareFold(a.Song, b.Song)
	case colArtist:
		if c := compareFold(a.Artist, b.Artist); c != 0 {
			return c
		}
		return compareFold(a.Album, b.Album)
	case colAlbum:
		return compareFold(a.Album, b.Album)
	case colUser:
		return compareFold(a.User, b.User)
	case colDate:
		return a.Date.Compare(b.Date)
	case colLength:
		return cmp.Compare(a.Length, b.Length)
	}
	return 0
}

// compareFold compares ASCII case-insensitively without allocating;
// other runes compare by code point.
func compareFold(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := lowerASCII(a[i]), lowerASCII(b[i])
		if ca != cb {
			return cmp.Compare(ca, cb)
		}
	}
	return cmp.Compare(len(a), len(b))
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// setFilter shows only the rows whose song, artist, album or user contains
// every word of q, case-insensitively.
func (m *rowModel) setFilter(q string) {
	q = strings.ToLower(strings.TrimSpace(q))
	if q == m.query {
		return
	}
	m.query = q
	m.refilter()
}

func (m *rowModel) refilter() {
	m.anchor = -1
	words := strings.Fields(m.query)
	if len(words) == 0 {
		m.shown = m.order
		return
	}
	shown := make([]int, 0, len(m.order)/4)
next:
	for _, i := range m.order {
		for _, w := range words {
			if !strings.Contains(m.hay[i], w) {
				continue next
			}
		}
		shown = append(shown, i)
	}
	m.shown = shown
}

// len is the number of rows shown.
func (m *rowModel) len() int { return len(m.shown) }

// row returns a shown row.
func (m *rowModel) row(i int) Row { return m.all[m.shown[i]] }

// isSelected reports whether a shown row is selected.
func (m *rowModel) isSelected(i int) bool {
	return i >= 0 && i < len(m.shown) && m.selected[rowKey(m.row(i))]
}

// click applies a click on a shown row: alone, it selects only that row;
// with Ctrl it toggles the row; with Shift it selects from the anchor to
// the row.
func (m *rowModel) click(i int, ctrl, shift bool) {
	if i < 0 || i >= len(m.shown) {
		return
	}
	switch {
	case shift && m.anchor >= 0 && m.anchor < len(m.shown):
		if !ctrl {
			clear(m.selected)
		}
		lo, hi := min(m.anchor, i), max(m.anchor, i)
		for j := lo; j <= hi; j++ {
			m.selected[rowKey(m.row(j))] = true
		}
		return // the anchor stays
	case ctrl:
		k := rowKey(m.row(i))
		if m.selected[k] {
			delete(m.selected, k)
		} else {
			m.selected[k] = true
		}
	default:
		clear(m.selected)
		m.selected[rowKey(m.row(i))] = true
	}
	m.anchor = i
}

// selectAll selects every shown row.
func (m *rowModel) selectAll() {
	for i := range m.shown {
		m.selected[rowKey(m.row(i))] = true
	}
}

// unselect clears the selection.
func (m *rowModel) unselect() {
	clear(m.selected)
	m.anchor = -1
}

// selection returns the selected rows that are shown, in the shown order.
func (m *rowModel) selection() []Row {
	var out []Row
	for i := range m.shown {
		if r := m.row(i); m.selected[rowKey(r)] {
			out = append(out, r)
		}
	}
	return out
}

// firstSelected is the first selected shown row, or -1.
func (m *rowModel) firstSelected() int {
	for i := range m.shown {
		if m.selected[rowKey(m.row(i))] {
			return i
		}
	}
	return -1
}

// cellText is the text of a shown row's cell.
func cellText(r Row, col int) string {
	switch col {
	case colSong:
		return r.Song
	case colArtist:
		return r.Artist
	case colAlbum:
		return r.Album
	case colUser:
		return r.User
	case colDate:
		if !r.Date.IsZero() {
			return r.Date.Local().Format(dateLayout)
		}
	case colLength:
		if r.Length > 0 {
			return clock(r.Length)
		}
	}
	return ""
}

// dateLayout formats the DATE column.
const dateLayout = "2006-01-02"

// ago says how long ago t was, in a word or two: "now", "5 min", "3 h",
// "2 d".
func ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "now"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h"
	default:
		return strconv.Itoa(int(d/(24*time.Hour))) + " d"
	}
}
