package engineio

import (
	"log/slog"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Handler receives a connection's messages and its close. OnMessage is
// called on the connection's reader goroutine, one message at a time, in
// arrival order; OnClose is called exactly once, after the last OnMessage.
type Handler interface {
	OnMessage(data []byte, binary bool)
	OnClose(reason string)
}

type frame struct {
	binary bool
	data   []byte
}

// Conn is one Engine.IO connection, on the server or on the client side.
type Conn struct {
	id           string
	ws           *websocket.Conn
	server       bool // the server sends pings; the client answers them
	pingInterval time.Duration
	pingTimeout  time.Duration
	log          *slog.Logger

	handler Handler
	send    chan frame    // queued frames; the writer drains it
	pong    chan struct{} // the reader signals a pong (server) or ping (client)
	done    chan struct{} // closed when the connection closes

	closeOnce sync.Once
	mu        sync.Mutex // guards reason
	reason    string
	exited    sync.WaitGroup // the reader and writer goroutines
}

func newConn(id string, ws *websocket.Conn, server bool, h handshake, log *slog.Logger) *Conn {
	return &Conn{
		id:           id,
		ws:           ws,
		server:       server,
		pingInterval: time.Duration(h.PingInterval) * time.Millisecond,
		pingTimeout:  time.Duration(h.PingTimeout) * time.Millisecond,
		log:          log.With("sid", id),
		send:         make(chan frame, defaultSendQueue),
		pong:         make(chan struct{}, 1),
		done:         make(chan struct{}),
	}
}

// ID returns the Engine.IO session id.
func (c *Conn) ID() string { return c.id }

// Done returns a channel closed when the connection has closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// start runs the reader and the writer. The handler must be set.
func (c *Conn) start(h Handler) {
	c.handler = h
	c.exited.Add(2)
	go c.readLoop()
	go c.writeLoop()
}

// Send queues a message. It never blocks: when the peer is so slow that its
// queue is full, the connection is closed and Send returns ErrClosed.
func (c *Conn) Send(data []byte, binary bool) error {
	var f frame
	if binary {
		f = frame{binary: true, data: data}
	} else {
		f = frame{data: append([]byte{typeMessage}, data...)}
	}
	return c.enqueue(f)
}

func (c *Conn) enqueue(f frame) error {
	select {
	case <-c.done:
		return ErrClosed
	default:
	}
	select {
	case c.send <- f:
		return nil
	case <-c.done:
		return ErrClosed
	default:
		c.closeWith(ReasonSlowPeer)
		return ErrClosed
	}
}

// Close closes the connection, flushing what is queued and a close packet
// first. It does not wait; Wait does. It may be called from the handler.
func (c *Conn) Close() error {
	select {
	case c.send <- frame{data: []byte{typeClose}}:
	default:
	}
	c.closeWith(ReasonForcedClose)
	return nil
}

// Wait blocks until the connection's goroutines have exited. It must not be
// called from the handler.
func (c *Conn) Wait() { c.exited.Wait() }

// closeWith records the reason and signals both goroutines to stop.
func (c *Conn) closeWith(reason string) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.reason = reason
		c.mu.Unlock()
		close(c.done)
	})
}

// Reason returns why the connection closed, or "" while it is open.
func (c *Conn) Reason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// readLoop is the only reader of the socket.
func (c *Conn) readLoop() {
	defer c.exited.Done()
	defer func() {
		c.handler.OnClose(c.Reason())
	}()
	for {
		mt, data, err := c.ws.ReadMessage()
		if err != nil {
			select {
			case <-c.done:
			default:
				if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
					c.closeWith(ReasonTransportClose)
				} else {
					c.log.Debug("engineio: read", "err", err)
					c.closeWith(ReasonTransportError)
				}
			}
			return
		}
		if mt == websocket.BinaryMessage {
			c.handler.OnMessage(data, true)
			continue
		}
		if len(data) == 0 {
			c.closeWith(ReasonParseError)
			return
		}
		switch data[0] {
		case typeMessage:
			c.handler.OnMessage(data[1:], false)
		case typePong:
			if c.server {
				c.signalHeartbeat()
			}
		case typePing:
			if !c.server {
				c.signalHeartbeat()
				// Probe pings ("2probe") belong to the upgrade; answer in kind.
				_ = c.enqueue(frame{data: append([]byte{typePong}, data[1:]...)})
			}
		case typeClose:
			c.closeWith(ReasonTransportClose)
			return
		case typeNoop:
		default:
			c.log.Debug("engineio: bad packet", "packet", truncate(data))
			c.closeWith(ReasonParseError)
			return
		}
	}
}

func (c *Conn) signalHeartbeat() {
	select {
	case c.pong <- struct{}{}:
	default:
	}
}

// writeLoop is the only writer of the socket. On the server it sends a ping
// every pingInterval and closes the connection when no pong arrives within
// pingTimeout. On the client it closes the connection when no ping arrives
// within pingInterval+pingTimeout.
func (c *Conn) writeLoop() {
	defer c.exited.Done()
	var heartbeat *time.Timer
	awaitingPong := false
	if c.server {
		heartbeat = time.NewTimer(c.pingInterval)
	} else {
		heartbeat = time.NewTimer(c.pingInterval + c.pingTimeout)
	}
	defer heartbeat.Stop()
	for {
		select {
		case <-c.done:
			c.drainClose()
			return
		case f := <-c.send:
			if !c.write(f) {
				return
			}
		case <-c.pong:
			if c.server {
				if awaitingPong {
					awaitingPong = false
					heartbeat.Reset(c.pingInterval)
				}
			} else {
				heartbeat.Reset(c.pingInterval + c.pingTimeout)
			}
		case <-heartbeat.C:
			if !c.server || awaitingPong {
				c.closeWith(ReasonPingTimeout)
				continue
			}
			awaitingPong = true
			heartbeat.Reset(c.pingTimeout)
			if !c.write(frame{data: []byte{typePing}}) {
				return
			}
		}
	}
}

// drainClose flushes what is queued (a DISCONNECT or close packet may be
// among it), for at most a second, then closes the socket, which also ends
// the reader's blocked read.
func (c *Conn) drainClose() {
	defer c.ws.Close()
	_ = c.ws.SetWriteDeadline(time.Now().Add(time.Second))
	for {
		select {
		case f := <-c.send:
			mt := websocket.TextMessage
			if f.binary {
				mt = websocket.BinaryMessage
			}
			if err := c.ws.WriteMessage(mt, f.data); err != nil {
				return
			}
			continue
		default:
		}
		break
	}
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
}

func (c *Conn) write(f frame) bool {
	_ = c.ws.SetWriteDeadline(time.Now().Add(writeWait))
	mt := websocket.TextMessage
	if f.binary {
		mt = websocket.BinaryMessage
	}
	if err := c.ws.WriteMessage(mt, f.data); err != nil {
		c.log.Debug("engineio: write", "err", err)
		c.closeWith(ReasonTransportError)
		c.ws.Close()
		return false
	}
	return true
}
