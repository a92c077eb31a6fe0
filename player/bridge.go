package player

import (
	"context"
	"fmt"
	"slices"
	"time"

	"tandem"
	"tandem/sync/event"
	"tandem/sync/follow"
	"tandem/sync/protocol"
	"tandem/sync/room"
)

// commandTimeout bounds one command's round trip to the hub.
const commandTimeout = 10 * time.Second

// bridge forwards the UI's Local commands to the hub. Each command runs on
// its own goroutine, so the emitter never waits on the network; a refused
// command becomes an "error" event. The bridge ignores Hub events here,
// and roomHandlers emits only Hub events, so nothing is echoed back.
func (c *Core) bridge() {
	ChangeTrack.On(c.em, func(tc TrackChange) {
		if tc.Origin != Local {
			return
		}
		entryID, trackID := tc.EntryID, tc.TrackID
		if entryID != "" && !c.inQueue(entryID) {
			entryID = "" // an entry of another playlist: play its track
		} else if entryID != "" {
			trackID = ""
		}
		c.command("changeTrack", func(ctx context.Context) error {
			_, err := c.room.ChangeTrack(ctx, entryID, trackID)
			return err
		})
	})
	Playback.On(c.em, func(pc PlaybackChange) {
		if pc.Origin != Local {
			return
		}
		c.command("playback", func(ctx context.Context) error {
			var err error
			switch pc.State {
			case tandem.Playing:
				_, err = c.room.Play(ctx)
			case tandem.Paused:
				_, err = c.room.Pause(ctx)
			default:
				_, err = c.room.Seek(ctx, pc.Position)
			}
			return err
		})
	})
}

func (c *Core) command(name string, fn func(ctx context.Context) error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		event.Error.Emit(c.em, errClosed)
		return
	}
	c.background(fn, func(err error) {
		event.Error.Emit(c.em, fmt.Errorf("player: %s: %w", name, err))
	})
}

// roomHandlers turns the hub's events into Hub events on the emitter.
func (c *Core) roomHandlers() room.Handlers {
	return room.Handlers{
		Joined: func(st protocol.RoomState) {
			c.mu.Lock()
			c.queue = st.Queue
			c.indexTracksLocked(st.Queue)
			c.members = st.Members
			if st.You != "" {
				c.me = st.You
			}
			if st.Room != c.joinedRoom {
				// Another room: its versions start again, so the
				// follower's do from a new epoch.
				c.joinedRoom = st.Room
				c.epoch++
			}
			v := c.epoch<<epochShift + st.Version
			c.mu.Unlock()
			State.Emit(c.em, "room")
			State.Emit(c.em, "queue")
			Members.Emit(c.em, st.Members)
			c.refreshRooms()
			c.loadPlaylists()
			np := st.NowPlaying
			if np.TrackID == "" {
				// A room with nothing playing: stop what the last one
				// played, if anything.
				if c.audio.Current() != "" || c.loadPending() {
					c.apply("", follow.Timeline{Version: v})
				}
				return
			}
			// A late joiner comes in at the group's current position.
			origin := c.room.Local(np.StartAt).Add(-protocol.Dur(np.Position))
			tl := timeline(np, v)
			ChangeTrack.Emit(c.em, TrackChange{Origin: Hub, Room: st.Room, EntryID: np.EntryID, TrackID: np.TrackID,
				Version: st.Version, StartAt: origin, Timeline: tl})
			if np.State != tandem.Playing {
				Playback.Emit(c.em, PlaybackChange{Origin: Hub, Room: st.Room, State: np.State,
					Position: protocol.Dur(np.Position), StartAt: c.room.Local(np.StartAt), Version: st.Version, Timeline: tl})
			}
		},
		ChangeTrack: func(ev protocol.ChangeTrack, startAt time.Time) {
			ChangeTrack.Emit(c.em, TrackChange{Origin: Hub, Room: ev.Room, EntryID: ev.EntryID, TrackID: ev.TrackID,
				By: ev.By, Version: ev.Version, StartAt: startAt,
				Timeline: follow.Timeline{Playing: true, StartAt: ev.StartAt, Version: c.followVersion(ev.Version)}})
		},
		Playback: func(ev protocol.PlaybackEvent, startAt time.Time) {
			Playback.Emit(c.em, PlaybackChange{Origin: Hub, Room: ev.Room, State: ev.State,
				Position: protocol.Dur(ev.Position), StartAt: startAt, By: ev.By, Version: ev.Version,
				Timeline: timeline(ev.Playback, c.followVersion(ev.Version))})
		},
		Presence: func(p protocol.Presence) {
			c.mu.Lock()
			c.members = p.Members
			c.mu.Unlock()
			Members.Emit(c.em, p.Members)
		},
		Queue: func(ev protocol.QueueEvent) {
			c.mu.Lock()
			c.queue = ev.Queue
			c.indexTracksLocked(ev.Queue)
			known := ev.PlaylistID == "" || slices.ContainsFunc(c.playlists, func(p protocol.Playlist) bool { return p.ID == ev.PlaylistID })
			c.mu.Unlock()
			State.Emit(c.em, "queue")
			State.Emit(c.em, "playlists")
			if !known {
				// A playlist made since the core listed them: list it too.
				c.background(func(ctx context.Context) error {
					c.addPlaylist(ctx, protocol.Playlist{ID: ev.PlaylistID})
					return nil
				}, nil)
			}
		},
		Playlist: c.onPlaylist,
		Room: func(protocol.RoomInfo) {
			State.Emit(c.em, "room")
			c.refreshRooms()
		},
		Removed:  c.onRemoved,
		Friends:  c.setFriends,
		Activity: func(items []tandem.Activity) { c.addActivity(items, false) },
		Connection: func(connected bool, err error) {
			if connected {
				c.setConnErr(nil)
				// After every (re)connection: what may have changed
				// meanwhile, and the edits made meanwhile.
				c.refreshFriends()
				c.flush()
				if c.room.RoomName() == "" {
					c.refreshRooms()
				}
			} else {
				c.setConnErr(err)
			}
		},
	}
}

// timeline converts the hub's playback to the timeline a follow.Controller
// follows; version is the follower's (Core.followVersion).
func timeline(np protocol.Playback, version uint64) follow.Timeline {
	return follow.Timeline{Playing: np.State == tandem.Playing, Position: protocol.Dur(np.Position),
		StartAt: np.StartAt, Version: version}
}
