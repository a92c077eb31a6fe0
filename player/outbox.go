package player

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"time"

	"tandem"
	"tandem/internal/atomicfile"
	"tandem/sync/event"
	"tandem/sync/protocol"
	"tandem/sync/room"
)

// The outbox: playlist edits go out in order, each with an op id fixed
// when the user made it. An edit made while the hub is unreachable, or
// whose answer the lost connection swallowed, stays in the outbox and is
// sent again after the reconnection with the same op id; the hub answers
// a repeated op id with the first answer and applies nothing twice. With
// Config.OutboxPath the outbox is also kept in a file, rewritten at every
// change, so that edits still in it when the player quits are sent at the
// next start (the hub remembers op ids for 24 hours).

// editKind is what an outbox edit does.
type editKind int

const (
	editCreate editKind = iota // create a playlist called name
	editAdd                    // add track to playlist
	editRemove                 // remove entry from playlist
	editMove                   // move entry after another (after; "" for the start)
	editRename                 // rename playlist to name
	editShare                  // make playlist collaborative or not (share)
)

// edit is one playlist edit in the outbox. playlist may be QueueID: the
// room's queue, resolved when the edit is sent.
type edit struct {
	op       string
	kind     editKind
	playlist string
	track    string
	entry    string
	name     string
	after    string // editMove: the entry it goes after, "" for the start
	share    bool   // editShare
}

// retryPause is how long the sender waits before sending again an edit
// that failed on a live connection (a timeout, a rate limit).
const retryPause = time.Second

// newOpPrefix returns a prefix that makes this core's op ids unique.
func newOpPrefix() string {
	b := make([]byte, 8)
	rand.Read(b) // never fails; see crypto/rand.Read
	return "t" + hex.EncodeToString(b) + "-"
}

// CreatePlaylist creates a playlist owned by this user.
func (c *Core) CreatePlaylist(name string) {
	c.enqueue(func(op func() string) []edit {
		return []edit{{op: op(), kind: editCreate, name: name}}
	})
}

// AddTracks adds tracks to the end of a playlist, in order. For QueueID
// they go to the playlist the room plays; a room without one gets a new
// collaborative playlist named after the room, made its queue.
func (c *Core) AddTracks(playlistID string, trackIDs []string) {
	c.enqueue(func(op func() string) []edit {
		es := make([]edit, 0, len(trackIDs))
		for _, id := range trackIDs {
			es = append(es, edit{op: op(), kind: editAdd, playlist: playlistID, track: id})
		}
		return es
	})
}

// RemoveEntries removes entries from a playlist (QueueID: the room's).
func (c *Core) RemoveEntries(playlistID string, entryIDs []string) {
	c.enqueue(func(op func() string) []edit {
		es := make([]edit, 0, len(entryIDs))
		for _, id := range entryIDs {
			es = append(es, edit{op: op(), kind: editRemove, playlist: playlistID, entry: id})
		}
		return es
	})
}

// MoveEntries moves entries of a playlist (QueueID: the room's), in the
// order given, to right after the entry after ("" for the start).
func (c *Core) MoveEntries(playlistID string, entryIDs []string, after string) {
	c.enqueue(func(op func() string) []edit {
		es := make([]edit, 0, len(entryIDs))
		for _, id := range entryIDs {
			es = append(es, edit{op: op(), kind: editMove, playlist: playlistID, entry: id, after: after})
			after = id
		}
		return es
	})
}

// RenamePlaylist renames a playlist of this user's.
func (c *Core) RenamePlaylist(playlistID, name string) {
	c.enqueue(func(op func() string) []edit {
		return []edit{{op: op(), kind: editRename, playlist: playlistID, name: name}}
	})
}

// SharePlaylist makes a playlist of this user's collaborative, or not.
func (c *Core) SharePlaylist(playlistID string, collaborative bool) {
	c.enqueue(func(op func() string) []edit {
		return []edit{{op: op(), kind: editShare, playlist: playlistID, share: collaborative}}
	})
}

// enqueue adds edits to the outbox, with fresh op ids, and starts the
// sender.
func (c *Core) enqueue(build func(op func() string) []edit) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		event.Error.Emit(c.em, errClosed)
		return
	}
	es := build(func() string {
		c.opSeq++
		return c.opPrefix + strconv.FormatUint(c.opSeq, 10)
	})
	c.outbox = append(c.outbox, es...)
	c.mu.Unlock()
	c.saveOutbox()
	State.Emit(c.em, "connection")
	c.flush()
}

