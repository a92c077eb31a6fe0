package engineio

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// The server's own reader of WebSocket frames (RFC 6455, section 5), used
// when reads are driven by the readiness loop (see poll_linux.go) rather
// than by a goroutine per connection. It parses whatever bytes have arrived
// and keeps no buffer of its own between calls: the caller keeps the bytes
// of an incomplete frame, usually none. No extension is negotiated, so the
// RSV bits must be zero and messages are never compressed.

// WebSocket opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// WebSocket close status codes (RFC 6455, section 7.4.1).
const (
	closeNormal          = 1000
	closeGoingAway       = 1001
	closeProtocolError   = 1002
	closePolicyViolation = 1008
	closeNoStatus        = 1005 // never sent: stands for a close frame without a code
	closeInvalidPayload  = 1007
	closeMessageTooBig   = 1009
	maxControlPayload    = 125
	maxFrameHeader       = 14 // 2 + 8 bytes of length + 4 of mask key
	minClientFrameHeader = 6  // 2 + 4 of mask key
)

// wsError is a violation of the protocol by the peer, with the close code
// that the server answers it with.
type wsError struct {
	code int
	msg  string
}

func (e *wsError) Error() string { return fmt.Sprintf("websocket: %s (close %d)", e.msg, e.code) }

func protocolError(format string, args ...any) *wsError {
	return &wsError{code: closeProtocolError, msg: fmt.Sprintf(format, args...)}
}

// wsFrameHandler receives what wsFrames parses. Each method reports whether
// parsing should go on; false stops it (the connection is closing).
type wsFrameHandler interface {
	// wsMessage receives a complete data message; data belongs to the
	// handler, which may keep it.
	wsMessage(binary bool, data []byte) bool
	// wsPing receives a ping's payload, valid only during the call.
	wsPing(payload []byte) bool
	// wsClose receives the peer's valid close frame: its code
	// (closeNoStatus when it had none) and reason, valid only during the
	// call. Parsing always stops after it.
	wsClose(code int, reason []byte)
}

// wsFrames is the parsing state of one connection's incoming frames: the
// message being assembled from fragments, if any.
type wsFrames struct {
	limit int64  // the most bytes one message may hold
	msg   []byte // the fragments received so far of a fragmented message
	msgOp byte   // opText or opBinary while a fragmented message is open; 0 otherwise
}

// frameHeader is a parsed frame header.
type frameHeader struct {
	fin    bool
	op     byte
	key    [4]byte
	length int64 // payload bytes
	size   int   // header bytes
}

// parseHeader parses the frame header at the start of b. ok is false when
// b does not hold the whole header yet.
func parseHeader(b []byte) (h frameHeader, ok bool, err *wsError) {
	if len(b) < 2 {
		return h, false, nil
	}
	b0, b1 := b[0], b[1]
	h.fin = b0&0x80 != 0
	h.op = b0 & 0x0F
	if b0&0x70 != 0 {
		return h, false, protocolError("reserved bits set without an extension")
	}
	if b1&0x80 == 0 {
		return h, false, protocolError("unmasked client frame")
	}
	n := 2
	switch l := b1 & 0x7F; l {
	case 126:
		if len(b) < n+2 {
			return h, false, nil
		}
		h.length = int64(binary.BigEndian.Uint16(b[n:]))
		n += 2
	case 127:
		if len(b) < n+8 {
			return h, false, nil
		}
		u := binary.BigEndian.Uint64(b[n:])
		if u>>63 != 0 {
			return h, false, protocolError("payload length has its top bit set")
		}
		h.length = int64(u)
		n += 8
	default:
		h.length = int64(l)
	}
	if len(b) < n+4 {
		return h, false, nil
	}
	copy(h.key[:], b[n:n+4])
	h.size = n + 4
	return h, true, nil
}

