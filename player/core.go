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
	Muted() bool
}

// Library opens a track's bytes by id.
type Library interface {
	Open(trackID string) (io.ReadSeeker, error)
}

// Config configures a Core.
type Config struct {
	HubURL  string
	Token   string
	Name    string // display name, used with a shared guest token
	Room    string
	Code    string // the room's invite code, to join it as a new member
	Audio   Audio
	Library Library
	Logger  *slog.Logger
	// Hosting, when set, is shown first in the status line, for example
	// how friends join the hub this player runs.
	Hosting string
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
	wg     sync.WaitGroup // the bridge's command goroutines

	// ctl keeps the audio engine on the room's timeline; the follower
	// hands it the hub's timelines and ticks it every tickEvery on its own
	// goroutine, which closes ticked when it exits.
	ctl    *follow.Controller
	ticked chan struct{}
	// applyMu serialises the follower's use of the engine and the
	// Controller (a track's load and its timeline go together). Taken
	// before mu, never inside it.
	applyMu sync.Mutex

	mu        sync.Mutex // guards the following
	playlists []protocol.Playlist
	queue     []protocol.Entry
	tracks    map[string]*protocol.Track
	members   []tandem.Member
	connErr   string
	lastErr   string
	closed    bool
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
		ctx: ctx, cancel: cancel, tracks: map[string]*protocol.Track{}, ticked: make(chan struct{})}
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
	c.bridge()
	c.follow()
	// A track found damaged while it plays stops there; say so.
	if a, ok := cfg.Audio.(interface{ OnError(func(string, error)) }); ok {
		a.OnError(func(trackID string, err error) {
			event.Error.Emit(c.em, fmt.Errorf("player: track %s is damaged and stopped where it broke: %w", trackID, err))
		})
	}
	go c.tick()
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

// queueID is the playlist id under which the room's queue is listed.
const queueID = "queue"

// Playlists lists the room's queue, then the hub's playlists.
func (c *Core) Playlists() []PlaylistItem {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := []PlaylistItem{{ID: queueID, Name: "Room: " + c.room.RoomName()}}
	for _, p := range c.playlists {
		out = append(out, PlaylistItem{ID: p.ID, Name: p.Name})
	}
	return out
}

// Rows returns a playlist's entries, or the room's queue for "queue".
func (c *Core) Rows(playlistID string) []Row {
	c.mu.Lock()
	defer c.mu.Unlock()
	var es []protocol.Entry
	if playlistID == queueID {
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
			r.Song, r.Artist = t.Title, t.Artist
		}
		rows = append(rows, r)
	}
	return rows
}

// Friends lists the room's members and what each is playing: the room's
// track while it plays, since the whole room listens together.
func (c *Core) Friends() []Friend {
	np := c.room.State().NowPlaying
	c.mu.Lock()
	defer c.mu.Unlock()
	listening := ""
	if t := c.tracks[np.TrackID]; t != nil && np.State == tandem.Playing {
		listening = t.Title + " — " + t.Artist
	}
	out := make([]Friend, 0, len(c.members))
	for _, m := range c.members {
		out = append(out, Friend{Name: m.Name, Listening: listening, Buffering: m.Buffering})
	}
	return out
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
	np := NowPlaying{EntryID: tl.EntryID, Playing: tl.State == tandem.Playing}
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
		np.Title, np.Artist = t.Title, t.Artist
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
