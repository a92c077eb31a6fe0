// Package player is the player's core without its window: the local
// emitter that decouples its parts, the sync bridge to the hub, the audio
// follower that plays the room's timeline, and the state the window shows.
// The desktop app (cmd/player) wraps it in a Fyne window through package
// ui; tests run it headless.
package player

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"tandem"
	"tandem/sync/event"
	"tandem/sync/follow"
	"tandem/sync/protocol"
	"tandem/sync/room"
)

// Audio is the audio engine the core drives: a follow.Sink the room's
// follow.Controller steers, which also loads tracks and tells what it
// plays. audio.Engine implements it.
type Audio interface {
	follow.Sink
	Load(trackID string, r io.ReadSeeker) error
	// LoadNext loads the track that follows, gaplessly: the next
	// Schedule starts it, the current track playing until then.
	LoadNext(trackID string, r io.ReadSeeker) error
	Next() string
	Play()
	Pause()
	Seek(d time.Duration) error
	Position() time.Duration
	Duration() time.Duration
	Current() string
	Playing() bool
	// Muted reports that no output device could be opened: the engine
	// plays, silently, to keep time.
	Muted() bool
	// Volume and SetVolume are the volume control, from 0 to 1 on the
	// perceptual curve; SetMuted is the user's mute, which silences the
	// output and keeps time.
	Volume() float64
	SetVolume(v float64)
	SetMuted(m bool)
}

// Library opens a track's bytes by id.
type Library interface {
	Open(trackID string) (io.ReadSeeker, error)
}

// Config configures a Core.
type Config struct {
	HubURL string
	// PublicURL is the hub's address for friends, when it differs from
	// HubURL (a player's built-in hub: HubURL is loopback, PublicURL the
	// LAN address); invite and track links are built from it.
	PublicURL string
	Token     string
	Name      string // display name, used with a shared guest token
	Room      string
	Code      string // the room's invite code, to join it as a new member
	Audio     Audio
	Library   Library
	Logger    *slog.Logger
	// Hosting, when set, is shown first in the status line, for example
	// how friends join the hub this player runs.
	Hosting string
	// OutboxPath, when set, is the file that keeps the playlist edits not
	// yet sent (player/outbox.go), so that an edit made while the hub is
	// away survives quitting the player: the next start sends it, with
	// its op id, so it is applied once. One file per hub and user.
	OutboxPath string
	// Now is the local clock; nil means time.Now.
	Now func() time.Time
	// Reconnection delays, for tests; zero means the defaults.
	ReconnectDelay, ReconnectDelayMax time.Duration
}

