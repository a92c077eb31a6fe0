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

// apply makes the engine play trackID on the timeline tl.
func (c *Core) apply(trackID string, tl follow.Timeline) {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	defer State.Emit(c.em, "playback")
	if trackID != "" {
		if err := c.load(trackID, tl); err != nil {
			// Not playable here: stop rather than play the last track on,
			// and tell the room this player is buffering.
			c.ctl.Follow(follow.Timeline{StartAt: tl.StartAt, Version: tl.Version})
			c.following = false
			c.reportBuffering(trackID)
			event.Error.Emit(c.em, err)
			return
		}
	}
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

// load makes trackID the engine's track for the timeline tl, unless it
// already is (or is loaded to follow). While another track plays and tl
// starts this one later, as when the hub moves a room on at the end of a
// track, it is loaded as the next track: the engine plays the current one
// to the scheduled instant and switches on that frame, with no gap.
func (c *Core) load(trackID string, tl follow.Timeline) error {
	if c.audio.Current() == trackID || c.audio.Next() == trackID {
		return nil
	}
	r, err := c.lib.Open(trackID)
	if err != nil {
		return fmt.Errorf("player: open track %s: %w", trackID, err)
	}
	// ReplayGain from the track's tags, when the engine takes it.
	tags, tagErr := audio.ReadTags(r)
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("player: load track %s: %w", trackID, err)
	}
	gapless := c.audio.Current() != "" && c.audio.Playing() && tl.Playing && tl.StartAt != 0 &&
		c.room.Local(tl.StartAt).After(time.Now())
	if gapless {
		err = c.audio.LoadNext(trackID, r)
	} else {
		err = c.audio.Load(trackID, r)
	}
	if err != nil {
		return fmt.Errorf("player: load track %s: %w", trackID, err)
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
