// Package socketio implements Socket.IO protocol version 5 on top of
// package engineio: the packet codec with binary attachments, a server with
// namespaces (static and dynamic), middleware, rooms, broadcasts, acks,
// connection state recovery and a pluggable Adapter, and a client with
// reconnection, recovery and a bounded buffer of emits made while
// disconnected.
//
// # Arguments
//
// Event and ack arguments travel as json.RawMessage: the server passes them
// through byte for byte, with no HTML escaping and no re-ordering of keys.
//
// # Binary attachments
//
// A []byte argument of Emit, EmitWithAck or an AckFunc, and a Bytes value
// anywhere inside an argument, is sent as a binary attachment
// (BINARY_EVENT or BINARY_ACK with a {"_placeholder":true,"num":N} in its
// place), at most MaxAttachments per packet. A received attachment reaches
// handlers as an inline placeholder that carries its bytes,
//
//	{"_placeholder":true,"num":0,"data":"<base64>"}
//
// which Binary decodes, which unmarshals into a Bytes, and which is sent as
// a binary attachment again when the argument is emitted again, so relaying
// arguments keeps binaries binary. Arguments without attachments are not
// touched.
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

// String returns the type's name in the protocol's spelling, such as
// "BINARY_EVENT".
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

// binary reports whether packets of type t carry attachments.
func (t PacketType) binary() bool { return t == PacketBinaryEvent || t == PacketBinaryAck }

// Packet is one decoded Socket.IO packet.
type Packet struct {
	Type        PacketType
	Namespace   string // "/" when absent on the wire
	ID          uint64 // ack id, meaningful when HasID
	HasID       bool
	Attachments int // binary packets only: how many binary messages follow
	Data        json.RawMessage
}

// ErrParse is wrapped by every decoding error.
var ErrParse = errors.New("socketio: malformed packet")

// MaxAttachments is the most binary attachments one packet may carry, as in
// the reference parser. A peer that announces more is disconnected.
const MaxAttachments = 10

// maxAckID bounds ack ids, as the reference parser does (a JS safe integer).
const maxAckID = 1<<53 - 1

