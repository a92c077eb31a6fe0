package socketio

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a Local that records what each socket was sent.
type recorder struct {
	mu   sync.Mutex
	sent map[string][]string
	gone map[string]bool
}

func newRecorder() *recorder { return &recorder{sent: map[string][]string{}, gone: map[string]bool{}} }

func (r *recorder) Send(sid string, p EncodedPacket, _ SendOptions) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone[sid] {
		return false
	}
	r.sent[sid] = append(r.sent[sid], string(p.Text))
	return true
}

func (r *recorder) take() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.sent
	r.sent = map[string][]string{}
	return out
}

func event(name string) EncodedPacket {
	return EncodedPacket{Text: []byte(`2["` + name + `"]`)}
}

func TestMemoryAdapterBroadcast(t *testing.T) {
	rec := newRecorder()
	a := NewMemoryAdapter(AdapterConfig{Namespace: "/", Local: rec})
	a.Join("a", "a", "red", "blue")
	a.Join("b", "b", "red")
	a.Join("c", "c", "blue")
	a.Join("d", "d")
	tests := []struct {
		name string
		opts BroadcastOptions
		want []string
	}{
		{"all", BroadcastOptions{}, []string{"a", "b", "c", "d"}},
		{"one room", BroadcastOptions{Rooms: []string{"red"}}, []string{"a", "b"}},
		{"two rooms, once each", BroadcastOptions{Rooms: []string{"red", "blue"}}, []string{"a", "b", "c"}},
		{"except", BroadcastOptions{Rooms: []string{"red", "blue"}, Except: []string{"a"}}, []string{"b", "c"}},
		{"all except a room", BroadcastOptions{Except: []string{"blue"}}, []string{"b", "d"}},
		{"unknown room", BroadcastOptions{Rooms: []string{"green"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.Broadcast(event("x"), tt.opts)
			sent := rec.take()
			var got []string
			for sid, frames := range sent {
				if len(frames) != 1 || frames[0] != `2["x"]` {
					t.Fatalf("%s got %q", sid, frames)
				}
				got = append(got, sid)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("recipients = %v, want %v", got, tt.want)
			}
			ids := a.Sockets(tt.opts.Rooms...)
			if len(tt.opts.Except) == 0 {
				slices.Sort(ids)
				if !slices.Equal(ids, tt.want) {
					t.Fatalf("Sockets = %v, want %v", ids, tt.want)
				}
			}
		})
	}
	a.Leave("a", "red")
	a.LeaveAll("c")
	if got := a.Rooms("c"); len(got) != 0 {
		t.Fatalf("rooms after LeaveAll = %v", got)
	}
	got := a.Sockets("red", "blue")
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("Sockets after leaving = %v", got)
	}
	if a.Offset() != "" {
		t.Fatal("offset without recovery")
	}
}

func TestBroadcastWithAckCount(t *testing.T) {
	rec := newRecorder()
	rec.gone["b"] = true
	a := NewMemoryAdapter(AdapterConfig{Namespace: "/", Local: rec})
	a.Join("a", "a", "r")
	a.Join("b", "b", "r")
	var n int
	a.BroadcastWithAck(event("x"), 1, BroadcastOptions{Rooms: []string{"r"}}, func(c int) { n = c }, func([]json.RawMessage, error) {})
	if n != 1 {
		t.Fatalf("count = %d, want 1 (b is gone)", n)
	}
}

