package ui

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"tandem/player"
)

// fakeUploads is an Uploads whose items the tests set; it records the
// calls.
type fakeUploads struct {
	mu       sync.Mutex
	items    []UploadItem
	canceled []string
	cleared  int
}

func (f *fakeUploads) Add([]string, string, bool) {}

func (f *fakeUploads) Cancel(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.canceled = append(f.canceled, id)
	for i := range f.items {
		if f.items[i].ID == id && !f.items[i].State.Finished() {
			f.items[i].State = player.UploadCanceled
		}
	}
}

func (f *fakeUploads) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleared++
	f.items = slices.DeleteFunc(f.items, func(it UploadItem) bool { return it.State.Finished() })
}

func (f *fakeUploads) Items() []UploadItem {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.items)
}

// sampleUploads has a file in each state.
func sampleUploads() *fakeUploads {
	return &fakeUploads{items: []UploadItem{
		{ID: "u1", Name: "01 Morning Tram.flac", Path: "/music/01 Morning Tram.flac", Sent: 23 << 20, Size: 23 << 20, State: player.UploadDone, TrackID: "t1"},
		{ID: "u2", Name: "02 Night Bus.mp3", Path: "/music/02 Night Bus.mp3", Sent: 3 << 20, Size: 8 << 20, State: player.UploadSending, TrackID: "t2"},
		{ID: "u3", Name: "03 Known.ogg", Path: "/music/03 Known.ogg", Size: 4 << 20, State: player.UploadDuplicate, TrackID: "t3"},
		{ID: "u4", Name: "notes.txt", Path: "/music/notes.txt", Sent: 10, Size: 10, State: player.UploadFailed,
			Err: "not a playable MP3, FLAC, Ogg Vorbis or WAV file: audio: unknown format"},
		{ID: "u5", Name: "05 Long Mix.wav", Path: "/music/05 Long Mix.wav", Sent: 1 << 20, Size: 600 << 20, State: player.UploadHashing},
		{ID: "u6", Name: "06 Later.mp3", Path: "/music/06 Later.mp3", Size: 5 << 20, State: player.UploadQueued},
		{ID: "u7", Name: "07 Stopped.mp3", Path: "/music/07 Stopped.mp3", Sent: 1 << 20, Size: 5 << 20, State: player.UploadCanceled},
	}}
}

// showUploads puts a panel of u in a test window.
func showUploads(t *testing.T, u Uploads, addFiles func()) (*uploadsPanel, fyne.Window) {
	t.Helper()
	test.NewTempApp(t)
	p := newUploadsPanel(u, addFiles)
	w := test.NewWindow(p.Object())
	t.Cleanup(w.Close)
	w.Resize(fyne.NewSize(760, 340))
	return p, w
}

// uploadRows returns the rows on screen, by the id they show.
func uploadRows(w fyne.Window) map[string]*uploadRow {
	rows := map[string]*uploadRow{}
	for _, o := range test.LaidOutObjects(w.Canvas().Content()) {
		if r, ok := o.(*uploadRow); ok && r.Visible() && r.id != "" {
			rows[r.id] = r
		}
	}
	return rows
}

func TestUploadsPanelRows(t *testing.T) {
	u := sampleUploads()
	_, w := showUploads(t, u, nil)
	rows := uploadRows(w)
	if len(rows) != len(u.items) {
		t.Fatalf("%d rows on screen, want %d", len(rows), len(u.items))
	}
	for _, c := range []struct {
		id, state string
		bar       float64
		cancel    bool
	}{
		{"u1", "done, 23.0 MB", 1, false},
		{"u2", "uploading 3.0 MB of 8.0 MB", 3.0 / 8, true},
		{"u3", "already on the hub", 1, false},
		{"u5", "hashing", 1.0 / 600, true},
		{"u6", "queued", 0, true},
		{"u7", "canceled", 0.2, false},
	} {
		r := rows[c.id]
		if r.state.Text != c.state || !r.state.Visible() || r.reason.Visible() {
			t.Errorf("%s: state %q (shown %v), want %q", c.id, r.state.Text, r.state.Visible(), c.state)
		}
		if !r.bar.Visible() || r.bar.Value < c.bar-1e-9 || r.bar.Value > c.bar+1e-9 {
			t.Errorf("%s: bar %v, want %v", c.id, r.bar.Value, c.bar)
		}
		if r.cancel.Visible() != c.cancel {
			t.Errorf("%s: cancel button shown %v, want %v", c.id, r.cancel.Visible(), c.cancel)
		}
	}
	failed := rows["u4"]
	if !failed.reason.Visible() || failed.reason.Text != u.items[3].Err || failed.bar.Visible() || failed.cancel.Visible() {
		t.Errorf("failed row: reason %q (shown %v), bar shown %v", failed.reason.Text, failed.reason.Visible(), failed.bar.Visible())
	}
	if failed.reason.Importance != widget.DangerImportance {
		t.Error("the reason is not in the error colour")
	}
	test.AssertRendersToMarkup(t, "uploads_panel.xml", w.Canvas())
}

