package ui

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// manyRows makes n rows with varied text, as a large shared library.
func manyRows(n int) []Row {
	words := []string{"Night", "Blue", "River", "Echo", "Glass", "Summer", "Static", "Harbor", "Paper", "Neon", "Velvet", "Tide"}
	rows := make([]Row, n)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range rows {
		w := func(k int) string { return words[(i*7+k*13+i/len(words))%len(words)] }
		rows[i] = Row{
			EntryID: fmt.Sprintf("e%d", i), TrackID: fmt.Sprintf("t%d", i),
			Song: w(0) + " " + w(1) + fmt.Sprintf(" %d", i), Artist: w(2) + " " + w(3), Album: w(4) + " Sessions",
			User: []string{"ann", "bob", "cid", "dana"}[i%4], Date: base.Add(time.Duration(i) * time.Minute),
			Length: time.Duration(120+i%240) * time.Second,
		}
	}
	return rows
}

func TestRowModel(t *testing.T) {
	m := newRowModel()
	m.setRows([]Row{
		{EntryID: "e1", Song: "b", Artist: "Zed", Length: 3},
		{EntryID: "e2", Song: "A", Artist: "amy", Length: 1},
		{EntryID: "e3", Song: "c", Artist: "Amy", Album: "x", Length: 2},
	})
	ids := func() []string {
		var out []string
		for i := range m.len() {
			out = append(out, m.row(i).EntryID)
		}
		return out
	}
	m.toggleSort(colSong)
	if got := ids(); !slices.Equal(got, []string{"e2", "e1", "e3"}) {
		t.Errorf("by song, case-insensitively: %v", got)
	}
	m.toggleSort(colSong)
	if got := ids(); !slices.Equal(got, []string{"e3", "e1", "e2"}) {
		t.Errorf("by song, descending: %v", got)
	}
	m.toggleSort(colSong)
	if got := ids(); !slices.Equal(got, []string{"e1", "e2", "e3"}) {
		t.Errorf("back to the list's order: %v", got)
	}
	m.setSort(SortOrder{Column: colArtist})
	if got := ids(); !slices.Equal(got, []string{"e2", "e3", "e1"}) {
		t.Errorf("by artist, then album: %v", got)
	}
	m.setSort(SortOrder{Column: colLength})
	if got := ids(); !slices.Equal(got, []string{"e2", "e3", "e1"}) {
		t.Errorf("by length: %v", got)
	}

	// The selection survives sorting, filtering and new rows.
	m.click(0, false, false)
	m.click(2, true, false)
	m.setFilter("amy")
	if got := m.selection(); len(got) != 1 || got[0].EntryID != "e2" {
		t.Errorf("selection under the filter: %+v", got)
	}
	m.setFilter("")
	m.setRows(append(m.all[:0:0], m.all[1:]...)) // e1 goes
	if got := m.selection(); len(got) != 1 || got[0].EntryID != "e2" {
		t.Errorf("selection after e1 went: %+v", got)
	}
	m.setSort(SortOrder{Column: 99})
	if m.sort != unsorted {
		t.Errorf("a bad column sorts: %+v", m.sort)
	}
}

func TestFilterWords(t *testing.T) {
	m := newRowModel()
	m.setRows(manyRows(1000))
	m.setFilter("  NEON   sessions ")
	if m.len() == 0 || m.len() == 1000 {
		t.Fatalf("%d rows", m.len())
	}
	for i := range m.len() {
		r := m.row(i)
		if !containsFold(r.Song+r.Artist+r.Album+r.User, "neon") || !containsFold(r.Song+r.Artist+r.Album+r.User, "sessions") {
			t.Fatalf("row %+v shown for %q", r, m.query)
		}
	}
}

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if compareFold(s[i:i+len(sub)], sub) == 0 {
			return true
		}
	}
	return false
}

// BenchmarkFilterKeystroke is one keystroke in the filter box over 100,000
// rows (issue 7's target: 50 ms or less): typing "river e", each prefix
// filtering the whole list again.
func BenchmarkFilterKeystroke(b *testing.B) {
	m := newRowModel()
	m.setRows(manyRows(100_000))
	m.setSort(SortOrder{Column: colArtist})
	query := "river e"
	b.ResetTimer()
	for i := range b.N {
		m.setFilter(query[:1+i%len(query)])
	}
}

// BenchmarkSort is a tap on a header over 100,000 rows.
func BenchmarkSort(b *testing.B) {
	m := newRowModel()
	m.setRows(manyRows(100_000))
	cols := []int{colSong, colArtist, colDate, colLength}
	b.ResetTimer()
	for i := range b.N {
		m.setSort(SortOrder{Column: cols[i%len(cols)], Desc: i%2 == 1})
	}
}

// BenchmarkSetRows is a refresh of 100,000 rows (a playlist event).
func BenchmarkSetRows(b *testing.B) {
	rows := manyRows(100_000)
	m := newRowModel()
	b.ResetTimer()
	for range b.N {
		m.setRows(rows)
	}
}
