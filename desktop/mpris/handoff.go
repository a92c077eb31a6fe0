package mpris

import (
	"context"
	"fmt"

	"github.com/godbus/dbus/v5"
)

// HandOff gives uri (a tandem:// link) to a Tandem player already running
// on the session bus, through its OpenUri, so that a link clicked on the
// desktop opens in the running player rather than in a second one. It
// reports false, with no error, when no player holds the bus name or there
// is no session bus: start normally then. conn nil means the session bus.
func HandOff(ctx context.Context, conn *dbus.Conn, uri string) (bool, error) {
	if conn == nil {
		addr, err := sessionBusAddress()
		if err != nil {
			return false, nil
		}
		c, err := dbus.Connect(addr, dbus.WithContext(ctx))
		if err != nil {
			return false, nil
		}
		defer c.Close()
		conn = c
	}
	name := busNamePrefix + busSuffix
	var owned bool
	if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, name).Store(&owned); err != nil {
		return false, fmt.Errorf("mpris: hand off %s: %w", uri, err)
	}
	if !owned {
		return false, nil
	}
	call := conn.Object(name, objectPath).CallWithContext(ctx, playerIface+".OpenUri", 0, uri)
	if call.Err != nil {
		return false, fmt.Errorf("mpris: hand off %s to the running player: %w", uri, call.Err)
	}
	return true, nil
}