func TestUploadsPanelCancelAndClear(t *testing.T) {
	u := sampleUploads()
	adds := 0
	p, w := showUploads(t, u, func() { adds++ })

	test.Tap(uploadRows(w)["u2"].cancel)
	u.mu.Lock()
	if !slices.Equal(u.canceled, []string{"u2"}) {
		t.Errorf("canceled %q, want u2", u.canceled)
	}
	u.mu.Unlock()
	p.Refresh()
	r := uploadRows(w)["u2"]
	if r.state.Text != "canceled" || r.cancel.Visible() {
		t.Errorf("after cancel: state %q, cancel shown %v", r.state.Text, r.cancel.Visible())
	}

	if p.clear.Disabled() {
		t.Fatal("Clear finished is disabled with finished uploads")
	}
	test.Tap(p.clear)
	if u.cleared != 1 {
		t.Errorf("Clear called %d times", u.cleared)
	}
	rows := uploadRows(w)
	if len(rows) != 2 || rows["u5"] == nil || rows["u6"] == nil {
		t.Errorf("after Clear, rows %v", rows)
	}
	if !p.clear.Disabled() {
		t.Error("Clear finished is enabled with nothing finished")
	}
	if got := p.summary.Text; got != "2 files: 2 to go" {
		t.Errorf("summary %q", got)
	}

	test.Tap(p.add)
	if adds != 1 {
		t.Errorf("Add files… called addFiles %d times", adds)
	}

	// Cancel everything, clear: the panel says it is empty.
	for _, id := range []string{"u5", "u6"} {
		test.Tap(uploadRows(w)[id].cancel)
	}
	p.Refresh()
	test.Tap(p.clear)
	if len(uploadRows(w)) != 0 || !p.empty.Visible() || p.summary.Text != "" {
		t.Errorf("after clearing all: rows %v, empty note shown %v, summary %q", uploadRows(w), p.empty.Visible(), p.summary.Text)
	}
}

// TestUploadsPanelMany shows thousands of files: the list makes rows
// only for those on screen.
func TestUploadsPanelMany(t *testing.T) {
	u := &fakeUploads{}
	for i := range 5000 {
		u.items = append(u.items, UploadItem{ID: fmt.Sprint("u", i), Name: fmt.Sprintf("%04d.mp3", i),
			Size: 1 << 20, State: player.UploadQueued})
	}
	p, w := showUploads(t, u, nil)
	if n := len(uploadRows(w)); n == 0 || n > 50 {
		t.Errorf("%d rows made for 5000 files", n)
	}
	if got := p.summary.Text; got != "5000 files: 5000 to go" {
		t.Errorf("summary %q", got)
	}
	p.list.ScrollToBottom()
	if uploadRows(w)["u4999"] == nil {
		t.Error("the last file is not shown at the bottom")
	}
}

func TestUploadsHelpers(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 14 << 10: "14 KB", 3<<20 + 1<<19: "3.5 MB", 3 << 30: "3.00 GB"} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
	one := []UploadItem{{State: player.UploadDone}}
	if got := uploadsSummary(one); got != "1 file: 1 on the hub" {
		t.Errorf("summary %q", got)
	}
	if got := uploadFraction(UploadItem{State: player.UploadSending, Sent: 5}); got != 0 {
		t.Errorf("fraction of an unknown size %v", got)
	}
}
