package room

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"tandem"
	"tandem/store"
	"tandem/sync/hub"
	"tandem/sync/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// dropListener remembers accepted connections so a test can cut them.
type dropListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *dropListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *dropListener) dropAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

func TestRejoinAfterDrop(t *testing.T) {
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	id := "cd" + strings.Repeat("e", 62)
	if err := db.PutTrack(tandem.Track{ID: id, Title: "T", Artist: "A", Format: "wav"}); err != nil {
		t.Fatal(err)
	}
	h := hub.New(hub.Config{Store: db, OpenRooms: true})
	defer h.Close()
	ts := httptest.NewUnstartedServer(h.Handler())
	dl := &dropListener{Listener: ts.Listener}
	ts.Listener = dl
	ts.Start()
	defer ts.Close()
	tokA, _ := db.CreateToken("ann")
	tokB, _ := db.CreateToken("bob")

	joins := make(chan protocol.RoomState, 4)
	changes := make(chan time.Time, 4)
	conn := make(chan bool, 8)
	a := New(Options{URL: ts.URL, Token: tokA, Room: "lounge", ReconnectDelay: 20 * time.Millisecond, ReconnectDelayMax: 50 * time.Millisecond}, Handlers{
		Joined:      func(st protocol.RoomState) { joins <- st },
		ChangeTrack: func(_ protocol.ChangeTrack, at time.Time) { changes <- at },
		Connection:  func(ok bool, _ error) { conn <- ok },
	})
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	<-joins
	if off := a.Offset(); off > 50*time.Millisecond || off < -50*time.Millisecond {
		t.Fatalf("clock offset to a hub on this machine = %v, want about 0", off)
	}

	dl.dropAll()
	select {
	case st := <-joins:
		if st.Room != "lounge" {
			t.Fatalf("rejoined %q", st.Room)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no rejoin after the connection dropped")
	}

	b := New(Options{URL: ts.URL, Token: tokB, Room: "lounge"}, Handlers{})
	defer b.Close()
	if err := b.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if _, err := b.ChangeTrack(ctx, "", id); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-changes:
		if lead := at.Sub(before); lead < 0 || lead > 2*time.Second {
			t.Fatalf("startAt is %v after the command, want the hub's lead", lead)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the rejoined member missed the change")
	}
	if st := a.State(); st.Version != 1 || st.NowPlaying.TrackID != id {
		t.Fatalf("state after event = %+v", st)
	}
}

func TestJoinByCode(t *testing.T) {
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h := hub.New(hub.Config{Store: db}) // rooms admit members only
	defer h.Close()
	ts := httptest.NewServer(h.Handler())
	defer ts.Close()
	tokA, _ := db.CreateToken("ann")
	tokB, _ := db.CreateToken("bob")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ann := New(Options{URL: ts.URL, Token: tokA, Room: "jam"}, Handlers{})
	defer ann.Close()
	if err := ann.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	code := ann.State().Info.Code
	stranger := New(Options{URL: ts.URL, Token: tokB, Room: "jam"}, Handlers{})
	defer stranger.Close()
	if err := stranger.Connect(ctx); tandem.ErrorCode(err) != tandem.EFORBIDDEN {
		t.Fatalf("join by name as a non-member: %v, want EFORBIDDEN", err)
	}
	stranger.Close()

	bob := New(Options{URL: ts.URL, Token: tokB, Code: code}, Handlers{})
	defer bob.Close()
	if err := bob.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if got := bob.RoomName(); got != "jam" {
		t.Fatalf("RoomName after joining by code = %q", got)
	}
	if m := bob.State().Info.Members; len(m) != 2 || m[1] != "bob" {
		t.Fatalf("members = %v", m)
	}
	if _, err := bob.Pause(ctx); tandem.ErrorCode(err) != tandem.ECONFLICT {
		t.Fatalf("a member's command reached the room with %v, want ECONFLICT (no track yet)", err)
	}
}
