//go:build linux

package engineio

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"syscall"
	"time"
)

// The readiness loop: one goroutine waits in epoll_wait for every
// WebSocket of the server, and a bounded set of workers reads the
// connections that have input. An idle connection holds no goroutine and
// no read buffer: only its registration and, rarely, the bytes of a frame
// that has not fully arrived.
//
// Each connection is registered level-triggered with EPOLLONESHOT. After
// one readiness report the kernel reports nothing more for it until the
// worker that read it re-arms it, so at most one worker reads a connection
// at a time and its messages reach the handler in order, with no state of
// our own to track that. Level-triggered re-arming cannot lose a wakeup:
// bytes that arrived while the worker ran are reported at once. A worker
// reads a bounded amount per turn, so one busy peer cannot hold it. The
// price is one epoll_ctl per turn, small next to the read and the handling
// of the messages; edge-triggered registration would save it but needs
// per-connection bookkeeping to keep two workers off one connection.
//
// Go's runtime poller keeps its own registration of the same sockets; the
// loop only reads them in non-blocking mode, inside RawConn.Read and
// RawConn.Control, so a descriptor is never used after it is closed, nor
// confused with a new socket that reuses its number.

const pollSupported = true

const (
	readChunk     = 16 << 10 // bytes read at once into a pooled buffer
	readsPerTurn  = 4        // reads per connection per turn
	pollBatch     = 128      // events per epoll_wait
	epollDataWake = 0        // the event data of the loop's wake-up pipe
)

type poller struct {
	log        *slog.Logger
	epfd       int
	wake       [2]int // a pipe; a byte in it wakes the loop to stop
	maxWorkers int
	bufs       sync.Pool // *[]byte of readChunk bytes

	ctlMu sync.RWMutex // held (read) while epfd is in use; close takes it to close epfd

	mu      sync.Mutex // guards the following
	readers map[uint64]*wsReader
	nextID  uint64
	ready   []*wsReader // reported and waiting for a worker
	workers int
	closed  bool
	running sync.WaitGroup // the loop and the workers
}

func newPoller(log *slog.Logger, maxWorkers int) (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("engineio: epoll_create1: %w", err)
	}
	p := &poller{log: log, epfd: epfd, maxWorkers: maxWorkers, readers: map[uint64]*wsReader{}}
	p.bufs.New = func() any { b := make([]byte, readChunk); return &b }
	if err := syscall.Pipe2(p.wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("engineio: pipe2: %w", err)
	}
	ev := epollEvent(syscall.EPOLLIN, epollDataWake)
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		p.closeFDs()
		return nil, fmt.Errorf("engineio: epoll_ctl add wake pipe: %w", err)
	}
	p.running.Add(1)
	go p.loop()
	return p, nil
}

// epollEvent makes an event whose data is id: its low half in Fd, its
// high half in Pad, which together are the kernel's 64-bit data field.
func epollEvent(events uint32, id uint64) syscall.EpollEvent {
	return syscall.EpollEvent{Events: events, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
}

func eventID(ev *syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

const watchEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

func (p *poller) closeFDs() {
	syscall.Close(p.wake[0])
	syscall.Close(p.wake[1])
	syscall.Close(p.epfd)
}

// loop waits for readiness and hands ready connections to workers.
func (p *poller) loop() {
	defer p.running.Done()
	events := make([]syscall.EpollEvent, pollBatch)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			p.log.Error("engineio: epoll_wait failed; the readiness loop stops", "err", err)
			return
		}
		for i := range events[:n] {
			id := eventID(&events[i])
			if id == epollDataWake {
				return // close() wrote to the pipe
			}
			p.schedule(id)
		}
	}
}

// schedule queues a ready connection for a worker, starting a worker if
// fewer than maxWorkers run. Workers live only while there is work.
func (p *poller) schedule(id uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.readers[id]
	if r == nil || p.closed {
		return // a connection detached since it was reported
	}
	p.ready = append(p.ready, r)
	if p.workers < p.maxWorkers {
		p.workers++
		p.running.Add(1)
		go p.work()
	}
}

func (p *poller) work() {
	defer p.running.Done()
	for {
		p.mu.Lock()
		if len(p.ready) == 0 || p.closed {
			p.workers--
			if len(p.ready) == 0 {
				p.ready = nil
			}
			p.mu.Unlock()
			return
		}
		r := p.ready[0]
		p.ready[0] = nil
		p.ready = p.ready[1:]
		p.mu.Unlock()
		if r.turn() {
			p.rearm(r)
		}
	}
}

