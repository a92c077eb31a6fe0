package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestEncodeBinary(t *testing.T) {
	type file struct {
		Name string `json:"name"`
		Body Bytes  `json:"body"`
	}
	tests := []struct {
		name string
		args []any
		text string
		bins [][]byte
	}{
		{"no binary", []any{1, "a"}, `2["ev",1,"a"]`, nil},
		{"top-level bytes", []any{[]byte{1, 2, 3}, []byte{4}}, `52-["ev",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, [][]byte{{1, 2, 3}, {4}}},
		{"empty bytes", []any{[]byte{}}, `51-["ev",{"_placeholder":true,"num":0}]`, [][]byte{{}}},
		{"nested Bytes", []any{file{"a.txt", Bytes("hi")}}, `51-["ev",{"name":"a.txt","body":{"_placeholder":true,"num":0}}]`, [][]byte{[]byte("hi")}},
		{"relayed inline placeholder", []any{json.RawMessage(`{"k" : {"_placeholder":true,"num":3,"data":"AQI="}}`)}, `51-["ev",{"k" : {"_placeholder":true,"num":0}}]`, [][]byte{{1, 2}}},
		{"placeholder without data is plain JSON", []any{json.RawMessage(`{"_placeholder":true,"num":0}`)}, `2["ev",{"_placeholder":true,"num":0}]`, nil},
		{"raw message is not bytes", []any{json.RawMessage(`[1]`)}, `2["ev",[1]]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := encodePacket(PacketEvent, "/", 0, false, "ev", tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(p.Text), tt.text; got != want {
				t.Fatalf("text = %s, want %s", got, want)
			}
			if got, want := p.Attachments, tt.bins; !slices.EqualFunc(got, want, bytes.Equal) {
				t.Fatalf("attachments = %v, want %v", got, want)
			}
		})
	}
}

func TestEncodeTooManyAttachments(t *testing.T) {
	args := make([]any, MaxAttachments+1)
	for i := range args {
		args[i] = []byte{byte(i)}
	}
	if _, err := encodePacket(PacketEvent, "/", 0, false, "ev", args); err == nil {
		t.Fatal("11 attachments encoded")
	}
	if _, err := encodePacket(PacketEvent, "/", 0, false, "ev", args[:MaxAttachments]); err != nil {
		t.Fatalf("10 attachments: %v", err)
	}
}

func TestReassembly(t *testing.T) {
	type msg struct {
		data   string
		binary bool
	}
	txt := func(s string) msg { return msg{s, false} }
	bin := func(s string) msg { return msg{s, true} }
	tests := []struct {
		name string
		msgs []msg
		want string // the completed packet's data; "" for none
		err  bool
	}{
		{"text packet", []msg{txt(`2["a",{"x" : 1}]`)}, `["a",{"x" : 1}]`, false},
		{"two attachments", []msg{txt(`52-["a",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]`), bin("\x01"), bin("\x02\x03")},
			`["a",{"_placeholder":true,"num":1,"data":"AgM="},{"_placeholder":true,"num":0,"data":"AQ=="}]`, false},
		{"nested, spaced, reused", []msg{txt(`51-/x,7["a", {"b" : [ {"num":0, "_placeholder" : true} ]}, {"_placeholder":true,"num":0.0}]`), bin("z")},
			`["a", {"b" : [ {"_placeholder":true,"num":0,"data":"eg=="} ]}, {"_placeholder":true,"num":0,"data":"eg=="}]`, false},
		{"escaped key", []msg{txt(`51-["a",{"\u005fplaceholder":true,"num":0}]`), bin("z")}, `["a",{"_placeholder":true,"num":0,"data":"eg=="}]`, false},
		{"placeholder false is data", []msg{txt(`51-["a",{"_placeholder":false,"num":9}]`), bin("z")}, `["a",{"_placeholder":false,"num":9}]`, false},
		{"binary ack", []msg{txt(`61-3[{"_placeholder":true,"num":0}]`), bin("")}, `[{"_placeholder":true,"num":0,"data":""}]`, false},
		{"waiting", []msg{txt(`52-["a",{"_placeholder":true,"num":0}]`), bin("x")}, "", false},
		{"num out of range", []msg{txt(`51-["a",{"_placeholder":true,"num":1}]`), bin("x")}, "", true},
		{"num negative", []msg{txt(`51-["a",{"_placeholder":true,"num":-1}]`), bin("x")}, "", true},
		{"num fraction", []msg{txt(`51-["a",{"_placeholder":true,"num":0.5}]`), bin("x")}, "", true},
		{"num missing", []msg{txt(`51-["a",{"_placeholder":true}]`), bin("x")}, "", true},
		{"num a string", []msg{txt(`51-["a",{"_placeholder":true,"num":"0"}]`), bin("x")}, "", true},
		{"too many attachments", []msg{txt(`511-["a"]`)}, "", true},
		{"zero attachments", []msg{txt(`50-["a"]`)}, "", true},
		{"binary first", []msg{bin("x")}, "", true},
		{"text while waiting", []msg{txt(`51-["a",{"_placeholder":true,"num":0}]`), txt(`2["b"]`)}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r reassembler
			var got Packet
			var done bool
			var err error
			for _, m := range tt.msgs {
				got, done, err = r.add([]byte(m.data), m.binary)
				if err != nil {
					break
				}
			}
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if err != nil {
				if !errors.Is(err, ErrParse) {
					t.Fatalf("err = %v, want ErrParse", err)
				}
				return
			}
			if tt.want == "" {
				if done {
					t.Fatalf("completed %s early", got.Data)
				}
				return
			}
			if !done || string(got.Data) != tt.want {
				t.Fatalf("data = %s (done %v), want %s", got.Data, done, tt.want)
			}
		})
	}
}

