package protocol

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// A playlist of 10,000 entries is several MB of JSON, and encoding/json's
// reflection makes most of the hub's time in playlist:open. Entries and
// tracks therefore encode themselves, byte for byte as encoding/json would
// with HTML escaping off (TestFastJSONMatchesEncodingJSON).

// AppendJSON appends the ack's JSON to b, in one pass: the Socket.IO
// layer sends it as it is (socketio.JSONAppender).
func (a PlaylistAck) AppendJSON(b []byte) ([]byte, error) {
	head, err := json.Marshal(a.Ack)
	if err != nil {
		return nil, err
	}
	if b == nil {
		b = make([]byte, 0, 256+len(a.Playlist.Entries)*400)
	}
	b = append(b, head[:len(head)-1]...) // without its closing brace
	b = append(b, `,"playlist":`...)
	if b, err = a.Playlist.appendJSON(b); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// MarshalJSON encodes a playlist with its entries.
func (p Playlist) MarshalJSON() ([]byte, error) {
	return p.appendJSON(make([]byte, 0, 256+len(p.Entries)*400))
}

func (p Playlist) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendString(b, p.ID)
	b = append(b, `,"name":`...)
	b = appendString(b, p.Name)
	b = append(b, `,"owner":`...)
	b = appendString(b, p.Owner)
	b = append(b, `,"collaborative":`...)
	b = strconv.AppendBool(b, p.Collaborative)
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, p.Version, 10)
	b = append(b, `,"createdAt":`...)
	var err error
	if b, err = appendTime(b, p.CreatedAt); err != nil {
		return nil, err
	}
	if p.Entries != nil { // empty but not nil: "entries":[] (omitzero)
		b = append(b, `,"entries":[`...)
		for i, e := range p.Entries {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = e.appendJSON(b); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

// MarshalJSON encodes an entry with its track.
func (e Entry) MarshalJSON() ([]byte, error) { return e.appendJSON(make([]byte, 0, 400)) }

func (e Entry) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"trackId":`...)
	b = appendString(b, e.TrackID)
	b = append(b, `,"addedBy":`...)
	b = appendString(b, e.AddedBy)
	b = append(b, `,"addedAt":`...)
	var err error
	if b, err = appendTime(b, e.AddedAt); err != nil {
		return nil, err
	}
	if e.Order != "" {
		b = append(b, `,"order":`...)
		b = appendString(b, e.Order)
	}
	if e.Track != nil {
		b = append(b, `,"track":`...)
		if b, err = e.Track.appendJSON(b); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// MarshalJSON encodes a track.
func (t Track) MarshalJSON() ([]byte, error) { return t.appendJSON(make([]byte, 0, 200)) }

func (t Track) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendString(b, t.ID)
	b = append(b, `,"title":`...)
	b = appendString(b, t.Title)
	b = append(b, `,"artist":`...)
	b = appendString(b, t.Artist)
	if t.Album != "" {
		b = append(b, `,"album":`...)
		b = appendString(b, t.Album)
	}
	b = append(b, `,"duration":`...)
	var err error
	if b, err = appendFloat(b, t.Duration); err != nil {
		return nil, err
	}
	b = append(b, `,"format":`...)
	b = appendString(b, t.Format)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, t.Size, 10)
	if t.Art != "" {
		b = append(b, `,"art":`...)
		b = appendString(b, t.Art)
	}
	return append(b, '}'), nil
}

func appendTime(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		_, err := t.MarshalJSON() // the same error encoding/json gives
		return nil, err
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

// appendFloat formats f as encoding/json does.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, &json.UnsupportedValueError{Str: strconv.FormatFloat(f, 'g', -1, 64)}
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as encoding/json does without HTML escaping:
// invalid UTF-8 becomes U+FFFD, and U+2028 and U+2029 are escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
