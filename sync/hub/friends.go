package hub

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"tandem"
	"tandem/sync/protocol"
	"tandem/sync/socketio"
)

// Friends' presence (who is online, in which room, playing what) and the
// activity feed. Both go to every connected friend.

// friendsDelay coalesces presence changes into one friends event.
const friendsDelay = 250 * time.Millisecond

// friendsState is the hub-wide presence.
type friendsState struct {
	mu      sync.Mutex
	online  map[string]int // user -> open connections
	pending *time.Timer    // a friends event on its way
}

// connected counts a user's connection; disconnected uncounts it.
func (h *Hub) connected(user string) {
	h.friends.mu.Lock()
	h.friends.online[user]++
	h.friends.mu.Unlock()
	h.friendsChanged()
}

func (h *Hub) disconnected(user string) {
	h.friends.mu.Lock()
	if h.friends.online[user]--; h.friends.online[user] <= 0 {
		delete(h.friends.online, user)
	}
	h.friends.mu.Unlock()
	h.friendsChanged()
}

// friendsChanged schedules a friends event for everyone.
func (h *Hub) friendsChanged() {
	h.friends.mu.Lock()
	defer h.friends.mu.Unlock()
	if h.friends.pending != nil {
		return
	}
	h.friends.pending = time.AfterFunc(friendsDelay, func() {
		h.friends.mu.Lock()
		h.friends.pending = nil
		h.friends.mu.Unlock()
		if h.isClosed() {
			return
		}
		ev, err := h.friendList()
		if err != nil {
			h.log.Error("hub: friends", "err", err)
			return
		}
		if err := h.io.Of("/").To(friendsKey).Emit(protocol.EventFriends, ev); err != nil {
			h.log.Error("hub: broadcast friends", "err", err)
		}
	})
}

func (h *Hub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// friendList lists every friend the hub knows, and every guest online,
// sorted by name.
func (h *Hub) friendList() (protocol.FriendsEvent, error) {
	users, err := h.store.Users()
	if err != nil {
		return protocol.FriendsEvent{}, fmt.Errorf("hub: friends: %w", err)
	}
	byName := map[string]*protocol.Friend{}
	for _, u := range users {
		if u.Name == h.guest {
			continue // the shared guest account is not a friend of its own
		}
		byName[u.Name] = &protocol.Friend{Name: u.Name}
	}
	h.friends.mu.Lock()
	for name := range h.friends.online {
		f := byName[name]
		if f == nil {
			f = &protocol.Friend{Name: name}
			byName[name] = f
		}
		f.Online = true
	}
	h.friends.mu.Unlock()
	h.mu.Lock()
	names := make([]string, 0, len(h.rooms))
	for name := range h.rooms {
		names = append(names, name)
	}
	slices.Sort(names)
	rooms := make([]*liveRoom, len(names))
	for i, name := range names {
		rooms[i] = h.rooms[name]
	}
	h.mu.Unlock()
	for _, lr := range rooms {
		lr.mu.Lock()
		for _, m := range lr.membersLocked() {
			if f := byName[m.Name]; f != nil && f.Room == "" {
				f.Room, f.NowPlaying = lr.room.Name, m.NowPlaying
			}
		}
		lr.mu.Unlock()
	}
	out := make([]protocol.Friend, 0, len(byName))
	for _, f := range byName {
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b protocol.Friend) int { return strings.Compare(a.Name, b.Name) })
	return protocol.FriendsEvent{Ack: protocol.OK(), Friends: out}, nil
}

// The Socket.IO rooms of the sockets that asked for the friends' presence
// and the feed (friends:list, activity:list): only they get the pushes,
// so that a client that shows neither (a bot, a load generator) costs
// nothing when a friend's track changes. Room and playlist keys have a
// "room:" or "playlist:" prefix, so these cannot collide.
const (
	friendsKey  = "friends"
	activityKey = "activity"
)

// listFriends answers friends:list and subscribes the socket to friends
// events.
func (h *Hub) listFriends(s *socketio.Socket, payload json.RawMessage) (any, error) {
	if err := decodeEmpty(payload); err != nil {
		return nil, err
	}
	s.Join(friendsKey)
	return h.friendList()
}

// record stores a feed item and then tells everyone, off the caller's
// goroutine: the caller may hold a room's lock, and the feed can wait a
// commit.
func (h *Hub) record(a tandem.Activity) {
	h.running.Add(1)
	go func() {
		defer h.running.Done()
		stored, err := h.store.AddActivity(a)
		if err != nil {
			h.log.Error("hub: record activity", "kind", a.Kind, "user", a.User, "err", err)
			return
		}
		h.publishActivity(stored)
	}()
}

// activityDelay coalesces feed items into one activity event: at 1,000
// playlist edits a second, one event per item to every friend would be
// most of the hub's work.
const activityDelay = 200 * time.Millisecond

// feedState holds feed items on their way to everyone.
type feedState struct {
	mu      sync.Mutex
	items   []tandem.Activity
	pending *time.Timer
}

// publishActivity sends a stored feed item to everyone, with the others
// of the next activityDelay, in order.
func (h *Hub) publishActivity(a tandem.Activity) {
	h.feed.mu.Lock()
	defer h.feed.mu.Unlock()
	h.feed.items = append(h.feed.items, a)
	if h.feed.pending != nil {
		return
	}
	h.feed.pending = time.AfterFunc(activityDelay, func() {
		h.feed.mu.Lock()
		items := h.feed.items
		h.feed.items, h.feed.pending = nil, nil
		h.feed.mu.Unlock()
		if h.isClosed() {
			return
		}
		if err := h.io.Of("/").To(activityKey).Emit(protocol.EventActivity, protocol.ActivityEvent{Items: items}); err != nil {
			h.log.Error("hub: broadcast activity", "err", err)
		}
	})
}

// listActivity answers activity:list and subscribes the socket to
// activity events.
func (h *Hub) listActivity(s *socketio.Socket, payload json.RawMessage) (any, error) {
	var req protocol.ActivityRequest
	if len(payload) > 0 && string(payload) != "null" {
		if err := decode(payload, &req); err != nil {
			return nil, err
		}
	}
	if req.Limit < 0 || req.Limit > maxActivity {
		return nil, tandem.Errorf(tandem.EINVALID, "limit must be between 1 and %d (0 means 50)", maxActivity)
	}
	if req.Limit == 0 {
		req.Limit = 50
	}
	// Subscribed first, then read: an item recorded in between comes both
	// ways (same id), rather than not at all.
	s.Join(activityKey)
	items, err := h.store.Activities(req.Limit)
	if err != nil {
		return nil, fmt.Errorf("hub: activity: %w", err)
	}
	return protocol.ActivityAck{Ack: protocol.OK(), Items: items}, nil
}

// maxActivity is the longest feed the hub keeps and serves.
const maxActivity = 500
