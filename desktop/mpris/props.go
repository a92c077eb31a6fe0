package mpris

import (
	"time"

	"github.com/godbus/dbus/v5"
)

// D-Bus names of the object and its interfaces.
const (
	objectPath    dbus.ObjectPath = "/org/mpris/MediaPlayer2"
	rootIface                     = "org.mpris.MediaPlayer2"
	playerIface                   = "org.mpris.MediaPlayer2.Player"
	propsIface                    = "org.freedesktop.DBus.Properties"
	introIface                    = "org.freedesktop.DBus.Introspectable"
	busNamePrefix                 = "org.mpris.MediaPlayer2."

	// noTrack is the track id that MPRIS reserves for "nothing loaded".
	noTrack dbus.ObjectPath = "/org/mpris/MediaPlayer2/TrackList/NoTrack"
	// trackPrefix roots the object paths made from State.TrackID.
	trackPrefix = "/dev/tandem/player/track/"
	// uriScheme is the one scheme that OpenUri accepts.
	uriScheme = "tandem"
)

// Standard D-Bus error names that the Properties interface returns.
const (
	errUnknownInterface = "org.freedesktop.DBus.Error.UnknownInterface"
	errUnknownProperty  = "org.freedesktop.DBus.Error.UnknownProperty"
	errReadOnly         = "org.freedesktop.DBus.Error.PropertyReadOnly"
	errInvalidArgs      = "org.freedesktop.DBus.Error.InvalidArgs"
	errAccessDenied     = "org.freedesktop.DBus.Error.AccessDenied"
	errFailed           = "org.freedesktop.DBus.Error.Failed"
)

// TrackPath returns the MPRIS track id (a D-Bus object path) for a
// State.TrackID. Bytes outside [A-Za-z0-9] are escaped as _XX (hex), so
// every distinct id maps to a distinct, valid path.
func TrackPath(id string) dbus.ObjectPath {
	if id == "" {
		return noTrack
	}
	const hex = "0123456789abcdef"
	b := make([]byte, 0, len(trackPrefix)+len(id))
	b = append(b, trackPrefix...)
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b = append(b, c)
			continue
		}
		b = append(b, '_', hex[c>>4], hex[c&0xf])
	}
	return dbus.ObjectPath(b)
}

// micros converts a duration to MPRIS time (µs).
func micros(d time.Duration) int64 { return d.Microseconds() }

// fromMicros converts MPRIS time (µs) to a duration, saturating instead of
// overflowing.
func fromMicros(us int64) time.Duration {
	const limit = int64(1<<63-1) / int64(time.Microsecond)
	switch {
	case us > limit:
		return time.Duration(1<<63 - 1)
	case us < -limit:
		return -time.Duration(1<<63 - 1)
	}
	return time.Duration(us) * time.Microsecond
}

// clampVolume keeps v within [0, 1].
func clampVolume(v float64) float64 {
	switch {
	case v != v || v < 0: // NaN or negative
		return 0
	case v > 1:
		return 1
	}
	return v
}

// capabilities are the Can* properties derived from a State.
type capabilities struct {
	control, play, pause, seek, next, previous bool
}

func capsOf(st State) capabilities {
	loaded := st.TrackID != ""
	return capabilities{
		control:  st.CanControl,
		play:     st.CanControl && loaded,
		pause:    st.CanControl && loaded,
		seek:     st.CanControl && loaded && st.Length > 0,
		next:     st.CanControl,
		previous: st.CanControl,
	}
}

// metadata builds the Metadata property.
func metadata(st State) map[string]dbus.Variant {
	m := map[string]dbus.Variant{"mpris:trackid": dbus.MakeVariant(TrackPath(st.TrackID))}
	if st.TrackID == "" {
		return m
	}
	m["xesam:title"] = dbus.MakeVariant(st.Title)
	if len(st.Artist) > 0 {
		m["xesam:artist"] = dbus.MakeVariant(append([]string(nil), st.Artist...))
	}
	if st.Album != "" {
		m["xesam:album"] = dbus.MakeVariant(st.Album)
	}
	if st.Length > 0 {
		m["mpris:length"] = dbus.MakeVariant(micros(st.Length))
	}
	if st.ArtURL != "" {
		m["mpris:artUrl"] = dbus.MakeVariant(st.ArtURL)
	}
	return m
}

// playerProps returns every property of the Player interface for a State.
func playerProps(st State) map[string]dbus.Variant {
	c := capsOf(st)
	return map[string]dbus.Variant{
		"PlaybackStatus": dbus.MakeVariant(st.Status.String()),
		"LoopStatus":     dbus.MakeVariant(st.Loop.String()),
		"Rate":           dbus.MakeVariant(1.0),
		"MinimumRate":    dbus.MakeVariant(1.0),
		"MaximumRate":    dbus.MakeVariant(1.0),
		"Shuffle":        dbus.MakeVariant(st.Shuffle),
		"Metadata":       dbus.MakeVariant(metadata(st)),
		"Volume":         dbus.MakeVariant(clampVolume(st.Volume)),
		"Position":       dbus.MakeVariant(micros(st.Position)),
		"CanControl":     dbus.MakeVariant(c.control),
		"CanPlay":        dbus.MakeVariant(c.play),
		"CanPause":       dbus.MakeVariant(c.pause),
		"CanSeek":        dbus.MakeVariant(c.seek),
		"CanGoNext":      dbus.MakeVariant(c.next),
		"CanGoPrevious":  dbus.MakeVariant(c.previous),
	}
}

// quiet reports the Player properties whose changes are not signalled:
// the MPRIS specification marks them so (clients read Position on demand
// and hear of jumps through Seeked; CanControl is fixed for a session), and
// the rates never change.
func quiet(name string) bool {
	switch name {
	case "Position", "CanControl", "Rate", "MinimumRate", "MaximumRate":
		return true
	}
	return false
}

// rootProps returns every property of the MediaPlayer2 interface.
func (s *Server) rootProps() map[string]dbus.Variant {
	return map[string]dbus.Variant{
		"CanQuit":             dbus.MakeVariant(true),
		"CanRaise":            dbus.MakeVariant(true),
		"HasTrackList":        dbus.MakeVariant(false),
		"Identity":            dbus.MakeVariant(s.identity),
		"DesktopEntry":        dbus.MakeVariant(s.desktopEntry),
		"SupportedUriSchemes": dbus.MakeVariant([]string{uriScheme}),
		"SupportedMimeTypes":  dbus.MakeVariant([]string{}),
	}
}
