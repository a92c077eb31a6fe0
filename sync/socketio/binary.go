package socketio

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Bytes is binary data inside an argument. Marshalled, it becomes an
// inline placeholder {"_placeholder":true,"data":"<base64>"}, which Emit,
// EmitWithAck and AckFunc send as a binary attachment; unmarshalled, it
// accepts an inline placeholder (what handlers receive for an attachment)
// or a base64 string. A top-level []byte argument needs no wrapping.
type Bytes []byte

// MarshalJSON implements json.Marshaler.
func (b Bytes) MarshalJSON() ([]byte, error) {
	out := make([]byte, 0, 34+base64.StdEncoding.EncodedLen(len(b)))
	out = append(out, `{"_placeholder":true,"data":"`...)
	out = base64.StdEncoding.AppendEncode(out, b)
	return append(out, `"}`...), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (b *Bytes) UnmarshalJSON(data []byte) error {
	switch jsonKind(data) {
	case '"':
		var v []byte
		if err := json.Unmarshal(data, &v); err != nil {
			return err
		}
		*b = v
		return nil
	case '{':
		v, ok := Binary(data)
		if !ok {
			return errors.New("socketio: Bytes: object is not an attachment")
		}
		*b = v
		return nil
	}
	return errors.New("socketio: Bytes: want an attachment or a base64 string")
}

// Binary returns the bytes of an argument that is a received binary
// attachment (an inline placeholder with its data), and false for any
// other value.
func Binary(arg json.RawMessage) ([]byte, bool) {
	if jsonKind(arg) != '{' || !bytes.Contains(arg, []byte(`"_placeholder"`)) {
		return nil, false
	}
	var v struct {
		Placeholder bool    `json:"_placeholder"`
		Data        *[]byte `json:"data"`
	}
	if err := json.Unmarshal(arg, &v); err != nil || !v.Placeholder || v.Data == nil {
		return nil, false
	}
	return *v.Data, true
}

// placeholder holds the raw values of an object whose "_placeholder"
// member is true.
type placeholder struct {
	num  []byte // nil when absent
	data []byte // nil when absent
}

// resolveAttachments turns the wire placeholders of a received binary
// packet's data into inline placeholders that carry their attachment.
// Every placeholder must name an attachment that exists.
func resolveAttachments(data []byte, bins [][]byte) ([]byte, error) {
	return rewritePlaceholders(data, func(ph placeholder) ([]byte, error) {
		n, ok := placeholderNum(ph.num)
		if !ok || n >= len(bins) {
			return nil, fmt.Errorf("%w: placeholder refers to no attachment", ErrParse)
		}
		out := make([]byte, 0, 48+base64.StdEncoding.EncodedLen(len(bins[n])))
		out = append(out, `{"_placeholder":true,"num":`...)
		out = strconv.AppendInt(out, int64(n), 10)
		out = append(out, `,"data":"`...)
		out = base64.StdEncoding.AppendEncode(out, bins[n])
		return append(out, `"}`...), nil
	})
}

// extractAttachments turns the inline placeholders of outgoing data into
// wire placeholders, appending their bytes to bins. Placeholders without
// data are left as they are.
func extractAttachments(data []byte, bins [][]byte) ([]byte, [][]byte, error) {
	out, err := rewritePlaceholders(data, func(ph placeholder) ([]byte, error) {
		if ph.data == nil {
			return nil, nil
		}
		var b []byte
		if jsonKind(ph.data) != '"' || json.Unmarshal(ph.data, &b) != nil {
			return nil, errors.New("socketio: inline attachment data is not base64")
		}
		if b == nil {
			b = []byte{}
		}
		bins = append(bins, b)
		return fmt.Appendf(nil, `{"_placeholder":true,"num":%d}`, len(bins)-1), nil
	})
	return out, bins, err
}

// placeholderNum parses a placeholder's num: a non-negative integral JSON
// number.
func placeholderNum(raw []byte) (int, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f < 0 || f > MaxAttachments || f != math.Trunc(f) {
		return 0, false
	}
	return int(f), true
}

var errSyntax = fmt.Errorf("%w: invalid JSON", ErrParse)

// rewritePlaceholders copies the JSON value src, replacing each object
// whose "_placeholder" member is true with what fn returns for it (nil
// keeps the object). Everything else is copied byte for byte. It reads src
// once; nested objects are rewritten before the objects around them.
func rewritePlaceholders(src []byte, fn func(placeholder) ([]byte, error)) ([]byte, error) {
	r := rewriter{src: src, out: make([]byte, 0, len(src)), fn: fn}
	if err := r.value(0); err != nil {
		return nil, err
	}
	r.space()
	if r.i != len(r.src) {
		return nil, errSyntax
	}
	return r.out, nil
}

type rewriter struct {
	src   []byte
	i     int
	out   []byte
	fn    func(placeholder) ([]byte, error)
	depth int
}

// maxDepth bounds nesting, as encoding/json does.
const maxDepth = 10000

func (r *rewriter) space() {
	for r.i < len(r.src) {
		switch r.src[r.i] {
		case ' ', '\t', '\n', '\r':
			r.out = append(r.out, r.src[r.i])
			r.i++
		default:
			return
		}
	}
}

func (r *rewriter) value(depth int) error {
	r.space()
	if r.i >= len(r.src) {
		return errSyntax
	}
	switch r.src[r.i] {
	case '{':
		return r.object(depth + 1)
	case '[':
		return r.array(depth + 1)
	case '"':
		end, err := stringEnd(r.src, r.i)
		if err != nil {
			return err
		}
		r.out = append(r.out, r.src[r.i:end]...)
		r.i = end
		return nil
	}
	start := r.i
	for r.i < len(r.src) {
		c := r.src[r.i]
		if c == ',' || c == ']' || c == '}' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '"' || c == '[' || c == '{' {
			break
		}
		r.i++
	}
	if r.i == start {
		return errSyntax
	}
	r.out = append(r.out, r.src[start:r.i]...)
	return nil
}

func (r *rewriter) array(depth int) error {
	if depth > maxDepth {
		return errSyntax
	}
	r.out = append(r.out, '[')
	r.i++
	r.space()
	if r.i < len(r.src) && r.src[r.i] == ']' {
		r.out = append(r.out, ']')
		r.i++
		return nil
	}
	for {
		if err := r.value(depth); err != nil {
			return err
		}
		r.space()
		if r.i >= len(r.src) {
			return errSyntax
		}
		switch r.src[r.i] {
		case ',':
			r.out = append(r.out, ',')
			r.i++
		case ']':
			r.out = append(r.out, ']')
			r.i++
			return nil
		default:
			return errSyntax
		}
	}
}

func (r *rewriter) object(depth int) error {
	if depth > maxDepth {
		return errSyntax
	}
	start := len(r.out)
	r.out = append(r.out, '{')
	r.i++
	r.space()
	if r.i < len(r.src) && r.src[r.i] == '}' {
		r.out = append(r.out, '}')
		r.i++
		return nil
	}
	var ph placeholder
	isPH := false
	for {
		r.space()
		if r.i >= len(r.src) || r.src[r.i] != '"' {
			return errSyntax
		}
		kEnd, err := stringEnd(r.src, r.i)
		if err != nil {
			return err
		}
		key := r.src[r.i:kEnd]
		r.out = append(r.out, key...)
		r.i = kEnd
		r.space()
		if r.i >= len(r.src) || r.src[r.i] != ':' {
			return errSyntax
		}
		r.out = append(r.out, ':')
		r.i++
		r.space()
		vStart := len(r.out)
		if err := r.value(depth); err != nil {
			return err
		}
		v := r.out[vStart:len(r.out):len(r.out)]
		switch keyName(key) {
		case "_placeholder":
			isPH = string(v) == "true"
		case "num":
			ph.num = v
		case "data":
			ph.data = v
		}
		r.space()
		if r.i >= len(r.src) {
			return errSyntax
		}
		if r.src[r.i] == ',' {
			r.out = append(r.out, ',')
			r.i++
			continue
		}
		if r.src[r.i] != '}' {
			return errSyntax
		}
		r.out = append(r.out, '}')
		r.i++
		break
	}
	if !isPH {
		return nil
	}
	rep, err := r.fn(ph)
	if err != nil {
		return err
	}
	if rep != nil {
		r.out = append(r.out[:start], rep...)
	}
	return nil
}

// stringEnd returns the index just past the JSON string starting at i.
func stringEnd(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errSyntax
}

// keyName returns an object key's text.
func keyName(quoted []byte) string {
	if !bytes.ContainsRune(quoted, '\\') {
		return string(quoted[1 : len(quoted)-1])
	}
	var s string
	_ = json.Unmarshal(quoted, &s)
	return s
}

// reassembler turns a connection's Engine.IO messages into packets: a
// binary packet's text message announces its attachments, which arrive as
// the next binary messages. It is used by one goroutine at a time.
type reassembler struct {
	pending *Packet  // the binary packet waiting for its attachments
	bins    [][]byte // the attachments received so far
}

// add takes one message. It returns a packet when one is complete, with
// the placeholders of a binary packet resolved (see resolveAttachments).
// Any error means the peer broke the protocol: drop the connection.
func (r *reassembler) add(data []byte, binary bool) (Packet, bool, error) {
	if binary {
		if r.pending == nil {
			return Packet{}, false, fmt.Errorf("%w: binary message with no packet waiting for it", ErrParse)
		}
		r.bins = append(r.bins, data)
		if len(r.bins) < r.pending.Attachments {
			return Packet{}, false, nil
		}
		p, bins := *r.pending, r.bins
		r.pending, r.bins = nil, nil
		resolved, err := resolveAttachments(p.Data, bins)
		if err != nil {
			return Packet{}, false, err
		}
		p.Data = resolved
		return p, true, nil
	}
	if r.pending != nil {
		return Packet{}, false, fmt.Errorf("%w: text message while %d attachments are pending", ErrParse, r.pending.Attachments-len(r.bins))
	}
	p, err := Decode(data)
	if err != nil {
		return Packet{}, false, err
	}
	if p.Type.binary() {
		r.pending = &p
		return Packet{}, false, nil
	}
	return p, true, nil
}
