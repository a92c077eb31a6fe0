// Package mpris serves the player over MPRIS2, the D-Bus interface through
// which Linux desktops drive media players: media keys, the sound menu,
// lock-screen and panel widgets, and tools such as playerctl.
//
// Start claims the bus name org.mpris.MediaPlayer2.tandem (or
// org.mpris.MediaPlayer2.tandem.instance<pid> when another player holds it)
// and exports /org/mpris/MediaPlayer2 with the MediaPlayer2 and
// MediaPlayer2.Player interfaces, Properties and Introspectable. Commands from
// the bus go to a Player, which the package defines and the player core
// implements; the player calls Server.Update whenever its State changes, and
// the server signals what changed. The package needs no cgo and no UI
// toolkit.
package mpris

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
)

// ErrNoBus reports that there is no session bus to connect to. The player
// logs it once and runs without MPRIS.
var ErrNoBus = errors.New("mpris: no session bus")

// Defaults for Options.
const (
	// DefaultDesktopEntry is the desktop entry id (the .desktop file's name
	// without the extension) that desktop/xdg installs.
	DefaultDesktopEntry = "dev.tandem.player"
	// DefaultSeekTolerance is how far the position may stray from where
	// steady playback would have put it before Update signals Seeked. It is
	// well above the player's own sync corrections.
	DefaultSeekTolerance = time.Second
	// busSuffix is the player's part of the bus name.
	busSuffix = "tandem"
)

// Options configure a Server. The zero value serves on the session bus.
type Options struct {
	// Conn, if set, is the bus connection to serve on (tests use a private
	// bus). The server does not close it. When nil, Start connects to the
	// session bus named by DBUS_SESSION_BUS_ADDRESS, or else
	// $XDG_RUNTIME_DIR/bus, and Close closes that connection.
	Conn *dbus.Conn
	// Identity is the player's name as desktops show it; default "Tandem".
	Identity string
	// DesktopEntry is the DesktopEntry property; default DefaultDesktopEntry.
	DesktopEntry string
	// SeekTolerance overrides DefaultSeekTolerance.
	SeekTolerance time.Duration
	// Now is the clock that Update uses to tell a seek from steady playback;
	// default time.Now.
	Now func() time.Time
}

// Server is a running MPRIS server. Its methods are safe for concurrent use.
type Server struct {
	log          *slog.Logger
	p            Player
	conn         *dbus.Conn
	ownConn      bool // Close closes conn
	name         string
	identity     string
	desktopEntry string
	tolerance    time.Duration
	now          func() time.Time
	stopAfter    func() bool // cancels the close on context end

	closeOnce sync.Once
	closeErr  error

	// mu guards the following. It is held while Update emits signals, so
	// that signals leave in the order of the states they describe; no
	// Player method is called under it.
	mu       sync.Mutex
	closed   bool
	last     map[string]dbus.Variant // Player properties as last signalled
	lastID   string                  // State.TrackID at the last Update
	lastStat Status                  // State.Status at the last Update
	lastPos  time.Duration           // State.Position at the last Update
	lastAt   time.Time               // when lastPos was read
}

// Start connects to the bus, exports the MPRIS object and claims a bus name.
// It returns an error wrapping ErrNoBus at once when there is no session bus.
// The server runs until Close or until ctx ends.
func Start(ctx context.Context, log *slog.Logger, p Player, opts Options) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if p == nil {
		return nil, errors.New("mpris: start: nil Player")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mpris: start: %w", err)
	}
	s := &Server{
		log:          log,
		p:            p,
		conn:         opts.Conn,
		identity:     opts.Identity,
		desktopEntry: opts.DesktopEntry,
		tolerance:    opts.SeekTolerance,
		now:          opts.Now,
	}
	if s.identity == "" {
		s.identity = "Tandem"
	}
	if s.desktopEntry == "" {
		s.desktopEntry = DefaultDesktopEntry
	}
	if s.tolerance <= 0 {
		s.tolerance = DefaultSeekTolerance
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.conn == nil {
		addr, err := sessionBusAddress()
		if err != nil {
			return nil, err
		}
		conn, err := dbus.Connect(addr)
		if err != nil {
			return nil, fmt.Errorf("mpris: connect to session bus %s: %w: %w", addr, ErrNoBus, err)
		}
		s.conn, s.ownConn = conn, true
	}
	if err := s.export(); err != nil {
		s.shutdown()
		return nil, err
	}
	name, err := s.claimName()
	if err != nil {
		s.shutdown()
		return nil, err
	}
	s.name = name

	st := p.State()
	s.last = signalled(playerProps(st))
	s.remember(st, s.now())

	s.stopAfter = context.AfterFunc(ctx, func() { _ = s.Close() })
	log.Info("mpris: serving", "name", name)
	return s, nil
}

// sessionBusAddress finds the session bus without launching one.
func sessionBusAddress() (string, error) {
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" && a != "autolaunch:" {
		return a, nil
	}
	dir := os.Getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		dir = "/run/user/" + strconv.Itoa(os.Getuid())
	}
	sock := filepath.Join(dir, "bus")
	if fi, err := os.Stat(sock); err == nil && fi.Mode()&os.ModeSocket != 0 {
		return "unix:path=" + dbus.EscapeBusAddressValue(sock), nil
	}
	return "", fmt.Errorf("%w: DBUS_SESSION_BUS_ADDRESS is unset and %s is not a socket", ErrNoBus, sock)
}

