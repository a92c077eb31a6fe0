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
	"tandem/sync/clock"
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
	// Now is the local clock; nil means time.Now. The hub clock is
	// estimated against Now's monotonic reading.
	Now func() time.Time
	// Clock tunes the hub clock's estimation; zero fields take
	// clock's defaults. Its Now and (if nil) Logger are the client's.
	Clock clock.Config
	// Reconnection delays, for tests; zero means the socketio defaults.
	ReconnectDelay, ReconnectDelayMax time.Duration
}

// Handlers receive a room's events. Each may be nil. They run on the
// connection's event goroutine, one at a time in arrival order, never on
// its reader: a slow handler delays the events after it but not the
// connection's pings. They must not wait on I/O all the same.
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
	// Room is called when the room's info changes: host, policy, code,
	// members, shuffle, wait, repeat.
	Room func(protocol.RoomInfo)
	// Removed is called when the host removed this user from the room;
	// the client is then in no room (RoomName is "").
	Removed func(protocol.Removed)
	// Friends is called with every friend's presence as it changes.
	Friends func([]protocol.Friend)
	// Activity is called with new items of the friends' feed, oldest
	// first.
	Activity func([]tandem.Activity)
}

// Client is a member's connection to one room.
type Client struct {
	opts Options
	log  *slog.Logger
	io   *socketio.Client
	h    Handlers
	now  func() time.Time

	// The hub clock: clk holds the samples, against the monotonic time
	// since base. A sampler runs while connected (clockStop ends it),
	// and closed ends everything at Close.
	clk       *clock.Estimator
	base      time.Time
	closed    context.Context
	shut      context.CancelFunc
	clockMu   sync.Mutex
	clockStop func() // stops the current connection's sampler, or nil

	// joinMu serialises what changes the room: the join after each
	// (re)connection, and Join, Create and Leave.
	joinMu sync.Mutex

	mu     sync.Mutex // guards the following
	room   string     // the room's name, once known; "" when in no room
	code   string     // the invite code, until a join by code succeeded
	left   []string   // rooms left while disconnected, to leave on the hub again
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
	c.base = c.now()
	ccfg := opts.Clock
	ccfg.Now = func() time.Duration { return c.now().Sub(c.base) }
	if ccfg.Logger == nil {
		ccfg.Logger = log
	}
	c.clk = clock.New(ccfg)
	c.closed, c.shut = context.WithCancel(context.Background())
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
	c.io.On(protocol.EventRoom, c.onRoomInfo)
	c.io.On(protocol.EventPlaylist, c.onPlaylist)
	c.io.On(protocol.EventRemoved, c.onRemoved)
	c.io.On(protocol.EventFriends, c.onFriends)
	c.io.On(protocol.EventActivity, c.onActivity)
	c.io.OnConnect(c.onConnect)
	c.io.OnDisconnect(func(reason string) {
		c.stopClock()
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
func (c *Client) Close() error {
	c.shut()
	err := c.io.Close()
	c.stopClock()
	return err
}

// onConnect runs after every (re)connection, on the client's run loop.
func (c *Client) onConnect() {
	ctx, cancel := context.WithTimeout(c.closed, 10*time.Second)
	defer cancel()
	if err := c.startClock(ctx); err != nil {
		c.log.Warn("room: clock sync", "err", err)
	} else if est := c.clk.Estimate(); est.OK {
		// The hub schedules the room's commands a round trip (plus a
		// margin) ahead of the slowest member's: tell it ours.
		var la protocol.LeadAck
		if err := c.call(ctx, protocol.ClockReport, protocol.ClockReportRequest{RTT: protocol.Ms(est.Delay)}, &la); err != nil {
			c.log.Debug("room: clock report", "err", err)
		}
	}
	c.joinMu.Lock()
	defer c.joinMu.Unlock()
	c.leaveLeft(ctx)
	c.mu.Lock()
	req := protocol.JoinRequest{Room: c.room}
	if c.code != "" {
		req = protocol.JoinRequest{Code: c.code}
	}
	c.mu.Unlock()
	if req.Room == "" && req.Code == "" {
		// In no room (after Leave, or a removal): connected, nothing to join.
		if c.h.Connection != nil {
			c.h.Connection(true, nil)
		}
		select {
		case c.joined <- nil:
		default:
		}
		return
	}
	var ack protocol.JoinAck
	err := c.call(ctx, protocol.RoomJoin, req, &ack)
	if err == nil && ack.State == nil {
		err = errors.New("room: join ack without state")
	}
	if err == nil {
		c.mu.Lock()
		c.room, c.code = ack.State.Room, "" // a member now: later joins go by name
		st := *ack.State
		if st.Version < c.state.Version && st.Room == c.state.Room {
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

// startClock starts the connection's clock sampler: a burst, awaited
// (until ctx ends) so that the join's times convert well, then periodic
// samples until the connection is lost or the client closed.
func (c *Client) startClock(ctx context.Context) error {
	c.stopClock()
	run, cancel := context.WithCancel(c.closed)
	done, burst := make(chan struct{}), make(chan error, 1)
	c.clockMu.Lock()
	c.clockStop = func() { cancel(); <-done }
	c.clockMu.Unlock()
	go func() {
		defer close(done)
		burst <- c.clk.Burst(run, c.pingClock)
		_ = c.clk.Follow(run, c.pingClock) // ends with run
	}()
	select {
	case err := <-burst:
		if err != nil {
			return fmt.Errorf("room: clock burst: %w", err)
		}
		est := c.clk.Estimate()
		c.log.Debug("room: clock", "offset", c.Offset(), "error", est.Error, "rtt", est.Delay)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("room: clock burst: %w", ctx.Err())
	}
}

// stopClock stops the sampler, if one runs, and waits for it.
func (c *Client) stopClock() {
	c.clockMu.Lock()
	stop := c.clockStop
	c.clockStop = nil
	c.clockMu.Unlock()
	if stop != nil {
		stop()
	}
}

// pingClock is one clock:ping exchange.
func (c *Client) pingClock(ctx context.Context, t0 float64) (t1, t2 float64, err error) {
	var ack protocol.ClockPingAck
	if err := c.call(ctx, protocol.ClockPing, protocol.ClockPingRequest{T0: t0}, &ack); err != nil {
		return 0, 0, err
	}
	if ack.T0 != t0 {
		return 0, 0, fmt.Errorf("room: %s: ack for t0 %v, sent %v", protocol.ClockPing, ack.T0, t0)
	}
	return ack.T1, ack.T2, nil
}

// Offset returns the estimated hub clock minus the local clock (Unix
// times), now; 0 before the first clock sample.
func (c *Client) Offset() time.Duration {
	est := c.clk.Estimate()
	if !est.OK {
		return 0
	}
	return est.Offset - time.Duration(c.base.UnixNano())
}

// ClockError returns the bound on the error of Offset and Local: half
// the round trip of the clock sample in use, plus its aging. It is -1
// before the first sample.
func (c *Client) ClockError() time.Duration {
	est := c.clk.Estimate()
	if !est.OK {
		return -1
	}
	return est.Error
}

// Clock returns the hub clock's estimate now (see clock.Estimate).
func (c *Client) Clock() clock.Estimate { return c.clk.Estimate() }

// Local converts hub Unix milliseconds to local time. With the default
// clock the result carries a monotonic reading, so waiting for it is
// immune to wall-clock jumps. Before the first clock sample the hub's
// clock is taken as the local one.
func (c *Client) Local(hubMs float64) time.Time {
	if hubMs == 0 {
		return time.Time{}
	}
	mono, ok := c.clk.Local(hubMs)
	if !ok {
		return protocol.FromMillis(hubMs)
	}
	return c.base.Add(mono)
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
	v := c.version()
	err := c.call(ctx, protocol.PlaybackChangeTrack, protocol.ChangeTrackRequest{Room: c.RoomName(), EntryID: entryID, TrackID: trackID, Version: &v}, &ack)
	return ack.Version, err
}

// Play resumes the room's playback.
func (c *Client) Play(ctx context.Context) (uint64, error) {
	var ack protocol.VersionAck
	v := c.version()
	err := c.call(ctx, protocol.PlaybackPlay, protocol.SeekRequest{Room: c.RoomName(), Version: &v}, &ack)
	return ack.Version, err
}

// Pause pauses the room's playback.
func (c *Client) Pause(ctx context.Context) (uint64, error) {
	var ack protocol.VersionAck
	v := c.version()
	err := c.call(ctx, protocol.PlaybackPause, protocol.SeekRequest{Room: c.RoomName(), Version: &v}, &ack)
	return ack.Version, err
}

// Seek moves the room's playback to pos.
func (c *Client) Seek(ctx context.Context, pos time.Duration) (uint64, error) {
	ms := protocol.Ms(pos)
	var ack protocol.VersionAck
	v := c.version()
	err := c.call(ctx, protocol.PlaybackSeek, protocol.SeekRequest{Room: c.RoomName(), Position: &ms, Version: &v}, &ack)
	return ack.Version, err
}

// Next moves the room to the next entry of its play order.
func (c *Client) Next(ctx context.Context) (uint64, error) {
	var ack protocol.VersionAck
	v := c.version()
	err := c.call(ctx, protocol.PlaybackNext, protocol.StepRequest{Room: c.RoomName(), Version: &v}, &ack)
	return ack.Version, err
}

// Previous moves the room to the previous entry, or restarts the track
// when it has played for more than a few seconds.
func (c *Client) Previous(ctx context.Context) (uint64, error) {
	var ack protocol.VersionAck
	v := c.version()
	err := c.call(ctx, protocol.PlaybackPrevious, protocol.StepRequest{Room: c.RoomName(), Version: &v}, &ack)
	return ack.Version, err
}

// Buffering tells the room whether this member is still getting the
// track's audio ready; everyone sees it, and a "wait for everyone" room
// waits for it (within its bound).
func (c *Client) Buffering(ctx context.Context, entryID, trackID string, buffering bool) error {
	var ack protocol.Ack
	return c.call(ctx, protocol.PlaybackBuffering, protocol.BufferingRequest{Room: c.RoomName(), EntryID: entryID,
		TrackID: trackID, Buffering: buffering}, &ack)
}

// version is the room version the client has seen: commands carry it, and
// the hub refuses one based on an older version (ECONFLICT) rather than
// apply it to a timeline its sender has not seen.
func (c *Client) version() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.Version
}

func (c *Client) onRoomInfo(args []json.RawMessage, _ socketio.AckFunc) {
	var ev protocol.RoomInfo
	if len(args) == 0 || json.Unmarshal(args[0], &ev) != nil || ev.Room != c.RoomName() {
		return
	}
	c.mu.Lock()
	if ev.Version > c.state.Version {
		c.state.Version = ev.Version
	}
	c.state.Info = ev
	c.mu.Unlock()
	if c.h.Room != nil {
		c.h.Room(ev)
	}
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
	if ev.Version > c.state.Version {
		c.state.Version = ev.Version
	}
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
