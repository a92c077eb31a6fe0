package socketio

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestDecodeEncode(t *testing.T) {
	tests := []struct {
		in   string
		want Packet
	}{
		{`0`, Packet{Type: PacketConnect, Namespace: "/"}},
		{`0{"token":"abc"}`, Packet{Type: PacketConnect, Namespace: "/", Data: json.RawMessage(`{"token":"abc"}`)}},
		{`0/admin,{"sid":"x"}`, Packet{Type: PacketConnect, Namespace: "/admin", Data: json.RawMessage(`{"sid":"x"}`)}},
		{`1/admin,`, Packet{Type: PacketDisconnect, Namespace: "/admin"}},
		{`2["hello",1]`, Packet{Type: PacketEvent, Namespace: "/", Data: json.RawMessage(`["hello",1]`)}},
		{`212["hello"]`, Packet{Type: PacketEvent, Namespace: "/", ID: 12, HasID: true, Data: json.RawMessage(`["hello"]`)}},
		{`2/chat,7["x",{"b":1,"a":"<&>"}]`, Packet{Type: PacketEvent, Namespace: "/chat", ID: 7, HasID: true, Data: json.RawMessage(`["x",{"b":1,"a":"<&>"}]`)}},
		{`3/chat,7[]`, Packet{Type: PacketAck, Namespace: "/chat", ID: 7, HasID: true, Data: json.RawMessage(`[]`)}},
		{`4{"message":"unauthorized"}`, Packet{Type: PacketConnectError, Namespace: "/", Data: json.RawMessage(`{"message":"unauthorized"}`)}},
		{`51-["up",{"_placeholder":true,"num":0}]`, Packet{Type: PacketBinaryEvent, Namespace: "/", Attachments: 1, Data: json.RawMessage(`["up",{"_placeholder":true,"num":0}]`)}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Decode([]byte(tt.in))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got.Type != tt.want.Type || got.Namespace != tt.want.Namespace || got.ID != tt.want.ID ||
				got.HasID != tt.want.HasID || got.Attachments != tt.want.Attachments || string(got.Data) != string(tt.want.Data) {
				t.Fatalf("Decode = %+v, want %+v", got, tt.want)
			}
			if enc := string(got.Encode()); enc != tt.in && !(tt.in == `1/admin,` && enc == `1/admin,`) {
				t.Fatalf("Encode = %q, want %q", enc, tt.in)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, in := range []string{
		``, `7`, `x`, `2`, `2{"a":1}`, `2"str"`, `3["no id"]`, `3 5`, `1{"a":1}`, `0[1]`, `2[1`,
		`29007199254740993["too big"]`, `5["no attachments"]`, `5x-[]`,
		`50-["zero attachments"]`, `511-["eleven"]`, `5+1-["sign"]`, `51-`, `61-["no id"]`, `51-{"not":"array"}`,
	} {
		if _, err := Decode([]byte(in)); !errors.Is(err, ErrParse) {
			t.Errorf("Decode(%q) = %v, want ErrParse", in, err)
		}
	}
}

func TestSplitEvent(t *testing.T) {
	name, args, err := splitEvent(json.RawMessage(`["ev", {"b" : 2, "a":"<x>"},3]`))
	if err != nil || name != "ev" || len(args) != 2 {
		t.Fatalf("splitEvent = %q %q %v", name, args, err)
	}
	if got, want := string(args[0]), `{"b" : 2, "a":"<x>"}`; got != want {
		t.Fatalf("arg bytes = %q, want %q (byte for byte)", got, want)
	}
	for _, bad := range []string{`[]`, `[1]`, `[null]`, `{}`} {
		if _, _, err := splitEvent(json.RawMessage(bad)); err == nil {
			t.Errorf("splitEvent(%s) accepted", bad)
		}
	}
}

func TestEncodeArgsNoEscape(t *testing.T) {
	got, _, err := encodeArgs("ev", []any{map[string]string{"a": "<&>"}, json.RawMessage(`{"z":1,"a":2}`)})
	if err != nil {
		t.Fatal(err)
	}
	if want := `["ev",{"a":"<&>"},{"z":1,"a":2}]`; string(got) != want {
		t.Fatalf("encodeArgs = %s, want %s", got, want)
	}
	if _, _, err := encodeArgs("ev", []any{json.RawMessage(`{bad`)}); err == nil {
		t.Fatal("invalid RawMessage accepted")
	}
}

// FuzzDecode has a seed for each packet type in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b)
		if err != nil {
			return
		}
		// A decoded packet re-encodes to something that decodes the same.
		q, err := Decode(p.Encode())
		if err != nil {
			t.Fatalf("re-decode of %q: %v", p.Encode(), err)
		}
		if q.Type != p.Type || q.Namespace != p.Namespace || q.ID != p.ID || q.HasID != p.HasID ||
			q.Attachments != p.Attachments || string(q.Data) != string(p.Data) {
			t.Fatalf("round trip %+v != %+v", q, p)
		}
	})
}
