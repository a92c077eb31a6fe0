package engineio

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Handler receives a connection's messages and its close. OnMessage is
// called one message at a time, in arrival order, whatever the transport;
// OnClose is called exactly once, after the last OnMessage.
type Handler interface {
	OnMessage(data []byte, binary bool)
	OnClose(reason string)
}

// packet is one Engine.IO packet.
type packet struct {
	typ    byte // typeOpen … typeNoop
	data   []byte
	binary bool // a binary message (typ is typeMessage)
}

// errPacket is wrapped by every packet decoding error.
var errPacket = errors.New("engineio: invalid packet")

// decodeText decodes a text packet: a type digit and its data.
func decodeText(b []byte) (packet, error) {
	if len(b) == 0 || b[0] < typeOpen || b[0] > typeNoop {
		return packet{}, fmt.Errorf("%w: %q", errPacket, truncate(b))
	}
	return packet{typ: b[0], data: b[1:]}, nil
}

// appendPolling appends p in the form of a polling payload: text packets
// as they are, binary ones as "b" and base64.
func appendPolling(dst []byte, p packet) []byte {
	if p.binary {
		dst = append(dst, 'b')
		return base64.StdEncoding.AppendEncode(dst, p.data)
	}
	dst = append(dst, p.typ)
	return append(dst, p.data...)
}

// encodePayload joins packets with the record separator 0x1e.
func encodePayload(ps []packet) []byte {
	var b []byte
	for i, p := range ps {
		if i > 0 {
			b = append(b, recordSeparator)
		}
		b = appendPolling(b, p)
	}
	return b
}

const recordSeparator = 0x1e

// decodePayload splits a polling payload into packets.
func decodePayload(body []byte) ([]packet, error) {
	var ps []packet
	for len(body) > 0 || ps == nil {
		var rec []byte
		if i := bytes.IndexByte(body, recordSeparator); i >= 0 {
			rec, body = body[:i], body[i+1:]
		} else {
			rec, body = body, nil
		}
		if len(rec) > 0 && rec[0] == 'b' {
			data, err := base64.StdEncoding.DecodeString(string(rec[1:]))
			if err != nil {
				return nil, fmt.Errorf("%w: bad base64: %v", errPacket, err)
			}
			ps = append(ps, packet{typ: typeMessage, data: data, binary: true})
			continue
		}
		p, err := decodeText(rec)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// Conn is one Engine.IO connection, on the server or the client side, over
// HTTP long-polling or WebSocket. Messages queue in Conn until a transport
// takes them: a WebSocket writer goroutine, or the next polling GET (server)
// or POST (client), which carries everything queued in one payload.
type Conn struct {
	id           string
	server       bool // the server sends pings; the client answers them
	pingInterval time.Duration
	pingTimeout  time.Duration
	maxQueue     int // packets; a peer that lets more pile up is dropped
	log          *slog.Logger
	handler      Handler
	clientAddr   string // Options.ClientAddr of the handshake (server)

	recvMu sync.Mutex // serialises delivery to the handler

	mu        sync.Mutex // guards the following
	queue     []packet
	ws        wsConn        // the WebSocket transport, once in use
	probing   bool          // a WebSocket is probing for an upgrade
	probeEnd  chan struct{} // closed when that probe ends, upgraded or not
	upgrading bool          // a probe succeeded: polling answers only noops
	getBusy   bool          // a polling GET is waiting (server)
	lateGET   bool          // the client closed a polling session with no GET waiting: one GET still in flight gets a noop (server)
	flushing  bool          // a WebSocket flusher runs
	pongDue   time.Time     // when an unanswered ping times out (server); zero when none
	pingDue   time.Time     // when the next ping is due (server)
	beat      *time.Timer   // the heartbeat's timer
	probeWS   *serverWS     // the WebSocket probing for an upgrade, while one does
	watch     detacher      // the readiness loop's registration of ws, when it reads ws
	closed    bool
	reason    string

	wake      chan struct{} // cap 1: the queue has something, or the state changed
	done      chan struct{} // closed when the connection closes
	closeOnce sync.Once
	exited    sync.WaitGroup // the connection's goroutines
}

func newConn(id string, server bool, h handshake, log *slog.Logger) *Conn {
	return &Conn{
		id:           id,
		server:       server,
		pingInterval: time.Duration(h.PingInterval) * time.Millisecond,
		pingTimeout:  time.Duration(h.PingTimeout) * time.Millisecond,
		maxQueue:     defaultSendQueue,
		log:          log, // no per-connection With: it costs memory; calls add "sid"
		wake:         make(chan struct{}, 1),
		done:         make(chan struct{}),
	}
}

// ID returns the Engine.IO session id.
func (c *Conn) ID() string { return c.id }

// Done returns a channel closed when the connection has closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Transport returns "websocket" or "polling".
func (c *Conn) Transport() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ws != nil {
		return "websocket"
	}
	return "polling"
}

// start sets the handler and arms the heartbeat.
func (c *Conn) start(h Handler) {
	c.handler = h
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.server {
		c.pingDue = now.Add(c.pingInterval)
		c.beat = time.AfterFunc(c.pingInterval, c.onBeat)
	} else {
		c.beat = time.AfterFunc(c.pingInterval+c.pingTimeout, c.onBeat)
	}
}

// Send queues a message. It never blocks: when the peer is so slow that its
// queue is full, the connection is closed and Send returns ErrClosed.
func (c *Conn) Send(data []byte, binary bool) error {
	return c.enqueue(packet{typ: typeMessage, data: data, binary: binary})
}

func (c *Conn) enqueue(p packet) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if len(c.queue) >= c.maxQueue {
		c.mu.Unlock()
		c.closeWith(ReasonSlowPeer)
		return ErrClosed
	}
	if sw, ok := c.ws.(*serverWS); ok && !c.flushing && len(c.queue) == 0 {
		// Nothing waits: write now, without blocking, on this goroutine,
		// and start a flusher only if the socket does not take it all.
		c.flushing = true
		// The write counts as one of the connection's goroutines while
		// it runs, so that the flusher it may start below is added while
		// the count is above zero: a Close meanwhile makes Wait wait for
		// that flusher (WaitGroup: no Add from zero during a Wait).
		c.exited.Add(1)
		defer c.exited.Done()
		c.mu.Unlock()
		taken, rest := sw.tryWrite(p)
		c.mu.Lock()
		c.flushing = false
		if !taken {
			// First: it was sent before anything queued meanwhile.
			c.queue = append([]packet{p}, c.queue...)
		}
		if taken && !rest && len(c.queue) == 0 && !c.closed {
			c.mu.Unlock()
			return nil
		}
		c.kickLocked()
		c.mu.Unlock()
		return nil
	}
	c.queue = append(c.queue, p)
	c.kickLocked()
	c.mu.Unlock()
	c.signal()
	return nil
}