func TestBinaryHelpers(t *testing.T) {
	if b, ok := Binary(json.RawMessage(`{"_placeholder":true,"num":0,"data":"AQI="}`)); !ok || !bytes.Equal(b, []byte{1, 2}) {
		t.Fatalf("Binary = %v, %v", b, ok)
	}
	for _, arg := range []string{`"AQI="`, `{"_placeholder":true,"num":0}`, `{"data":"AQI="}`, `[]`, `{"_placeholder":1,"data":"AQI="}`} {
		if _, ok := Binary(json.RawMessage(arg)); ok {
			t.Errorf("Binary(%s) ok", arg)
		}
	}
	var v struct{ A, B Bytes }
	if err := json.Unmarshal([]byte(`{"A":{"_placeholder":true,"num":0,"data":"eA=="},"B":"eQ=="}`), &v); err != nil || string(v.A) != "x" || string(v.B) != "y" {
		t.Fatalf("Unmarshal = %+v, %v", v, err)
	}
	if err := json.Unmarshal([]byte(`{"A":{"x":1}}`), &v); err == nil {
		t.Fatal("Bytes accepted a plain object")
	}
}

func TestBinaryEndToEnd(t *testing.T) {
	sockets := make(chan *Socket, 1)
	_, ts := newServer(t, func(s *Server) {
		s.Of("/").OnConnection(func(sock *Socket) {
			sockets <- sock
			// Echo the arguments back as they came, in the ack and as an event.
			sock.On("upload", func(args []json.RawMessage, ack AckFunc) {
				out := make([]any, len(args))
				for i, a := range args {
					out[i] = a
				}
				_ = sock.Emit("echo", out...)
				_ = ack(out...)
			})
		})
	})
	c := newClient(t, ts.URL, ClientOptions{})
	echo := make(chan []json.RawMessage, 1)
	c.On("echo", func(args []json.RawMessage, _ AckFunc) { echo <- args })
	c.On("ask", func(args []json.RawMessage, ack AckFunc) { _ = ack([]byte("answer"), args[0]) })
	if err := c.Connect(ctx(t)); err != nil {
		t.Fatal(err)
	}
	type doc struct {
		Title string `json:"title"`
		Body  Bytes  `json:"body"`
	}
	big := bytes.Repeat([]byte{0xff, 0}, 5000)
	got, err := c.EmitWithAck(ctx(t), "upload", []byte{1, 2, 3}, doc{"t", big}, "plain")
	if err != nil {
		t.Fatal(err)
	}
	check := func(args []json.RawMessage) {
		t.Helper()
		if len(args) != 3 {
			t.Fatalf("%d args", len(args))
		}
		if b, ok := Binary(args[0]); !ok || !bytes.Equal(b, []byte{1, 2, 3}) {
			t.Fatalf("arg 0 = %s", args[0])
		}
		var d doc
		if err := json.Unmarshal(args[1], &d); err != nil || d.Title != "t" || !bytes.Equal(d.Body, big) {
			t.Fatalf("arg 1: %v", err)
		}
		if string(args[2]) != `"plain"` {
			t.Fatalf("arg 2 = %s", args[2])
		}
	}
	check(got)
	select {
	case args := <-echo:
		check(args)
	case <-time.After(5 * time.Second):
		t.Fatal("no echo")
	}
	sock := <-sockets
	reply, err := sock.EmitWithAck(ctx(t), "ask", []byte{9})
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := Binary(reply[0]); !ok || string(b) != "answer" {
		t.Fatalf("reply 0 = %s", reply[0])
	}
	if b, ok := Binary(reply[1]); !ok || !bytes.Equal(b, []byte{9}) {
		t.Fatalf("reply 1 = %s", reply[1])
	}
}

// echoServer answers as the official test suite's server does.
func echoServer(s *Server) {
	s.Of("/").OnConnection(func(sock *Socket) {
		sock.On("message", func(args []json.RawMessage, _ AckFunc) {
			out := make([]any, len(args))
			for i, a := range args {
				out[i] = a
			}
			_ = sock.Emit("message-back", out...)
		})
		sock.On("message-with-ack", func(args []json.RawMessage, ack AckFunc) {
			out := make([]any, len(args))
			for i, a := range args {
				out[i] = a
			}
			_ = ack(out...)
		})
	})
}