// Core is the headless player. It implements ui.Core.
type Core struct {
	cfg   Config
	log   *slog.Logger
	em    *event.Emitter
	room  *room.Client
	audio Audio
	lib   Library
	now   func() time.Time

	ctx    context.Context // ends at Close; bounds the bridge's commands and the follower's ticks
	cancel context.CancelFunc
	wg     sync.WaitGroup // the bridge's command goroutines, the outbox's sender, artwork fetches, the loader

	http *http.Client // artwork and track metadata from the hub, with its own transport
	art  artCache     // player/art.go
	// opPrefix makes this core's playlist op ids unique (player/outbox.go).
	opPrefix string

	// ctl keeps the audio engine on the room's timeline; the follower
	// hands it the hub's timelines and ticks it every tickEvery on its own
	// goroutine, which closes ticked when it exits.
	ctl    *follow.Controller
	ticked chan struct{}
	// kick wakes the follower's ticker when a playing timeline arrives,
	// and following tells it whether the last one plays (under applyMu):
	// it ticks every tickEvery while music plays and every idleTickEvery
	// otherwise.
	kick      chan struct{}
	following bool
	// applyMu serialises the follower's use of the engine and the
	// Controller. It is never held while a track is opened, read or
	// decoded: the loader does that without it, then takes it to hand
	// the Controller the timeline. Taken before mu, never inside it.
	applyMu sync.Mutex
	// want is the track and timeline of the hub's last event, and
	// loading the loader's job while it gets a track into the engine
	// (player/follower.go); loadKick wakes the loader. Under applyMu.
	want     wanted
	loading  *loadJob
	loadKick chan struct{}

	mu        sync.Mutex // guards the following
	playlists []protocol.Playlist
	queue     []protocol.Entry
	tracks    map[string]*protocol.Track
	members   []tandem.Member
	connErr   string
	lastErr   string
	closed    bool
	// The user's name as the hub reports it; "" until the first join.
	me string
	// room is the room the core last joined, and epoch counts the
	// changes of room: the follower's timeline versions are epoch<<40 +
	// the room's version, since a new room's versions start again.
	joinedRoom string
	epoch      uint64
	// The rooms this user is a member of, every friend with when their
	// state last changed (as seen here) and the state then, the feed.
	rooms     []protocol.RoomInfo
	friends   []protocol.Friend
	since     map[string]time.Time
	seen      map[string]string
	activity  []tandem.Activity
	userMuted bool
	// The playlist edits not yet acknowledged by the hub, in order, and
	// whether the sender runs (player/outbox.go).
	outbox   []edit
	opSeq    uint64
	flushing bool
	saveMu   sync.Mutex // held while the outbox is written to its file; taken before mu
	// Track ids whose metadata is being fetched (Friends' "Listening").
	looking map[string]bool
	// What the player last told the room about buffering: the track it
	// is still getting ready ("" when none), and a sequence number so
	// that only the latest report goes out.
	buffering string
	bufSeq    uint64
	bufMu     sync.Mutex // held while a report is sent, so reports go out in order
}

// New returns a core; Start connects it.
func New(cfg Config) *Core {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Core{cfg: cfg, log: log, audio: cfg.Audio, lib: cfg.Library, now: cfg.Now,
		ctx: ctx, cancel: cancel, tracks: map[string]*protocol.Track{}, ticked: make(chan struct{}), kick: make(chan struct{}, 1), loadKick: make(chan struct{}, 1),
		http:     &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 30 * time.Second},
		art:      newArtCache(artCacheSize),
		opPrefix: newOpPrefix(), since: map[string]time.Time{}, seen: map[string]string{}, looking: map[string]bool{}}
	if c.now == nil {
		c.now = time.Now
	}
	c.em = event.New(log, event.WithUnhandledError(func(err error) {
		log.Error("player: unhandled error", "err", err)
		c.setLastErr(err)
	}))
	c.room = room.New(room.Options{URL: cfg.HubURL, Token: cfg.Token, Name: cfg.Name, Room: cfg.Room, Code: cfg.Code, Logger: log, Now: cfg.Now,
		ReconnectDelay: cfg.ReconnectDelay, ReconnectDelayMax: cfg.ReconnectDelayMax}, c.roomHandlers())
	c.ctl = follow.New(follow.Config{Sink: c.audio, Clock: roomClock{now: c.now, room: c.room}, Logger: log})
	c.loadOutbox()
	c.bridge()
	c.follow()
	// A track found damaged while it plays stops there; say so.
	if a, ok := cfg.Audio.(interface{ OnError(func(string, error)) }); ok {
		a.OnError(func(trackID string, err error) {
			event.Error.Emit(c.em, fmt.Errorf("player: track %s is damaged and stopped where it broke: %w", trackID, err))
		})
	}
	go c.tick()
	c.wg.Add(1)
	go c.loadLoop()
	return c
}

// Start connects to the hub and joins the room; the playlists load with
// every join. If the hub cannot be reached before ctx ends, Start returns
// the error and the core keeps trying in the background until Close.
func (c *Core) Start(ctx context.Context) error {
	if err := c.room.Connect(ctx); err != nil {
		c.setConnErr(err)
		return fmt.Errorf("player: %w", err)
	}
	return nil
}

