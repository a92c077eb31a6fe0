package mpris

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	busName = "org.mpris.MediaPlayer2.tandem"
	trackA  = "3f2a9c"
)

// playing is a State with a track loaded and playing.
func playing() State {
	return State{
		Status:     Playing,
		TrackID:    trackA,
		Title:      "Morning Tram",
		Artist:     []string{"Ada", "Ben"},
		Album:      "Demo",
		ArtURL:     "file:///tmp/cover.png",
		Length:     3 * time.Minute,
		Position:   20 * time.Second,
		Volume:     0.5,
		Shuffle:    false,
		Loop:       LoopPlaylist,
		CanControl: true,
	}
}

// fixture is a server on a private bus, a client connection to the same bus,
// and the fake player behind the server.
type fixture struct {
	addr   string
	srv    *Server
	client *dbus.Conn
	obj    dbus.BusObject
	p      *fakePlayer
	clock  *fakeClock
}

func newFixture(t *testing.T, st State) *fixture {
	t.Helper()
	addr := startBus(t)
	f := &fixture{addr: addr, p: newFakePlayer(st), clock: &fakeClock{t: time.Unix(1_700_000_000, 0)}}
	srv, err := Start(t.Context(), slog.New(slog.DiscardHandler), f.p, Options{Conn: connect(t, addr), Now: f.clock.Now})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	f.srv = srv
	f.client = connect(t, addr)
	f.obj = f.client.Object(srv.Name(), objectPath)
	return f
}

func (f *fixture) getAll(t *testing.T, iface string) map[string]dbus.Variant {
	t.Helper()
	var m map[string]dbus.Variant
	if err := f.obj.Call(propsIface+".GetAll", 0, iface).Store(&m); err != nil {
		t.Fatalf("GetAll %s: %v", iface, err)
	}
	return m
}

// values unwraps a property map for comparison.
func values(m map[string]dbus.Variant) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if inner, ok := v.Value().(map[string]dbus.Variant); ok {
			out[k] = values(inner)
			continue
		}
		out[k] = v.Value()
	}
	return out
}

func TestTrackPath(t *testing.T) {
	tests := []struct {
		id   string
		want dbus.ObjectPath
	}{
		{"", "/org/mpris/MediaPlayer2/TrackList/NoTrack"},
		{"3f2a9c", "/dev/tandem/player/track/3f2a9c"},
		{"entry-7/x_y", "/dev/tandem/player/track/entry_2d7_2fx_5fy"},
		{"é", "/dev/tandem/player/track/_c3_a9"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			got := TrackPath(tt.id)
			if got != tt.want {
				t.Errorf("TrackPath(%q) = %q, want %q", tt.id, got, tt.want)
			}
			if !got.IsValid() {
				t.Errorf("TrackPath(%q) = %q is not a valid object path", tt.id, got)
			}
		})
	}
}

