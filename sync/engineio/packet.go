// Package engineio implements Engine.IO protocol version 4, the transport
// under Socket.IO v5: a server (an http.Handler) and a client, over HTTP
// long-polling and WebSocket, with the upgrade from one to the other.
//
// A connection is a Conn. Its messages reach the handler one at a time, in
// arrival order. On the server, on Linux, one readiness loop (epoll) reads
// every WebSocket and a bounded pool of workers parses the frames
// (wsframe.go) and hands the messages over; elsewhere, and with
// Options.GoroutineReads, a goroutine per connection reads it. The server
// speaks RFC 6455 itself (ws.go); the client uses gorilla/websocket. What
// a Conn sends is queued, and a writer goroutine that lives only while the
// queue is not empty writes it, all at once; the heartbeat runs on a
// timer. So an idle server connection holds no goroutine and no buffer.
// Send never blocks: a peer too slow to drain its queue is disconnected.
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