func TestBinaryWire(t *testing.T) {
	ph2 := `{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}`
	tests := []struct {
		name  string
		send  []string // "bin:" prefix: a binary frame
		want  []string // expected frames; nil: the connection closes
		close bool
	}{
		{"event", []string{`52-["message",` + ph2 + `]`, "bin:\x01\x02\x03", "bin:\x04\x05\x06"},
			[]string{`452-["message-back",` + ph2 + `]`, "bin:\x01\x02\x03", "bin:\x04\x05\x06"}, false},
		{"event with ack", []string{`52-789["message-with-ack",` + ph2 + `]`, "bin:\x01\x02\x03", "bin:\x04\x05\x06"},
			[]string{`462-789[` + ph2 + `]`, "bin:\x01\x02\x03", "bin:\x04\x05\x06"}, false},
		{"plain JSON untouched", []string{`2["message",1,"2",{"3":[true]},{"_placeholder":true,"num":0}]`},
			[]string{`42["message-back",1,"2",{"3":[true]},{"_placeholder":true,"num":0}]`}, false},
		{"11 attachments", []string{`511-["message"]`}, nil, true},
		{"attachment without packet", []string{"bin:\x01"}, nil, true},
		{"text while waiting", []string{`51-["message",{"_placeholder":true,"num":0}]`, `2["message"]`}, nil, true},
		{"bad placeholder", []string{`51-["message",{"_placeholder":true,"num":4}]`, "bin:\x01"}, nil, true},
		{"reserved name in binary event", []string{`51-["disconnect",{"_placeholder":true,"num":0}]`, "bin:\x01"}, nil, true},
	}
	_, ts := newServer(t, echoServer)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := dialPeer(t, ts.URL)
			p.send("0")
			if f, _ := p.next(); !bytes.HasPrefix([]byte(f), []byte(`40{"sid":`)) {
				t.Fatalf("CONNECT answer %q", f)
			}
			for _, s := range tt.send {
				if b, ok := bytes.CutPrefix([]byte(s), []byte("bin:")); ok {
					p.sendBinary(b)
				} else {
					p.send(s)
				}
			}
			if tt.close {
				p.expectClose()
				return
			}
			p.expect(tt.want...)
		})
	}
}

func FuzzBinaryReassembly(f *testing.F) {
	f.Add([]byte(`52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`), []byte("\x01\x02\x03"), uint8(2))
	f.Add([]byte(`61-/x,5[{"k":[{"_placeholder":true,"num":0}]}]`), []byte("abc"), uint8(1))
	f.Add([]byte(`51-["a",{"_placeholder":true,"num":0,"data":"AQ=="}]`), []byte(""), uint8(1))
	f.Add([]byte(`2["a",{"_placeholder":true,"num":0}]`), []byte("x"), uint8(0))
	f.Fuzz(func(t *testing.T, text, att []byte, n uint8) {
		var r reassembler
		p, done, err := r.add(text, false)
		// Split att into n attachments.
		for i := 0; err == nil && !done && i < int(n%12); i++ {
			part := att[len(att)*i/int(n%12) : len(att)*(i+1)/int(n%12)]
			p, done, err = r.add(part, true)
		}
		if err != nil || !done {
			return
		}
		if len(p.Data) > 0 && !json.Valid(p.Data) {
			t.Fatalf("invalid JSON after reassembly: %q", p.Data)
		}
		if !p.Type.binary() {
			return
		}
		// Emitting the reassembled data again gives an equivalent packet.
		data, bins, err := extractAttachments(p.Data, nil)
		if err != nil {
			t.Fatalf("re-encode %q: %v", p.Data, err)
		}
		q := Packet{Type: p.Type, Namespace: p.Namespace, ID: p.ID, HasID: p.HasID, Data: data, Attachments: len(bins)}
		if len(bins) == 0 {
			return // every placeholder pointed at nothing it needed
		}
		var r2 reassembler
		got, done, err := r2.add(q.Encode(), false)
		for _, b := range bins {
			if err != nil || done {
				break
			}
			got, done, err = r2.add(b, true)
		}
		if err != nil || !done {
			t.Fatalf("round trip of %q: done %v, %v", q.Encode(), done, err)
		}
		// Placeholders may be renumbered; compare them by their data.
		byData := func(ph placeholder) ([]byte, error) { return slices.Clone(ph.data), nil }
		want, _ := rewritePlaceholders(p.Data, byData)
		have, _ := rewritePlaceholders(got.Data, byData)
		if !bytes.Equal(want, have) {
			t.Fatalf("round trip changed the JSON:\n%s\n%s", want, have)
		}
	})
}