func TestProperties(t *testing.T) {
	f := newFixture(t, playing())

	if got, want := f.srv.Name(), busName; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	var owned bool
	if err := f.client.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, busName).Store(&owned); err != nil || !owned {
		t.Fatalf("NameHasOwner(%s) = %v, %v; want true", busName, owned, err)
	}

	root := values(f.getAll(t, rootIface))
	wantRoot := map[string]any{
		"CanQuit":             true,
		"CanRaise":            true,
		"HasTrackList":        false,
		"Identity":            "Tandem",
		"DesktopEntry":        "dev.tandem.player",
		"SupportedUriSchemes": []string{"tandem"},
		"SupportedMimeTypes":  []string{},
	}
	if !reflect.DeepEqual(root, wantRoot) {
		t.Errorf("GetAll(%s) =\n%#v\nwant\n%#v", rootIface, root, wantRoot)
	}

	player := values(f.getAll(t, playerIface))
	wantPlayer := map[string]any{
		"PlaybackStatus": "Playing",
		"LoopStatus":     "Playlist",
		"Rate":           1.0,
		"MinimumRate":    1.0,
		"MaximumRate":    1.0,
		"Shuffle":        false,
		"Volume":         0.5,
		"Position":       int64(20_000_000),
		"CanControl":     true,
		"CanPlay":        true,
		"CanPause":       true,
		"CanSeek":        true,
		"CanGoNext":      true,
		"CanGoPrevious":  true,
		"Metadata": map[string]any{
			"mpris:trackid": dbus.ObjectPath("/dev/tandem/player/track/3f2a9c"),
			"xesam:title":   "Morning Tram",
			"xesam:artist":  []string{"Ada", "Ben"},
			"xesam:album":   "Demo",
			"mpris:length":  int64(180_000_000),
			"mpris:artUrl":  "file:///tmp/cover.png",
		},
	}
	if !reflect.DeepEqual(player, wantPlayer) {
		t.Errorf("GetAll(%s) =\n%#v\nwant\n%#v", playerIface, player, wantPlayer)
	}

	// Position is read live from the player.
	f.p.set(func(s *State) { s.Position = 21500 * time.Millisecond })
	var pos int64
	if err := f.obj.Call(propsIface+".Get", 0, playerIface, "Position").Store(&pos); err != nil {
		t.Fatalf("Get Position: %v", err)
	}
	if got, want := pos, int64(21_500_000); got != want {
		t.Errorf("Position = %d µs, want %d", got, want)
	}

	// Nothing loaded: only the NoTrack id, and nothing to play or seek.
	f.p.set(func(s *State) { *s = State{CanControl: true, Volume: 1} })
	player = values(f.getAll(t, playerIface))
	if got, want := player["Metadata"], map[string]any{"mpris:trackid": noTrack}; !reflect.DeepEqual(got, want) {
		t.Errorf("Metadata with no track = %#v, want %#v", got, want)
	}
	for _, k := range []string{"CanPlay", "CanPause", "CanSeek"} {
		if player[k] != false {
			t.Errorf("%s with no track = %v, want false", k, player[k])
		}
	}

	var err error
	if err = f.obj.Call(propsIface+".Get", 0, playerIface, "Bogus").Err; err == nil || !strings.Contains(err.Error(), "Bogus") {
		t.Errorf("Get Bogus: err = %v, want UnknownProperty", err)
	}
	var derr dbus.Error
	if !errors.As(err, &derr) || derr.Name != errUnknownProperty {
		t.Errorf("Get Bogus: err = %#v, want %s", err, errUnknownProperty)
	}
	err = f.obj.Call(propsIface+".GetAll", 0, "org.example.Nope").Err
	if !errors.As(err, &derr) || derr.Name != errUnknownInterface {
		t.Errorf("GetAll org.example.Nope: err = %#v, want %s", err, errUnknownInterface)
	}
}

func TestIntrospect(t *testing.T) {
	f := newFixture(t, playing())
	var xml string
	if err := f.obj.Call(introIface+".Introspect", 0).Store(&xml); err != nil {
		t.Fatalf("Introspect: %v", err)
	}
	for _, want := range []string{
		`<interface name="org.mpris.MediaPlayer2">`,
		`<interface name="org.mpris.MediaPlayer2.Player">`,
		`<interface name="org.freedesktop.DBus.Properties">`,
		`<interface name="org.freedesktop.DBus.Introspectable">`,
		`<signal name="Seeked">`,
		`<method name="SetPosition">`,
		`<property name="Volume" type="d" access="readwrite">`,
	} {
		if !strings.Contains(xml, want) {
			t.Errorf("introspection lacks %s:\n%s", want, xml)
		}
	}
}

