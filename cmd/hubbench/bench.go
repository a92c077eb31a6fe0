package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"tandem/sync/protocol"
	"tandem/sync/socketio"
)

// Config describes one load run.
type Config struct {
	URL        string  // the server, e.g. http://127.0.0.1:7878
	Label      string  // the server's name in reports
	Transport  string  // "websocket" or "polling"
	Clients    int     // connections
	Rooms      int     // rooms; client i joins room i mod Rooms
	RoomPrefix string  // room names are RoomPrefix + index
	Senders    int     // clients per room that send commands
	Messages   int     // commands per sender
	Rate       float64 // commands per second over all senders; 0 sends each on the previous one's ack
	Tokens     []string
	PID        int           // server process to sample; 0 for none
	Idle       time.Duration // wait after every client joined, before the memory sample
	Dial       int           // connections dialled at once
	// Timeouts: one connect + join, one ack, and the wait for deliveries
	// after the last ack.
	ConnectTimeout, AckTimeout, Drain time.Duration
	Log                               *slog.Logger // progress; nil discards
}

func (c Config) withDefaults() Config {
	if c.Transport == "" {
		c.Transport = "websocket"
	}
	if c.RoomPrefix == "" {
		c.RoomPrefix = "bench-"
	}
	if c.Dial <= 0 {
		c.Dial = 64
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 30 * time.Second
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = 30 * time.Second
	}
	if c.Drain <= 0 {
		c.Drain = 10 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.URL == "":
		return errors.New("no server URL")
	case c.Clients < 1 || c.Rooms < 1 || c.Senders < 0 || c.Messages < 0 || c.Rate < 0:
		return errors.New("clients and rooms must be at least 1; senders, messages and rate not negative")
	case c.Rooms > c.Clients:
		return fmt.Errorf("%d rooms for %d clients: some rooms would be empty", c.Rooms, c.Clients)
	case c.Senders > c.Clients/c.Rooms:
		return fmt.Errorf("%d senders per room, but only %d clients per room", c.Senders, c.Clients/c.Rooms)
	case c.Transport != "websocket" && c.Transport != "polling":
		return fmt.Errorf("transport %q: want websocket or polling", c.Transport)
	}
	return nil
}

// clientOptions returns the socketio client options of one connection.
func clientOptions(transport, token string) (socketio.ClientOptions, error) {
	return socketio.ClientOptions{
		Auth:        func() any { return protocol.Auth{Token: token} },
		Transports:  []string{transport},
		NoReconnect: true, // a lost connection must show, not heal
		BufferSize:  -1,   // and an emit without a connection must fail
	}, nil
}

// member is one benchmark client: a connection that joined one room.
type member struct {
	idx, room   int
	c           *socketio.Client
	connectTime time.Duration
	joinTime    time.Duration
	tracks      []string // track ids of the room's queue, from the join ack
	err         error

	mu   sync.Mutex // guards recv
	recv []delivery
}

// delivery is one changeTrack event as a member received it.
type delivery struct {
	version uint64
	at      time.Duration // since the run's start, monotonic
	auto    bool          // sent by the hub itself (a track ended), not by a command
}

// command is one playback:changeTrack that a sender emitted.
type command struct {
	room          int
	sendAt, ackAt time.Duration // since the run's start
	version       uint64
	ok            bool
	err           string
}

// runner holds one run's shared state.
type runner struct {
	cfg   Config
	start time.Time

	received    atomic.Int64 // changeTrack events from commands, all members
	disconnects atomic.Int64 // connections lost before the end of the run
	closing     atomic.Bool  // set when the run closes its clients
}

func (r *runner) since() time.Duration { return time.Since(r.start) }

func (r *runner) room(i int) string { return fmt.Sprintf("%s%d", r.cfg.RoomPrefix, i) }

