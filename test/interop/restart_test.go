package interop

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"tandem"
	"tandem/store"
	"tandem/sync/hub"
	"tandem/sync/protocol"
	"tandem/sync/room"
)

// serveHub serves a hub on addr ("127.0.0.1:0" for any port) and returns
// its address and a function that stops it.
func serveHub(t *testing.T, db *store.DB, addr string) (string, func()) {
	t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the old listener's port may linger briefly
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	h := hub.New(hub.Config{Store: db, OpenRooms: true})
	srv := &http.Server{Handler: h.Handler()}
	done := make(chan struct{})
	go func() {
		_ = srv.Serve(ln)
		close(done)
	}()
	return ln.Addr().String(), func() {
		_ = srv.Close()
		h.Close()
		<-done
	}
}

func TestOfficialClientReconnectsAfterHubRestart(t *testing.T) {
	f := newFixture(t)
	db, trackID, nodeTok, goTok := f.db, f.trackID, f.nodeTok, f.goTok

	addr, stop := serveHub(t, db, "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	sc := node(t, ctx, "restart.mjs", "http://"+addr, nodeTok, "lounge")
	if l := next(t, sc); l.Event != "connect" {
		t.Fatalf("line %+v, want connect", l)
	}

	stop() // the hub goes away …
	addr2, stop2 := serveHub(t, db, addr)
	defer stop2()
	if addr2 != addr {
		t.Fatalf("restarted on %s, want %s", addr2, addr)
	}
	if l := next(t, sc); l.Event != "connect" { // … and the client comes back
		t.Fatalf("line %+v, want a second connect", l)
	}

	c := room.New(room.Options{URL: "http://" + addr, Token: goTok, Room: "lounge"}, room.Handlers{})
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ChangeTrack(ctx, "", trackID); err != nil {
		t.Fatal(err)
	}
	l := next(t, sc)
	var ev protocol.ChangeTrack
	if err := json.Unmarshal(l.Payload, &ev); err != nil || l.Event != "changeTrack" || ev.TrackID != trackID {
		t.Fatalf("line %+v, want the changeTrack after the restart", l)
	}
}

// fixture is a hub store with one track and tokens for a node client and
// a Go client.
type fixture struct {
	db             *store.DB
	trackID        string
	nodeTok, goTok string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	if _, err := os.Stat("node_modules/socket.io-client"); err != nil {
		t.Fatalf("socket.io-client is not installed: run `make test`, which runs npm ci in test/interop (%v)", err)
	}
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := fixture{db: db, trackID: "ab" + strings.Repeat("0", 62)}
	if err := db.PutTrack(tandem.Track{ID: f.trackID, Title: "Interop", Artist: "Node", Duration: time.Minute, Format: "wav"}); err != nil {
		t.Fatal(err)
	}
	if f.nodeTok, err = db.CreateToken("node"); err != nil {
		t.Fatal(err)
	}
	if f.goTok, err = db.CreateToken("gopher"); err != nil {
		t.Fatal(err)
	}
	return f
}