// feed parses the complete frames at the start of b, unmasking their
// payloads in place, and hands them to h. It returns how many bytes it
// consumed and, when an incomplete frame follows whose header is complete,
// how many bytes that frame takes in all (need), so that the caller can
// size its buffer; need is 0 when the header itself is incomplete. A
// protocol violation returns a *wsError; parsing also stops, with no
// error, when h says so.
func (f *wsFrames) feed(b []byte, h wsFrameHandler) (consumed, need int, err *wsError) {
	for {
		rest := b[consumed:]
		fh, ok, err := parseHeader(rest)
		if err != nil {
			return consumed, 0, err
		}
		if !ok {
			return consumed, 0, nil
		}
		if err := f.check(fh); err != nil {
			return consumed, 0, err
		}
		total := int64(fh.size) + fh.length
		if int64(len(rest)) < total {
			return consumed, int(total), nil
		}
		payload := rest[fh.size:total]
		unmask(fh.key, payload)
		consumed += int(total)
		more, err := f.frame(fh, payload, h)
		if err != nil || !more {
			return consumed, 0, err
		}
	}
}

// check validates a frame header against the protocol and the state.
func (f *wsFrames) check(fh frameHeader) *wsError {
	switch fh.op {
	case opClose, opPing, opPong:
		if !fh.fin {
			return protocolError("fragmented control frame")
		}
		if fh.length > maxControlPayload {
			return protocolError("control frame of %d bytes", fh.length)
		}
		return nil
	case opContinuation:
		if f.msgOp == 0 {
			return protocolError("continuation frame without a message")
		}
	case opText, opBinary:
		if f.msgOp != 0 {
			return protocolError("new message inside a fragmented one")
		}
	default:
		return protocolError("reserved opcode %#x", fh.op)
	}
	if int64(len(f.msg))+fh.length > f.limit {
		return &wsError{code: closeMessageTooBig, msg: fmt.Sprintf("message over %d bytes", f.limit)}
	}
	return nil
}

// frame handles one complete, unmasked frame and reports whether parsing
// goes on.
func (f *wsFrames) frame(fh frameHeader, payload []byte, h wsFrameHandler) (bool, *wsError) {
	switch fh.op {
	case opPing:
		return h.wsPing(payload), nil
	case opPong:
		return true, nil
	case opClose:
		code, reason, err := parseClose(payload)
		if err != nil {
			return false, err
		}
		h.wsClose(code, reason)
		return false, nil
	case opText, opBinary:
		if fh.fin {
			return f.deliver(fh.op, append([]byte(nil), payload...), h)
		}
		f.msgOp = fh.op
		f.msg = append(make([]byte, 0, len(payload)), payload...)
		return true, nil
	default: // continuation
		f.msg = append(f.msg, payload...)
		if !fh.fin {
			return true, nil
		}
		op, msg := f.msgOp, f.msg
		f.msgOp, f.msg = 0, nil
		return f.deliver(op, msg, h)
	}
}

// deliver hands over a complete message, once text is checked to be UTF-8.
func (f *wsFrames) deliver(op byte, data []byte, h wsFrameHandler) (bool, *wsError) {
	if op == opText && !utf8.Valid(data) {
		return false, &wsError{code: closeInvalidPayload, msg: "text message is not UTF-8"}
	}
	return h.wsMessage(op == opBinary, data), nil
}

// parseClose validates a close frame's payload (RFC 6455, 5.5.1 and 7.4).
// An invalid one returns the close code the server answers with.
func parseClose(p []byte) (code int, reason []byte, err *wsError) {
	switch {
	case len(p) == 0:
		return closeNoStatus, nil, nil
	case len(p) == 1:
		return 0, nil, protocolError("close frame of one byte")
	}
	code = int(binary.BigEndian.Uint16(p))
	if !validCloseCode(code) {
		return 0, nil, protocolError("close code %d", code)
	}
	if !utf8.Valid(p[2:]) {
		return 0, nil, &wsError{code: closeInvalidPayload, msg: "close reason is not UTF-8"}
	}
	return code, p[2:], nil
}

// validCloseCode reports whether a peer may send code in a close frame.
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// unmask applies a client frame's masking key to its payload, in place,
// eight bytes at a time.
func unmask(key [4]byte, b []byte) {
	k32 := binary.LittleEndian.Uint32(key[:])
	k64 := uint64(k32) | uint64(k32)<<32
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= key[i&3]
	}
}
