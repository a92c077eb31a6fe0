// Package uploads adds the user's files to the hub: it is the player's
// upload queue, behind the window's uploads panel (ui.Uploads).
//
// Add takes files and folders; folders are walked for music files. Each
// file becomes an item that a small pool of workers takes in turn: it
// hashes the file (sha256, the track's id on the hub), asks the hub
// whether it has that track already (GET /api/tracks/{id}: a duplicate is
// recognised without sending a byte of the file), and otherwise sends it
// with package sync/upload, whose progress, complete and error events
// become the item's Sent, State and Err. When a file is on the hub, it is
// added to the playlist that Add named, and the first file of an Add with
// play is played in the room.
package uploads

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"tandem"
	"tandem/audio/scan"
	"tandem/player"
	"tandem/sync/upload"
)

// DefaultParallel is how many files are hashed or sent at once when
// Config.Parallel is 0.
const DefaultParallel = 2

// Config configures a Manager.
type Config struct {
	HubURL string // the hub's base URL, e.g. http://192.168.1.20:7878 (ws:// is taken as http://)
	Token  string // the friend's token
	// HTTP sends the requests; nil means http.DefaultClient.
	HTTP   *http.Client
	Logger *slog.Logger
	// OnChange is called whenever Items changes, on a goroutine of the
	// Manager, never under its lock and never twice at once; changes
	// within 50 ms share one call. The caller turns it into a UI refresh.
	OnChange func()
	// AddTracks adds tracks to a playlist on the hub (player.QueueID: the
	// room's queue). It must not block.
	AddTracks func(playlistID string, trackIDs []string)
	// Play plays a track in the room. It must not block.
	Play func(trackID string)
	// Hashed, when set, is told the sha256 of every file hashed, with
	// the size and modification time the file had then, so the local
	// library can remember it (library.Library.SetHash). It runs on an
	// upload worker: keep it short.
	Hashed func(path string, size int64, modTime time.Time, hash string)
	// Parallel is how many files are hashed or sent at once; 0 means
	// DefaultParallel.
	Parallel int
	// ChunkSize is the most bytes one request of an upload carries
	// (upload.Options.ChunkSize); 0 sends a file in one request.
	ChunkSize int64
}

// item is one file and what became of it.
type item struct {
	player.UploadItem
	playlists []string           // where to add the track once the hub has it
	batch     *batch             // the Add that queued the file first
	cancel    context.CancelFunc // ends the work on it; nil while queued
}

// batch is one call of Add.
type batch struct {
	play   bool
	played bool // a file of the batch has been played
}

// addReq is an Add waiting for the walker.
type addReq struct {
	paths      []string
	playlistID string
	batch      *batch
}

// Manager is the upload queue. It implements ui.Uploads. Its methods are
// safe to call from any goroutine and return at once.
type Manager struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client
	base   string // the hub's URL, without a trailing slash

	ctx    context.Context // ends at Close
	stop   context.CancelFunc
	wg     sync.WaitGroup
	notify chan struct{} // a change to announce; capacity 1

	mu      sync.Mutex // guards the following
	cond    *sync.Cond // signalled when adds or pending grow, and at Close
	closed  bool
	next    int      // the number of the next item's id
	items   []*item  // every item not cleared, in the order added
	pending []*item  // queued items, in order
	adds    []addReq // Add calls not yet walked
}

// New starts a Manager: its workers wait for files until Close.
func New(cfg Config) *Manager {
	if cfg.Parallel <= 0 {
		cfg.Parallel = DefaultParallel
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	client := cfg.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	base := strings.TrimRight(cfg.HubURL, "/")
	if rest, ok := strings.CutPrefix(base, "ws://"); ok {
		base = "http://" + rest
	} else if rest, ok := strings.CutPrefix(base, "wss://"); ok {
		base = "https://" + rest
	}
	ctx, stop := context.WithCancel(context.Background())
	m := &Manager{cfg: cfg, log: cfg.Logger, client: client, base: base, ctx: ctx, stop: stop,
		notify: make(chan struct{}, 1)}
	m.cond = sync.NewCond(&m.mu)
	m.wg.Add(cfg.Parallel + 2)
	for range cfg.Parallel {
		go m.worker()
	}
	go m.walker()
	go m.notifier()
	return m
}

// Close cancels every upload and waits for the Manager's goroutines to
// end. Sessions left on the hub expire there. Calling Close again does
// nothing.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	m.cond.Broadcast()
	m.mu.Unlock()
	m.stop()
	m.wg.Wait()
}