// clock is a settable clock for recovery's expiry.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestMemoryAdapterRecovery(t *testing.T) {
	// args returns the arguments of recorded frames, offsets dropped.
	names := func(frames []EncodedPacket) []string {
		var out []string
		for _, p := range frames {
			var arr []string
			_ = json.Unmarshal(p.Text[1:], &arr)
			out = append(out, arr[0])
		}
		return out
	}
	tests := []struct {
		name   string
		setup  func(a Adapter, clk *clock) (offset string) // returns the client's last offset
		offset string                                      // the offset when there is no setup
		pid    string
		ok     bool
		want   []string
	}{
		{"missed in order, filtered by rooms", func(a Adapter, clk *clock) string {
			a.Broadcast(event("seen"), BroadcastOptions{Rooms: []string{"r"}})
			o := lastOffset(t, a)
			a.Broadcast(event("m1"), BroadcastOptions{Rooms: []string{"r"}})
			a.Broadcast(event("other room"), BroadcastOptions{Rooms: []string{"q"}})
			a.Broadcast(event("m2"), BroadcastOptions{})
			a.Broadcast(event("excepted"), BroadcastOptions{Except: []string{"s1"}})
			a.Broadcast(event("volatile"), BroadcastOptions{Volatile: true})
			a.PersistSession(Session{PID: "p1", SID: "s1", Rooms: []string{"s1", "r"}})
			a.Broadcast(event("m3"), BroadcastOptions{Rooms: []string{"r"}})
			return o
		}, "", "p1", true, []string{"m1", "m2", "m3"}},
		{"no offset: from the session's start", func(a Adapter, clk *clock) string {
			a.Broadcast(event("before"), BroadcastOptions{})
			start := a.Offset()
			a.Broadcast(event("after"), BroadcastOptions{})
			a.PersistSession(Session{PID: "p1", SID: "s1", Rooms: []string{"s1"}, Start: start})
			return ""
		}, "", "p1", true, []string{"after"}},
		{"nothing missed", func(a Adapter, clk *clock) string {
			a.Broadcast(event("seen"), BroadcastOptions{})
			a.PersistSession(Session{PID: "p1", SID: "s1", Rooms: []string{"s1"}})
			return lastOffset(t, a)
		}, "", "p1", true, nil},
		{"unknown pid", func(a Adapter, clk *clock) string {
			a.PersistSession(Session{PID: "p1", SID: "s1"})
			return a.Offset()
		}, "", "p2", false, nil},
		{"expired session", func(a Adapter, clk *clock) string {
			a.PersistSession(Session{PID: "p1", SID: "s1"})
			clk.Add(3 * time.Minute)
			return a.Offset()
		}, "", "p1", false, nil},
		{"offset of another adapter", nil, "cafe0000-1", "p1", false, nil},
		{"garbage offset", nil, "hello", "p1", false, nil},
		{"offset from the future", nil, "", "p1", false, nil},
		{"expired packets", func(a Adapter, clk *clock) string {
			a.Broadcast(event("seen"), BroadcastOptions{})
			o := lastOffset(t, a)
			a.Broadcast(event("lost"), BroadcastOptions{})
			clk.Add(90 * time.Second)
			a.PersistSession(Session{PID: "p1", SID: "s1", Rooms: []string{"s1"}})
			clk.Add(60 * time.Second)
			a.Broadcast(event("trims lost"), BroadcastOptions{})
			return o
		}, "", "p1", false, nil},
		{"beyond MaxPackets", func(a Adapter, clk *clock) string {
			a.Broadcast(event("seen"), BroadcastOptions{})
			o := lastOffset(t, a)
			for range 4 { // one more than MaxPackets: the first one the client missed is gone
				a.Broadcast(event("x"), BroadcastOptions{})
			}
			a.PersistSession(Session{PID: "p1", SID: "s1", Rooms: []string{"s1"}})
			return o
		}, "", "p1", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &clock{now: time.Unix(1e9, 0)}
			rec := newRecorder()
			maxPackets := 100
			if tt.name == "beyond MaxPackets" {
				maxPackets = 3
			}
			a := NewMemoryAdapter(AdapterConfig{Namespace: "/", Local: rec, Recovery: 2 * time.Minute, MaxPackets: maxPackets, Now: clk.Now})
			defer a.Close()
			offset := tt.offset
			if tt.setup != nil {
				offset = tt.setup(a, clk)
			} else {
				a.PersistSession(Session{PID: "p1", SID: "s1", Rooms: []string{"s1"}})
				if tt.name == "offset from the future" {
					offset = a.Offset()[:9] + "zz"
				}
			}
			var got []string
			ok := a.RestoreSession(tt.pid, offset, func(s Session, missed []EncodedPacket) bool {
				if s.SID != "s1" {
					t.Fatalf("session %+v", s)
				}
				got = names(missed)
				return true
			})
			if ok != tt.ok || !slices.Equal(got, tt.want) {
				t.Fatalf("RestoreSession = %v %v, want %v %v", ok, got, tt.ok, tt.want)
			}
			if !ok {
				return
			}
			if rooms := a.Rooms("s1"); len(rooms) == 0 {
				t.Fatal("rooms not restored")
			}
			if a.RestoreSession(tt.pid, offset, func(Session, []EncodedPacket) bool { return true }) {
				t.Fatal("a session restored twice")
			}
		})
	}
}

// lastOffset returns the adapter's newest offset and checks its format.
func lastOffset(t *testing.T, a Adapter) string {
	t.Helper()
	o := a.Offset()
	if !strings.Contains(o, "-") {
		t.Fatalf("offset %q", o)
	}
	return o
}

func TestWithOffset(t *testing.T) {
	tests := []struct{ in, want string }{
		{`2["a"]`, `2["a","o-1"]`},
		{`2/x,["a",{"b":1}]`, `2/x,["a",{"b":1},"o-1"]`},
		{`51-["a",{"_placeholder":true,"num":0}]`, `51-["a",{"_placeholder":true,"num":0},"o-1"]`},
		{`3[1]`, `3[1]`},
	}
	for _, tt := range tests {
		if got := string(EncodedPacket{Text: []byte(tt.in)}.WithOffset("o-1").Text); got != tt.want {
			t.Errorf("WithOffset(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
