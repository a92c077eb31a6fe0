package player_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"tandem/audio"
	"tandem/audio/cache"
	"tandem/internal/hubmedia"
	"tandem/player"
	"tandem/store"
	"tandem/sync/engineio"
	"tandem/sync/hub"
	"tandem/sync/room"
)

// crawlHub is a real hub with its music API and a short heartbeat, whose
// downloads of one track crawl: the first bytes at once, then a few bytes
// a second, until the test ends.
type crawlHub struct {
	url   string
	db    *store.DB
	crawl string // the id of the track whose download crawls
	wav   string
	sent  atomic.Int64  // bytes of the crawling track sent so far
	begun chan struct{} // closed when its download has begun
	size  int64
}

// Heartbeat of the crawl hub: a connection whose reader stops reading
// pings is dropped within pingInterval+pingTimeout.
const (
	crawlPingInterval = 250 * time.Millisecond
	crawlPingTimeout  = 250 * time.Millisecond
)

func newCrawlHub(t *testing.T) *crawlHub {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := hub.Config{Store: db, OpenRooms: true,
		Engine: engineio.Options{PingInterval: crawlPingInterval, PingTimeout: crawlPingTimeout}}
	if err := hubmedia.Wire(&cfg, db, dir, nil); err != nil {
		t.Fatal(err)
	}
	h := hub.New(cfg)
	ch := &crawlHub{db: db, begun: make(chan struct{})}
	release := make(chan struct{})
	var begin sync.Once
	inner := h.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ch.crawl != "" && r.Method == http.MethodGet && r.URL.Path == "/api/tracks/"+ch.crawl+"/audio" {
			begin.Do(func() { close(ch.begun) })
			w = &crawlWriter{ResponseWriter: w, ctx: r.Context(), release: release, sent: &ch.sent}
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		close(release)
		ts.Close()
		h.Close()
		db.Close()
	})
	ch.url = ts.URL
	ogg := ch.upload(t, "tagged.ogg")
	ch.wav = ch.upload(t, "sine.wav")
	ch.crawl = ogg // set before any client runs
	return ch
}

// upload puts a fixture of audio/testdata on the hub and returns its id.
func (ch *crawlHub) upload(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "audio", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ch.db.CreateToken("uploader-" + strings.TrimSuffix(name, filepath.Ext(name)))
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, ch.url+"/api/tracks", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("upload %s: %s", name, resp.Status)
	}
	if name == "tagged.ogg" {
		ch.size = int64(len(data))
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// crawlWriter sends the first 64 bytes of a body at once, then 4 bytes
// every 100 ms, until the request or the test ends.
type crawlWriter struct {
	http.ResponseWriter
	ctx     context.Context
	release chan struct{}
	sent    *atomic.Int64
}

func (w *crawlWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := 4
		if w.sent.Load() < 64 {
			k = 64
		} else {
			select {
			case <-time.After(100 * time.Millisecond):
			case <-w.ctx.Done():
				return n, w.ctx.Err()
			case <-w.release:
				return n, http.ErrHandlerTimeout
			}
		}
		k = min(k, len(p)-n)
		m, err := w.ResponseWriter.Write(p[n : n+k])
		n += m
		w.sent.Add(int64(m))
		if err != nil {
			return n, err
		}
		w.ResponseWriter.(http.Flusher).Flush()
	}
	return n, nil
}

func (w *crawlWriter) Flush() { w.ResponseWriter.(http.Flusher).Flush() }

// member connects name to the room, without a player.
func (ch *crawlHub) member(t *testing.T, name string) *room.Client {
	t.Helper()
	tok, err := ch.db.CreateToken(name)
	if err != nil {
		t.Fatal(err)
	}
	c := room.New(room.Options{URL: ch.url, Token: tok, Room: "lounge"}, room.Handlers{})
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("connect %s: %v", name, err)
	}
	return c
}

