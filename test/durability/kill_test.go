// Package durability kills a real hub process in the middle of a storm of
// playlist edits and checks that nothing it acknowledged is lost.
//
// The hub binary comes from TANDEM_HUB_BIN (make test passes bin/hub) or is
// built into a temporary directory.
package durability

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tandem"
	"tandem/internal/testhub"
	"tandem/store"
	"tandem/sync/protocol"
	"tandem/sync/socketio"
)

// Storm shape: clients × edits per client = 1,000 concurrent edits. Each
// client stays within the hub's per-connection burst (40).
const (
	clients        = 25
	editsPerClient = 40
	rounds         = 10
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// hubProc is a running hub process.
type hubProc struct {
	cmd  *exec.Cmd
	url  string
	logs *os.File
}

func startHub(t *testing.T, bin, data string) *hubProc {
	t.Helper()
	addr := "127.0.0.1:" + freePort(t)
	logs, err := os.CreateTemp(t.TempDir(), "hub-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--addr", addr, "--data", data)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &hubProc{cmd: cmd, url: "http://" + addr, logs: logs}
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(p.url + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("hub did not come up: %v\n%s", err, p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *hubProc) log() string {
	b, _ := os.ReadFile(p.logs.Name())
	return string(b)
}

func (p *hubProc) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
	}
}

func (p *hubProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("hub exit after SIGTERM: %v\n%s", err, p.log())
	}
}

// token makes a user's token through the hub's own CLI, with no hub
// running.
func token(t *testing.T, bin, data, name string) string {
	t.Helper()
	out, err := exec.Command(bin, "token", "create", "--name", name, "--data", data).Output()
	if err != nil {
		t.Fatalf("token create %s: %v", name, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	var tok string
	for sc.Scan() {
		tok = sc.Text() // the token is the last line
	}
	if tok == "" {
		t.Fatalf("token create printed nothing")
	}
	return tok
}

func connect(ctx context.Context, url, tok string) (*socketio.Client, error) {
	c := socketio.NewClient(url, socketio.ClientOptions{
		Auth:        func() any { return protocol.Auth{Token: tok} },
		NoReconnect: true,
		BufferSize:  -1,
	})
	if err := c.Connect(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func call(ctx context.Context, c *socketio.Client, event string, payload, v any) error {
	args, err := c.EmitWithAck(ctx, event, payload)
	if err != nil {
		return err
	}
	if len(args) != 1 {
		return fmt.Errorf("%s: ack has %d args", event, len(args))
	}
	return json.Unmarshal(args[0], v)
}

// TestKillDuringEditStorm runs rounds of: start the hub, send 1,000
// concurrent playlist:add edits from 25 clients, SIGKILL the hub while
// they are in flight, restart it, and check that every acknowledged edit
// is there, exactly once, and that the database passes bbolt's check.
func TestKillDuringEditStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills a hub process 10 times")
	}
	bin := testhub.Binary(t)
	data := t.TempDir()
	var toks []string
	for i := range 4 { // several friends; clients share their tokens
		toks = append(toks, token(t, bin, data, fmt.Sprint("friend", i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// The playlist, and tracks to add, made through a hub that then stops.
	trackIDs := seedTracks(t, data)
	h := startHub(t, bin, data)
	owner, err := connect(ctx, h.url, toks[0])
	if err != nil {
		t.Fatal(err)
	}
	var created protocol.PlaylistAck
	if err := call(ctx, owner, protocol.PlaylistCreate, protocol.CreatePlaylistRequest{OpID: "create", Name: "Storm", Collaborative: true}, &created); err != nil || !created.OK {
		t.Fatalf("create playlist: %+v, %v", created, err)
	}
	owner.Close()
	h.stop(t)
	pid := created.Playlist.ID

	acked := map[string]string{} // op id -> entry id, over every round
	for round := range rounds {
		h := startHub(t, bin, data)
		var (
			mu      sync.Mutex
			wg      sync.WaitGroup
			nAcked  atomic.Int64
			started = make(chan struct{})
		)
		for ci := range clients {
			c, err := connect(ctx, h.url, toks[ci%len(toks)])
			if err != nil {
				t.Fatalf("round %d: connect: %v", round, err)
			}
			for k := range editsPerClient {
				wg.Go(func() {
					<-started
					op := fmt.Sprintf("r%d-c%d-%d", round, ci, k)
					var ack protocol.EditAck
					cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
					defer ccancel()
					err := call(cctx, c, protocol.PlaylistAdd, protocol.EditRequest{OpID: op, PlaylistID: pid,
						TrackID: trackIDs[k%len(trackIDs)]}, &ack)
					if err != nil || !ack.OK {
						if err == nil && ack.Error.Code != tandem.EINTERNAL {
							t.Errorf("round %d: %s refused: %+v", round, op, ack.Error)
						}
						return // lost with the hub: not acknowledged
					}
					mu.Lock()
					acked[op] = ack.Entry.ID
					mu.Unlock()
					nAcked.Add(1)
				})
			}
			defer c.Close()
		}
		// Kill the hub once some edits are acknowledged and many are
		// still in flight; the point moves a little every round.
		close(started)
		target := int64(100 + 60*round)
		deadline := time.Now().Add(10 * time.Second)
		for nAcked.Load() < target && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		h.kill()
		wg.Wait()
		t.Logf("round %d: killed after %d acknowledged edits", round, nAcked.Load())

		// Restart: every acknowledged edit is there, once.
		h = startHub(t, bin, data)
		c, err := connect(ctx, h.url, toks[0])
		if err != nil {
			t.Fatal(err)
		}
		var open protocol.PlaylistAck
		if err := call(ctx, c, protocol.PlaylistOpen, protocol.PlaylistRequest{PlaylistID: pid}, &open); err != nil || !open.OK {
			t.Fatalf("round %d: open after restart: %+v, %v\n%s", round, open, err, h.log())
		}
		c.Close()
		present := map[string]int{}
		for _, e := range open.Playlist.Entries {
			present[e.ID]++
		}
		mu.Lock()
		for op, id := range acked {
			if present[id] != 1 {
				t.Errorf("round %d: acknowledged %s (entry %s) present %d times", round, op, id, present[id])
			}
		}
		if open.Playlist.Version != uint64(len(open.Playlist.Entries)) {
			t.Errorf("round %d: version %d with %d entries", round, open.Playlist.Version, len(open.Playlist.Entries))
		}
		mu.Unlock()
		h.stop(t)
		db, err := store.Open(data, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Check(); err != nil {
			t.Errorf("round %d: %v", round, err)
		}
		db.Close()
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("%d edits acknowledged over %d kills, all present", len(acked), rounds)
}

// seedTracks stores a few tracks' metadata directly (no hub is running).
func seedTracks(t *testing.T, data string) []string {
	t.Helper()
	db, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ids []string
	for i := range 3 {
		id := fmt.Sprintf("%064x", i+1)
		if err := db.PutTrack(tandem.Track{ID: id, Title: fmt.Sprint("Track ", i), Artist: "Storm", Format: "wav", Duration: time.Minute}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}
