package engineio

import (
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// BenchmarkFanout sends one small message to many WebSocket peers and waits
// until every peer has it, with and without a peer that never reads. It
// reports the p99 of the per-message fan-out time: a stalled peer must not
// change it.
func BenchmarkFanout(b *testing.B) {
	for _, tc := range []struct {
		name    string
		peers   int
		stalled bool
	}{
		{"peers=100", 100, false},
		{"peers=100+stalled", 100, true},
		{"peers=1000", 1000, false},
	} {
		b.Run(tc.name, func(b *testing.B) { benchFanout(b, tc.peers, tc.stalled) })
	}
}

func benchFanout(b *testing.B, peers int, stalled bool) {
	accepted := make(chan *Conn, peers+1)
	s := NewServer(Options{}, nil, func(c *Conn) Handler {
		accepted <- c
		return nopHandler{}
	})
	ts := httptest.NewServer(s)
	defer ts.Close()
	defer s.Close()
	url := "ws" + ts.URL[len("http"):] + "/socket.io/?EIO=4&transport=websocket"
	var received atomic.Int64
	var wg sync.WaitGroup
	conns := make([]*Conn, 0, peers+1)
	var clients []*websocket.Conn
	for range peers {
		ws, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, ws)
		conns = append(conns, <-accepted)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, data, err := ws.ReadMessage()
				if err != nil {
					return
				}
				switch data[0] {
				case typeMessage:
					received.Add(1)
				case typePing:
					_ = ws.WriteMessage(websocket.TextMessage, []byte{typePong})
				}
			}
		}()
	}
	if stalled {
		ws, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, ws) // never read
		conns = append(conns, <-accepted)
	}
	msg := []byte(`2["changeTrack",{"room":"lounge","trackId":"ab12","version":7}]`)
	lat := make([]time.Duration, 0, b.N)
	sent := make([]time.Duration, 0, b.N) // until the last Send returned
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		for _, c := range conns {
			_ = c.Send(msg, false)
		}
		sent = append(sent, time.Since(start))
		want := int64(peers) * int64(i+1)
		for received.Load() < want {
			time.Sleep(20 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	// The server's share: every frame written to its socket (or queued
	// for the flusher) by then; the rest of p99 is the readers'.
	sort.Slice(sent, func(i, j int) bool { return sent[i] < sent[j] })
	b.ReportMetric(float64(sent[len(sent)*99/100].Microseconds()), "send-p99-µs")
	for _, ws := range clients {
		ws.Close()
	}
	wg.Wait()
}

type nopHandler struct{}

func (nopHandler) OnMessage([]byte, bool) {}
func (nopHandler) OnClose(string)         {}
