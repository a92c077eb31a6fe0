package player

import (
	"fmt"
	"time"

	"tandem"
	"tandem/sync/event"
)

// follow makes the audio engine play the room's timeline: it acts on Hub
// events only. A start in the future is scheduled with a timer; a start in
// the past (a late joiner, a slow network) seeks to where the group is.
func (c *Core) follow() {
	ChangeTrack.On(c.em, func(tc TrackChange) {
		if tc.Origin != Hub {
			return
		}
		if err := c.load(tc.TrackID); err != nil {
			event.Error.Emit(c.em, err)
			return
		}
		c.schedule(0, tc.StartAt)
	})
	Playback.On(c.em, func(pc PlaybackChange) {
		if pc.Origin != Hub {
			return
		}
		switch pc.State {
		case tandem.Playing:
			c.schedule(pc.Position, pc.StartAt)
		default:
			c.cancelStart()
			c.audio.Pause()
			if err := c.audio.Seek(pc.Position); err != nil {
				event.Error.Emit(c.em, fmt.Errorf("player: seek: %w", err))
			}
		}
		State.Emit(c.em, "playback")
	})
}

func (c *Core) load(trackID string) error {
	c.cancelStart()
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

func (c *Core) cancelStart() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.startTmr != nil {
		c.startTmr.Stop()
		c.startTmr = nil
	}
}

// schedule plays from position pos at local time at. If at has passed, it
// starts at once from where the timeline is now.
func (c *Core) schedule(pos time.Duration, at time.Time) {
	c.cancelStart()
	wait := at.Sub(c.now())
	if wait <= 0 {
		if err := c.audio.Seek(pos - wait); err != nil {
			event.Error.Emit(c.em, fmt.Errorf("player: seek: %w", err))
		}
		c.audio.Play()
		State.Emit(c.em, "playback")
		return
	}
	if err := c.audio.Seek(pos); err != nil {
		event.Error.Emit(c.em, fmt.Errorf("player: seek: %w", err))
	}
	c.audio.Pause()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.startTmr = time.AfterFunc(wait, func() {
		c.audio.Play()
		State.Emit(c.em, "playback")
	})
}