// Add queues files and folders; folders are walked, recursively, for
// music files (.mp3 .flac .ogg .oga .wav in any case; hidden names are
// skipped). A file named directly is sent whatever its name: the hub
// judges it by its content. A file whose earlier item is still pending is
// not queued again. When playlistID is not "", each file is added to that
// playlist once the hub has it; with play, the first file to get there is
// played in the room.
func (m *Manager) Add(paths []string, playlistID string, play bool) {
	if len(paths) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.adds = append(m.adds, addReq{paths: slices.Clone(paths), playlistID: playlistID, batch: &batch{play: play}})
	m.cond.Broadcast()
}

// Cancel stops the upload id if it is queued or running; its state
// becomes canceled. A finished upload is left as it is.
func (m *Manager) Cancel(id string) {
	m.mu.Lock()
	var cancel context.CancelFunc
	found := false
	for _, it := range m.items {
		if it.ID != id || it.State.Finished() {
			continue
		}
		found = true
		it.State = player.UploadCanceled
		it.Err = ""
		cancel = it.cancel
		m.pending = slices.DeleteFunc(m.pending, func(p *item) bool { return p == it })
		break
	}
	m.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if found {
		m.changed()
	}
}

// Clear forgets the finished uploads.
func (m *Manager) Clear() {
	m.mu.Lock()
	n := len(m.items)
	m.items = slices.DeleteFunc(m.items, func(it *item) bool { return it.State.Finished() })
	cleared := n != len(m.items)
	m.mu.Unlock()
	if cleared {
		m.changed()
	}
}

// Items returns the uploads, in the order they were added.
func (m *Manager) Items() []player.UploadItem {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]player.UploadItem, len(m.items))
	for i, it := range m.items {
		out[i] = it.UploadItem
	}
	return out
}

// changed announces a change of Items to the notifier.
func (m *Manager) changed() {
	select {
	case m.notify <- struct{}{}:
	default: // a call is due already and will read the latest items
	}
}

// notifyEvery is the shortest time between two calls of OnChange: a
// window refreshes at most this often, however many files move.
const notifyEvery = 50 * time.Millisecond

// notifier calls OnChange after changes, one call at a time, at most
// every notifyEvery; the last change is always announced.
func (m *Manager) notifier() {
	defer m.wg.Done()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-m.notify:
		}
		if m.cfg.OnChange != nil {
			m.cfg.OnChange()
		}
		select {
		case <-m.ctx.Done():
			return
		case <-time.After(notifyEvery):
		}
	}
}

// walker turns the Add calls, in order, into items.
func (m *Manager) walker() {
	defer m.wg.Done()
	for {
		m.mu.Lock()
		for len(m.adds) == 0 && !m.closed {
			m.cond.Wait()
		}
		if m.closed {
			m.mu.Unlock()
			return
		}
		req := m.adds[0]
		m.adds = m.adds[1:]
		m.mu.Unlock()
		m.walk(req)
	}
}

// walkBatch is how many files found in a folder are queued together.
const walkBatch = 256

// walk queues the files of one Add.
func (m *Manager) walk(req addReq) {
	var found []string
	flush := func() {
		m.enqueue(found, req)
		found = found[:0]
	}
	for _, p := range req.paths {
		if m.ctx.Err() != nil {
			return
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			abs = filepath.Clean(p)
		}
		fi, err := os.Stat(abs)
		if err != nil || !fi.IsDir() {
			// A file, or what cannot be read: its item tells why.
			found = append(found, abs)
			continue
		}
		err = filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
			if m.ctx.Err() != nil {
				return m.ctx.Err()
			}
			if err != nil {
				m.log.Warn("uploads: cannot read a folder", "path", path, "err", err)
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if path != abs && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() && scan.IsAudioName(d.Name()) {
				found = append(found, path)
				if len(found) >= walkBatch {
					flush()
				}
			}
			return nil
		})
		if err != nil && m.ctx.Err() == nil {
			m.log.Warn("uploads: walk folder", "path", abs, "err", err)
		}
	}
	flush()
}

