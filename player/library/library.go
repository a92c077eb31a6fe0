// Package library is the user's own music in the player: the music
// folders, scanned by audio/scan into a local store (package store), and
// shown in the window as rows (ui.Library).
//
// Rows come from an in-memory snapshot, sorted by artist, album, track
// number and title, that is rebuilt from the store after each scan (and
// every few seconds during a long one), so that the window can ask for
// them on every refresh, however large the library.
package library

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"tandem/audio/scan"
	"tandem/player"
	"tandem/store"
)

// Config configures a Library.
type Config struct {
	// Path is the folder of the library's database: store.Open keeps it
	// in Path/tandem.db. Give the library a folder of its own, e.g.
	// DATA/library, since a hub running inside the player holds the lock
	// of the store in DATA.
	Path string
	// Folders are the music folders.
	Folders []string
	Logger  *slog.Logger
	// OnChange is called when Rows, Folders, Scanning or Err change, on a
	// goroutine of the Library, never under its lock and never twice at
	// once; changes within 50 ms share one call.
	OnChange func()
	// SaveFolders, when set, persists the folders that SetFolders
	// accepted (the caller's settings).
	SaveFolders func([]string) error
	// Workers is how many files a scan reads at once; 0 means
	// scan.DefaultWorkers.
	Workers int
}

// refreshEvery is how often the rows are rebuilt while a scan runs.
const refreshEvery = 2 * time.Second

// progressEvery is how often a running scan's count is announced.
const progressEvery = 250 * time.Millisecond

// Library is the local music library. It implements ui.Library. Its
// methods are safe to call from any goroutine and return at once.
type Library struct {
	cfg    Config
	log    *slog.Logger
	db     *store.DB
	ctx    context.Context // ends at Close
	stop   context.CancelFunc
	wg     sync.WaitGroup
	notify chan struct{} // a change to announce; capacity 1

	mu       sync.Mutex // guards the following
	closed   bool
	folders  []string       // absolute, cleaned
	rows     []player.Row   // the snapshot, sorted
	index    map[string]int // path -> index in rows
	scanning bool
	again    bool // another scan is asked for after this one
	seen     int  // files read by the running scan
	report   scan.Report
	err      string
}

// Open opens the library's store, loads its rows and starts a scan of
// the folders in the background. Close it.
func Open(cfg Config) (*Library, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	db, err := store.Open(cfg.Path, store.Options{Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("library: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	l := &Library{cfg: cfg, log: cfg.Logger, db: db, ctx: ctx, stop: stop, notify: make(chan struct{}, 1),
		folders: cleanFolders(cfg.Folders)}
	rows, index, err := l.load(l.folders)
	if err != nil {
		stop()
		db.Close()
		return nil, err
	}
	l.rows, l.index = rows, index
	l.wg.Add(1)
	go l.notifier()
	if len(l.folders) > 0 {
		l.Rescan()
	}
	return l, nil
}

// Close stops a running scan, waits for the Library's goroutines and
// closes the store. Calling it again does nothing.
func (l *Library) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.mu.Unlock()
	l.stop()
	l.wg.Wait()
	if err := l.db.Close(); err != nil {
		l.log.Warn("library: close", "err", err)
	}
}

// Rows returns every file of the music folders, sorted by artist, album,
// track number and title. The slice is the caller's.
func (l *Library) Rows() []player.Row {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.rows)
}

// Folders returns the music folders.
func (l *Library) Folders() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.folders)
}

// Scanning reports whether a scan runs, and how many files it has read
// so far (a file whose size and time have not changed is not read).
func (l *Library) Scanning() (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.scanning, l.seen
}

// LastReport is what the last complete scan did, and which files it
// could not read.
func (l *Library) LastReport() scan.Report {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.report
}

