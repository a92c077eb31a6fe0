package player

import (
	"cmp"
	"net/url"
	"slices"
	"strings"

	"tandem"
	"tandem/sync/protocol"
)

// The views of ui.Core that the core builds from what the hub told it:
// the room, the rooms, the friends, the feed, the connection, the sync.

// maxActivity is how many feed items the core keeps, as the hub does.
const maxActivity = 500

// RoomView returns the room this player is in; the zero RoomView (with
// Repeat off) when it is in none.
func (c *Core) RoomView() RoomView {
	name := c.room.RoomName()
	if name == "" {
		return RoomView{Repeat: RepeatOff}
	}
	info := c.room.State().Info
	c.mu.Lock()
	defer c.mu.Unlock()
	v := RoomView{Name: name, Host: info.Host, IsHost: c.me != "" && info.Host == c.me,
		HostOnly: info.Policy == tandem.HostOnly, Wait: info.Wait, Shuffle: info.Shuffle,
		Repeat: Repeat(cmp.Or(info.Repeat, protocol.RepeatOff)), Code: info.Code}
	if info.Code != "" {
		v.Link = c.linkLocked("/join/" + info.Code)
	}
	// The room's members, connected or not, and whoever is connected.
	listening := c.roomListeningLocked()
	online := map[string]tandem.Member{}
	for _, m := range c.members {
		online[m.Name] = m
	}
	names := slices.Clone(info.Members)
	for _, m := range c.members {
		if !slices.Contains(names, m.Name) {
			names = append(names, m.Name)
		}
	}
	for _, n := range names {
		m, on := online[n]
		f := Friend{Name: n, Online: on, InRoom: on, Buffering: m.Buffering, Since: c.since[n]}
		if on {
			f.Room, f.Listening = name, listening
		}
		v.Members = append(v.Members, f)
	}
	sortFriends(v.Members)
	return v
}

// roomListeningLocked is "Title — Artist" of the room's track while it
// plays, else ""; c.mu must be held.
func (c *Core) roomListeningLocked() string {
	np := c.room.State().NowPlaying
	if np.State != tandem.Playing {
		return ""
	}
	return c.listeningLocked(np.TrackID)
}

// listeningLocked is "Title — Artist" of a track, "" when unknown; c.mu
// must be held.
func (c *Core) listeningLocked(trackID string) string {
	t := c.tracks[trackID]
	if t == nil {
		return ""
	}
	if t.Artist == "" {
		return t.Title
	}
	return t.Title + " — " + t.Artist
}