// enqueue makes items of paths, skipping files whose item is pending.
func (m *Manager) enqueue(paths []string, req addReq) {
	if len(paths) == 0 {
		return
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	pendingByPath := map[string]*item{}
	for _, it := range m.items {
		if !it.State.Finished() {
			pendingByPath[it.Path] = it
		}
	}
	added := false
	for _, p := range paths {
		if it, ok := pendingByPath[p]; ok {
			// Queued twice: one upload, but the track goes to both
			// playlists.
			if req.playlistID != "" && !slices.Contains(it.playlists, req.playlistID) {
				it.playlists = append(it.playlists, req.playlistID)
			}
			continue
		}
		m.next++
		it := &item{UploadItem: player.UploadItem{ID: "u" + strconv.Itoa(m.next), Name: filepath.Base(p), Path: p,
			State: player.UploadQueued}, batch: req.batch}
		if req.playlistID != "" {
			it.playlists = []string{req.playlistID}
		}
		if fi, err := os.Stat(p); err == nil {
			it.Size = fi.Size()
		}
		m.items = append(m.items, it)
		m.pending = append(m.pending, it)
		pendingByPath[p] = it
		added = true
	}
	if added {
		m.cond.Broadcast()
	}
	m.mu.Unlock()
	if added {
		m.changed()
	}
}

// worker takes queued items one at a time until Close.
func (m *Manager) worker() {
	defer m.wg.Done()
	for {
		m.mu.Lock()
		for len(m.pending) == 0 && !m.closed {
			m.cond.Wait()
		}
		if m.closed {
			m.mu.Unlock()
			return
		}
		it := m.pending[0]
		m.pending = m.pending[1:]
		ctx, cancel := context.WithCancel(m.ctx)
		it.cancel = cancel
		it.State = player.UploadHashing
		m.mu.Unlock()
		m.changed()
		m.process(ctx, it)
		cancel()
	}
}

// update changes a running item under the lock, unless it has been
// canceled or has finished, and announces the change.
func (m *Manager) update(it *item, fn func(u *player.UploadItem)) bool {
	m.mu.Lock()
	if it.State.Finished() {
		m.mu.Unlock()
		return false
	}
	fn(&it.UploadItem)
	m.mu.Unlock()
	m.changed()
	return true
}

// fail ends it with err: canceled when ctx was cancelled, else failed
// with err's reason.
func (m *Manager) fail(ctx context.Context, it *item, err error) {
	if ctx.Err() != nil {
		m.update(it, func(u *player.UploadItem) { u.State = player.UploadCanceled; u.Err = "" })
		return
	}
	m.log.Info("uploads: failed", "path", it.Path, "err", err)
	m.update(it, func(u *player.UploadItem) { u.State = player.UploadFailed; u.Err = Reason(err) })
}

// process hashes, checks and sends one file.
func (m *Manager) process(ctx context.Context, it *item) {
	f, err := os.Open(it.Path)
	if err != nil {
		m.fail(ctx, it, fmt.Errorf("uploads: %w", err))
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		m.fail(ctx, it, fmt.Errorf("uploads: %w", err))
		return
	case fi.IsDir():
		m.fail(ctx, it, errNoMusic)
		return
	case fi.Size() == 0:
		m.fail(ctx, it, errEmpty)
		return
	}
	size := fi.Size()
	m.update(it, func(u *player.UploadItem) { u.Size = size; u.Sent = 0 })

	hash, err := m.hash(ctx, it, f, size)
	if err != nil {
		m.fail(ctx, it, err)
		return
	}
	if !m.update(it, func(u *player.UploadItem) { u.TrackID = hash; u.Sent = 0 }) {
		return
	}
	if m.cfg.Hashed != nil {
		m.cfg.Hashed(it.Path, size, fi.ModTime(), hash)
	}

	known, err := m.hubHas(ctx, hash)
	if err != nil {
		m.fail(ctx, it, err)
		return
	}
	if known {
		m.log.Debug("uploads: the hub has the file already", "path", it.Path, "track", hash)
		m.finish(it, player.UploadDuplicate, hash)
		return
	}

	if !m.update(it, func(u *player.UploadItem) { u.State = player.UploadSending }) {
		return
	}
	up := upload.New(f, size, upload.Options{URL: m.base, Token: m.cfg.Token, Name: it.Name,
		Client: m.client, Logger: m.log, ChunkSize: m.cfg.ChunkSize})
	upload.Progress.On(up.Emitter(), func(p upload.ProgressInfo) {
		m.update(it, func(u *player.UploadItem) { u.Sent = p.Sent })
	})
	var track tandem.Track
	upload.Complete.On(up.Emitter(), func(t tandem.Track) { track = t })
	var upErr error
	upload.Error.On(up.Emitter(), func(err error) { upErr = err })
	if _, err := up.Run(ctx); err != nil && upErr == nil {
		upErr = err
	}
	if upErr != nil {
		if ctx.Err() != nil {
			m.dropSession(up.Session())
		}
		m.fail(ctx, it, upErr)
		return
	}
	if track.ID != hash {
		// The file changed after it was hashed: the hub's id is the truth.
		m.log.Info("uploads: file changed while it was sent", "path", it.Path, "hashed", hash, "hub", track.ID)
	}
	m.finish(it, player.UploadDone, track.ID)
}

// errEmpty and errNoMusic are refusals made before asking the hub.
var (
	errEmpty   = errors.New("the file is empty")
	errNoMusic = errors.New("a folder with no music files")
)

// hashStep is how often hashing reports its progress, in bytes.
const hashStep = 1 << 20

// hash returns the lowercase hex sha256 of f, reporting the bytes read
// as Sent.
func (m *Manager) hash(ctx context.Context, it *item, f *os.File, size int64) (string, error) {
	h := sha256.New()
	buf := make([]byte, 256<<10)
	var done, reported int64
	r := io.NewSectionReader(f, 0, size)
	for {
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("uploads: hash %s: %w", it.Path, err)
		}
		n, err := r.Read(buf)
		h.Write(buf[:n])
		done += int64(n)
		if done-reported >= hashStep || (err == io.EOF && done > reported) {
			reported = done
			m.update(it, func(u *player.UploadItem) { u.Sent = done })
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("uploads: hash %s: %w", it.Path, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hubHas asks the hub whether it has the track id: GET /api/tracks/{id}
// answers 200 with the track, or 404.
func (m *Manager) hubHas(ctx context.Context, id string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.base+"/api/tracks/"+id, nil)
	if err != nil {
		return false, fmt.Errorf("uploads: ask the hub for track %s: %w", id, err)
	}
	req.Header.Set("Authorization", "Bearer "+m.cfg.Token)
	resp, err := m.client.Do(req)
	if err != nil {
		return false, fmt.Errorf("uploads: ask the hub for track %s: %w", id, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		// The music API answers a missing track with JSON; a hub without
		// it answers the router's plain 404, which the upload will meet.
		return false, nil
	}
	var e struct {
		Error *tandem.Error `json:"error"`
	}
	herr := error(tandem.Errorf(tandem.EINTERNAL, "the hub answered %s", resp.Status))
	if json.Unmarshal(body, &e) == nil && e.Error != nil {
		herr = e.Error
	}
	return false, fmt.Errorf("uploads: ask the hub for track %s: %s: %w", id, resp.Status, herr)
}

// dropSession deletes a canceled upload's session on the hub, so its
// bytes do not wait there for a day. It gives up after a few seconds or
// at Close.
func (m *Manager) dropSession(session string) {
	if session == "" {
		return
	}
	ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, m.base+session, nil)
	if err != nil {
		return
	}
	req.Header.Set("Authorization", "Bearer "+m.cfg.Token)
	resp, err := m.client.Do(req)
	if err != nil {
		m.log.Debug("uploads: delete canceled session", "session", session, "err", err)
		return
	}
	resp.Body.Close()
}

// finish ends it well, with the hub's track id, then adds the track to
// its playlists and plays it if its Add asked.
func (m *Manager) finish(it *item, state player.UploadState, trackID string) {
	m.mu.Lock()
	if it.State.Finished() {
		m.mu.Unlock()
		return
	}
	it.State, it.TrackID, it.Err = state, trackID, ""
	playlists := slices.Clone(it.playlists)
	play := it.batch.play && !it.batch.played
	if play {
		it.batch.played = true
	}
	m.mu.Unlock()
	m.changed()
	if m.cfg.AddTracks != nil {
		for _, pl := range playlists {
			m.cfg.AddTracks(pl, []string{trackID})
		}
	}
	if play && m.cfg.Play != nil {
		m.cfg.Play(trackID)
	}
}

// limitBytes finds the byte count in the hub's "too large" message.
var limitBytes = regexp.MustCompile(`(\d+) bytes`)

// Reason says in plain words why an upload failed, for the uploads
// panel: the hub's own message when it refused the file, else what went
// wrong on the way.
func Reason(err error) string {
	var herr *tandem.Error
	switch {
	case errors.Is(err, errEmpty), errors.Is(err, errNoMusic):
		return err.Error()
	case errors.Is(err, fs.ErrNotExist):
		return "the file is gone"
	case errors.Is(err, fs.ErrPermission):
		return "cannot read the file: permission denied"
	case errors.As(err, &herr):
		switch herr.Code {
		case tandem.ELIMIT:
			if m := limitBytes.FindStringSubmatch(herr.Message); m != nil {
				if n, err := strconv.ParseInt(m[1], 10, 64); err == nil {
					return fmt.Sprintf("too large: the hub accepts at most %s", megabytes(n))
				}
			}
			return "too large: " + herr.Message
		case tandem.EUNAUTHORIZED:
			return "the hub does not accept this player's token: " + herr.Message
		case tandem.EINTERNAL:
			return "the hub failed to store it (its log tells why)"
		}
		return herr.Message
	case errors.Is(err, context.DeadlineExceeded):
		return "the hub did not answer in time"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return "cannot read the file: " + pe.Err.Error()
	}
	return "cannot reach the hub: " + innermost(err)
}

// megabytes writes n bytes as MB, without a fraction when there is none.
func megabytes(n int64) string {
	if n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10) + " MB"
	}
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB"
}

// innermost is the text of the last error in err's chain that says
// something, without the layers of context wrapped around it.
func innermost(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}