// Err is the last problem, in plain words, for the window: a folder that
// SetFolders refused, folders that could not be saved, a scan that could
// not finish. It is "" when the last SetFolders and scan went well.
func (l *Library) Err() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// SetFolders sets the music folders, saves them (Config.SaveFolders) and
// rescans. Every folder must exist and be a folder; if one is not, the
// folders stay as they were and Err says why. The files of folders
// removed leave the rows at once.
func (l *Library) SetFolders(dirs []string) {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return
	}
	folders := cleanFolders(dirs)
	var bad []string
	for _, d := range folders {
		fi, err := os.Stat(d)
		switch {
		case errors.Is(err, os.ErrNotExist):
			bad = append(bad, fmt.Sprintf("%s does not exist", d))
		case err != nil:
			bad = append(bad, fmt.Sprintf("%s cannot be read: %v", d, errors.Unwrap(err)))
		case !fi.IsDir():
			bad = append(bad, fmt.Sprintf("%s is not a folder", d))
		}
	}
	if len(bad) > 0 {
		l.setErr("music folders not changed: " + strings.Join(bad, "; "))
		return
	}
	problem := ""
	if l.cfg.SaveFolders != nil {
		if err := l.cfg.SaveFolders(slices.Clone(folders)); err != nil {
			l.log.Warn("library: save folders", "err", err)
			problem = fmt.Sprintf("the music folders could not be saved: %v", err)
		}
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.folders = folders
	l.err = problem
	// Rows of folders no longer listed go now; the scan removes their
	// records.
	rows := l.rows[:0:0]
	index := make(map[string]int, len(l.rows))
	for _, r := range l.rows {
		if under(r.Path, folders) {
			index[r.Path] = len(rows)
			rows = append(rows, r)
		}
	}
	l.rows, l.index = rows, index
	l.mu.Unlock()
	l.changed()
	l.Rescan()
}

// SetHash records the sha256 of the file at path, hashed when it had
// size and modTime (the uploads' Hashed callback): its row's TrackID. A
// file that changed since is left alone.
func (l *Library) SetHash(path string, size int64, modTime time.Time, hash string) {
	if err := l.db.SetLocalFileHash(path, size, modTime, hash); err != nil {
		l.log.Debug("library: set hash", "path", path, "err", err)
		return
	}
	l.mu.Lock()
	i, ok := l.index[path]
	if ok {
		l.rows[i].TrackID = hash
	}
	l.mu.Unlock()
	if ok {
		l.changed()
	}
}

// Rescan scans the folders again in the background: only files whose
// size or modification time changed are read. Asked during a scan, it
// runs one more scan after it, however many times it is asked.
func (l *Library) Rescan() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	if l.scanning {
		l.again = true
		l.mu.Unlock()
		return
	}
	l.scanning = true
	l.seen = 0
	l.wg.Add(1)
	l.mu.Unlock()
	l.changed()
	go l.scanLoop()
}

// scanLoop scans until no more scans are asked for.
func (l *Library) scanLoop() {
	defer l.wg.Done()
	for {
		l.scanOnce()
		l.mu.Lock()
		if l.again && !l.closed {
			l.again = false
			l.seen = 0
			l.mu.Unlock()
			continue
		}
		l.scanning, l.again = false, false
		l.mu.Unlock()
		l.changed()
		return
	}
}

// scanOnce runs one scan, rebuilding the rows now and then while it runs
// and at its end.
func (l *Library) scanOnce() {
	l.mu.Lock()
	folders := slices.Clone(l.folders)
	l.mu.Unlock()

	var lastProgress time.Time
	opts := scan.Options{Workers: l.cfg.Workers, Logger: l.log, Progress: func(p scan.Progress) {
		l.mu.Lock()
		l.seen = p.Read
		l.mu.Unlock()
		if time.Since(lastProgress) >= progressEvery {
			lastProgress = time.Now()
			l.changed()
		}
	}}
	type outcome struct {
		rep scan.Report
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		rep, err := scan.Scan(l.ctx, folders, l.db, opts)
		done <- outcome{rep, err}
	}()
	tick := time.NewTicker(refreshEvery)
	defer tick.Stop()
	var res outcome
wait:
	for {
		select {
		case res = <-done:
			break wait
		case <-tick.C:
			l.refresh(folders)
		}
	}
	if l.ctx.Err() != nil {
		return // closing
	}
	l.mu.Lock()
	if res.err != nil {
		l.log.Warn("library: scan", "err", res.err)
		l.err = fmt.Sprintf("the music folders could not be scanned: %v", res.err)
	} else {
		l.report = res.rep
		if strings.HasPrefix(l.err, "the music folders could not be scanned") {
			l.err = ""
		}
	}
	l.mu.Unlock()
	l.refresh(folders)
}