// sortFriends puts online friends first, then sorts by name.
func sortFriends(fs []Friend) {
	slices.SortStableFunc(fs, func(a, b Friend) int {
		if a.Online != b.Online {
			if a.Online {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// Rooms lists the rooms this user is a member of (room:list, refreshed
// on every join and room change), the current one included.
func (c *Core) Rooms() []RoomItem {
	cur := c.room.RoomName()
	info := c.room.State().Info
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]RoomItem, 0, len(c.rooms)+1)
	for _, r := range c.rooms {
		it := RoomItem{Name: r.Room, Host: r.Host}
		if r.Room == cur {
			it.Current, it.Online = true, len(c.members)
			if info.Host != "" {
				it.Host = info.Host
			}
		}
		out = append(out, it)
	}
	if cur != "" && !slices.ContainsFunc(out, func(r RoomItem) bool { return r.Current }) {
		out = append(out, RoomItem{Name: cur, Host: info.Host, Current: true, Online: len(c.members)})
	}
	slices.SortFunc(out, func(a, b RoomItem) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Friends lists every friend the hub knows but this user, online first,
// then by name, merged with the room's presence: who is in this room and
// who is buffering. Since is when this player saw the friend's online
// state or track last change (zero for a change it did not see). Before
// the hub's list arrives, it lists the room's members.
func (c *Core) Friends() []Friend {
	cur := c.room.RoomName()
	c.mu.Lock()
	defer c.mu.Unlock()
	inRoom := map[string]tandem.Member{}
	for _, m := range c.members {
		inRoom[m.Name] = m
	}
	var out []Friend
	if c.friends == nil {
		listening := c.roomListeningLocked()
		for _, m := range c.members {
			if m.Name == c.me {
				continue
			}
			out = append(out, Friend{Name: m.Name, Online: true, Room: cur, Listening: listening, Buffering: m.Buffering,
				InRoom: true, Since: c.since[m.Name]})
		}
	}
	for _, f := range c.friends {
		if f.Name == c.me {
			continue
		}
		m, here := inRoom[f.Name]
		v := Friend{Name: f.Name, Online: f.Online, Room: f.Room, Listening: c.listeningLocked(f.NowPlaying),
			Buffering: here && m.Buffering, InRoom: here && cur != "", Since: c.since[f.Name]}
		if here && cur != "" {
			v.Online, v.Room = true, cur
			if v.Listening == "" {
				v.Listening = c.roomListeningLocked()
			}
		}
		out = append(out, v)
	}
	sortFriends(out)
	return out
}

// setFriends takes the hub's friends list, noting when each friend's
// online state or track changed, and fetches the titles of tracks it does
// not know.
func (c *Core) setFriends(fs []protocol.Friend) {
	now := c.now()
	var unknown []string
	c.mu.Lock()
	first := c.friends == nil
	c.friends = slices.Clone(fs)
	if c.friends == nil {
		c.friends = []protocol.Friend{}
	}
	for _, f := range fs {
		key := "offline"
		if f.Online {
			key = "online " + f.NowPlaying
		}
		if old, ok := c.seen[f.Name]; ok && old != key {
			c.since[f.Name] = now
		} else if !ok && !first {
			c.since[f.Name] = now // a friend new to the hub
		}
		c.seen[f.Name] = key
		if f.NowPlaying != "" && c.tracks[f.NowPlaying] == nil && !c.looking[f.NowPlaying] {
			c.looking[f.NowPlaying] = true
			unknown = append(unknown, f.NowPlaying)
		}
	}
	c.mu.Unlock()
	for _, id := range unknown {
		c.lookupTrack(id)
	}
	State.Emit(c.em, "friends")
}

// Activity returns the friends' feed, newest last.
func (c *Core) Activity() []Activity {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Activity, 0, len(c.activity))
	for _, a := range c.activity {
		out = append(out, Activity{ID: a.ID, User: a.User, Kind: a.Kind, Text: a.Text, At: a.At})
	}
	return out
}

// addActivity appends feed items (replace: instead of what the core has),
// keeping the last maxActivity, without repeating an item.
func (c *Core) addActivity(items []tandem.Activity, replace bool) {
	c.mu.Lock()
	if replace {
		c.activity = nil
	}
	for _, a := range items {
		if a.ID != "" && slices.ContainsFunc(c.activity, func(b tandem.Activity) bool { return b.ID == a.ID }) {
			continue
		}
		c.activity = append(c.activity, a)
	}
	if n := len(c.activity); n > maxActivity {
		c.activity = slices.Delete(c.activity, 0, n-maxActivity)
	}
	c.mu.Unlock()
	State.Emit(c.em, "activity")
}

// Connection returns the state of the link to the hub.
func (c *Core) Connection() Connection {
	conn := Connection{Connected: c.room.Connected(), RetryAt: c.room.NextAttempt()}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !conn.Connected {
		conn.Error = c.connErr
	}
	conn.Pending = len(c.outbox)
	return conn
}

// settledSamples is how many clock samples make the estimate settled:
// the room client's burst on connecting.
const settledSamples = 8

// Sync says how well this player follows the room: the hub clock's
// estimate (settled once the connection's burst of samples is in) and
// the follower's last measured error against the room's timeline.
func (c *Core) Sync() SyncQuality {
	est := c.room.Clock()
	q := SyncQuality{Settled: est.OK && est.Samples >= settledSamples}
	if est.OK {
		q.Error = est.Error
	}
	q.Offset = c.ctl.Stats().Error
	return q
}

// TrackLink is a link to a track on this hub:
// tandem://HOST:PORT/track/TRACKID, HOST:PORT being the hub's address.
func (c *Core) TrackLink(trackID string) string {
	return c.linkLocked("/track/" + trackID)
}

// linkLocked makes a tandem:// link to path on this hub.
func (c *Core) linkLocked(path string) string {
	base := c.cfg.PublicURL
	if base == "" {
		base = c.cfg.HubURL
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return ""
	}
	return "tandem://" + u.Host + path
}

// Volume returns the volume control's position, from 0 to 1.
func (c *Core) Volume() float64 { return c.audio.Volume() }

// SetVolume sets the volume, from 0 to 1.
func (c *Core) SetVolume(v float64) {
	c.audio.SetVolume(v)
	State.Emit(c.em, "volume")
}

// Muted reports the user's mute (not the lack of an output device, which
// Status tells).
func (c *Core) Muted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.userMuted
}

// SetMuted mutes or unmutes the output; the player keeps following the
// room, silently.
func (c *Core) SetMuted(m bool) {
	c.mu.Lock()
	c.userMuted = m
	c.mu.Unlock()
	c.audio.SetMuted(m)
	State.Emit(c.em, "volume")
}
