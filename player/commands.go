package player

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"tandem"
	"tandem/player/account"
	"tandem/sync/event"
	"tandem/sync/follow"
	"tandem/sync/protocol"
)

// The commands of ui.Core. Each returns at once: the command runs in the
// background, its success shows as State events, a refusal as an error
// event.

// background runs fn on a goroutine of the core's, bounded by
// commandTimeout and by Close; onErr gets fn's error (nil: emit it as an
// error event). After Close it does nothing.
func (c *Core) background(fn func(ctx context.Context) error, onErr func(error)) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1) // under mu, so never after Close began waiting
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(c.ctx, commandTimeout)
		defer cancel()
		if err := fn(ctx); err != nil {
			if onErr != nil {
				onErr(err)
			} else {
				event.Error.Emit(c.em, err)
			}
		}
	}()
}

// Next moves the room to the next entry of its play order.
func (c *Core) Next() {
	c.command("next", func(ctx context.Context) error {
		_, err := c.room.Next(ctx)
		return err
	})
}

// Previous moves the room to the previous entry, or restarts the track.
func (c *Core) Previous() {
	c.command("previous", func(ctx context.Context) error {
		_, err := c.room.Previous(ctx)
		return err
	})
}

// Seek moves the room's playback to pos: a Local Playback event, which
// the bridge forwards to the hub like the window's own.
func (c *Core) Seek(pos time.Duration) {
	Playback.Emit(c.em, PlaybackChange{Origin: Local, Room: c.Room(), Position: max(0, pos)})
}

// SetShuffle turns the room's shuffle on or off.
func (c *Core) SetShuffle(on bool) {
	c.roomCommand("shuffle", func(ctx context.Context) error {
		_, err := c.room.SetShuffle(ctx, on)
		return err
	})
}

// SetWait turns the room's "wait for everyone" on or off.
func (c *Core) SetWait(on bool) {
	c.roomCommand("wait for everyone", func(ctx context.Context) error {
		_, err := c.room.SetWait(ctx, on)
		return err
	})
}

// errNoRepeat is the refusal of a hub that does not know room:repeat.
var errNoRepeat = errors.New("repeat: not supported by this hub yet")

// SetRepeat sets the room's repeat mode (room:repeat). A hub without the
// command refuses it with errNoRepeat's message.
func (c *Core) SetRepeat(r Repeat) {
	switch r {
	case RepeatOff, RepeatAll, RepeatOne:
	default:
		event.Error.Emit(c.em, fmt.Errorf("player: repeat: unknown mode %q", r))
		return
	}
	c.background(func(ctx context.Context) error {
		if c.room.RoomName() == "" {
			return errors.New("player: repeat: not in a room")
		}
		if _, err := c.room.SetRepeat(ctx, string(r)); err != nil {
			if tandem.ErrorCode(err) == tandem.EUNKNOWN {
				return fmt.Errorf("player: %w", errNoRepeat)
			}
			return fmt.Errorf("player: repeat: %w", err)
		}
		State.Emit(c.em, "room")
		return nil
	}, nil)
}

// SetHostOnly sets the room's control policy: only the host, or everyone.
func (c *Core) SetHostOnly(on bool) {
	policy := tandem.Everyone
	if on {
		policy = tandem.HostOnly
	}
	c.roomCommand("who controls playback", func(ctx context.Context) error {
		_, err := c.room.SetPolicy(ctx, policy)
		return err
	})
}

// RemoveMember takes a friend out of the room (host only).
func (c *Core) RemoveMember(name string) {
	c.roomCommand("remove "+name, func(ctx context.Context) error {
		_, err := c.room.RemoveMember(ctx, name)
		return err
	})
}

// RotateCode gives the room a new invite code, and so a new link.
func (c *Core) RotateCode() {
	c.roomCommand("new invite link", func(ctx context.Context) error {
		_, err := c.room.RotateCode(ctx)
		return err
	})
}

// roomCommand runs a command on the current room, then announces the
// room's change.
func (c *Core) roomCommand(name string, fn func(ctx context.Context) error) {
	c.command(name, func(ctx context.Context) error {
		if c.room.RoomName() == "" {
			return errors.New("not in a room")
		}
		if err := fn(ctx); err != nil {
			return err
		}
		State.Emit(c.em, "room")
		return nil
	})
}

// HostRoom creates a room hosted by this user, with the "host" policy
// when hostOnly, and moves into it.
func (c *Core) HostRoom(name string, hostOnly bool) {
	policy := tandem.Everyone
	if hostOnly {
		policy = tandem.HostOnly
	}
	c.command("host room "+name, func(ctx context.Context) error {
		_, err := c.room.Create(ctx, name, policy)
		return err
	})
}

