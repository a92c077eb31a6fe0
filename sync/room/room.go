// Package room is the client side of a Tandem room: it connects to a hub,
// estimates the hub's clock, joins the room again after every reconnection,
// sends playback commands and delivers the hub's events with their times
// converted to the local clock.
package room

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"tandem"
	"tandem/sync/protocol"
	"tandem/sync/socketio"
)

// Options configure a Client.
type Options struct {
	URL   string // the hub, e.g. http://127.0.0.1:7878
	Token string
	Name  string // display name, used with a shared guest token
	Room  string
	// Code, when set, is the room's invite code: the first join uses it
	// (making the user a member), and later ones the room's name. Room
	// may then be empty.
	Code   string
	Logger *slog.Logger
	// Now is the local clock; nil means time.Now.
	Now func() time.Time
	// Reconnection delays, for tests; zero means the socketio defaults.
	ReconnectDelay, ReconnectDelayMax time.Duration
}

// Handlers receive a room's events. Each may be nil. They run on the
// connection's goroutines and must not block.
type Handlers struct {
	// Joined is called after every successful join, with the room's state.
	Joined func(protocol.RoomState)
	// ChangeTrack is called for the hub's changeTrack; startAt is local time.
	ChangeTrack func(ev protocol.ChangeTrack, startAt time.Time)
	// Playback is called for play, pause and seek; startAt is local time.
	Playback func(ev protocol.PlaybackEvent, startAt time.Time)
	// Presence is called when the room's members change.
	Presence func(protocol.Presence)
	// Connection is called when the connection is made (err nil) or lost.
	Connection func(connected bool, err error)
	// Queue is called when the room's queue changes.
	Queue func(protocol.QueueEvent)
	// Playlist is called for a change of a playlist the client opened or
	// the room plays; ApplyPlaylistEvent applies it to a copy.
	Playlist func(protocol.PlaylistEvent)
}

// Client is a member's connection to one room.
type Client struct {
	opts Options
	log  *slog.Logger
	io   *socketio.Client
	h    Handlers
	now  func() time.Time

	mu     sync.Mutex // guards the following
	room   string     // the room's name, once known
	code   string     // the invite code, until a join by code succeeded
	offset time.Duration
	state  protocol.RoomState
	joined chan error // the first join's outcome, then nil
}

// New returns a client; it does not connect until Connect.
func New(opts Options, h Handlers) *Client {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{opts: opts, log: log, h: h, now: opts.Now, joined: make(chan error, 1), room: opts.Room, code: opts.Code}
	if c.now == nil {
		c.now = time.Now
	}
	c.io = socketio.NewClient(opts.URL, socketio.ClientOptions{
		Auth:              func() any { return protocol.Auth{Token: opts.Token, Name: opts.Name} },
		Logger:            log,
		ReconnectDelay:    opts.ReconnectDelay,
		ReconnectDelayMax: opts.ReconnectDelayMax,
		// A command made while disconnected fails at once rather than
		// playing late: the timeline has moved on.
		BufferSize: -1,
	})
	c.io.On(protocol.EventChangeTrack, c.onChangeTrack)
	c.io.On(protocol.EventPlayback, c.onPlayback)
	c.io.On(protocol.EventPresence, c.onPresence)
	c.io.On(protocol.EventQueue, c.onQueue)
	c.io.On(protocol.EventPlaylist, c.onPlaylist)
	c.io.OnConnect(c.onConnect)
	c.io.OnDisconnect(func(reason string) {
		if c.h.Connection != nil {
			c.h.Connection(false, fmt.Errorf("room: disconnected: %s", reason))
		}
	})
	c.io.OnError(func(err error) {
		if c.h.Connection != nil {
			c.h.Connection(false, err)
		}
	})
	return c
}

// Connect connects, syncs the clock and joins the room, and returns the
// first join's outcome. Afterwards the client reconnects and rejoins by
// itself until Close. A refused connection returns a *socketio.ConnectError.
func (c *Client) Connect(ctx context.Context) error {
	if err := c.io.Connect(ctx); err != nil {
		return fmt.Errorf("room: connect to %s: %w", c.opts.URL, err)
	}
	select {
	case err := <-c.joined:
		return err
	case <-ctx.Done():
		return fmt.Errorf("room: join %q: %w", c.RoomName(), ctx.Err())
	}
}

// RoomName returns the room's name: Options.Room, or, after a join by
// code, the name the hub gave.
func (c *Client) RoomName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.room
}

// Close leaves and disconnects.
func (c *Client) Close() error { return c.io.Close() }