// kickLocked starts a WebSocket flusher unless one runs; c.mu must be held.
// A flusher lives only while there is something to write, so an idle
// connection keeps no writer goroutine.
func (c *Conn) kickLocked() {
	if c.ws != nil && !c.flushing {
		c.flushing = true
		c.exited.Add(1)
		go c.flush(c.ws)
	}
}

// signal wakes a waiting polling GET; a nil wake (a connection that
// began on WebSocket) makes it a no-op.
func (c *Conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Close closes the connection, flushing what is queued and a close packet
// first. It does not wait; Wait does. It may be called from the handler.
func (c *Conn) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.queueCloseLocked()
	}
	c.mu.Unlock()
	c.closeWith(ReasonForcedClose)
	return nil
}

// startProbeLocked marks a WebSocket probing the session.
func (c *Conn) startProbeLocked() {
	c.probing = true
	c.probeEnd = make(chan struct{})
}

// endProbeLocked marks the probe ended, upgraded or not.
func (c *Conn) endProbeLocked() {
	c.probing = false
	if c.probeEnd != nil {
		close(c.probeEnd)
		c.probeEnd = nil
	}
}

// queueCloseLocked queues a close packet unless one is queued already.
func (c *Conn) queueCloseLocked() {
	if n := len(c.queue); n == 0 || c.queue[n-1].typ != typeClose {
		c.queue = append(c.queue, packet{typ: typeClose})
	}
}

