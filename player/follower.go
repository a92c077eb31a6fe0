package player

import (
	"context"
	"fmt"
	"io"
	"tandem/audio"
	"time"

	"tandem/sync/event"
	"tandem/sync/follow"
	"tandem/sync/room"
)

// tickEvery is how often the follower measures the audio engine against
// the room's timeline while it plays, and idleTickEvery while it does not
// (paused, stopped, no room): nothing drifts then.
const (
	tickEvery     = 50 * time.Millisecond
	idleTickEvery = time.Second
)

// roomClock is the follow.Clock of a room: local time, and hub times
// converted by the room client's clock estimate.
type roomClock struct {
	now  func() time.Time
	room *room.Client
}

func (k roomClock) Now() time.Time                { return k.now() }
func (k roomClock) Local(hubMs float64) time.Time { return k.room.Local(hubMs) }

// follow makes the audio engine play the room's timeline: it acts on Hub
// events only, and hands each timeline to the follow.Controller, which
// schedules the engine sample-accurately at the hub's instant (or, if
// that has passed, where the group is by now), stops it, and keeps it on
// the timeline with rate trims and, for a large error, a resync.
func (c *Core) follow() {
	ChangeTrack.On(c.em, func(tc TrackChange) {
		if tc.Origin == Hub {
			c.apply(tc.TrackID, tc.Timeline)
			c.prefetchNext(tc.EntryID) // player/prefetch.go
		}
	})
	Playback.On(c.em, func(pc PlaybackChange) {
		if pc.Origin == Hub {
			c.apply(c.room.State().NowPlaying.TrackID, pc.Timeline)
		}
	})
}

// apply makes the engine play trackID on the timeline tl. It runs on the
// emitter's goroutine, for the hub's events, and never waits on I/O: a
// track the engine has already is followed at once; one it has not is
// opened and decoded by the loader (loadLoop), which follows the newest
// timeline once it has the track. Until then the engine stops, unless it
// plays on to a gapless switch; a newer track cancels the load.
func (c *Core) apply(trackID string, tl follow.Timeline) {
	c.applyMu.Lock()
	c.want = wanted{trackID: trackID, tl: tl}
	if c.loading != nil && c.loading.trackID == trackID {
		// The loader follows the newest timeline when it has the track.
		c.applyMu.Unlock()
		State.Emit(c.em, "playback")
		return
	}
	if c.loading == nil && c.has(trackID) {
		c.followLocked(tl)
		c.applyMu.Unlock()
		State.Emit(c.em, "playback")
		return
	}
	if c.loading != nil {
		c.loading.cancel() // another track now: its load is of no use
	}
	ctx, cancel := context.WithCancel(c.ctx)
	c.loading = &loadJob{trackID: trackID, ctx: ctx, cancel: cancel}
	if !c.has(trackID) && !c.gapless(tl) {
		// Not the track that plays on: stop it while the room's loads.
		c.ctl.Follow(follow.Timeline{StartAt: tl.StartAt, Version: tl.Version})
		c.following = false
	}
	c.applyMu.Unlock()
	select {
	case c.loadKick <- struct{}{}:
	default:
	}
	State.Emit(c.em, "playback")
}

// wanted is the track and timeline of the hub's last event.
type wanted struct {
	trackID string
	tl      follow.Timeline
}

// loadJob is the loader's current task: getting trackID into the engine.
// cancel ends its reads; a newer job replaces it in Core.loading.
type loadJob struct {
	trackID string
	ctx     context.Context
	cancel  context.CancelFunc
}

// has reports whether the engine has trackID, playing or loaded to follow
// ("" for no track: always). applyMu must be held.
func (c *Core) has(trackID string) bool {
	return trackID == "" || c.audio.Current() == trackID || c.audio.Next() == trackID
}

// gapless reports whether a new track for the timeline tl follows the
// one playing with no gap: the engine plays, and tl starts later, as when
// the hub moves a room on at the end of a track.
func (c *Core) gapless(tl follow.Timeline) bool {
	return c.audio.Current() != "" && c.audio.Playing() && tl.Playing && tl.StartAt != 0 &&
		c.room.Local(tl.StartAt).After(time.Now())
}

// followLocked hands the controller tl, for the track the engine has;
// applyMu must be held.
func (c *Core) followLocked(tl follow.Timeline) {
	c.reportBuffering("")
	c.ctl.Follow(tl)
	c.following = tl.Playing
	if tl.Playing {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

// loadLoop is the loader: it gets the track of the newest loadJob into
// the engine, off the emitter's goroutine, then follows the newest
// timeline, until Close.
func (c *Core) loadLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.loadKick:
		}
		c.applyMu.Lock()
		job := c.loading
		c.applyMu.Unlock()
		if job == nil {
			continue
		}
		err := c.load(job)
		c.applyMu.Lock()
		if c.loading != job {
			// Superseded: the kick that came with the newer job is
			// pending, and the loop takes that job next.
			c.applyMu.Unlock()
			continue
		}
		job.cancel()
		c.loading = nil
		w := c.want
		if err == nil && !c.has(w.trackID) {
			err = fmt.Errorf("player: track %s was not loaded", w.trackID)
		}
		if err != nil {
			// Not playable here: stop rather than play the last track
			// on, and tell the room this player is buffering.
			c.ctl.Follow(follow.Timeline{StartAt: w.tl.StartAt, Version: w.tl.Version})
			c.following = false
			c.reportBuffering(job.trackID)
		} else {
			c.followLocked(w.tl)
		}
		c.applyMu.Unlock()
		if err != nil && c.ctx.Err() == nil {
			event.Error.Emit(c.em, err)
		}
		State.Emit(c.em, "playback")
	}
}