func TestMethods(t *testing.T) {
	f := newFixture(t, playing())
	track := TrackPath(trackA)
	other := TrackPath("another")

	tests := []struct {
		name   string
		state  func(*State)
		method string
		args   []any
		want   []string
	}{
		{"PlayPause while playing", nil, "PlayPause", nil, []string{"Pause"}},
		{"PlayPause while paused", func(s *State) { s.Status = Paused }, "PlayPause", nil, []string{"Play"}},
		{"PlayPause while stopped", func(s *State) { s.Status = Stopped }, "PlayPause", nil, []string{"Play"}},
		{"Play", nil, "Play", nil, []string{"Play"}},
		{"Pause", nil, "Pause", nil, []string{"Pause"}},
		{"Stop", nil, "Stop", nil, []string{"Stop"}},
		{"Next", nil, "Next", nil, []string{"Next"}},
		{"Previous", nil, "Previous", nil, []string{"Previous"}},
		{"Seek forward", nil, "Seek", []any{int64(10_000_000)}, []string{"Seek(30s)"}},
		{"Seek back", nil, "Seek", []any{int64(-5_500_000)}, []string{"Seek(14.5s)"}},
		{"Seek before start", nil, "Seek", []any{int64(-60_000_000)}, []string{"Seek(0s)"}},
		{"Seek past end acts as Next", nil, "Seek", []any{int64(600_000_000)}, []string{"Next"}},
		{"SetPosition", nil, "SetPosition", []any{track, int64(95_000_000)}, []string{"Seek(1m35s)"}},
		{"SetPosition stale track", nil, "SetPosition", []any{other, int64(95_000_000)}, nil},
		{"SetPosition past end", nil, "SetPosition", []any{track, int64(181_000_000)}, nil},
		{"SetPosition negative", nil, "SetPosition", []any{track, int64(-1)}, nil},
		{"OpenUri", nil, "OpenUri", []any{"tandem://join/ABCD-1234"}, []string{"OpenURI(tandem://join/ABCD-1234)"}},
		{"no control: PlayPause", func(s *State) { s.CanControl = false }, "PlayPause", nil, nil},
		{"no control: Next", func(s *State) { s.CanControl = false }, "Next", nil, nil},
		{"no control: Seek", func(s *State) { s.CanControl = false }, "Seek", []any{int64(1)}, nil},
		{"no track: Play", func(s *State) { s.TrackID = "" }, "Play", nil, nil},
		{"unknown length: Seek", func(s *State) { s.Length = 0 }, "Seek", []any{int64(1_000_000)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.p.set(func(s *State) {
				*s = playing()
				if tt.state != nil {
					tt.state(s)
				}
			})
			f.p.take()
			if err := f.obj.Call(playerIface+"."+tt.method, 0, tt.args...).Err; err != nil {
				t.Fatalf("%s: %v", tt.method, err)
			}
			// The reply comes after the handler has called the player.
			if got := f.p.take(); !slices.Equal(got, tt.want) {
				t.Errorf("%s(%v): player got %q, want %q", tt.method, tt.args, got, tt.want)
			}
		})
	}

	t.Run("Raise and Quit", func(t *testing.T) {
		f.p.take()
		for _, m := range []string{"Raise", "Quit"} {
			if err := f.obj.Call(rootIface+"."+m, 0).Err; err != nil {
				t.Fatalf("%s: %v", m, err)
			}
		}
		if got, want := f.p.take(), []string{"Raise", "Quit"}; !slices.Equal(got, want) {
			t.Errorf("player got %q, want %q", got, want)
		}
	})

	t.Run("OpenUri refuses other schemes", func(t *testing.T) {
		f.p.take()
		err := f.obj.Call(playerIface+".OpenUri", 0, "https://example.com/x.mp3").Err
		var derr dbus.Error
		if !errors.As(err, &derr) || derr.Name != errInvalidArgs {
			t.Errorf("OpenUri https: err = %#v, want %s", err, errInvalidArgs)
		}
		if got := f.p.take(); len(got) != 0 {
			t.Errorf("player got %q, want nothing", got)
		}
	})
}

func TestSetProperties(t *testing.T) {
	f := newFixture(t, playing())
	tests := []struct {
		name     string
		state    func(*State)
		iface    string
		prop     string
		value    any
		wantErr  string // D-Bus error name, or "" for success
		wantCall []string
	}{
		{"Volume", nil, playerIface, "Volume", 0.25, "", []string{"SetVolume(0.25)"}},
		{"Volume above 1 is clamped", nil, playerIface, "Volume", 1.5, "", []string{"SetVolume(1)"}},
		{"Volume below 0 is clamped", nil, playerIface, "Volume", -0.5, "", []string{"SetVolume(0)"}},
		{"Volume wrong type", nil, playerIface, "Volume", "loud", errInvalidArgs, nil},
		{"Shuffle", nil, playerIface, "Shuffle", true, "", []string{"SetShuffle(true)"}},
		{"LoopStatus Track", nil, playerIface, "LoopStatus", "Track", "", []string{"SetLoop(Track)"}},
		{"LoopStatus None", nil, playerIface, "LoopStatus", "None", "", []string{"SetLoop(None)"}},
		{"LoopStatus unknown", nil, playerIface, "LoopStatus", "Forever", errInvalidArgs, nil},
		{"read-only PlaybackStatus", nil, playerIface, "PlaybackStatus", "Paused", errReadOnly, nil},
		{"read-only Identity", nil, rootIface, "Identity", "Other", errReadOnly, nil},
		{"unknown property", nil, playerIface, "Bogus", 1.0, errUnknownProperty, nil},
		{"unknown interface", nil, "org.example.Nope", "Volume", 1.0, errUnknownInterface, nil},
		{"no control", func(s *State) { s.CanControl = false }, playerIface, "Volume", 0.25, errAccessDenied, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.p.set(func(s *State) {
				*s = playing()
				if tt.state != nil {
					tt.state(s)
				}
			})
			f.p.take()
			err := f.obj.Call(propsIface+".Set", 0, tt.iface, tt.prop, dbus.MakeVariant(tt.value)).Err
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Set %s: %v", tt.prop, err)
				}
			} else {
				var derr dbus.Error
				if !errors.As(err, &derr) || derr.Name != tt.wantErr {
					t.Fatalf("Set %s: err = %#v, want %s", tt.prop, err, tt.wantErr)
				}
			}
			if got := f.p.take(); !slices.Equal(got, tt.wantCall) {
				t.Errorf("Set %s=%v: player got %q, want %q", tt.prop, tt.value, got, tt.wantCall)
			}
		})
	}
}