// ctl runs epoll_ctl on a connection's descriptor, unless the loop has
// closed.
func (p *poller) ctl(r *wsReader, op int) error {
	p.ctlMu.RLock()
	defer p.ctlMu.RUnlock()
	if p.epfd < 0 {
		return errPollerClosed
	}
	var cerr error
	err := r.ws.rc.Control(func(fd uintptr) {
		ev := epollEvent(watchEvents, r.id)
		cerr = syscall.EpollCtl(p.epfd, op, int(fd), &ev)
	})
	if err != nil {
		return fmt.Errorf("engineio: epoll_ctl: %w", err)
	}
	if cerr != nil {
		return fmt.Errorf("engineio: epoll_ctl: %w", cerr)
	}
	return nil
}

var errPollerClosed = errors.New("engineio: readiness loop closed")

// rearm asks for the next readiness report of a connection still watched.
func (p *poller) rearm(r *wsReader) {
	p.mu.Lock()
	watched := p.readers[r.id] == r && !p.closed
	p.mu.Unlock()
	if watched {
		// An error means the socket closed meanwhile; its closer detaches it.
		_ = p.ctl(r, syscall.EPOLL_CTL_MOD)
	}
}

// watch makes the loop read ws for c: as the transport, or as a WebSocket
// probing for an upgrade, which is given up after probeTimeout; limit
// bounds one message.
func (p *poller) watch(c *Conn, ws *serverWS, limit int64, probing bool, probeTimeout time.Duration) error {
	if _, ok := ws.nc.(interface{ CloseRead() error }); !ok || ws.rc == nil {
		return fmt.Errorf("engineio: a %T cannot be polled", ws.nc)
	}
	r := &wsReader{wsDispatch: wsDispatch{c: c, ws: ws}, p: p}
	r.watch = r
	r.frames.limit = limit
	if probing {
		r.startProbe(probeTimeout)
	} else {
		c.mu.Lock()
		c.watch = r
		c.mu.Unlock()
	}
	unwatch := func() {
		if probing {
			r.endProbe()
		} else {
			c.mu.Lock()
			c.watch = nil
			c.mu.Unlock()
		}
	}
	p.mu.Lock()
	closed := p.closed
	if !closed {
		p.nextID++
		r.id = p.nextID
		p.readers[r.id] = r
	}
	p.mu.Unlock()
	err := errPollerClosed
	if !closed {
		if err = p.ctl(r, syscall.EPOLL_CTL_ADD); err != nil {
			p.forget(r)
		}
	}
	if err != nil {
		unwatch()
		return err
	}
	if !probing && c.isClosed() {
		r.detach() // closed before c.watch was set: closeWith did not see it
	}
	return nil
}

// forget removes a reader from the loop's table and reports whether it
// was there.
func (p *poller) forget(r *wsReader) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.readers[r.id] != r {
		return false
	}
	delete(p.readers, r.id)
	return true
}

// close stops the loop, waits for its workers, and closes the WebSockets
// still watched, which only probes can be once every connection is closed.
func (p *poller) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.ready = nil
	left := make([]*wsReader, 0, len(p.readers))
	for _, r := range p.readers {
		left = append(left, r)
	}
	clear(p.readers)
	p.mu.Unlock()
	one := [1]byte{1}
	if _, err := syscall.Write(p.wake[1], one[:]); err != nil {
		p.log.Error("engineio: waking the readiness loop", "err", err)
	}
	p.running.Wait()
	p.ctlMu.Lock()
	p.closeFDs()
	p.epfd = -1
	p.ctlMu.Unlock()
	for _, r := range left {
		if r.probeTimer != nil {
			r.probeTimer.Stop()
		}
		r.ws.close()
	}
}

// wsReader is the loop's state for one WebSocket. Only the worker that
// holds the connection's turn uses its fields after watch.
type wsReader struct {
	wsDispatch
	p     *poller
	id    uint64
	input wsInput
}

// detach stops the loop from reading the connection (closeWith calls it).
func (r *wsReader) detach() {
	if r.p.forget(r) {
		_ = r.p.ctl(r, syscall.EPOLL_CTL_DEL) // fails if the socket is already closed, which detaches it too
	}
}

// turn reads what the connection has, up to readsPerTurn chunks, and
// handles the complete frames. It reports whether the connection should
// be re-armed.
func (r *wsReader) turn() bool {
	bp := r.p.bufs.Get().(*[]byte)
	defer r.p.bufs.Put(bp)
	done, err := r.input.turn(*bp, readsPerTurn, r.read, r.feed)
	if done && err != nil {
		r.fail(err)
	}
	return !done
}

// read reads once, without blocking, into b: errNoInput when the socket
// holds nothing now, io.EOF at the end of input.
func (r *wsReader) read(b []byte) (int, error) {
	var n int
	var rerr error
	err := r.ws.rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = syscall.Read(int(fd), b)
			if rerr != syscall.EINTR {
				return true
			}
		}
	})
	switch {
	case err != nil:
		return 0, err
	case rerr == syscall.EAGAIN:
		return 0, errNoInput
	case rerr != nil:
		return 0, rerr
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}