// Run connects the clients, lets them idle, sends the commands, waits for
// every delivery and returns the figures. Every client is closed, and
// every goroutine it started has exited, when Run returns. A run whose
// deliveries do not match is not an error: Result.OK tells.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if _, err := clientOptions(cfg.Transport, ""); err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, start: time.Now()}
	res := newResult(cfg)
	res.LoadAvg[0] = loadAvg()
	log := cfg.Log

	members := make([]*member, cfg.Clients)
	for i := range members {
		members[i] = &member{idx: i, room: i % cfg.Rooms}
	}
	defer r.closeAll(members)

	sampler := newSampler(cfg.PID)
	base := sampler.take("baseline")

	// Connect and join.
	log.Info("connecting", "clients", cfg.Clients, "rooms", cfg.Rooms, "url", cfg.URL)
	cpuBefore := sampler.take("before connect")
	r.parallel(ctx, members, func(m *member) { m.err = r.connect(ctx, m) })
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	connected := sampler.take("connected")
	roomSize := make([]int, cfg.Rooms)
	var connTimes, joinTimes []time.Duration
	for _, m := range members {
		if m.err != nil {
			res.ConnectFailed++
			if len(res.ConnectErrors) < 5 {
				res.ConnectErrors = append(res.ConnectErrors, m.err.Error())
			}
			continue
		}
		res.Connected++
		roomSize[m.room]++
		connTimes = append(connTimes, m.connectTime)
		joinTimes = append(joinTimes, m.joinTime)
	}
	res.Connect, res.Join = distOf(connTimes), distOf(joinTimes)
	log.Info("connected", "ok", res.Connected, "failed", res.ConnectFailed)
	if res.Connected == 0 {
		return res, fmt.Errorf("no client connected: %s", firstOr(res.ConnectErrors, "?"))
	}

	// Idle: the memory of connections that only exchange heartbeats.
	if cfg.Idle > 0 {
		log.Info("idle", "for", cfg.Idle)
		if err := sleep(ctx, cfg.Idle); err != nil {
			return nil, err
		}
	}
	idle := sampler.take("idle")

	// Commands.
	var senders []*member
	perRoom := make([]int, cfg.Rooms)
	for _, m := range members {
		if m.err == nil && perRoom[m.room] < cfg.Senders {
			perRoom[m.room]++
			senders = append(senders, m)
			if len(m.tracks) == 0 {
				return res, fmt.Errorf("room %s has no tracks in its queue (run the hub with --demo)", r.room(m.room))
			}
		}
	}
	log.Info("sending", "senders", len(senders), "commands", len(senders)*cfg.Messages, "rate", cfg.Rate)
	before := sampler.take("before commands")
	selfBefore := selfCPU()
	phaseStart := r.since()
	cmds := r.send(ctx, senders)
	var expected int64
	for _, c := range cmds {
		res.Sent++
		if c.ok {
			res.Acked++
			expected += int64(roomSize[c.room])
		} else {
			res.AckErrors++
			if len(res.CommandErrors) < 5 {
				res.CommandErrors = append(res.CommandErrors, c.err)
			}
		}
	}
	res.Expected = expected
	lastAck := r.since()
	// Wait for the deliveries still on their way.
	deadline := time.Now().Add(cfg.Drain)
	for r.received.Load() < expected && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(2 * time.Millisecond)
	}
	phaseEnd := r.since()
	after := sampler.take("after commands")
	res.BenchCPUSec = (selfCPU() - selfBefore).Seconds()
	// Late or duplicate events would arrive now.
	if err := sleep(ctx, 200*time.Millisecond); err != nil {
		return nil, err
	}
	res.Disconnects = int(r.disconnects.Load())
	r.closeAll(members)

	res.LoadAvg[1] = loadAvg()
	res.PhaseSec = (phaseEnd - phaseStart).Seconds()
	res.DrainSec = (phaseEnd - lastAck).Seconds()
	analyse(res, members, cmds)
	if res.PhaseSec > 0 {
		res.DeliveriesPerSec = float64(res.Delivered) / res.PhaseSec
	}
	if cfg.PID > 0 {
		res.Server = serverStats(sampler, base, cpuBefore, connected, idle, before, after, res)
	}
	res.check()
	return res, nil
}