// onConnect runs after every (re)connection, on the client's run loop.
func (c *Client) onConnect() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.syncClock(ctx); err != nil {
		c.log.Warn("room: clock sync", "err", err)
	}
	var ack protocol.JoinAck
	c.mu.Lock()
	req := protocol.JoinRequest{Room: c.room}
	if c.code != "" {
		req = protocol.JoinRequest{Code: c.code}
	}
	c.mu.Unlock()
	err := c.call(ctx, protocol.RoomJoin, req, &ack)
	if err == nil && ack.State == nil {
		err = errors.New("room: join ack without state")
	}
	if err == nil {
		c.mu.Lock()
		c.room, c.code = ack.State.Room, "" // a member now: later joins go by name
		st := *ack.State
		if st.Version < c.state.Version {
			// An event newer than the join's snapshot arrived first.
			st.Version, st.NowPlaying = c.state.Version, c.state.NowPlaying
		}
		c.state = st
		c.mu.Unlock()
		if c.h.Joined != nil {
			c.h.Joined(st)
		}
		if c.h.Connection != nil {
			c.h.Connection(true, nil)
		}
	} else {
		c.log.Error("room: join", "room", c.RoomName(), "err", err)
	}
	select {
	case c.joined <- err:
	default:
	}
}

// syncClock estimates the hub clock's offset from a few pings, keeping the
// one with the lowest round trip.
func (c *Client) syncClock(ctx context.Context) error {
	best := time.Duration(-1)
	var offset time.Duration
	for range 5 {
		t0 := c.now()
		var ack protocol.ClockPingAck
		if err := c.call(ctx, protocol.ClockPing, protocol.ClockPingRequest{T0: protocol.Millis(t0)}, &ack); err != nil {
			return err
		}
		t3 := c.now()
		rtt := t3.Sub(t0) - protocol.Dur(ack.T2-ack.T1)
		if best < 0 || rtt < best {
			best = rtt
			// offset = ((t1 - t0) + (t2 - t3)) / 2
			offset = (protocol.FromMillis(ack.T1).Sub(t0) + protocol.FromMillis(ack.T2).Sub(t3)) / 2
		}
	}
	c.mu.Lock()
	c.offset = offset
	c.mu.Unlock()
	c.log.Debug("room: clock", "offset", offset, "rtt", best)
	return nil
}

// Offset returns the estimated hub clock minus the local clock.
func (c *Client) Offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset
}

// Local converts hub Unix milliseconds to local time.
func (c *Client) Local(hubMs float64) time.Time {
	if hubMs == 0 {
		return time.Time{}
	}
	return protocol.FromMillis(hubMs).Add(-c.Offset())
}

// State returns the room's state as of the last join.
func (c *Client) State() protocol.RoomState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// call sends a command and decodes its ack; an error ack becomes a
// *tandem.Error.
func (c *Client) call(ctx context.Context, event string, req any, ack any) error {
	args, err := c.io.EmitWithAck(ctx, event, req)
	if err != nil {
		return fmt.Errorf("room: %s: %w", event, err)
	}
	if len(args) == 0 {
		return fmt.Errorf("room: %s: empty ack", event)
	}
	var base protocol.Ack
	if err := json.Unmarshal(args[0], &base); err != nil {
		return fmt.Errorf("room: %s: decode ack: %w", event, err)
	}
	if !base.OK {
		if base.Error == nil {
			return fmt.Errorf("room: %s: refused without an error", event)
		}
		return base.Error
	}
	if err := json.Unmarshal(args[0], ack); err != nil {
		return fmt.Errorf("room: %s: decode ack: %w", event, err)
	}
	return nil
}

// ChangeTrack asks the hub to play an entry of the room's queue (entryID)
// or a track (trackID), and returns the room's new version.
func (c *Client) ChangeTrack(ctx context.Context, entryID, trackID string) (uint64, error) {
	var ack protocol.VersionAck
	err := c.call(ctx, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: c.RoomName(), EntryID: entryID, TrackID: trackID}, &ack)
	return ack.Version, err
}

// Play resumes the room's playback.
func (c *Client) Play(ctx context.Context) (uint64, error) {
	var ack protocol.VersionAck
	err := c.call(ctx, protocol.PlaybackPlay, protocol.RoomRequest{Room: c.RoomName()}, &ack)
	return ack.Version, err
}

// Pause pauses the room's playback.
func (c *Client) Pause(ctx context.Context) (uint64, error) {
	var ack protocol.VersionAck
	err := c.call(ctx, protocol.PlaybackPause, protocol.RoomRequest{Room: c.RoomName()}, &ack)
	return ack.Version, err
}

// Seek moves the room's playback to pos.
func (c *Client) Seek(ctx context.Context, pos time.Duration) (uint64, error) {
	ms := protocol.Ms(pos)
	var ack protocol.VersionAck
	err := c.call(ctx, protocol.PlaybackSeek, protocol.SeekRequest{Room: c.RoomName(), Position: &ms}, &ack)
	return ack.Version, err
}

