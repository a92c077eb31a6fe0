package testhub

import (
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Direction says which way a Cutter counts bytes.
type Direction int

// The two ways through a Cutter.
const (
	ToHub   Direction = iota // what the client sends: an upload
	FromHub                  // what the hub sends: a download
)

// Cutter is a TCP proxy in front of a hub that cuts, once, the first
// connection carrying more than its limit of bytes in its direction: it
// forwards the bytes up to the limit, then closes both sides. Later
// connections pass untouched, so a client can resume.
type Cutter struct {
	ln     net.Listener
	target string
	limit  int64
	dir    Direction
	cut    atomic.Bool
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

// NewCutter starts a Cutter to target (host:port, or an http:// URL); the
// test's cleanup stops it.
func NewCutter(t testing.TB, target string, limit int64, dir Direction) *Cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cutter{ln: ln, target: strings.TrimPrefix(target, "http://"), limit: limit, dir: dir}
	c.wg.Add(1)
	go c.accept()
	t.Cleanup(c.close)
	return c
}

// URL is the proxy's http:// address.
func (c *Cutter) URL() string { return "http://" + c.ln.Addr().String() }

// Cut reports whether a connection has been cut.
func (c *Cutter) Cut() bool { return c.cut.Load() }

func (c *Cutter) close() {
	c.ln.Close()
	c.mu.Lock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *Cutter) accept() {
	defer c.wg.Done()
	for {
		down, err := c.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", c.target)
		if err != nil {
			down.Close()
			continue
		}
		c.mu.Lock()
		c.conns = append(c.conns, down, up)
		c.mu.Unlock()
		src, dst := down, up // ToHub
		if c.dir == FromHub {
			src, dst = up, down
		}
		c.wg.Add(2)
		go func() { // the counted way
			defer c.wg.Done()
			defer down.Close()
			defer up.Close()
			c.forward(dst, src)
		}()
		go func() { // the other way
			defer c.wg.Done()
			defer src.Close()
			io.Copy(src, dst)
		}()
	}
}

// forward copies src to dst until the limit, the first time it is
// reached, or until either side ends.
func (c *Cutter) forward(dst, src net.Conn) {
	var sent int64
	buf := make([]byte, 4096)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !c.cut.Load() && sent+int64(n) > c.limit {
				dst.Write(buf[:c.limit-sent])
				c.cut.Store(true)
				return
			}
			sent += int64(n)
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