// savedEdit is an edit as the outbox file keeps it.
type savedEdit struct {
	Op       string   `json:"op"`
	Kind     editKind `json:"kind"`
	Playlist string   `json:"playlist,omitempty"`
	Track    string   `json:"track,omitempty"`
	Entry    string   `json:"entry,omitempty"`
	Name     string   `json:"name,omitempty"`
	After    string   `json:"after,omitempty"`
	Share    bool     `json:"share,omitempty"`
}

// loadOutbox reads the edits a previous run left in the outbox file.
// A damaged file is reported and set aside (renamed .damaged), not lost.
func (c *Core) loadOutbox() {
	path := c.cfg.OutboxPath
	if path == "" {
		return
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var saved []savedEdit
	if err == nil {
		err = json.Unmarshal(b, &saved)
	}
	if err != nil {
		_ = os.Rename(path, path+".damaged")
		c.log.Error("player: the outbox file is damaged; set aside", "file", path+".damaged", "err", err)
		return
	}
	for _, e := range saved {
		c.outbox = append(c.outbox, edit{op: e.Op, kind: e.Kind, playlist: e.Playlist, track: e.Track, entry: e.Entry, name: e.Name,
			after: e.After, share: e.Share})
	}
	if len(saved) > 0 {
		c.log.Info("player: edits from the last run wait for the hub", "edits", len(saved))
	}
}

// saveOutbox writes the outbox to its file: to a temporary file, synced,
// then renamed over the old one. A failure is logged; the edits stay in
// memory.
func (c *Core) saveOutbox() {
	path := c.cfg.OutboxPath
	if path == "" {
		return
	}
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	c.mu.Lock()
	saved := make([]savedEdit, 0, len(c.outbox))
	for _, e := range c.outbox {
		saved = append(saved, savedEdit{Op: e.op, Kind: e.kind, Playlist: e.playlist, Track: e.track, Entry: e.entry, Name: e.name,
			After: e.after, Share: e.share})
	}
	c.mu.Unlock()
	if err := writeFileAtomic(path, saved); err != nil {
		c.log.Error("player: save the outbox", "file", path, "err", err)
	}
}

// writeFileAtomic writes v as JSON to path (internal/atomicfile).
func writeFileAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o600, 0o700)
}

// flush starts the outbox's sender unless it runs, the outbox is empty or
// the hub unreachable; the reconnection starts it again.
func (c *Core) flush() {
	c.mu.Lock()
	if c.flushing || c.closed || len(c.outbox) == 0 {
		c.mu.Unlock()
		return
	}
	c.flushing = true
	c.wg.Add(1) // under mu, so never after Close began waiting
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		c.sendOutbox()
	}()
}

// sendOutbox sends the outbox's edits, in order, until it is empty or
// the connection is gone.
func (c *Core) sendOutbox() {
	for {
		c.mu.Lock()
		if len(c.outbox) == 0 || c.ctx.Err() != nil {
			c.flushing = false
			c.mu.Unlock()
			return
		}
		e := c.outbox[0]
		c.mu.Unlock()
		var err error
		if c.room.Connected() {
			ctx, cancel := context.WithTimeout(c.ctx, commandTimeout)
			err = c.send(ctx, e)
			cancel()
		} else {
			err = socketNotConnected
		}
		if err != nil && retryable(err) {
			if !c.pauseOutbox() {
				return
			}
			continue
		}
		c.mu.Lock()
		c.outbox = slices.DeleteFunc(c.outbox, func(o edit) bool { return o.op == e.op })
		c.mu.Unlock()
		c.saveOutbox()
		State.Emit(c.em, "connection")
		if err != nil {
			event.Error.Emit(c.em, fmt.Errorf("player: %s: %w", e.describe(), err))
		} else {
			State.Emit(c.em, "playlists")
		}
	}
}

// socketNotConnected stands for the failure of a send without a
// connection.
var socketNotConnected = errors.New("player: not connected to the hub")

// pauseOutbox decides what the sender does after an edit that may yet
// succeed: with a live connection, wait retryPause and send again (it
// reports true); without one, stop (false), the reconnection starting the
// sender again. A reconnection that happened meanwhile is not missed.
func (c *Core) pauseOutbox() bool {
	if c.room.Connected() {
		t := time.NewTimer(retryPause)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-c.ctx.Done():
			c.mu.Lock()
			c.flushing = false
			c.mu.Unlock()
			return false
		}
	}
	c.mu.Lock()
	c.flushing = false
	c.mu.Unlock()
	if c.room.Connected() { // it came back before flushing was cleared
		c.mu.Lock()
		again := !c.flushing && !c.closed
		c.flushing = c.flushing || again
		c.mu.Unlock()
		return again
	}
	return false
}

