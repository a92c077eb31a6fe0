package mpris

import (
	"github.com/godbus/dbus/v5/introspect"
	"github.com/godbus/dbus/v5/prop"
)

// introspectable describes the object for org.freedesktop.DBus.Introspectable.
// The Introspectable interface itself is added by introspect.NewIntrospectable.
func introspectable() introspect.Introspectable {
	noArgs := func(names ...string) []introspect.Method {
		ms := make([]introspect.Method, len(names))
		for i, n := range names {
			ms[i] = introspect.Method{Name: n}
		}
		return ms
	}
	in := func(name, typ string) introspect.Arg {
		return introspect.Arg{Name: name, Type: typ, Direction: "in"}
	}
	p := func(name, typ, access string) introspect.Property {
		return introspect.Property{Name: name, Type: typ, Access: access}
	}
	// quietly annotates a property whose changes are not signalled.
	quietly := func(pr introspect.Property, how string) introspect.Property {
		pr.Annotations = []introspect.Annotation{{Name: "org.freedesktop.DBus.Property.EmitsChangedSignal", Value: how}}
		return pr
	}

	root := introspect.Interface{
		Name:    rootIface,
		Methods: noArgs("Raise", "Quit"),
		Properties: []introspect.Property{
			quietly(p("CanQuit", "b", "read"), "const"),
			quietly(p("CanRaise", "b", "read"), "const"),
			quietly(p("HasTrackList", "b", "read"), "const"),
			quietly(p("Identity", "s", "read"), "const"),
			quietly(p("DesktopEntry", "s", "read"), "const"),
			quietly(p("SupportedUriSchemes", "as", "read"), "const"),
			quietly(p("SupportedMimeTypes", "as", "read"), "const"),
		},
	}
	player := introspect.Interface{
		Name: playerIface,
		Methods: append(noArgs("Next", "Previous", "Pause", "PlayPause", "Stop", "Play"),
			introspect.Method{Name: "Seek", Args: []introspect.Arg{in("Offset", "x")}},
			introspect.Method{Name: "SetPosition", Args: []introspect.Arg{in("TrackId", "o"), in("Position", "x")}},
			introspect.Method{Name: "OpenUri", Args: []introspect.Arg{in("Uri", "s")}},
		),
		Signals: []introspect.Signal{{Name: "Seeked", Args: []introspect.Arg{{Name: "Position", Type: "x"}}}},
		Properties: []introspect.Property{
			p("PlaybackStatus", "s", "read"),
			p("LoopStatus", "s", "readwrite"),
			quietly(p("Rate", "d", "read"), "const"),
			p("Shuffle", "b", "readwrite"),
			p("Metadata", "a{sv}", "read"),
			p("Volume", "d", "readwrite"),
			quietly(p("Position", "x", "read"), "false"),
			quietly(p("MinimumRate", "d", "read"), "const"),
			quietly(p("MaximumRate", "d", "read"), "const"),
			p("CanGoNext", "b", "read"),
			p("CanGoPrevious", "b", "read"),
			p("CanPlay", "b", "read"),
			p("CanPause", "b", "read"),
			p("CanSeek", "b", "read"),
			quietly(p("CanControl", "b", "read"), "false"),
		},
	}
	return introspect.NewIntrospectable(&introspect.Node{
		Name:       string(objectPath),
		Interfaces: []introspect.Interface{prop.IntrospectData, root, player},
	})
}