// loadPlaylists fetches the hub's playlists and opens each, so that their
// changes arrive as playlist events.
func (c *Core) loadPlaylists() {
	ctx, cancel := context.WithTimeout(c.ctx, commandTimeout)
	defer cancel()
	pls, err := c.room.Playlists(ctx)
	if err != nil {
		event.Error.Emit(c.em, fmt.Errorf("player: list playlists: %w", err))
		return
	}
	for i, p := range pls {
		full, err := c.room.OpenPlaylist(ctx, p.ID)
		if err != nil {
			event.Error.Emit(c.em, fmt.Errorf("player: open playlist %q: %w", p.Name, err))
			continue
		}
		pls[i] = full
	}
	c.mu.Lock()
	c.playlists = pls
	for _, p := range pls {
		c.indexTracksLocked(p.Entries)
	}
	c.mu.Unlock()
	State.Emit(c.em, "playlists")
}

// onPlaylist applies a playlist's change to the core's copy, or opens the
// playlist again when a change was missed.
func (c *Core) onPlaylist(ev protocol.PlaylistEvent) {
	c.mu.Lock()
	q := c.room.State()
	if ev.PlaylistID == q.Info.Playlist {
		c.queue = q.Queue
		c.indexTracksLocked(q.Queue)
	}
	reopen := false
	for i := range c.playlists {
		if c.playlists[i].ID != ev.PlaylistID {
			continue
		}
		if room.ApplyPlaylistEvent(&c.playlists[i], ev) {
			c.indexTracksLocked(c.playlists[i].Entries)
		} else if ev.Version > c.playlists[i].Version {
			reopen = true
		}
	}
	reopen = reopen && !c.closed
	if reopen {
		c.wg.Add(1) // under mu, so never after Close began waiting
	}
	c.mu.Unlock()
	State.Emit(c.em, "queue")
	State.Emit(c.em, "playlists")
	if !reopen {
		return
	}
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(c.ctx, commandTimeout)
		defer cancel()
		full, err := c.room.OpenPlaylist(ctx, ev.PlaylistID)
		if err != nil {
			event.Error.Emit(c.em, fmt.Errorf("player: reload playlist: %w", err))
			return
		}
		c.mu.Lock()
		for i := range c.playlists {
			if c.playlists[i].ID == full.ID && full.Version > c.playlists[i].Version {
				c.playlists[i] = full
				c.indexTracksLocked(full.Entries)
			}
		}
		c.mu.Unlock()
		State.Emit(c.em, "playlists")
	}()
}

// Close disconnects and stops every goroutine of the core.
func (c *Core) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	err := c.room.Close()
	c.wg.Wait()
	<-c.ticked
	c.http.CloseIdleConnections()
	return err
}

// Emitter returns the local emitter.
func (c *Core) Emitter() *event.Emitter { return c.em }

// Room returns the room's name.
func (c *Core) Room() string { return c.room.RoomName() }

// RoomClient returns the connection to the room, for tests and tools.
func (c *Core) RoomClient() *room.Client { return c.room }

func (c *Core) indexTracksLocked(es []protocol.Entry) {
	for _, e := range es {
		if e.Track != nil {
			c.tracks[e.TrackID] = e.Track
		}
	}
}

func (c *Core) setConnErr(err error) {
	c.mu.Lock()
	if err == nil {
		c.connErr = ""
	} else {
		c.connErr = err.Error()
	}
	c.mu.Unlock()
	State.Emit(c.em, "connection")
}

func (c *Core) setLastErr(err error) {
	c.mu.Lock()
	c.lastErr = err.Error()
	c.mu.Unlock()
	State.Emit(c.em, "error")
}

// Playlists lists the room's queue, then the hub's playlists. The queue
// is editable when the room plays a playlist this user may edit, or has
// none yet (AddTracks then makes one).
func (c *Core) Playlists() []PlaylistItem {
	info := c.room.State().Info
	name := c.room.RoomName()
	c.mu.Lock()
	defer c.mu.Unlock()
	q := PlaylistItem{ID: QueueID, Name: "Room: " + name, Editable: name != "" && info.Playlist == "", Count: len(c.queue)}
	out := []PlaylistItem{q}
	for _, p := range c.playlists {
		it := PlaylistItem{ID: p.ID, Name: p.Name, Owner: p.Owner, Collaborative: p.Collaborative,
			Editable: p.Collaborative || (c.me != "" && p.Owner == c.me), Mine: c.me != "" && p.Owner == c.me, Count: len(p.Entries)}
		if p.ID == info.Playlist {
			out[0].Owner, out[0].Collaborative, out[0].Editable = it.Owner, it.Collaborative, it.Editable
		}
		out = append(out, it)
	}
	return out
}