// pollingCloseLocked prepares a polling session's last answer as the
// server closes it for reason. When the server ends the session, a
// waiting or next GET gets a close packet ("1"), as Engine.IO's own
// server sends it. When the client ended it with its own close packet,
// a waiting GET gets a noop ("6"); if none was waiting, the client's GET
// may still be on its way (it sends both at once, on two connections),
// so that one GET gets the noop too instead of "unknown session".
func (c *Conn) pollingCloseLocked(reason string) {
	if !c.server || c.ws != nil {
		return
	}
	switch reason {
	case ReasonTransportClose:
		c.lateGET = !c.getBusy
	case ReasonTransportError:
	default:
		c.queueCloseLocked()
	}
}

// takeLateGET reports whether a GET that reaches the closed session may
// have the noop that ends it, and lets no other GET have it.
func (c *Conn) takeLateGET() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	late := c.lateGET
	c.lateGET = false
	return late
}

// ClientAddr returns what Options.ClientAddr named the client from its
// handshake request: "" without it, and on the client side.
func (c *Conn) ClientAddr() string { return c.clientAddr }

// Wait blocks until the connection's goroutines have exited. It must not be
// called from the handler.
func (c *Conn) Wait() { c.exited.Wait() }

// closeWith records the reason and signals every goroutine to stop.
func (c *Conn) closeWith(reason string) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.pollingCloseLocked(reason)
		c.closed = true
		c.reason = reason
		if c.beat != nil {
			c.beat.Stop()
		}
		c.kickLocked() // the flusher writes what is left and closes the socket
		watch := c.watch
		if c.probeWS != nil {
			// Its reader sees the end of input and gives the probe up.
			shutdownRead(c.probeWS)
		}
		c.mu.Unlock()
		if watch != nil {
			watch.detach()
		}
		close(c.done)
		c.signal()
		// Tell the handler, after any message being delivered.
		c.exited.Add(1)
		go func() {
			defer c.exited.Done()
			c.recvMu.Lock()
			c.handler.OnClose(reason)
			c.recvMu.Unlock()
		}()
	})
}

// Reason returns why the connection closed, or "" while it is open.
func (c *Conn) Reason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

func (c *Conn) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// receive handles one packet from the peer, on any transport.
func (c *Conn) receive(p packet) {
	switch p.typ {
	case typeMessage:
		c.recvMu.Lock()
		if !c.isClosed() {
			c.handler.OnMessage(p.data, p.binary)
		}
		c.recvMu.Unlock()
	case typePong:
		if c.server {
			c.onPong()
		}
	case typePing:
		if !c.server {
			c.mu.Lock()
			if c.beat != nil && !c.closed {
				c.beat.Reset(c.pingInterval + c.pingTimeout)
			}
			c.mu.Unlock()
			_ = c.enqueue(packet{typ: typePong, data: p.data})
		}
	case typeClose:
		c.closeWith(ReasonTransportClose)
	case typeNoop:
	default:
		c.log.Debug("engineio: unexpected packet", "sid", c.id, "type", string(p.typ))
		c.closeWith(ReasonParseError)
	}
}

// The heartbeat runs on a timer, without a goroutine of its own. The server
// sends a ping every pingInterval, from ping to ping, and closes the
// connection when no pong follows within pingTimeout; the client closes it
// when no ping arrives within pingInterval+pingTimeout. The schedule runs on
// ideal times, so a late timer never moves a deadline, and the pong
// deadline starts when the ping is queued, whether or not a transport is
// ready to carry it.

// onBeat runs when the heartbeat's timer fires.
func (c *Conn) onBeat() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if !c.server || !c.pongDue.IsZero() {
		c.mu.Unlock()
		c.closeWith(ReasonPingTimeout)
		return
	}
	c.pongDue = c.pingDue.Add(c.pingTimeout)
	c.beat.Reset(max(time.Until(c.pongDue), 0))
	c.mu.Unlock()
	_ = c.enqueue(packet{typ: typePing})
}

// onPong schedules the next ping once the awaited pong is in.
func (c *Conn) onPong() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.pongDue.IsZero() {
		return
	}
	c.pongDue = time.Time{}
	c.pingDue = c.pingDue.Add(c.pingInterval)
	c.beat.Reset(max(time.Until(c.pingDue), 0))
}

