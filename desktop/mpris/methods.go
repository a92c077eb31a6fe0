package mpris

import (
	"net/url"
	"strings"

	"github.com/godbus/dbus/v5"
)

// The handlers below run on godbus's goroutines, one per call. Each reads
// State, decides, and hands the command to the Player, which returns at once.
// Following the MPRIS specification, a command that the player cannot take
// now (CanControl false, nothing loaded) is a silent no-op, not an error.

func (s *Server) raise() *dbus.Error { s.p.Raise(); return nil }
func (s *Server) quit() *dbus.Error  { s.p.Quit(); return nil }

func (s *Server) play() *dbus.Error {
	if capsOf(s.p.State()).play {
		s.p.Play()
	}
	return nil
}

func (s *Server) pause() *dbus.Error {
	if capsOf(s.p.State()).pause {
		s.p.Pause()
	}
	return nil
}

func (s *Server) playPause() *dbus.Error {
	st := s.p.State()
	c := capsOf(st)
	switch {
	case st.Status == Playing && c.pause:
		s.p.Pause()
	case st.Status != Playing && c.play:
		s.p.Play()
	}
	return nil
}

func (s *Server) stop() *dbus.Error {
	if s.p.State().CanControl {
		s.p.Stop()
	}
	return nil
}

func (s *Server) next() *dbus.Error {
	if capsOf(s.p.State()).next {
		s.p.Next()
	}
	return nil
}

func (s *Server) previous() *dbus.Error {
	if capsOf(s.p.State()).previous {
		s.p.Previous()
	}
	return nil
}

// seek moves by offset µs. Before the start it goes to 0; past the end it
// acts as Next, as the specification asks.
func (s *Server) seek(offset int64) *dbus.Error {
	st := s.p.State()
	if !capsOf(st).seek {
		return nil
	}
	pos := st.Position + fromMicros(offset)
	switch {
	case offset > 0 && pos < st.Position: // overflow
		s.p.Next()
	case pos > st.Length:
		s.p.Next()
	case pos < 0:
		s.p.Seek(0)
	default:
		s.p.Seek(pos)
	}
	return nil
}

// setPosition moves to pos µs in the track named by id. A stale id (the
// track has changed since the client read it) or a position outside the
// track is ignored, as the specification asks.
func (s *Server) setPosition(id dbus.ObjectPath, pos int64) *dbus.Error {
	st := s.p.State()
	if !capsOf(st).seek || id != TrackPath(st.TrackID) {
		return nil
	}
	d := fromMicros(pos)
	if d < 0 || d > st.Length {
		return nil
	}
	s.p.Seek(d)
	return nil
}

// openURI passes a tandem:// link to the player and refuses other schemes.
func (s *Server) openURI(uri string) *dbus.Error {
	u, err := url.Parse(uri)
	if err != nil || !strings.EqualFold(u.Scheme, uriScheme) {
		return dbus.NewError(errInvalidArgs, []any{"mpris: only " + uriScheme + ":// URIs can be opened"})
	}
	if err := s.p.OpenURI(uri); err != nil {
		return dbus.NewError(errFailed, []any{err.Error()})
	}
	return nil
}

// get implements org.freedesktop.DBus.Properties.Get.
func (s *Server) get(iface, name string) (dbus.Variant, *dbus.Error) {
	all, derr := s.getAll(iface)
	if derr != nil {
		return dbus.Variant{}, derr
	}
	v, ok := all[name]
	if !ok {
		return dbus.Variant{}, dbus.NewError(errUnknownProperty, []any{"mpris: no property " + iface + "." + name})
	}
	return v, nil
}

// getAll implements org.freedesktop.DBus.Properties.GetAll.
func (s *Server) getAll(iface string) (map[string]dbus.Variant, *dbus.Error) {
	switch iface {
	case rootIface:
		return s.rootProps(), nil
	case playerIface:
		return playerProps(s.p.State()), nil
	}
	return nil, dbus.NewError(errUnknownInterface, []any{"mpris: no interface " + iface})
}

// set implements org.freedesktop.DBus.Properties.Set for Volume, Shuffle and
// LoopStatus. The change shows once the player has made it and called
// Update.
func (s *Server) set(iface, name string, v dbus.Variant) *dbus.Error {
	all, derr := s.getAll(iface)
	if derr != nil {
		return derr
	}
	if _, ok := all[name]; !ok {
		return dbus.NewError(errUnknownProperty, []any{"mpris: no property " + iface + "." + name})
	}
	if iface != playerIface || (name != "Volume" && name != "Shuffle" && name != "LoopStatus") {
		return dbus.NewError(errReadOnly, []any{"mpris: " + iface + "." + name + " is read-only"})
	}
	if !s.p.State().CanControl {
		return dbus.NewError(errAccessDenied, []any{"mpris: this member may not control playback now"})
	}
	bad := func(want string) *dbus.Error {
		return dbus.NewError(errInvalidArgs, []any{"mpris: " + name + " takes " + want + ", not " + v.Signature().String()})
	}
	switch name {
	case "Volume":
		f, ok := v.Value().(float64)
		if !ok {
			return bad("a double")
		}
		s.p.SetVolume(clampVolume(f))
	case "Shuffle":
		b, ok := v.Value().(bool)
		if !ok {
			return bad("a boolean")
		}
		s.p.SetShuffle(b)
	case "LoopStatus":
		str, ok := v.Value().(string)
		if !ok {
			return bad("a string")
		}
		l, err := ParseLoop(str)
		if err != nil {
			return dbus.NewError(errInvalidArgs, []any{err.Error()})
		}
		s.p.SetLoop(l)
	}
	return nil
}