// SwitchRoom moves into a room this user is a member of.
func (c *Core) SwitchRoom(name string) {
	c.command("switch to room "+name, func(ctx context.Context) error {
		_, err := c.room.Join(ctx, name)
		return err
	})
}

// JoinLink joins a room from its invite link (tandem://HOST:PORT/join/CODE
// or http(s)://HOST:PORT/join/CODE) or its bare 16-character code. The
// link is checked at once: a link to another hub is refused with an
// error, since the player then has to start on that hub. The join itself
// runs in the background.
func (c *Core) JoinLink(link string) error {
	code, err := c.parseJoin(link)
	if err != nil {
		return err
	}
	c.command("join room", func(ctx context.Context) error {
		_, err := c.room.JoinCode(ctx, code)
		return err
	})
	return nil
}

// parseJoin returns the room code of a link to this hub, or a bare code.
func (c *Core) parseJoin(link string) (string, error) {
	link = strings.TrimSpace(link)
	if isRoomCode(strings.ToUpper(link)) {
		return strings.ToUpper(link), nil
	}
	hubs, code, err := account.ParseRoomLink(link)
	if err != nil {
		return "", fmt.Errorf("player: join: %w", err)
	}
	mine := hostPort(c.cfg.HubURL)
	for _, h := range hubs {
		if mine != "" && hostPort(h) == mine {
			return code, nil
		}
	}
	return "", fmt.Errorf("player: join: %s is a room on another hub; open the link with the player (it restarts on that hub), e.g. player --join %s",
		link, link)
}

// isRoomCode reports whether s has the shape of a room's invite code: 16
// characters of A-Z and 2-7.
func isRoomCode(s string) bool {
	return len(s) == 16 && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") == ""
}

// hostPort returns a hub address's host:port, lower-case, with the
// scheme's default port when it has none; "" when it is not a URL.
func hostPort(hub string) string {
	u, err := url.Parse(hub)
	if err != nil || u.Host == "" {
		return ""
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return net.JoinHostPort(strings.ToLower(host), port)
}

// LeaveRoom leaves the room: the player is then in no room, and its audio
// stops.
func (c *Core) LeaveRoom() {
	c.command("leave room", func(ctx context.Context) error {
		if err := c.room.Leave(ctx); err != nil {
			return err
		}
		c.leftRoom()
		return nil
	})
}

// leftRoom forgets the room the core was in and stops the audio, after a
// leave or a removal.
func (c *Core) leftRoom() {
	c.mu.Lock()
	c.queue, c.members = nil, nil
	c.joinedRoom = ""
	c.epoch++
	v := c.epoch << epochShift
	c.mu.Unlock()
	c.apply("", follow.Timeline{Version: v})
	State.Emit(c.em, "room")
	State.Emit(c.em, "queue")
	State.Emit(c.em, "playback")
	Members.Emit(c.em, nil)
	c.refreshRooms()
}

// epochShift places the core's room epoch above the room's version in the
// follower's timeline versions.
const epochShift = 40

// followVersion is the follower's version of a timeline of the current
// room at the room's version v.
func (c *Core) followVersion(v uint64) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch<<epochShift + v
}

// refreshRooms lists the rooms this user is a member of, in the
// background.
func (c *Core) refreshRooms() {
	c.background(func(ctx context.Context) error {
		rooms, err := c.room.ListRooms(ctx)
		if err != nil {
			return fmt.Errorf("player: list rooms: %w", err)
		}
		c.mu.Lock()
		c.rooms = rooms
		c.mu.Unlock()
		State.Emit(c.em, "rooms")
		return nil
	}, c.quietError)
}

// refreshFriends lists the friends and the feed, in the background.
func (c *Core) refreshFriends() {
	c.background(func(ctx context.Context) error {
		fs, err := c.room.Friends(ctx)
		if err != nil {
			return fmt.Errorf("player: list friends: %w", err)
		}
		c.setFriends(fs)
		items, err := c.room.Activity(ctx, maxActivity)
		if err != nil {
			return fmt.Errorf("player: list activity: %w", err)
		}
		c.addActivity(items, true)
		return nil
	}, c.quietError)
}

// quietError reports the failure of a background refresh: an error event
// when the hub refused it, a log line when the connection is the cause
// (the connection banner says so already, and a reconnection refreshes).
func (c *Core) quietError(err error) {
	var te *tandem.Error
	if errors.As(err, &te) {
		event.Error.Emit(c.em, err)
		return
	}
	c.log.Debug("player: refresh", "err", err)
}

// onRemoved handles the host's removal of this user from the room.
func (c *Core) onRemoved(ev protocol.Removed) {
	c.leftRoom()
	event.Error.Emit(c.em, fmt.Errorf("player: %s removed you from room %q; to come back, ask for the invite link", ev.By, ev.Room))
}

// Retry reconnects to the hub now, if the player waits to reconnect.
func (c *Core) Retry() { c.room.Retry() }
