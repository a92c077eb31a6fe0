package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Net describes a simulated network path between a follower and the hub.
type Net struct {
	Delay  time.Duration // one-way delay, each direction
	Jitter time.Duration // each chunk's delay is Delay ± Jitter, uniformly
	Asym   time.Duration // the uplink (follower → hub) is slower by Asym
	Loss   float64       // probability that a chunk is "lost" and retransmitted
}

// rto is the extra delay of a lost chunk: TCP does not lose data, it
// retransmits, after Linux's minimum retransmission timeout of 200 ms
// plus a round trip.
func (n Net) rto() time.Duration { return 200*time.Millisecond + 2*n.Delay }

// link is a TCP proxy on loopback in front of the hub that delays each
// direction as its Net says. Chunks keep their order, as on a TCP stream:
// a chunk is never delivered before the one read before it.
type link struct {
	ln     net.Listener
	target string
	net    Net
	log    *slog.Logger

	rmu sync.Mutex // guards rng
	rng *rand.Rand

	mu     sync.Mutex // guards the following
	down   bool
	closed bool
	pairs  map[*pair]struct{}

	wg sync.WaitGroup // accept loop and pumps
}

// pair is one proxied connection.
type pair struct {
	client, server net.Conn
	once           sync.Once
	done           chan struct{}
}

func (p *pair) close() {
	p.once.Do(func() {
		close(p.done)
		p.client.Close()
		p.server.Close()
	})
}

func newLink(target string, n Net, seed uint64, log *slog.Logger) (*link, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("synclab: link: listen: %w", err)
	}
	l := &link{ln: ln, target: target, net: n, log: log, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		pairs: map[*pair]struct{}{}}
	l.wg.Add(1)
	go l.serve()
	return l, nil
}

// URL is the hub's address through the link.
func (l *link) URL() string { return "http://" + l.ln.Addr().String() }

func (l *link) serve() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return // closed
		}
		l.mu.Lock()
		if l.down || l.closed {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.mu.Unlock()
		s, err := net.Dial("tcp", l.target)
		if err != nil {
			l.log.Warn("synclab: link: dial hub", "err", err)
			c.Close()
			continue
		}
		p := &pair{client: c, server: s, done: make(chan struct{})}
		l.mu.Lock()
		if l.down || l.closed {
			l.mu.Unlock()
			p.close()
			continue
		}
		l.pairs[p] = struct{}{}
		l.mu.Unlock()
		l.wg.Add(4)
		go l.pump(p, c, s, l.net.Delay+l.net.Asym) // uplink
		go l.pump(p, s, c, l.net.Delay)            // downlink
	}
}

// chunk is bytes read from one side, to be written to the other at a time.
type chunk struct {
	b  []byte
	at time.Time
}

// pump copies src to dst, each chunk delay ± jitter after it was read.
// It takes two of the link's wg counts: the reader's and the writer's.
func (l *link) pump(p *pair, src, dst net.Conn, delay time.Duration) {
	defer l.wg.Done()
	q := make(chan chunk, 4096)
	go func() { // the writer
		defer l.wg.Done()
		defer p.close()
		t := time.NewTimer(time.Hour)
		defer t.Stop()
		for c := range q {
			if wait := time.Until(c.at); wait > 0 {
				t.Reset(wait)
				select {
				case <-t.C:
				case <-p.done:
					return
				}
			}
			if _, err := dst.Write(c.b); err != nil {
				return
			}
		}
	}()
	defer close(q)
	var last time.Time
	for {
		buf := make([]byte, 32<<10)
		n, err := src.Read(buf)
		if n > 0 {
			at := time.Now().Add(l.delay(delay))
			if at.Before(last) {
				at = last // TCP keeps order
			}
			last = at
			select {
			case q <- chunk{buf[:n], at}:
			case <-p.done:
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				l.log.Debug("synclab: link: read", "err", err)
			}
			p.close()
			return
		}
	}
}

// delay draws one chunk's delay.
func (l *link) delay(base time.Duration) time.Duration {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	d := base
	if j := l.net.Jitter; j > 0 {
		d += time.Duration(l.rng.Int64N(int64(2*j)+1)) - j
	}
	if l.net.Loss > 0 && l.rng.Float64() < l.net.Loss {
		d += l.net.rto()
	}
	return max(d, 0)
}

// SetDown cuts the link (closing its connections and refusing new ones)
// or restores it.
func (l *link) SetDown(down bool) {
	l.mu.Lock()
	l.down = down
	var cut []*pair
	if down {
		for p := range l.pairs {
			cut = append(cut, p)
		}
		clear(l.pairs)
	}
	l.mu.Unlock()
	for _, p := range cut {
		p.close()
	}
}

// Close closes the link and waits for its goroutines.
func (l *link) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	err := l.ln.Close()
	l.SetDown(true)
	l.wg.Wait()
	return err
}
