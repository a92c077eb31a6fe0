package protocol

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

// reference encodes v with encoding/json's reflection (no Marshal
// methods), HTML escaping off, as the Socket.IO layer sends JSON.
func reference(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// Shadow types without the Marshal methods.
type (
	plainTrack Track
	plainEntry struct {
		ID      string      `json:"id"`
		TrackID string      `json:"trackId"`
		AddedBy string      `json:"addedBy"`
		AddedAt time.Time   `json:"addedAt"`
		Order   string      `json:"order,omitempty"`
		Track   *plainTrack `json:"track,omitempty"`
	}
	plainPlaylist struct {
		ID            string       `json:"id"`
		Name          string       `json:"name"`
		Owner         string       `json:"owner"`
		Collaborative bool         `json:"collaborative"`
		Version       uint64       `json:"version"`
		CreatedAt     time.Time    `json:"createdAt"`
		Entries       []plainEntry `json:"entries,omitzero"`
	}
)

func plain(p Playlist) plainPlaylist {
	out := plainPlaylist{ID: p.ID, Name: p.Name, Owner: p.Owner, Collaborative: p.Collaborative, Version: p.Version, CreatedAt: p.CreatedAt}
	if p.Entries != nil {
		out.Entries = []plainEntry{}
	}
	for _, e := range p.Entries {
		pe := plainEntry{ID: e.ID, TrackID: e.TrackID, AddedBy: e.AddedBy, AddedAt: e.AddedAt, Order: e.Order}
		if e.Track != nil {
			pt := plainTrack(*e.Track)
			pe.Track = &pt
		}
		out.Entries = append(out.Entries, pe)
	}
	return out
}

var tricky = []string{
	"", "plain", `quo"te`, `back\slash`, "tab\tnew\nline\r", "\x00\x01\x1f\x7f", "<html>&amp;",
	"Zoë 🎧 日本", "bad\xffutf8\xc3", "line\u2028sep\u2029para", "\u00e9t\u00e9",
}

func randomPlaylist(r *rand.Rand, n int) Playlist {
	s := func() string { return tricky[r.IntN(len(tricky))] }
	p := Playlist{ID: "p1", Name: s(), Owner: s(), Collaborative: r.IntN(2) == 0, Version: r.Uint64(),
		CreatedAt: time.Unix(r.Int64N(4e9), r.Int64N(1e9)).In(time.FixedZone("X", r.IntN(20)*1800-36000))}
	for i := range n {
		e := Entry{ID: s(), TrackID: s(), AddedBy: s(), AddedAt: time.Unix(r.Int64N(4e9), r.Int64N(1e9)).UTC(), Order: s()}
		if i%3 != 0 {
			durs := []float64{0, 1, 180000.5, 1e-7, 1e21, 123456789.125, -3, 5e-324}
			e.Track = &Track{ID: s(), Title: s(), Artist: s(), Album: s(), Duration: durs[r.IntN(len(durs))], Format: s(), Size: r.Int64(), Art: s()}
		}
		p.Entries = append(p.Entries, e)
	}
	return p
}

func TestFastJSONMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 200 {
		p := randomPlaylist(r, i%7)
		if i%14 == 7 {
			p.Entries = []Entry{} // empty, not nil: "entries":[]
		}
		got := reference(t, p) // calls Playlist.MarshalJSON, then compacts
		want := reference(t, plain(p))
		if !bytes.Equal(got, want) {
			t.Fatalf("playlist %d:\n got %s\nwant %s", i, got, want)
		}
		fast, err := p.MarshalJSON()
		if err != nil || !bytes.Equal(fast, want) {
			t.Fatalf("MarshalJSON %d: %v\n got %s\nwant %s", i, err, fast, want)
		}
		var back Playlist
		if err := json.Unmarshal(fast, &back); err != nil || len(back.Entries) != len(p.Entries) {
			t.Fatalf("decode %d: %v", i, err)
		}
		ack, err := PlaylistAck{Ack: OK(), Playlist: p}.AppendJSON(nil)
		wantAck := reference(t, struct {
			Ack
			Playlist plainPlaylist `json:"playlist"`
		}{OK(), plain(p)})
		if err != nil || !bytes.Equal(ack, wantAck) {
			t.Fatalf("PlaylistAck %d: %v\n got %s\nwant %s", i, err, ack, wantAck)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range tricky {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := appendString(nil, s), reference(t, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}

func BenchmarkPlaylistJSON10k(b *testing.B) {
	p := Playlist{ID: "p1", Name: "Big", Owner: "ann", CreatedAt: time.Now()}
	for i := range 10_000 {
		p.Entries = append(p.Entries, Entry{ID: "e" + string(rune('1'+i%9)), TrackID: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			AddedBy: "ann", AddedAt: time.Now(), Order: "00000000000000000001",
			Track: &Track{ID: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Title: "Track", Artist: "Bench", Album: "Benchmarks", Duration: 180000, Format: "flac", Size: 31457280}})
	}
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if _, err := p.MarshalJSON(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		pp := plain(p)
		for b.Loop() {
			if _, err := json.Marshal(pp); err != nil {
				b.Fatal(err)
			}
		}
	})
}
