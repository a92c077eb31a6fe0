package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"tandem/sync/engineio"
)

// ClientOptions configure a Client.
type ClientOptions struct {
	Namespace string // default "/"
	Path      string // default "/socket.io/"
	Header    http.Header
	// Auth returns the CONNECT payload; it is called before every attempt,
	// so it can return a fresh token. nil sends no payload.
	Auth   func() any
	Logger *slog.Logger
	// Reconnection: after a lost connection the client waits
	// ReconnectDelay·2^attempt, capped at ReconnectDelayMax, randomised by
	// ±Jitter (a fraction), then dials again. NoReconnect turns it off.
	NoReconnect       bool
	ReconnectDelay    time.Duration // default 1 s
	ReconnectDelayMax time.Duration // default 5 s
	Jitter            float64       // default 0.5
}

// ErrNotConnected is returned by Emit while the client has no connection.
var ErrNotConnected = errors.New("socketio: not connected")

// ErrClientClosed is returned after Close.
var ErrClientClosed = errors.New("socketio: client closed")

// Client is a Socket.IO client of one namespace. Event handlers run on the
// connection's reader goroutine, one at a time, in arrival order; they must
// not block.
type Client struct {
	url  string
	opts ClientOptions
	log  *slog.Logger

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	exited chan struct{} // closed when the run loop exits

	mu           sync.Mutex // guards the following
	handlers     map[string]EventHandler
	onConnect    []func()
	onDisconnect []func(reason string)
	onError      []func(error)
	conn         *engineio.Conn // current connection, nil when none
	sid          string
	acks         *ackTable
	started      bool
}

// NewClient returns a client for the hub at url. It does not connect until
// Connect.
func NewClient(url string, opts ClientOptions) *Client {
	if opts.Namespace == "" {
		opts.Namespace = "/"
	}
	if opts.ReconnectDelay <= 0 {
		opts.ReconnectDelay = time.Second
	}
	if opts.ReconnectDelayMax <= 0 {
		opts.ReconnectDelayMax = 5 * time.Second
	}
	if opts.Jitter <= 0 || opts.Jitter > 1 {
		opts.Jitter = 0.5
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Client{
		url: url, opts: opts, log: log.With("hub", url, "nsp", opts.Namespace),
		ctx: ctx, cancel: cancel, exited: make(chan struct{}),
		handlers: map[string]EventHandler{}, acks: newAckTable(),
	}
}

// On sets the handler of an event sent by the server.
func (c *Client) On(event string, h EventHandler) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handlers[event] = h
}

// OnConnect adds a function called after every successful (re)connection.
func (c *Client) OnConnect(fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onConnect = append(c.onConnect, fn)
}

// OnDisconnect adds a function called when a connection is lost or closed.
func (c *Client) OnDisconnect(fn func(reason string)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onDisconnect = append(c.onDisconnect, fn)
}

// OnError adds a function called with connection errors: failed dials and
// refused connections (a *ConnectError).
func (c *Client) OnError(fn func(error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onError = append(c.onError, fn)
}

// Connect starts the client and waits for the first connection. It returns
// a *ConnectError if the server refused it, in which case the client stops.
// After a first success the client reconnects by itself until Close. If ctx
// ends first, Connect returns its error but the client keeps trying.
func (c *Client) Connect(ctx context.Context) error {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return errors.New("socketio: Connect called twice")
	}
	c.started = true
	c.mu.Unlock()
	first := make(chan error, 1)
	go c.run(first)
	select {
	case err := <-first:
		return err
	case <-ctx.Done():
		return fmt.Errorf("socketio: connect %s: %w", c.url, ctx.Err())
	}
}

// Connected reports whether the client is connected now.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sid != ""
}

// ID returns the socket id of the current connection, or "".
func (c *Client) ID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sid
}

// Close stops the client, closes its connection and waits for its
// goroutines to exit.
func (c *Client) Close() error {
	c.cancel()
	c.mu.Lock()
	started, conn := c.started, c.conn
	c.mu.Unlock()
	if conn != nil {
		_ = conn.Send(Packet{Type: PacketDisconnect, Namespace: c.opts.Namespace}.Encode(), false)
		conn.Close()
	}
	if started {
		<-c.exited
	}
	return nil
}