// Playlists lists the hub's playlists, without their entries.
func (c *Client) Playlists(ctx context.Context) ([]protocol.Playlist, error) {
	var ack protocol.PlaylistsAck
	err := c.call(ctx, protocol.PlaylistList, struct{}{}, &ack)
	return ack.Playlists, err
}

// OpenPlaylist returns a playlist with its entries; from then on its
// changes reach Handlers.Playlist.
func (c *Client) OpenPlaylist(ctx context.Context, id string) (protocol.Playlist, error) {
	var ack protocol.PlaylistAck
	err := c.call(ctx, protocol.PlaylistOpen, protocol.PlaylistRequest{PlaylistID: id}, &ack)
	return ack.Playlist, err
}

func (c *Client) onQueue(args []json.RawMessage, _ socketio.AckFunc) {
	var ev protocol.QueueEvent
	if len(args) == 0 || json.Unmarshal(args[0], &ev) != nil || ev.Room != c.RoomName() {
		return
	}
	c.mu.Lock()
	c.state.Queue, c.state.Info.Playlist = ev.Queue, ev.PlaylistID
	c.mu.Unlock()
	if c.h.Queue != nil {
		c.h.Queue(ev)
	}
}

func (c *Client) onPlaylist(args []json.RawMessage, _ socketio.AckFunc) {
	var ev protocol.PlaylistEvent
	if len(args) == 0 || json.Unmarshal(args[0], &ev) != nil {
		return
	}
	c.mu.Lock()
	if ev.PlaylistID == c.state.Info.Playlist {
		q := protocol.Playlist{ID: ev.PlaylistID, Version: ev.Version - 1, Entries: c.state.Queue}
		if ApplyPlaylistEvent(&q, ev) {
			c.state.Queue = q.Entries
		}
	}
	c.mu.Unlock()
	if c.h.Playlist != nil {
		c.h.Playlist(ev)
	}
}

// ApplyPlaylistEvent applies a playlist event to p, which must be the
// version just before it. It reports false, leaving p alone, when the
// event is not the next change of p (a change was missed: open the
// playlist again) or is older than p.
func ApplyPlaylistEvent(p *protocol.Playlist, ev protocol.PlaylistEvent) bool {
	if ev.PlaylistID != p.ID || ev.Version != p.Version+1 {
		return false
	}
	entries := slices.Clone(p.Entries)
	switch ev.Kind {
	case "add", "move", "remove":
		if ev.Entry == nil {
			return false
		}
		entries = slices.DeleteFunc(entries, func(e protocol.Entry) bool { return e.ID == ev.Entry.ID })
		if ev.Kind != "remove" {
			entries = append(entries, *ev.Entry)
			slices.SortStableFunc(entries, func(a, b protocol.Entry) int { return strings.Compare(a.Order, b.Order) })
		}
	case "renumber":
		entries = ev.Entries
	}
	keep := entries
	*p = ev.Playlist
	p.Entries = keep
	if p.Entries == nil {
		p.Entries = []protocol.Entry{}
	}
	return true
}

func (c *Client) onChangeTrack(args []json.RawMessage, _ socketio.AckFunc) {
	var ev protocol.ChangeTrack
	if len(args) == 0 || json.Unmarshal(args[0], &ev) != nil || ev.Room != c.RoomName() {
		return
	}
	if !c.advance(ev.Version, protocol.Playback{EntryID: ev.EntryID, TrackID: ev.TrackID, State: tandem.Playing, StartAt: ev.StartAt}) {
		return
	}
	if c.h.ChangeTrack != nil {
		c.h.ChangeTrack(ev, c.Local(ev.StartAt))
	}
}

func (c *Client) onPlayback(args []json.RawMessage, _ socketio.AckFunc) {
	var ev protocol.PlaybackEvent
	if len(args) == 0 || json.Unmarshal(args[0], &ev) != nil || ev.Room != c.RoomName() {
		return
	}
	if !c.advance(ev.Version, ev.Playback) {
		return
	}
	if c.h.Playback != nil {
		c.h.Playback(ev, c.Local(ev.StartAt))
	}
}

// advance records a hub event's timeline if its version is newer than what
// the client has, and reports whether it was; stale events are dropped.
func (c *Client) advance(version uint64, np protocol.Playback) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if version <= c.state.Version {
		c.log.Debug("room: stale event dropped", "version", version, "have", c.state.Version)
		return false
	}
	c.state.Version, c.state.NowPlaying = version, np
	return true
}

func (c *Client) onPresence(args []json.RawMessage, _ socketio.AckFunc) {
	var ev protocol.Presence
	if len(args) == 0 || json.Unmarshal(args[0], &ev) != nil || ev.Room != c.RoomName() {
		return
	}
	c.mu.Lock()
	c.state.Members = ev.Members
	c.mu.Unlock()
	if c.h.Presence != nil {
		c.h.Presence(ev)
	}
}
