//go:build !linux

package engineio

import (
	"errors"
	"log/slog"
	"time"
)

// Elsewhere than on Linux a goroutine reads each WebSocket.

const pollSupported = false

type poller struct{}

func newPoller(*slog.Logger, int) (*poller, error) {
	return nil, errors.New("engineio: no readiness loop on this system")
}

func (*poller) watch(*Conn, *serverWS, int64, bool, time.Duration) error {
	return errors.New("engineio: no readiness loop on this system")
}

func (*poller) close() {}