// Decode parses a text packet. It checks the framing and that Data is
// valid JSON of the kind the packet type requires. Binary packets are
// returned with their placeholders; see the reassembly in binary.go.
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
	if p.Type.binary() {
		j := bytes.IndexByte(b[i:], '-')
		if j <= 0 || j > 3 {
			return p, fmt.Errorf("%w: binary packet without attachment count", ErrParse)
		}
		n := 0
		for _, c := range b[i : i+j] {
			if c < '0' || c > '9' {
				return p, fmt.Errorf("%w: bad attachment count", ErrParse)
			}
			n = n*10 + int(c-'0')
		}
		if n < 1 || n > MaxAttachments {
			return p, fmt.Errorf("%w: %d attachments (1 to %d allowed)", ErrParse, n, MaxAttachments)
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
	if p.Type.binary() {
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

// reservedEvent reports names that peers may not emit.
func reservedEvent(name string) bool {
	switch name {
	case "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener":
		return true
	}
	return false
}

// splitEvent splits an EVENT payload into its name and arguments. The
// arguments are the sent bytes, copied.
func splitEvent(data json.RawMessage) (string, []json.RawMessage, error) {
	arr, err := splitArray(data)
	if err != nil {
		return "", nil, err
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

// splitArray splits a JSON array into its elements, byte for byte.
func splitArray(data json.RawMessage) ([]json.RawMessage, error) {
	var arr []json.RawMessage
	if err := json.Unmarshal(data, &arr); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrParse, err)
	}
	return arr, nil
}

// encodeArgs encodes a JSON array of name (when not empty) and args, and
// the binary attachments it refers to. json.RawMessage values pass through
// unchanged, []byte values become attachments, other values are marshalled
// without HTML escaping; then inline placeholders (see Bytes) anywhere in
// the array become attachments.
func encodeArgs(name string, args []any) (json.RawMessage, [][]byte, error) {
	var buf bytes.Buffer
	var bins [][]byte
	buf.WriteByte('[')
	first := true
	if name != "" {
		b, err := marshal(name)
		if err != nil {
			return nil, nil, err
		}
		buf.Write(b)
		first = false
	}
	for i, a := range args {
		if !first {
			buf.WriteByte(',')
		}
		first = false
		if bin, ok := a.([]byte); ok {
			buf.WriteString(`{"_placeholder":true,"num":`)
			buf.WriteString(strconv.Itoa(len(bins)))
			buf.WriteByte('}')
			bins = append(bins, bin)
			continue
		}
		b, err := marshal(a)
		if err != nil {
			return nil, nil, fmt.Errorf("socketio: argument %d: %w", i, err)
		}
		buf.Write(b)
	}
	buf.WriteByte(']')
	data := buf.Bytes()
	if bytes.Contains(data, []byte(`"_placeholder"`)) {
		var err error
		if data, bins, err = extractAttachments(data, bins); err != nil {
			return nil, nil, err
		}
	}
	if len(bins) > MaxAttachments {
		return nil, nil, fmt.Errorf("socketio: %d binary attachments, at most %d allowed", len(bins), MaxAttachments)
	}
	return data, bins, nil
}

// JSONAppender is a value that encodes itself: AppendJSON appends its
// JSON to b. The Socket.IO layer sends what it appends as it is, without
// the validation and compaction that encoding/json gives the output of a
// json.Marshaler, so it must be valid, compact JSON. Large payloads
// implement it to be encoded in one pass.
type JSONAppender interface {
	AppendJSON(b []byte) ([]byte, error)
}

func marshal(v any) ([]byte, error) {
	if a, ok := v.(JSONAppender); ok {
		return a.AppendJSON(nil)
	}
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

// EncodedPacket is a packet in wire form: a text message and the binary
// attachments that follow it. A broadcast is encoded once and the same
// EncodedPacket goes to every recipient; it must not be modified.
type EncodedPacket struct {
	Text        []byte   // the Socket.IO packet, without the Engine.IO message type
	Attachments [][]byte // sent as binary messages right after Text, in order
}

// encodePacket encodes an EVENT or ACK with its args, turning it into its
// binary variant when there are attachments.
func encodePacket(t PacketType, nsp string, id uint64, hasID bool, name string, args []any) (EncodedPacket, error) {
	data, bins, err := encodeArgs(name, args)
	if err != nil {
		return EncodedPacket{}, err
	}
	p := Packet{Type: t, Namespace: nsp, ID: id, HasID: hasID, Data: data}
	if len(bins) > 0 {
		p.Attachments = len(bins)
		if t == PacketEvent {
			p.Type = PacketBinaryEvent
		} else {
			p.Type = PacketBinaryAck
		}
	}
	return EncodedPacket{Text: p.Encode(), Attachments: bins}, nil
}

// WithOffset returns a copy of an EVENT or BINARY_EVENT packet with offset
// appended as the event's last argument, the way connection state recovery
// marks broadcasts. It returns p unchanged if p is not an event.
func (p EncodedPacket) WithOffset(offset string) EncodedPacket {
	n := len(p.Text)
	if n < 2 || p.Text[n-1] != ']' || (p.Text[0] != '0'+byte(PacketEvent) && p.Text[0] != '0'+byte(PacketBinaryEvent)) {
		return p
	}
	o, _ := marshal(offset) // cannot fail: a string
	text := make([]byte, 0, n+len(o)+1)
	text = append(text, p.Text[:n-1]...)
	text = append(text, ',')
	text = append(text, o...)
	text = append(text, ']')
	return EncodedPacket{Text: text, Attachments: p.Attachments}
}

// frames returns the number of Engine.IO messages p takes.
func (p EncodedPacket) frames() int { return 1 + len(p.Attachments) }