// refresh rebuilds the rows from the store, if the folders are still
// those scanned.
func (l *Library) refresh(folders []string) {
	rows, index, err := l.load(folders)
	if err != nil {
		l.log.Warn("library: load rows", "err", err)
		return
	}
	l.mu.Lock()
	if !slices.Equal(folders, l.folders) {
		l.mu.Unlock()
		return // changed meanwhile: the next scan rebuilds them
	}
	l.rows, l.index = rows, index
	l.mu.Unlock()
	l.changed()
}

// sortable is a row with its sort keys.
type sortable struct {
	artist, album, title string
	track                int
	row                  player.Row
}

// load reads the records under folders from the store and makes the
// sorted rows.
func (l *Library) load(folders []string) ([]player.Row, map[string]int, error) {
	var recs []sortable
	err := l.db.EachLocalFile(func(f store.LocalFile) error {
		if !under(f.Path, folders) {
			return nil
		}
		recs = append(recs, sortable{
			artist: strings.ToLower(f.Artist), album: strings.ToLower(f.Album), track: f.Track,
			row: player.Row{TrackID: f.Hash, Song: songOf(f), Artist: f.Artist, Album: f.Album,
				Date: f.ModTime.Local(), Length: f.Duration, Path: f.Path}})
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("library: %w", err)
	}
	for i := range recs {
		recs[i].title = strings.ToLower(recs[i].row.Song)
	}
	slices.SortFunc(recs, func(a, b sortable) int {
		return cmp.Or(cmp.Compare(a.artist, b.artist), cmp.Compare(a.album, b.album),
			cmp.Compare(a.track, b.track), cmp.Compare(a.title, b.title), cmp.Compare(a.row.Path, b.row.Path))
	})
	rows := make([]player.Row, len(recs))
	index := make(map[string]int, len(recs))
	for i, r := range recs {
		rows[i] = r.row
		index[r.row.Path] = i
	}
	return rows, index, nil
}

// songOf is a file's title, or its name without the extension.
func songOf(f store.LocalFile) string {
	if f.Title != "" {
		return f.Title
	}
	name := filepath.Base(f.Path)
	return strings.TrimSuffix(name, filepath.Ext(name))
}

// setErr sets Err and announces it.
func (l *Library) setErr(msg string) {
	l.mu.Lock()
	l.err = msg
	l.mu.Unlock()
	l.changed()
}

// changed announces a change to the notifier.
func (l *Library) changed() {
	select {
	case l.notify <- struct{}{}:
	default: // a call is due already and will see the latest state
	}
}

// notifyEvery is the shortest time between two calls of OnChange.
const notifyEvery = 50 * time.Millisecond

// notifier calls OnChange after changes, one call at a time, at most
// every notifyEvery; the last change is always announced.
func (l *Library) notifier() {
	defer l.wg.Done()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-l.notify:
		}
		if l.cfg.OnChange != nil {
			l.cfg.OnChange()
		}
		select {
		case <-l.ctx.Done():
			return
		case <-time.After(notifyEvery):
		}
	}
}

// cleanFolders makes dirs absolute and clean, without repeats, in order.
func cleanFolders(dirs []string) []string {
	out := make([]string, 0, len(dirs))
	for _, d := range dirs {
		if strings.TrimSpace(d) == "" {
			continue
		}
		abs, err := filepath.Abs(d)
		if err != nil {
			abs = filepath.Clean(d)
		}
		if !slices.Contains(out, abs) {
			out = append(out, abs)
		}
	}
	return out
}

// under reports whether path is inside one of folders.
func under(path string, folders []string) bool {
	for _, f := range folders {
		if path == f || strings.HasPrefix(path, f) && len(path) > len(f) &&
			(path[len(f)] == filepath.Separator || strings.HasSuffix(f, string(filepath.Separator))) {
			return true
		}
	}
	return false
}