// Emit sends an event. It fails with ErrNotConnected while disconnected;
// nothing is buffered.
func (c *Client) Emit(event string, args ...any) error {
	data, err := encodeArgs(event, args)
	if err != nil {
		return err
	}
	return c.send(Packet{Type: PacketEvent, Namespace: c.opts.Namespace, Data: data})
}

// EmitWithAck sends an event and waits for the server's ack, the end of ctx
// or the loss of the connection.
func (c *Client) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	data, err := encodeArgs(event, args)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		return nil, ErrNotConnected
	}
	id, ch := c.acks.register()
	if err := conn.Send(Packet{Type: PacketEvent, Namespace: c.opts.Namespace, ID: id, HasID: true, Data: data}.Encode(), false); err != nil {
		c.acks.cancel(id)
		return nil, fmt.Errorf("socketio: emit %s: %w", event, err)
	}
	return waitAck(ctx, c.acks, id, ch, conn.Done())
}

func (c *Client) send(p Packet) error {
	c.mu.Lock()
	conn, sid := c.conn, c.sid
	c.mu.Unlock()
	if conn == nil || sid == "" {
		return ErrNotConnected
	}
	if err := conn.Send(p.Encode(), false); err != nil {
		return fmt.Errorf("socketio: send: %w", err)
	}
	return nil
}

// run dials, serves the connection until it ends, and dials again after a
// backoff, until Close or a refused connection.
func (c *Client) run(first chan<- error) {
	defer close(c.exited)
	reported := false
	report := func(err error) {
		if !reported {
			reported = true
			first <- err
		}
	}
	attempt := 0
	for {
		refused, err := c.once(func() { attempt = 0; report(nil) })
		if refused != nil {
			c.emitError(refused)
			report(refused)
			return
		}
		if err != nil {
			c.emitError(err)
		}
		if c.ctx.Err() != nil {
			report(ErrClientClosed)
			return
		}
		if c.opts.NoReconnect {
			if err == nil {
				err = ErrDisconnected
			}
			report(err)
			return
		}
		d := c.backoff(attempt)
		attempt++
		c.log.Debug("socketio: reconnecting", "in", d, "attempt", attempt)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			report(ErrClientClosed)
			return
		}
	}
}

// backoff returns the delay before reconnection attempt n (from 0).
func (c *Client) backoff(n int) time.Duration {
	d := c.opts.ReconnectDelay
	for i := 0; i < n && d < c.opts.ReconnectDelayMax; i++ {
		d *= 2
	}
	d = min(d, c.opts.ReconnectDelayMax)
	j := c.opts.Jitter * (2*rand.Float64() - 1) // in [-Jitter, Jitter)
	return time.Duration(float64(d) * (1 + j))
}

func (c *Client) emitError(err error) {
	c.mu.Lock()
	fns := c.onError
	c.mu.Unlock()
	for _, fn := range fns {
		fn(err)
	}
}

