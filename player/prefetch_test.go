package player_test

import (
	"bytes"
	"io"
	"slices"
	"sync"
	"testing"

	"tandem"
	"tandem/audio"
	"tandem/player"
)

// fakeRemote is a RemoteLibrary that records its calls.
type fakeRemote struct {
	lib audio.MemLibrary

	mu         sync.Mutex
	opened     []string
	prefetched [][]string
}

func (f *fakeRemote) Open(id string) (io.ReadSeeker, error) {
	f.mu.Lock()
	f.opened = append(f.opened, id)
	f.mu.Unlock()
	return f.lib.Open(id)
}

func (f *fakeRemote) Prefetch(ids []string) {
	f.mu.Lock()
	f.prefetched = append(f.prefetched, slices.Clone(ids))
	f.mu.Unlock()
}

func (f *fakeRemote) calls() ([]string, [][]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.opened), slices.Clone(f.prefetched)
}

func TestTieredLibrary(t *testing.T) {
	remote := &fakeRemote{lib: audio.MemLibrary{"b": []byte("remote")}}
	lib := player.TieredLibrary{Local: audio.MemLibrary{"a": []byte("local")}, Remote: remote}
	for id, want := range map[string]string{"a": "local", "b": "remote"} {
		r, err := lib.Open(id)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := io.ReadAll(r); !bytes.Equal(got, []byte(want)) {
			t.Errorf("%s: %q, want %q", id, got, want)
		}
	}
	if _, err := lib.Open("c"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("open of a missing track: %v", err)
	}
	lib.Prefetch([]string{"a", "b", "c"})
	opened, prefetched := remote.calls()
	if !slices.Equal(opened, []string{"b", "c"}) || len(prefetched) != 1 || !slices.Equal(prefetched[0], []string{"b", "c"}) {
		t.Errorf("remote opened %v, prefetched %v; want b, c and the tracks not local", opened, prefetched)
	}
	if _, err := (player.TieredLibrary{Local: audio.MemLibrary{}}).Open("x"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("open without a remote: %v", err)
	}
}

// prefetchLib is the demo library, recording what it is asked to prefetch.
type prefetchLib struct {
	audio.MemLibrary
	remote *fakeRemote
}

func (l prefetchLib) Prefetch(ids []string) { l.remote.Prefetch(ids) }

func TestTrackChangePrefetchesNext(t *testing.T) {
	th := newHub(t)
	tok, err := th.db.CreateToken("ann")
	if err != nil {
		t.Fatal(err)
	}
	remote := &fakeRemote{}
	eng := audio.New(nil, audio.NewMuted())
	c := player.New(player.Config{HubURL: th.url, Token: tok, Room: "lounge", Audio: eng,
		Library: prefetchLib{MemLibrary: audio.DemoLibrary(), remote: remote}})
	t.Cleanup(func() {
		c.Close()
		eng.Close()
	})
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	rows := c.Rows("queue")
	if len(rows) < 5 {
		t.Fatalf("queue %+v, want the demo playlist", rows)
	}
	player.ChangeTrack.Emit(c.Emitter(), player.TrackChange{Origin: player.Local, Room: "lounge", EntryID: rows[2].EntryID, TrackID: rows[2].TrackID})
	want := []string{rows[3].TrackID, rows[4].TrackID}
	waitFor(t, "a prefetch of the next two entries", func() bool {
		_, p := remote.calls()
		return slices.ContainsFunc(p, func(ids []string) bool { return slices.Equal(ids, want) })
	})
}