// overdue closes the connection if a ping has gone unanswered past its
// deadline, whether or not the heartbeat's timer has fired yet, and
// reports whether the connection is closed.
func (c *Conn) overdue() bool {
	c.mu.Lock()
	late := !c.pongDue.IsZero() && time.Now().After(c.pongDue)
	c.mu.Unlock()
	if late {
		c.closeWith(ReasonPingTimeout)
	}
	return c.isClosed()
}

// take removes and returns everything queued.
func (c *Conn) take() []packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queue
	c.queue = nil
	return q
}

// detacher is a WebSocket's registration with the server's readiness loop.
type detacher interface {
	// detach stops the loop from reading the WebSocket. It may be called
	// more than once, from any goroutine.
	detach()
}

// useWebSocket makes ws the client connection's transport, starts its
// writer if something waits, and a goroutine that reads it.
func (c *Conn) useWebSocket(ws *websocket.Conn) {
	c.mu.Lock()
	c.setWebSocketLocked(gorillaWS{ws})
	c.mu.Unlock()
	c.exited.Add(1)
	go func() {
		defer c.exited.Done()
		c.wsRead(ws)
	}()
	c.signal()
}

// setWebSocketLocked makes ws the transport; c.mu must be held.
func (c *Conn) setWebSocketLocked(ws wsConn) {
	c.ws = ws
	c.upgrading = false
	if p, ok := ws.(*serverWS); ok && c.probeWS == p {
		c.probeWS = nil
		c.endProbeLocked()
	}
	if len(c.queue) > 0 || c.closed {
		c.kickLocked()
	}
}

// wsRead is the client's only reader of ws.
func (c *Conn) wsRead(ws *websocket.Conn) {
	for {
		mt, data, err := ws.ReadMessage()
		if err != nil {
			if !c.isClosed() {
				if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
					c.closeWith(ReasonTransportClose)
				} else {
					c.log.Debug("engineio: read", "sid", c.id, "err", err)
					c.closeWith(ReasonTransportError)
				}
			}
			return
		}
		if !c.wsMessage(mt == websocket.BinaryMessage, data) {
			return
		}
	}
}

// wsMessage handles one message of the WebSocket transport and reports
// whether the connection is still open.
func (c *Conn) wsMessage(binary bool, data []byte) bool {
	if binary {
		c.receive(packet{typ: typeMessage, data: data, binary: true})
		return !c.isClosed()
	}
	p, err := decodeText(data)
	if err != nil || p.typ == typeOpen || p.typ == typeUpgrade {
		c.log.Debug("engineio: bad packet", "sid", c.id, "packet", truncate(data))
		c.closeWith(ReasonParseError)
		return false
	}
	c.receive(p)
	return !c.isClosed()
}

// shutdownRead ends a WebSocket's input, so that its reader, a goroutine
// or the readiness loop, sees the end of the stream and cleans up. A
// connection that cannot shut its read side down alone is closed.
func shutdownRead(ws wsConn) {
	if cr, ok := ws.netConn().(interface{ CloseRead() error }); ok {
		_ = cr.CloseRead()
		return
	}
	ws.close()
}

// flush is the only writer of ws's data frames while it runs: it writes
// what is queued, all at once, until the queue is empty, then exits. Once
// the connection is closed it writes what is left (a DISCONNECT or close
// packet may be among it), for at most a second, sends a close frame and
// closes the socket, which ends the reader.
func (c *Conn) flush(ws wsConn) {
	defer c.exited.Done()
	var closeBy time.Time
	for {
		c.mu.Lock()
		q := c.queue
		c.queue = nil
		closed := c.closed
		if len(q) == 0 && !closed && !ws.hasPending() {
			c.flushing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		deadline := time.Now().Add(writeWait)
		if closed {
			if closeBy.IsZero() {
				closeBy = time.Now().Add(time.Second)
			}
			deadline = closeBy
		}
		if len(q) > 0 || ws.hasPending() {
			if err := ws.writePackets(q, deadline); err != nil {
				if !closed {
					c.log.Debug("engineio: write", "sid", c.id, "err", err)
				}
				c.closeWith(ReasonTransportError)
				ws.close()
				return // flushing stays set: nothing more goes to ws
			}
		}
		if closed && len(q) == 0 {
			_ = ws.writeClose(closeNormal, "", deadline)
			ws.close()
			return
		}
	}
}

// Buffered returns how many packets wait for the transport to take them.
func (c *Conn) Buffered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}