// parallel runs fn for every member, cfg.Dial at a time.
func (r *runner) parallel(ctx context.Context, members []*member, fn func(*member)) {
	work := make(chan *member)
	var wg sync.WaitGroup
	for range min(r.cfg.Dial, len(members)) {
		wg.Go(func() {
			for m := range work {
				fn(m)
			}
		})
	}
feed:
	for _, m := range members {
		select {
		case work <- m:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
}

// connect makes a member's connection and joins its room.
func (r *runner) connect(ctx context.Context, m *member) error {
	token := ""
	if n := len(r.cfg.Tokens); n > 0 {
		token = r.cfg.Tokens[m.idx%n]
	}
	opts, err := clientOptions(r.cfg.Transport, token)
	if err != nil {
		return err
	}
	c := socketio.NewClient(r.cfg.URL, opts)
	m.c = c
	c.On(protocol.EventChangeTrack, func(args []json.RawMessage, _ socketio.AckFunc) {
		at := r.since()
		var ev struct {
			Version uint64 `json:"version"`
			By      string `json:"by"`
		}
		if len(args) > 0 {
			_ = json.Unmarshal(args[0], &ev)
		}
		d := delivery{version: ev.Version, at: at, auto: ev.By == ""}
		m.mu.Lock()
		m.recv = append(m.recv, d)
		m.mu.Unlock()
		if !d.auto {
			r.received.Add(1)
		}
	})
	c.OnDisconnect(func(reason string) {
		if !r.closing.Load() {
			r.disconnects.Add(1)
			r.cfg.Log.Warn("connection lost", "client", m.idx, "reason", reason)
		}
	})
	cctx, cancel := context.WithTimeout(ctx, r.cfg.ConnectTimeout)
	defer cancel()
	t := time.Now()
	if err := c.Connect(cctx); err != nil {
		return fmt.Errorf("client %d: connect: %w", m.idx, err)
	}
	m.connectTime = time.Since(t)
	t = time.Now()
	args, err := c.EmitWithAck(cctx, protocol.RoomJoin, protocol.RoomRequest{Room: r.room(m.room)})
	if err != nil {
		return fmt.Errorf("client %d: join: %w", m.idx, err)
	}
	m.joinTime = time.Since(t)
	var ack struct {
		OK    bool            `json:"ok"`
		Error json.RawMessage `json:"error"`
		State struct {
			Queue []struct {
				TrackID string `json:"trackId"`
			} `json:"queue"`
		} `json:"state"`
	}
	if len(args) == 0 || json.Unmarshal(args[0], &ack) != nil || !ack.OK {
		return fmt.Errorf("client %d: join refused: %s", m.idx, firstRaw(args))
	}
	for _, e := range ack.State.Queue {
		if e.TrackID != "" {
			m.tracks = append(m.tracks, e.TrackID)
		}
	}
	return nil
}

// send runs every sender and returns every command it emitted.
func (r *runner) send(ctx context.Context, senders []*member) []command {
	n := len(senders)
	out := make([][]command, n)
	t0 := time.Now()
	var wg sync.WaitGroup
	for g, m := range senders {
		out[g] = make([]command, r.cfg.Messages)
		wg.Go(func() { r.sender(ctx, t0, g, n, m, out[g]) })
	}
	wg.Wait()
	var all []command
	for _, cs := range out {
		all = append(all, cs...)
	}
	return all
}

// sender emits one member's commands. With a rate, command k of sender g
// (of n) is due at t0 + (g + k·n)/rate, whether or not earlier ones were
// acked, so that a slow server shows as latency rather than as a lower
// rate; without a rate, each command waits for the previous ack.
func (r *runner) sender(ctx context.Context, t0 time.Time, g, n int, m *member, out []command) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for k := range out {
		if r.cfg.Rate == 0 {
			out[k] = r.emit(ctx, m, k)
			continue
		}
		due := t0.Add(time.Duration(float64(g+k*n) / r.cfg.Rate * float64(time.Second)))
		if err := sleep(ctx, time.Until(due)); err != nil {
			for j := k; j < len(out); j++ {
				out[j] = command{room: m.room, err: err.Error()}
			}
			return
		}
		wg.Go(func() { out[k] = r.emit(ctx, m, k) })
	}
}

// emit sends one playback:changeTrack and waits for its ack.
func (r *runner) emit(ctx context.Context, m *member, k int) command {
	c := command{room: m.room}
	actx, cancel := context.WithTimeout(ctx, r.cfg.AckTimeout)
	defer cancel()
	req := protocol.ChangeTrackRequest{Room: r.room(m.room), TrackID: m.tracks[k%len(m.tracks)]}
	c.sendAt = r.since()
	args, err := m.c.EmitWithAck(actx, protocol.PlaybackChangeTrack, req)
	c.ackAt = r.since()
	if err != nil {
		c.err = err.Error()
		return c
	}
	var ack struct {
		OK      bool   `json:"ok"`
		Version uint64 `json:"version"`
	}
	if len(args) == 0 || json.Unmarshal(args[0], &ack) != nil || !ack.OK {
		c.err = "refused: " + firstRaw(args)
		return c
	}
	c.ok, c.version = true, ack.Version
	return c
}

// closeAll closes every client, cfg.Dial at a time; Close waits for the
// client's goroutines. It may run twice.
func (r *runner) closeAll(members []*member) {
	r.closing.Store(true)
	r.parallel(context.Background(), members, func(m *member) {
		if m.c != nil {
			m.c.Close()
		}
	})
}

// analyse matches every delivery to the command that caused it, by room and
// version, and fills in the counts and latencies.
func analyse(res *Result, members []*member, cmds []command) {
	type key struct {
		room    int
		version uint64
	}
	type cmdState struct {
		sendAt, first time.Duration
		seen          bool
	}
	byKey := map[key]*cmdState{}
	for _, c := range cmds {
		if c.ok {
			byKey[key{c.room, c.version}] = &cmdState{sendAt: c.sendAt}
		}
	}
	type hit struct {
		cs *cmdState
		at time.Duration
	}
	var hits []hit
	var acks []time.Duration
	for _, c := range cmds {
		if c.ok {
			acks = append(acks, c.ackAt-c.sendAt)
		}
	}
	for _, m := range members {
		m.mu.Lock()
		recv := m.recv
		m.mu.Unlock()
		seen := map[uint64]bool{}
		for _, d := range recv {
			if d.auto {
				res.HubEvents++
				continue
			}
			cs := byKey[key{m.room, d.version}]
			switch {
			case cs == nil:
				res.Unmatched++
			case seen[d.version]:
				res.Duplicates++
			default:
				seen[d.version] = true
				res.Delivered++
				if !cs.seen || d.at < cs.first {
					cs.first, cs.seen = d.at, true
				}
				hits = append(hits, hit{cs, d.at})
			}
		}
	}
	lat := make([]time.Duration, len(hits))
	spread := make([]time.Duration, len(hits))
	for i, h := range hits {
		lat[i] = h.at - h.cs.sendAt
		spread[i] = h.at - h.cs.first
	}
	res.Ack, res.Latency, res.Spread = distOf(acks), distOf(lat), distOf(spread)
}

// sampler samples the server process, remembering the first error.
type sampler struct {
	pid int
	err error
}

func newSampler(pid int) *sampler { return &sampler{pid: pid} }

func (s *sampler) take(what string) procSample {
	if s.pid <= 0 {
		return procSample{}
	}
	p, err := readProc(s.pid)
	if err != nil && s.err == nil {
		s.err = fmt.Errorf("%s: %w", what, err)
	}
	return p
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func firstRaw(args []json.RawMessage) string {
	if len(args) == 0 {
		return "(no ack arguments)"
	}
	return string(args[0])
}

func firstOr(s []string, def string) string {
	if len(s) == 0 {
		return def
	}
	return s[0]
}

// distOf summarises durations.
func distOf(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	// nearest rank
	q := func(p float64) float64 {
		i := int(p*float64(len(ds))+0.999999) - 1
		return ms(ds[max(0, min(i, len(ds)-1))])
	}
	return Dist{N: len(ds), P50: q(0.50), P90: q(0.90), P99: q(0.99), Max: ms(ds[len(ds)-1])}
}
