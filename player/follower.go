package player

import (
	"fmt"
	"time"

	"tandem"
	"tandem/sync/event"
)

// follow makes the audio engine play the room's timeline: it acts on Hub
// events only. Every change takes effect at the instant the hub scheduled
// it: a start or a pause in the future waits for its timer; one in the past
// (a late joiner, a slow network) happens at once, from where the group is.
func (c *Core) follow() {
	ChangeTrack.On(c.em, func(tc TrackChange) {
		if tc.Origin != Hub {
			return
		}
		c.applyMu.Lock()
		defer c.applyMu.Unlock()
		if err := c.load(tc.TrackID); err != nil {
			event.Error.Emit(c.em, err)
			return
		}
		c.playFrom(0, tc.StartAt)
	})
	Playback.On(c.em, func(pc PlaybackChange) {
		if pc.Origin != Hub {
			return
		}
		c.applyMu.Lock()
		defer c.applyMu.Unlock()
		if pc.State == tandem.Playing {
			c.playFrom(pc.Position, pc.StartAt)
			return
		}
		c.at(pc.StartAt, func(time.Duration) {
			c.seek(pc.Position)
			c.audio.Pause()
		})
	})
}

func (c *Core) load(trackID string) error {
	c.cancelTimer()
	if c.audio.Current() == trackID {
		c.audio.Pause()
		return nil
	}
	r, err := c.lib.Open(trackID)
	if err != nil {
		return fmt.Errorf("player: open track %s: %w", trackID, err)
	}
	if err := c.audio.Load(trackID, r); err != nil {
		return fmt.Errorf("player: load track %s: %w", trackID, err)
	}
	return nil
}

func (c *Core) seek(pos time.Duration) {
	if err := c.audio.Seek(pos); err != nil {
		event.Error.Emit(c.em, fmt.Errorf("player: seek: %w", err))
	}
}

// playFrom plays from position pos at local time at; if at has passed, it
// plays at once from where the timeline is now.
func (c *Core) playFrom(pos time.Duration, at time.Time) {
	c.seek(pos)
	c.audio.Pause()
	c.at(at, func(late time.Duration) {
		if late > 0 {
			c.seek(pos + late)
		}
		c.audio.Play()
	})
}

func (c *Core) cancelTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timerGen++ // a callback already running sees it is stale
	if c.startTmr != nil {
		c.startTmr.Stop()
		c.startTmr = nil
	}
}

// at runs fn at local time t, or at once if t has passed, replacing any
// change still waiting; fn gets how late it runs.
func (c *Core) at(t time.Time, fn func(late time.Duration)) {
	c.cancelTimer()
	wait := t.Sub(c.now())
	if wait <= 0 {
		fn(max(-wait, 0))
		State.Emit(c.em, "playback")
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	gen := c.timerGen
	c.startTmr = time.AfterFunc(wait, func() {
		c.applyMu.Lock()
		defer c.applyMu.Unlock()
		c.mu.Lock()
		stale := gen != c.timerGen
		c.mu.Unlock()
		if stale {
			return
		}
		fn(max(c.now().Sub(t), 0))
		State.Emit(c.em, "playback")
	})
}