// newCachedCore starts a headless core for name whose library is a cache
// of the hub's tracks, with the hub's WAV track already in it.
func (ch *crawlHub) newCachedCore(t *testing.T, name string) (*player.Core, *audio.Engine, *cache.Cache) {
	t.Helper()
	tok, err := ch.db.CreateToken(name)
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	lib, err := cache.Open(cache.Options{Dir: t.TempDir(), URL: ch.url, Token: tok, Client: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := lib.Fetch(ctx, ch.wav); err != nil {
		t.Fatal(err)
	}
	eng := audio.New(nil, audio.NewMuted())
	c := player.New(player.Config{HubURL: ch.url, Token: tok, Room: "lounge", Audio: eng, Library: lib})
	t.Cleanup(func() {
		lib.Close() // first: a core stuck on a read of it gets unstuck
		c.Close()
		eng.Close()
		tr.CloseIdleConnections()
	})
	if err := c.Start(ctx); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return c, eng, lib
}

// TestHubEventsFlowWhileTrackCrawls: the room changes to a track whose
// download crawls. While this player waits for its bytes, its connection
// keeps reading: command acks come back, the heartbeat holds, other hub
// events (a friend joining, a change to a cached track) arrive and act.
func TestHubEventsFlowWhileTrackCrawls(t *testing.T) {
	ch := newCrawlHub(t)
	a, aAudio, _ := ch.newCachedCore(t, "ann")
	var drops atomic.Int32
	player.State.On(a.Emitter(), func(what string) {
		if what == "connection" && !a.Connection().Connected {
			drops.Add(1)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bob := ch.member(t, "bob")
	if _, err := bob.ChangeTrack(ctx, "", ch.crawl); err != nil {
		t.Fatalf("change to the crawling track: %v", err)
	}
	select {
	case <-ch.begun:
	case <-ctx.Done():
		t.Fatal("the crawling track's download did not begin")
	}

	// Commands are acked (their acks come on the connection's reader)
	// over several heartbeats while the download crawls.
	start := time.Now()
	for time.Since(start) < 8*(crawlPingInterval+crawlPingTimeout) {
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := a.RoomClient().ListRooms(cctx)
		ccancel()
		if err != nil {
			t.Fatalf("%v after the change to the crawling track: list rooms: %v", time.Since(start).Round(time.Millisecond), err)
		}
		time.Sleep(50 * time.Millisecond) // pacing the commands, not waiting for an event
	}
	if n := drops.Load(); n != 0 {
		t.Fatalf("ann's connection dropped %d times while the track crawled", n)
	}

	// A friend's arrival reaches ann.
	ch.member(t, "carl")
	waitFor(t, "ann to see carl in the room", func() bool {
		for _, m := range a.RoomView().Members {
			if m.Name == "carl" && m.Online {
				return true
			}
		}
		return false
	})

	// The room moves on to a cached track: ann plays it.
	if _, err := bob.ChangeTrack(ctx, "", ch.wav); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ann to play the cached track", func() bool { return aAudio.Current() == ch.wav && aAudio.Playing() })
	if sent := ch.sent.Load(); sent >= ch.size {
		t.Fatalf("the crawling track was sent whole (%d bytes): the test did not crawl", sent)
	}
	if n := drops.Load(); n != 0 {
		t.Fatalf("ann's connection dropped %d times while the track crawled", n)
	}
}

// TestCloseWhileTrackCrawls: Close returns promptly while the room's
// track downloads at a crawl, and leaves no goroutine behind.
func TestCloseWhileTrackCrawls(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	ch := newCrawlHub(t)
	a, _, lib := ch.newCachedCore(t, "ann")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bob := ch.member(t, "bob")
	if _, err := bob.ChangeTrack(ctx, "", ch.crawl); err != nil {
		t.Fatalf("change to the crawling track: %v", err)
	}
	select {
	case <-ch.begun:
	case <-ctx.Done():
		t.Fatal("the crawling track's download did not begin")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Close()
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		lib.Close() // let the stuck Close end, for the leak check
		<-done
		t.Fatal("Close did not return within 5s while the track crawled")
	}
}

// TestEndOfTrackLoadsNextGapless: at the end of a track the hub moves the
// room on with a change scheduled for the instant the track ends; the
// loader loads the next track to follow the current one, which plays on
// to that instant.
func TestEndOfTrackLoadsNextGapless(t *testing.T) {
	th := newHub(t)
	a, aAudio := th.newCore(t, "ann")
	rows := a.Rows("queue")
	player.ChangeTrack.Emit(a.Emitter(), player.TrackChange{Origin: player.Local, Room: "lounge", EntryID: rows[0].EntryID, TrackID: rows[0].TrackID})
	waitFor(t, "ann to play the first track", func() bool { return aAudio.Current() == rows[0].TrackID && aAudio.Playing() })
	player.Playback.Emit(a.Emitter(), player.PlaybackChange{Origin: player.Local, Room: "lounge", Position: aAudio.Duration() - 1500*time.Millisecond})
	waitFor(t, "the next track to be loaded to follow", func() bool { return aAudio.Next() == rows[1].TrackID })
	if aAudio.Current() != rows[0].TrackID || !aAudio.Playing() {
		t.Fatalf("while the next track waits: current %q, playing %v; want the first track playing on", aAudio.Current(), aAudio.Playing())
	}
	waitFor(t, "the switch to the next track", func() bool { return aAudio.Current() == rows[1].TrackID && aAudio.Playing() })
	if s := a.SyncStats(); s.Resyncs != 0 {
		t.Errorf("sync stats %+v: want no resync at the switch", s)
	}
}