// signals subscribes the client to the server's PropertiesChanged and
// Seeked signals, in the order they are sent.
func (f *fixture) signals(t *testing.T) <-chan *dbus.Signal {
	t.Helper()
	for _, match := range [][]dbus.MatchOption{
		{dbus.WithMatchObjectPath(objectPath), dbus.WithMatchInterface(propsIface), dbus.WithMatchMember("PropertiesChanged")},
		{dbus.WithMatchObjectPath(objectPath), dbus.WithMatchInterface(playerIface), dbus.WithMatchMember("Seeked")},
	} {
		if err := f.client.AddMatchSignal(match...); err != nil {
			t.Fatalf("AddMatchSignal: %v", err)
		}
	}
	ch := make(chan *dbus.Signal, 16)
	f.client.Signal(ch)
	t.Cleanup(func() { f.client.RemoveSignal(ch) })
	return ch
}

// next returns the next signal, failing the test if none comes within a
// generous bound (this guards against a hang; it measures nothing).
func next(t *testing.T, ch <-chan *dbus.Signal) *dbus.Signal {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no signal")
		return nil
	}
}

// changedKeys checks that s is PropertiesChanged on the Player interface and
// returns the names of the changed properties, sorted.
func changedKeys(t *testing.T, s *dbus.Signal) ([]string, map[string]dbus.Variant) {
	t.Helper()
	if s.Name != propsIface+".PropertiesChanged" {
		t.Fatalf("signal %s %v, want PropertiesChanged", s.Name, s.Body)
	}
	if len(s.Body) != 3 || s.Body[0] != playerIface {
		t.Fatalf("PropertiesChanged body %v, want (%s, changed, invalidated)", s.Body, playerIface)
	}
	changed := s.Body[1].(map[string]dbus.Variant)
	if inv := s.Body[2].([]string); len(inv) != 0 {
		t.Errorf("invalidated = %q, want none", inv)
	}
	var keys []string
	for k := range changed {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, changed
}

func TestUpdateSignalsChanges(t *testing.T) {
	f := newFixture(t, playing())
	ch := f.signals(t)

	// No change: no signal. The next signal must be the volume change.
	f.srv.Update()
	f.p.set(func(s *State) { s.Volume = 0.75 })
	f.srv.Update()
	keys, changed := changedKeys(t, next(t, ch))
	if want := []string{"Volume"}; !slices.Equal(keys, want) {
		t.Errorf("changed %q, want %q", keys, want)
	}
	if got := changed["Volume"].Value(); got != 0.75 {
		t.Errorf("Volume = %v, want 0.75", got)
	}

	// Pause after 3 s of steady playback: the status alone (the position is
	// never signalled).
	f.clock.Advance(3 * time.Second)
	f.p.set(func(s *State) { s.Status = Paused; s.Position += 3 * time.Second })
	f.srv.Update()
	keys, changed = changedKeys(t, next(t, ch))
	if want := []string{"PlaybackStatus"}; !slices.Equal(keys, want) {
		t.Errorf("changed %q, want %q", keys, want)
	}
	if got := changed["PlaybackStatus"].Value(); got != "Paused" {
		t.Errorf("PlaybackStatus = %v, want Paused", got)
	}

	// A new track, shuffle and loop at once: one signal with those keys.
	f.p.set(func(s *State) {
		s.TrackID, s.Title, s.Artist, s.Length, s.Position = "b7", "Night Bus", []string{"Cy"}, time.Minute, 0
		s.Shuffle, s.Loop = true, LoopTrack
	})
	f.srv.Update()
	keys, changed = changedKeys(t, next(t, ch))
	if want := []string{"LoopStatus", "Metadata", "Shuffle"}; !slices.Equal(keys, want) {
		t.Errorf("changed %q, want %q", keys, want)
	}
	md := values(changed["Metadata"].Value().(map[string]dbus.Variant))
	if got, want := md["mpris:trackid"], TrackPath("b7"); got != want {
		t.Errorf("trackid = %v, want %v", got, want)
	}
	if got, want := md["xesam:artist"], []string{"Cy"}; !reflect.DeepEqual(got, want) {
		t.Errorf("artist = %v, want %v", got, want)
	}

	// Losing control turns off the Can* properties (CanControl itself is
	// not signalled, as the specification says).
	f.p.set(func(s *State) { s.CanControl = false })
	f.srv.Update()
	keys, _ = changedKeys(t, next(t, ch))
	if want := []string{"CanGoNext", "CanGoPrevious", "CanPause", "CanPlay", "CanSeek"}; !slices.Equal(keys, want) {
		t.Errorf("changed %q, want %q", keys, want)
	}
}

func TestUpdateSignalsSeeked(t *testing.T) {
	f := newFixture(t, playing()) // playing at 20 s
	ch := f.signals(t)

	// Steady playback: 2 s later the position is 2 s on, within tolerance.
	f.clock.Advance(2 * time.Second)
	f.p.set(func(s *State) { s.Position = 22200 * time.Millisecond })
	f.srv.Update()
	// A jump to 1:30.
	f.clock.Advance(time.Second)
	f.p.set(func(s *State) { s.Position = 90 * time.Second })
	f.srv.Update()
	s := next(t, ch)
	if s.Name != playerIface+".Seeked" {
		t.Fatalf("got %s %v, want Seeked (and nothing before it)", s.Name, s.Body)
	}
	if got, want := s.Body, []any{int64(90_000_000)}; !reflect.DeepEqual(got, want) {
		t.Errorf("Seeked body = %v, want %v", got, want)
	}

	// Paused, the position stays put: no Seeked. A jump back while paused
	// is a seek.
	f.p.set(func(s *State) { s.Status = Paused })
	f.srv.Update()
	if keys, _ := changedKeys(t, next(t, ch)); !slices.Equal(keys, []string{"PlaybackStatus"}) {
		t.Errorf("changed %q, want [PlaybackStatus]", keys)
	}
	f.clock.Advance(30 * time.Second)
	f.srv.Update()
	f.p.set(func(s *State) { s.Position = 10 * time.Second })
	f.srv.Update()
	s = next(t, ch)
	if s.Name != playerIface+".Seeked" || !reflect.DeepEqual(s.Body, []any{int64(10_000_000)}) {
		t.Fatalf("got %s %v, want Seeked [10000000]", s.Name, s.Body)
	}

	// A new track starting at 0 is announced by Metadata, not Seeked.
	f.p.set(func(s *State) { s.TrackID, s.Position = "b7", 0 })
	f.srv.Update()
	f.p.set(func(s *State) { s.Shuffle = true })
	f.srv.Update()
	for _, want := range [][]string{{"Metadata"}, {"Shuffle"}} {
		if keys, _ := changedKeys(t, next(t, ch)); !slices.Equal(keys, want) {
			t.Errorf("changed %q, want %q", keys, want)
		}
	}
}

func TestSecondInstance(t *testing.T) {
	addr := startBus(t)
	log := slog.New(slog.DiscardHandler)
	first, err := Start(t.Context(), log, newFakePlayer(playing()), Options{Conn: connect(t, addr)})
	if err != nil {
		t.Fatalf("Start first: %v", err)
	}
	defer first.Close()
	p2 := newFakePlayer(playing())
	second, err := Start(t.Context(), log, p2, Options{Conn: connect(t, addr)})
	if err != nil {
		t.Fatalf("Start second: %v", err)
	}
	defer second.Close()

	if got, want := first.Name(), busName; got != want {
		t.Errorf("first name = %q, want %q", got, want)
	}
	if got, want := second.Name(), busName+".instance"+strconv.Itoa(os.Getpid()); got != want {
		t.Errorf("second name = %q, want %q", got, want)
	}
	client := connect(t, addr)
	if err := client.Object(second.Name(), objectPath).Call(playerIface+".Next", 0).Err; err != nil {
		t.Fatalf("Next on second: %v", err)
	}
	if got, want := p2.take(), []string{"Next"}; !slices.Equal(got, want) {
		t.Errorf("second player got %q, want %q", got, want)
	}

	// Close releases the name.
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var owned bool
	if err := client.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, busName).Store(&owned); err != nil {
		t.Fatal(err)
	}
	if owned {
		t.Errorf("%s still owned after Close", busName)
	}
	first.Update() // after Close: does nothing
}