// once makes one connection and serves it until it ends. It returns a
// *ConnectError if the server refused the namespace.
func (c *Client) once(onConnected func()) (refused *ConnectError, err error) {
	ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
	defer cancel()
	h := &clientHandler{c: c, result: make(chan error, 1), closed: make(chan string, 1)}
	conn, err := engineio.Dial(ctx, c.url, engineio.DialOptions{Path: c.opts.Path, Header: c.opts.Header, Logger: c.log}, func(conn *engineio.Conn) engineio.Handler {
		h.conn = conn
		return h
	})
	if err != nil {
		return nil, err
	}
	var auth json.RawMessage
	if c.opts.Auth != nil {
		if v := c.opts.Auth(); v == nil {
			auth = nil
		} else if auth, err = marshal(v); err != nil || jsonKind(auth) != '{' {
			conn.Close()
			conn.Wait()
			// Retrying cannot help: stop as if refused.
			return &ConnectError{Message: fmt.Sprintf("auth payload must encode to a JSON object (err: %v)", err)}, nil
		}
	}
	c.mu.Lock()
	c.conn = conn
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.conn, c.sid = nil, ""
		c.mu.Unlock()
	}()
	_ = conn.Send(Packet{Type: PacketConnect, Namespace: c.opts.Namespace, Data: auth}.Encode(), false)
	select {
	case err := <-h.result:
		if err != nil {
			conn.Close()
			conn.Wait()
			var ce *ConnectError
			if errors.As(err, &ce) {
				return ce, nil
			}
			return nil, err
		}
	case <-ctx.Done():
		conn.Close()
		conn.Wait()
		return nil, fmt.Errorf("socketio: waiting for CONNECT: %w", ctx.Err())
	case reason := <-h.closed:
		conn.Wait()
		return nil, fmt.Errorf("socketio: connection closed before CONNECT: %s", reason)
	}
	onConnected()
	c.mu.Lock()
	fns := c.onConnect
	c.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
	var reason string
	select {
	case reason = <-h.closed:
	case <-c.ctx.Done():
		conn.Close()
		reason = <-h.closed
	}
	conn.Wait()
	c.mu.Lock()
	dfns := c.onDisconnect
	c.mu.Unlock()
	for _, fn := range dfns {
		fn(reason)
	}
	if h.kicked {
		return &ConnectError{Message: "disconnected by the server"}, nil
	}
	return nil, nil
}

// clientHandler receives one connection's packets.
type clientHandler struct {
	c      *Client
	conn   *engineio.Conn
	result chan error  // the CONNECT or CONNECT_ERROR outcome
	closed chan string // the close reason
	kicked bool        // the server sent DISCONNECT; written before closed
}

func (h *clientHandler) OnMessage(data []byte, binary bool) {
	c := h.c
	if binary {
		c.log.Info("socketio: binary attachments are not supported yet; closing")
		h.conn.Close()
		return
	}
	p, err := Decode(data)
	if err != nil {
		c.log.Info("socketio: closing on bad packet", "err", err)
		h.conn.Close()
		return
	}
	if p.Namespace != c.opts.Namespace {
		return
	}
	switch p.Type {
	case PacketConnect:
		var v struct {
			SID string `json:"sid"`
		}
		if err := json.Unmarshal(p.Data, &v); err != nil || v.SID == "" {
			h.settle(fmt.Errorf("socketio: CONNECT without sid"))
			return
		}
		c.mu.Lock()
		c.sid = v.SID
		c.mu.Unlock()
		h.settle(nil)
	case PacketConnectError:
		ce := &ConnectError{}
		if jsonKind(p.Data) == '"' {
			_ = json.Unmarshal(p.Data, &ce.Message)
		} else {
			var v struct {
				Message string          `json:"message"`
				Data    json.RawMessage `json:"data"`
			}
			_ = json.Unmarshal(p.Data, &v)
			ce.Message = v.Message
			if len(v.Data) > 0 {
				ce.Data = v.Data
			}
		}
		h.settle(ce)
	case PacketDisconnect:
		h.kicked = true
		h.conn.Close()
	case PacketEvent:
		name, args, err := splitEvent(p.Data)
		if err != nil {
			c.log.Info("socketio: closing on bad event", "err", err)
			h.conn.Close()
			return
		}
		c.mu.Lock()
		fn := c.handlers[name]
		c.mu.Unlock()
		var ack AckFunc
		if p.HasID {
			ack = newAck(p, func(q Packet) error { return h.conn.Send(q.Encode(), false) })
		}
		if fn != nil {
			fn(args, ack)
		}
	case PacketAck:
		var args []json.RawMessage
		if err := json.Unmarshal(p.Data, &args); err == nil {
			c.acks.resolve(p.ID, args)
		}
	}
}

// settle reports the outcome of CONNECT; only the first counts.
func (h *clientHandler) settle(err error) {
	select {
	case h.result <- err:
	default:
	}
}

func (h *clientHandler) OnClose(reason string) { h.closed <- reason }