// reportBuffering tells the room that this player is getting trackID
// ready ("": that it has the room's track ready), when that changes. The
// report goes out from a goroutine, so that a slow hub does not hold up
// playback; a newer report supersedes one not sent yet.
func (c *Core) reportBuffering(trackID string) {
	c.mu.Lock()
	was := c.buffering
	if c.closed || was == trackID {
		c.mu.Unlock()
		return
	}
	c.buffering = trackID
	c.bufSeq++
	seq := c.bufSeq
	c.wg.Add(1) // under mu, so never after Close began waiting
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		c.bufMu.Lock()
		defer c.bufMu.Unlock()
		c.mu.Lock()
		latest := seq == c.bufSeq
		c.mu.Unlock()
		if !latest {
			return
		}
		ctx, cancel := context.WithTimeout(c.ctx, commandTimeout)
		defer cancel()
		id, buffering := trackID, true
		if trackID == "" {
			id, buffering = was, false
		}
		if err := c.room.Buffering(ctx, "", id, buffering); err != nil {
			c.log.Debug("player: buffering report", "track", id, "buffering", buffering, "err", err)
		}
	}()
}

// tick runs the Controller's measurements until Close.
func (c *Core) tick() {
	defer close(c.ticked)
	every := tickEvery
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		case <-c.kick:
		}
		c.applyMu.Lock()
		c.ctl.Tick()
		want := idleTickEvery
		if c.following {
			want = tickEvery
		}
		c.applyMu.Unlock()
		if want != every {
			every = want
			t.Reset(every)
		}
	}
}

// load makes the job's track the engine's, unless it already is (or is
// loaded to follow). While another track plays and the timeline starts
// this one later, it is loaded as the next track: the engine plays the
// current one to the scheduled instant and switches on that frame, with
// no gap. It runs on the loader's goroutine, without applyMu: opening,
// reading the tags and decoding may wait for a download. The job's end
// closes the track's reader, which ends those waits.
func (c *Core) load(job *loadJob) error {
	trackID := job.trackID
	c.applyMu.Lock()
	has := c.has(trackID)
	c.applyMu.Unlock()
	if has {
		return nil
	}
	r, err := c.lib.Open(trackID)
	if err != nil {
		return fmt.Errorf("player: open track %s: %w", trackID, err)
	}
	closeR := func() {
		if rc, ok := r.(io.Closer); ok {
			rc.Close()
		}
	}
	stop := context.AfterFunc(job.ctx, closeR)
	fail := func(err error) error {
		if stop() {
			closeR()
		}
		if job.ctx.Err() != nil {
			return fmt.Errorf("player: load track %s: %w", trackID, job.ctx.Err())
		}
		return fmt.Errorf("player: load track %s: %w", trackID, err)
	}
	// ReplayGain from the track's tags, when the engine takes it.
	tags, tagErr := audio.ReadTags(r)
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	if job.ctx.Err() != nil {
		return fail(job.ctx.Err())
	}
	c.applyMu.Lock()
	gapless := c.gapless(c.want.tl)
	c.applyMu.Unlock()
	if gapless {
		err = c.audio.LoadNext(trackID, r)
	} else {
		err = c.audio.Load(trackID, r)
	}
	if err != nil {
		return fail(err)
	}
	// The engine owns r now; a cancellation that closed it meanwhile
	// leaves a track the next job replaces.
	if !stop() {
		return fmt.Errorf("player: load track %s: %w", trackID, job.ctx.Err())
	}
	if rg, ok := c.audio.(replayGainer); ok && tagErr == nil && tags.HasGain {
		if gapless {
			rg.SetNextTrackGain(tags.Gain, tags.Peak)
		} else {
			rg.SetTrackGain(tags.Gain, tags.Peak)
		}
	}
	return nil
}

// replayGainer is an engine that applies ReplayGain (audio.Engine).
type replayGainer interface {
	SetTrackGain(db, peak float64)
	SetNextTrackGain(db, peak float64)
}

// SyncStats returns what the follower measures and does: its error
// against the room's timeline, the rate trim, the resyncs.
func (c *Core) SyncStats() follow.Stats { return c.ctl.Stats() }

// loadPending reports whether the loader has a track to get.
func (c *Core) loadPending() bool {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	return c.loading != nil
}
