// Package engineio implements Engine.IO protocol version 4, the transport
// under Socket.IO v5: a server (an http.Handler) and a client. This first cut
// speaks the WebSocket transport only; the long-polling transport and the
// upgrade come next (docs/PROTOCOL.md lists what is missing).
//
// A connection is a Conn. Each Conn has exactly two goroutines: a reader,
// the only one that reads the socket and the only one that calls the
// message handler, and a writer, the only one that writes to the socket and
// that sends (server) or answers (client) heartbeats. Send never blocks: a
// peer too slow to drain its queue is disconnected.
package engineio

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Protocol is the Engine.IO protocol revision this package speaks.
const Protocol = "4"

// Packet types of Engine.IO v4, as the first byte of a text frame.
const (
	typeOpen    = '0'
	typeClose   = '1'
	typePing    = '2'
	typePong    = '3'
	typeMessage = '4'
	typeUpgrade = '5'
	typeNoop    = '6'
)

// Defaults, as in the reference server.
const (
	DefaultPingInterval = 25 * time.Second
	DefaultPingTimeout  = 20 * time.Second
	DefaultMaxPayload   = 1_000_000 // bytes
	defaultSendQueue    = 1024      // packets
	writeWait           = 10 * time.Second
)

// Close reasons passed to a Conn's close handler.
const (
	ReasonServerClose     = "server shutting down"
	ReasonForcedClose     = "forced close"
	ReasonTransportClose  = "transport close"
	ReasonTransportError  = "transport error"
	ReasonPingTimeout     = "ping timeout"
	ReasonSlowPeer        = "send queue full"
	ReasonParseError      = "parse error"
	ReasonOverlap         = "overlapping polling requests"
	ReasonPayloadTooLarge = "payload too large"
)

// ErrClosed is returned by Send on a closed connection.
var ErrClosed = errors.New("engineio: connection closed")

// handshake is the payload of the open packet.
type handshake struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"` // milliseconds
	PingTimeout  int64    `json:"pingTimeout"`  // milliseconds
	MaxPayload   int64    `json:"maxPayload"`   // bytes
}

func encodeOpen(h handshake) []byte {
	b, _ := json.Marshal(h) // cannot fail: fixed struct of strings and numbers
	return append([]byte{typeOpen}, b...)
}

func decodeOpen(frame []byte) (handshake, error) {
	var h handshake
	if len(frame) == 0 || frame[0] != typeOpen {
		return h, fmt.Errorf("engineio: expected open packet, got %q", truncate(frame))
	}
	if err := json.Unmarshal(frame[1:], &h); err != nil {
		return h, fmt.Errorf("engineio: decode open packet: %w", err)
	}
	if h.SID == "" || h.PingInterval <= 0 || h.PingTimeout <= 0 {
		return h, fmt.Errorf("engineio: open packet lacks sid or heartbeat: %q", truncate(frame))
	}
	return h, nil
}

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "…"
	}
	return string(b)
}

// Error codes of the Engine.IO handshake error body {"code","message"}.
const (
	codeTransportUnknown   = 0
	codeUnknownSID         = 1
	codeBadHandshakeMethod = 2
	codeBadRequest         = 3
	codeForbidden          = 4
	codeUnsupportedVersion = 5
)

func errorMessage(code int) string {
	switch code {
	case codeTransportUnknown:
		return "Transport unknown"
	case codeUnknownSID:
		return "Session ID unknown"
	case codeBadHandshakeMethod:
		return "Bad handshake method"
	case codeForbidden:
		return "Forbidden"
	case codeUnsupportedVersion:
		return "Unsupported protocol version"
	default:
		return "Bad request"
	}
}