// retryable reports whether an edit that failed with err should be sent
// again: the connection failed (or the answer was lost), or the hub asked
// to slow down. A refusal by the hub is final.
func retryable(err error) bool {
	var te *tandem.Error
	if errors.As(err, &te) {
		return te.Code == tandem.ELIMIT
	}
	return true
}

func (e edit) describe() string {
	switch e.kind {
	case editCreate:
		return fmt.Sprintf("create playlist %q", e.name)
	case editAdd:
		return "add a track to the playlist"
	case editMove:
		return "move an entry of the playlist"
	case editRename:
		return fmt.Sprintf("rename the playlist to %q", e.name)
	case editShare:
		if e.share {
			return "make the playlist collaborative"
		}
		return "make the playlist yours alone"
	default:
		return "remove an entry from the playlist"
	}
}

// send sends one edit.
func (c *Core) send(ctx context.Context, e edit) error {
	switch e.kind {
	case editCreate:
		p, err := c.room.CreatePlaylist(ctx, e.op, e.name, false)
		if err != nil {
			return err
		}
		c.addPlaylist(ctx, p)
		return nil
	case editAdd:
		id, err := c.editTarget(ctx, e, true)
		if err != nil {
			return err
		}
		_, err = c.room.AddTrack(ctx, e.op, id, e.track, room.Place{})
		return err
	case editMove:
		id, err := c.editTarget(ctx, e, false)
		if err != nil {
			return err
		}
		at := room.Place{After: e.after, Start: e.after == ""}
		_, err = c.room.MoveEntry(ctx, e.op, id, e.entry, at)
		return err
	case editRename:
		_, err := c.room.RenamePlaylist(ctx, e.op, e.playlist, e.name)
		return err
	case editShare:
		_, err := c.room.SharePlaylist(ctx, e.op, e.playlist, e.share)
		return err
	default:
		id, err := c.editTarget(ctx, e, false)
		if err != nil {
			return err
		}
		_, err = c.room.RemoveEntry(ctx, e.op, id, e.entry)
		return err
	}
}

// editTarget returns the playlist an edit goes to: its own, or for
// QueueID the one the room plays. With create, a room that plays none
// gets one: a collaborative playlist named after the room (the op id,
// derived from the edit's, makes it once), made the room's queue.
func (c *Core) editTarget(ctx context.Context, e edit, create bool) (string, error) {
	if e.playlist != QueueID {
		return e.playlist, nil
	}
	st := c.room.State()
	if st.Room == "" {
		return "", errors.New("not in a room")
	}
	if st.Info.Playlist != "" {
		return st.Info.Playlist, nil
	}
	if !create {
		return "", fmt.Errorf("room %q plays no playlist", st.Room)
	}
	p, err := c.room.CreatePlaylist(ctx, e.op+"q", st.Room, true)
	if tandem.ErrorCode(err) == tandem.ECONFLICT {
		// A playlist has the room's name: use it if this user may edit it.
		c.mu.Lock()
		i := slices.IndexFunc(c.playlists, func(p protocol.Playlist) bool {
			return p.Name == st.Room && (p.Collaborative || p.Owner == c.me)
		})
		if i >= 0 {
			p, err = c.playlists[i], nil
		}
		c.mu.Unlock()
	}
	if err != nil {
		return "", fmt.Errorf("make a playlist for room %q: %w", st.Room, err)
	}
	c.addPlaylist(ctx, p)
	if _, err := c.room.SetPlaylist(ctx, p.ID); err != nil {
		return "", fmt.Errorf("make playlist %q room %q's queue: %w", p.Name, st.Room, err)
	}
	return p.ID, nil
}

// addPlaylist opens a playlist the core made, so that its changes arrive,
// and lists it.
func (c *Core) addPlaylist(ctx context.Context, p protocol.Playlist) {
	if full, err := c.room.OpenPlaylist(ctx, p.ID); err == nil {
		p = full
	} else {
		c.log.Debug("player: open new playlist", "playlist", p.ID, "err", err)
		if p.Name == "" {
			return // nothing to list
		}
	}
	c.mu.Lock()
	if i := slices.IndexFunc(c.playlists, func(q protocol.Playlist) bool { return q.ID == p.ID }); i >= 0 {
		if p.Version >= c.playlists[i].Version {
			c.playlists[i] = p
		}
	} else {
		c.playlists = append(c.playlists, p)
	}
	c.indexTracksLocked(p.Entries)
	c.mu.Unlock()
	State.Emit(c.em, "playlists")
}
