// Package socketio implements Socket.IO protocol version 5 on top of
// package engineio: the packet codec, a server with namespaces, middleware,
// rooms and acknowledgements, and a client with reconnection.
//
// Event arguments travel as json.RawMessage: the server passes them through
// byte for byte, with no HTML escaping and no re-ordering of keys.
//
// This first cut does not yet carry binary attachments (BINARY_EVENT and
// BINARY_ACK are refused), connection state recovery or custom adapters;
// docs/PROTOCOL.md lists what is missing.
package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// PacketType is the type of a Socket.IO packet.
type PacketType byte

// Packet types of Socket.IO v5.
const (
	PacketConnect PacketType = iota
	PacketDisconnect
	PacketEvent
	PacketAck
	PacketConnectError
	PacketBinaryEvent
	PacketBinaryAck
)

func (t PacketType) String() string {
	switch t {
	case PacketConnect:
		return "CONNECT"
	case PacketDisconnect:
		return "DISCONNECT"
	case PacketEvent:
		return "EVENT"
	case PacketAck:
		return "ACK"
	case PacketConnectError:
		return "CONNECT_ERROR"
	case PacketBinaryEvent:
		return "BINARY_EVENT"
	case PacketBinaryAck:
		return "BINARY_ACK"
	}
	return "PacketType(" + strconv.Itoa(int(t)) + ")"
}

// Packet is one decoded Socket.IO packet.
type Packet struct {
	Type        PacketType
	Namespace   string // "/" when absent on the wire
	ID          uint64 // ack id, meaningful when HasID
	HasID       bool
	Attachments int // binary packets only
	Data        json.RawMessage
}

// ErrParse is wrapped by every decoding error.
var ErrParse = errors.New("socketio: malformed packet")

// maxAckID bounds ack ids, as the reference parser does (a JS safe integer).
const maxAckID = 1<<53 - 1

// Decode parses a text packet. It checks the framing and that Data is
// valid JSON of the kind the packet type requires.
func Decode(b []byte) (Packet, error) {
	var p Packet
	if len(b) == 0 {
		return p, fmt.Errorf("%w: empty", ErrParse)
	}
	if b[0] < '0' || b[0] > '6' {
		return p, fmt.Errorf("%w: unknown type %q", ErrParse, b[0])
	}
	p.Type = PacketType(b[0] - '0')
	i := 1
	if p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck {
		j := bytes.IndexByte(b[i:], '-')
		if j <= 0 {
			return p, fmt.Errorf("%w: binary packet without attachment count", ErrParse)
		}
		n, err := strconv.Atoi(string(b[i : i+j]))
		if err != nil || n < 0 {
			return p, fmt.Errorf("%w: bad attachment count", ErrParse)
		}
		p.Attachments = n
		i += j + 1
	}
	p.Namespace = "/"
	if i < len(b) && b[i] == '/' {
		j := bytes.IndexByte(b[i:], ',')
		if j < 0 {
			p.Namespace = string(b[i:])
			i = len(b)
		} else {
			p.Namespace = string(b[i : i+j])
			i += j + 1
		}
	}
	start := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i > start {
		id, err := strconv.ParseUint(string(b[start:i]), 10, 64)
		if err != nil || id > maxAckID {
			return p, fmt.Errorf("%w: invalid ack id", ErrParse)
		}
		p.ID, p.HasID = id, true
	}
	if i < len(b) {
		p.Data = json.RawMessage(b[i:])
		if !json.Valid(p.Data) {
			return p, fmt.Errorf("%w: invalid JSON payload", ErrParse)
		}
	}
	return p, p.validate()
}

func (p Packet) validate() error {
	kind := jsonKind(p.Data)
	switch p.Type {
	case PacketConnect:
		if kind != 0 && kind != '{' {
			return fmt.Errorf("%w: CONNECT payload must be an object", ErrParse)
		}
		if p.HasID {
			return fmt.Errorf("%w: CONNECT with an ack id", ErrParse)
		}
	case PacketDisconnect:
		if kind != 0 || p.HasID {
			return fmt.Errorf("%w: DISCONNECT carries no payload", ErrParse)
		}
	case PacketConnectError:
		if kind != '{' && kind != '"' {
			return fmt.Errorf("%w: CONNECT_ERROR payload must be an object", ErrParse)
		}
	case PacketEvent, PacketBinaryEvent:
		if kind != '[' {
			return fmt.Errorf("%w: EVENT payload must be an array", ErrParse)
		}
	case PacketAck, PacketBinaryAck:
		if kind != '[' {
			return fmt.Errorf("%w: ACK payload must be an array", ErrParse)
		}
		if !p.HasID {
			return fmt.Errorf("%w: ACK without an id", ErrParse)
		}
	}
	return nil
}

// jsonKind returns the first non-space byte of a JSON value, or 0 if empty.
func jsonKind(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}

// Encode returns the text form of p.
func (p Packet) Encode() []byte {
	b := make([]byte, 0, 16+len(p.Namespace)+len(p.Data))
	b = append(b, byte('0'+p.Type))
	if p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck {
		b = strconv.AppendInt(b, int64(p.Attachments), 10)
		b = append(b, '-')
	}
	if p.Namespace != "" && p.Namespace != "/" {
		b = append(b, p.Namespace...)
		b = append(b, ',')
	}
	if p.HasID {
		b = strconv.AppendUint(b, p.ID, 10)
	}
	return append(b, p.Data...)
}

// reservedEvents may not be emitted by peers.
func reservedEvent(name string) bool {
	switch name {
	case "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener":
		return true
	}
	return false
}

// splitEvent splits an EVENT payload into its name and arguments. The
// arguments are sub-slices of data, byte for byte.
func splitEvent(data json.RawMessage) (string, []json.RawMessage, error) {
	var arr []json.RawMessage
	if err := json.Unmarshal(data, &arr); err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrParse, err)
	}
	if len(arr) == 0 {
		return "", nil, fmt.Errorf("%w: EVENT without a name", ErrParse)
	}
	var name string
	if jsonKind(arr[0]) != '"' {
		return "", nil, fmt.Errorf("%w: event name must be a string", ErrParse)
	}
	if err := json.Unmarshal(arr[0], &name); err != nil {
		return "", nil, fmt.Errorf("%w: event name: %v", ErrParse, err)
	}
	return name, arr[1:], nil
}

// encodeArgs encodes a JSON array of name (when not empty) and args.
// json.RawMessage and []byte-free values pass through unchanged; other
// values are marshalled without HTML escaping.
func encodeArgs(name string, args []any) (json.RawMessage, error) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	first := true
	if name != "" {
		b, err := marshal(name)
		if err != nil {
			return nil, err
		}
		buf.Write(b)
		first = false
	}
	for i, a := range args {
		if !first {
			buf.WriteByte(',')
		}
		first = false
		b, err := marshal(a)
		if err != nil {
			return nil, fmt.Errorf("socketio: argument %d: %w", i, err)
		}
		buf.Write(b)
	}
	buf.WriteByte(']')
	return buf.Bytes(), nil
}

func marshal(v any) ([]byte, error) {
	if raw, ok := v.(json.RawMessage); ok {
		if !json.Valid(raw) {
			return nil, errors.New("invalid json.RawMessage")
		}
		return raw, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