func TestStartOnSessionBus(t *testing.T) {
	addr := startBus(t)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", addr)
	srv, err := Start(t.Context(), slog.New(slog.DiscardHandler), newFakePlayer(playing()), Options{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if got := srv.Name(); got != busName {
		t.Errorf("Name() = %q, want %q", got, busName)
	}
	if !srv.conn.Connected() {
		t.Fatal("server connection is not connected")
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if srv.conn.Connected() {
		t.Error("Close left the server's own connection open")
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestContextEndCloses(t *testing.T) {
	addr := startBus(t)
	ctx, cancel := context.WithCancel(t.Context())
	conn := connect(t, addr)
	srv, err := Start(ctx, slog.New(slog.DiscardHandler), newFakePlayer(playing()), Options{Conn: conn})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	cancel()
	// The close runs on the context's AfterFunc goroutine; Close waits for it.
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	client := connect(t, addr)
	var owned bool
	if err := client.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, busName).Store(&owned); err != nil {
		t.Fatal(err)
	}
	if owned {
		t.Errorf("%s still owned after the context ended", busName)
	}
	if !conn.Connected() {
		t.Error("the caller's connection was closed")
	}
}

func TestStartWithoutBus(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, addr, runtime string
	}{
		{"address points nowhere", "unix:path=" + filepath.Join(dir, "nothing-here"), dir},
		{"no address, no runtime socket", "", dir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DBUS_SESSION_BUS_ADDRESS", tt.addr)
			t.Setenv("XDG_RUNTIME_DIR", tt.runtime)
			srv, err := Start(t.Context(), slog.New(slog.DiscardHandler), newFakePlayer(playing()), Options{})
			if err == nil {
				srv.Close()
				t.Fatal("Start succeeded with no bus")
			}
			if !errors.Is(err, ErrNoBus) {
				t.Errorf("err = %v, want ErrNoBus", err)
			}
		})
	}
}

// TestHandOff: a link given to a second player reaches the running one
// through OpenUri; with no player on the bus, HandOff says so and the
// caller starts normally.
func TestHandOff(t *testing.T) {
	addr := startBus(t)
	client := connect(t, addr)
	ok, err := HandOff(t.Context(), client, "tandem://hub:7878/join/MZXW6YTBOI3DAMRQ")
	if ok || err != nil {
		t.Fatalf("with no player running: %v, %v", ok, err)
	}
	p := newFakePlayer(playing())
	srv, err := Start(t.Context(), slog.New(slog.DiscardHandler), p, Options{Conn: connect(t, addr)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ok, err = HandOff(t.Context(), client, "tandem://hub:7878/join/MZXW6YTBOI3DAMRQ")
	if !ok || err != nil {
		t.Fatalf("with a player running: %v, %v", ok, err)
	}
	if got := p.take(); !slices.Contains(got, "OpenURI(tandem://hub:7878/join/MZXW6YTBOI3DAMRQ)") {
		t.Fatalf("the running player got %q", got)
	}
	// A link the running player cannot open comes back as an error, and
	// the caller starts a player of its own.
	ok, err = HandOff(t.Context(), client, "tandem://elsewhere:7878/join/MZXW6YTBOI3DAMRQ")
	if ok || err == nil || !strings.Contains(err.Error(), "that link is for another hub") {
		t.Fatalf("a link for another hub: %v, %v", ok, err)
	}
}