// export publishes the object's interfaces on the connection.
func (s *Server) export() error {
	tables := []struct {
		iface   string
		methods map[string]any
	}{
		{rootIface, map[string]any{
			"Raise": s.raise,
			"Quit":  s.quit,
		}},
		{playerIface, map[string]any{
			"Play":        s.play,
			"Pause":       s.pause,
			"PlayPause":   s.playPause,
			"Stop":        s.stop,
			"Next":        s.next,
			"Previous":    s.previous,
			"Seek":        s.seek,
			"SetPosition": s.setPosition,
			"OpenUri":     s.openURI,
		}},
		{propsIface, map[string]any{
			"Get":    s.get,
			"GetAll": s.getAll,
			"Set":    s.set,
		}},
	}
	for _, t := range tables {
		if err := s.conn.ExportMethodTable(t.methods, objectPath, t.iface); err != nil {
			return fmt.Errorf("mpris: export %s: %w", t.iface, err)
		}
	}
	if err := s.conn.Export(introspectable(), objectPath, introIface); err != nil {
		return fmt.Errorf("mpris: export %s: %w", introIface, err)
	}
	return nil
}

// unexport withdraws everything that export published.
func (s *Server) unexport() {
	for _, iface := range []string{rootIface, playerIface, propsIface, introIface} {
		_ = s.conn.Export(nil, objectPath, iface)
	}
}

// claimName takes org.mpris.MediaPlayer2.tandem, or the .instance<pid>
// name when another process holds it.
func (s *Server) claimName() (string, error) {
	base := busNamePrefix + busSuffix
	names := []string{base, base + ".instance" + strconv.Itoa(os.Getpid())}
	for _, name := range names {
		reply, err := s.conn.RequestName(name, dbus.NameFlagDoNotQueue)
		if err != nil {
			return "", fmt.Errorf("mpris: request name %s: %w", name, err)
		}
		switch reply {
		case dbus.RequestNameReplyPrimaryOwner, dbus.RequestNameReplyAlreadyOwner:
			return name, nil
		}
		s.log.Debug("mpris: bus name taken", "name", name)
	}
	return "", fmt.Errorf("mpris: bus names %v are all taken", names)
}

// Name returns the bus name that the server holds.
func (s *Server) Name() string { return s.name }

// Update re-reads the player's State and signals what changed since the last
// Update: PropertiesChanged on the Player interface with only the changed
// properties, and Seeked when the position is not where steady playback
// would have taken it. The player calls it after every change; calls after
// Close do nothing.
func (s *Server) Update() {
	st := s.p.State()
	now := s.now()
	props := signalled(playerProps(st))

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	changed := make(map[string]dbus.Variant)
	for k, v := range props {
		if old, ok := s.last[k]; !ok || !reflect.DeepEqual(old, v) {
			changed[k] = v
		}
	}
	jumped := st.TrackID != "" && st.TrackID == s.lastID && s.jumped(st, now)
	s.last = props
	s.remember(st, now)

	if len(changed) > 0 {
		err := s.conn.Emit(objectPath, propsIface+".PropertiesChanged", playerIface, changed, []string{})
		if err != nil {
			s.log.Warn("mpris: emit PropertiesChanged", "err", err)
		}
	}
	if jumped {
		if err := s.conn.Emit(objectPath, playerIface+".Seeked", micros(st.Position)); err != nil {
			s.log.Warn("mpris: emit Seeked", "err", err)
		}
	}
}

// jumped reports whether st's position is off from the one extrapolated from
// the last Update by more than the tolerance. Call with mu held.
func (s *Server) jumped(st State, now time.Time) bool {
	want := s.lastPos
	if s.lastStat == Playing {
		want += now.Sub(s.lastAt)
	}
	d := st.Position - want
	return d > s.tolerance || d < -s.tolerance
}

// remember records st as the base for the next seek check. Call with mu held
// (or before the server is shared).
func (s *Server) remember(st State, now time.Time) {
	s.lastID, s.lastStat, s.lastPos, s.lastAt = st.TrackID, st.Status, st.Position, now
}

// signalled drops the properties whose changes are never signalled.
func signalled(props map[string]dbus.Variant) map[string]dbus.Variant {
	for k := range props {
		if quiet(k) {
			delete(props, k)
		}
	}
	return props
}

// Close releases the bus name, withdraws the object and, when Start made the
// connection, closes it. It is safe to call more than once. A D-Bus call
// already being handled when Close runs may still reach the Player once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.stopAfter != nil {
			s.stopAfter()
		}
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.closeErr = s.shutdown()
		s.log.Info("mpris: closed", "name", s.name)
	})
	return s.closeErr
}

// shutdown undoes Start: the name, the exports and an owned connection.
func (s *Server) shutdown() error {
	var errs []error
	if s.name != "" {
		if _, err := s.conn.ReleaseName(s.name); err != nil {
			errs = append(errs, fmt.Errorf("mpris: release name %s: %w", s.name, err))
		}
	}
	s.unexport()
	if s.ownConn {
		if err := s.conn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("mpris: close connection: %w", err))
		}
	}
	return errors.Join(errs...)
}