// Rows returns a playlist's entries, or the room's queue for QueueID.
func (c *Core) Rows(playlistID string) []Row {
	c.mu.Lock()
	defer c.mu.Unlock()
	var es []protocol.Entry
	if playlistID == QueueID {
		es = c.queue
	} else {
		for _, p := range c.playlists {
			if p.ID == playlistID {
				es = p.Entries
			}
		}
	}
	rows := make([]Row, 0, len(es))
	for _, e := range es {
		r := Row{EntryID: e.ID, TrackID: e.TrackID, User: e.AddedBy, Date: e.AddedAt, Song: e.TrackID[:min(8, len(e.TrackID))]}
		if t := c.tracks[e.TrackID]; t != nil {
			r.Song, r.Artist, r.Album, r.Length = t.Title, t.Artist, t.Album, protocol.Dur(t.Duration)
		}
		rows = append(rows, r)
	}
	return rows
}

// Now returns what the room plays now, as this player hears it: the
// room's track and state; while it plays, the position heard from the
// audio engine or, when the engine is not playing it (yet), the room's
// timeline position; while paused, where the room paused.
func (c *Core) Now() NowPlaying {
	st := c.room.State()
	tl := st.NowPlaying
	id := tl.TrackID
	if id == "" {
		id = c.audio.Current()
	}
	np := NowPlaying{EntryID: tl.EntryID, TrackID: id, Playing: tl.State == tandem.Playing}
	if st.Version == 0 && tl.TrackID == "" {
		// Not in a room yet: the engine's own state.
		np.Playing, np.Position = c.audio.Playing(), c.audio.Position()
	} else if np.Playing {
		if f, at, ok := c.audio.Audible(); ok && c.audio.Current() == id {
			np.Position = time.Duration(float64(f)/float64(c.audio.SampleRate())*float64(time.Second)) + c.now().Sub(at)
		} else if start := c.room.Local(tl.StartAt); !start.IsZero() {
			np.Position = protocol.Dur(tl.Position) + max(0, c.now().Sub(start))
		}
	} else {
		np.Position = protocol.Dur(tl.Position)
	}
	if c.audio.Current() == id {
		np.Duration = c.audio.Duration()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.tracks[id]; t != nil {
		np.Title, np.Artist, np.Album, np.HasArt = t.Title, t.Artist, t.Album, t.Art != ""
		if np.Duration == 0 {
			np.Duration = protocol.Dur(t.Duration)
		}
	}
	if np.Duration > 0 {
		np.Position = min(np.Position, np.Duration)
	}
	return np
}

// Status is the status line: problems first (the hub connection, muted
// audio, the last error), then how friends join a hosted room.
func (c *Core) Status() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	if c.connErr != "" {
		parts = append(parts, "hub: "+c.connErr)
	}
	if c.audio.Muted() {
		parts = append(parts, "muted: no audio output device")
	}
	if c.lastErr != "" {
		parts = append(parts, "error: "+c.lastErr)
	}
	if c.cfg.Hosting != "" {
		parts = append(parts, c.cfg.Hosting)
	}
	if len(parts) == 0 {
		return "connected to " + c.cfg.HubURL
	}
	return strings.Join(parts, " · ")
}

// inQueue reports whether an entry is in the room's queue.
func (c *Core) inQueue(entryID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.ContainsFunc(c.queue, func(e protocol.Entry) bool { return e.ID == entryID })
}

// errClosed is returned for commands after Close.
var errClosed = errors.New("player: closed")
