package socketio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"tandem/sync/engineio"
)

// DefaultBufferSize is how many emits a Client keeps while disconnected.
const DefaultBufferSize = 100

// ClientOptions configure a Client.
type ClientOptions struct {
	Namespace string // default "/"
	Path      string // default "/socket.io/"
	// Transports lists the Engine.IO transports in order of use, e.g.
	// {"polling", "websocket"} to start on polling and upgrade; default
	// websocket only.
	Transports []string
	Header     http.Header
	// Auth returns the CONNECT payload; it is called before every attempt,
	// so it can return a fresh token. nil sends no payload. When the
	// server offers connection state recovery, the client adds "pid" and
	// "offset" to it by itself.
	Auth   func() any
	Logger *slog.Logger
	// Reconnection: after a lost connection the client waits
	// ReconnectDelay·2^attempt, capped at ReconnectDelayMax, randomised by
	// ±Jitter (a fraction), then dials again. NoReconnect turns it off.
	NoReconnect       bool
	ReconnectDelay    time.Duration // default 1 s
	ReconnectDelayMax time.Duration // default 5 s
	Jitter            float64       // default 0.5
	// BufferSize bounds the emits kept while the client is not connected
	// (before the first connection and between reconnections); they are
	// sent in order as soon as it connects again, before the OnConnect
	// functions run. 0 means DefaultBufferSize; a negative size turns
	// buffering off, and Emit then fails with ErrNotConnected.
	BufferSize int
}

// ErrNotConnected is returned by Emit while the client has no connection
// and buffering is off.
var ErrNotConnected = errors.New("socketio: not connected")

// ErrBufferFull is returned by Emit while the client has no connection and
// its buffer is full.
var ErrBufferFull = errors.New("socketio: not connected and send buffer full")

// ErrClientClosed is returned after Close, and after a refused connection
// stopped the client.
var ErrClientClosed = errors.New("socketio: client closed")

// Client is a Socket.IO client of one namespace. Event handlers run one
// at a time, in arrival order, on a goroutine of the connection's own, not
// on its reader: a slow handler does not stall the connection's pings. It
// does hold up the events after it, and the acks that arrive after them
// (an ack resolves once the events before it have been handled, as on the
// wire); so a handler must not wait for an ack, and should not block.
type Client struct {
	url  string
	opts ClientOptions
	log  *slog.Logger
	acks *ackTable

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	exited chan struct{} // closed when the run loop exits
	retry  chan struct{} // Retry: cut the reconnection's wait short

	writeMu sync.Mutex // keeps each packet's messages together

	mu           sync.Mutex // guards the following
	handlers     map[string]EventHandler
	anyHandler   func(event string, args []json.RawMessage, ack AckFunc)
	onConnect    []func()
	onDisconnect []func(reason string)
	onError      []func(error)
	live         *engineio.Conn // the connection once CONNECT succeeded, else nil
	sid          string
	pid          string // private session id, when the server offers recovery
	offset       string // the last offset received
	recovered    bool
	buffer       []buffered
	nextAttempt  time.Time // when the next reconnection starts, while waiting for it
	started      bool
	stopped      bool // the run loop has ended or will not run
}

// buffered is an emit made while disconnected.
type buffered struct {
	p     EncodedPacket
	id    uint64
	hasID bool
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
	if opts.BufferSize == 0 {
		opts.BufferSize = DefaultBufferSize
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Client{
		url: url, opts: opts, log: log.With("hub", url, "nsp", opts.Namespace),
		ctx: ctx, cancel: cancel, exited: make(chan struct{}), retry: make(chan struct{}, 1),
		handlers: map[string]EventHandler{}, acks: newAckTable(nil),
	}
}

// On sets the handler of an event sent by the server.
func (c *Client) On(event string, h EventHandler) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handlers[event] = h
}

// OnAny sets the catch-all handler, for events that have no handler of
// their own.
func (c *Client) OnAny(h func(event string, args []json.RawMessage, ack AckFunc)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.anyHandler = h
}

// OnConnect adds a function called after every successful (re)connection,
// on the client's run loop; it may block, for example on EmitWithAck.
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
	if c.started || c.stopped {
		c.mu.Unlock()
		return errors.New("socketio: Connect called twice or after Close")
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
	return c.live != nil
}

// NextAttempt returns when the next reconnection attempt starts, while
// the client waits for it after a lost connection or a failed dial; the
// zero time otherwise.
func (c *Client) NextAttempt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nextAttempt
}

// Retry cuts the wait before the next reconnection attempt short: the
// client dials at once. It does nothing while connected or dialing.
func (c *Client) Retry() {
	c.mu.Lock()
	waiting := !c.nextAttempt.IsZero()
	c.mu.Unlock()
	if !waiting {
		return
	}
	select {
	case c.retry <- struct{}{}:
	default:
	}
}

// ID returns the socket id of the current connection, or "".
func (c *Client) ID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sid
}

// Recovered reports whether the current connection recovered the previous
// one's session (see RecoveryOptions): same socket id and rooms, and the
// missed broadcasts arrive right after the connection.
func (c *Client) Recovered() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recovered
}

// Close stops the client, closes its connection and waits for its
// goroutines to exit, so it must not be called from an event handler.
// Buffered emits are dropped, and acks still awaited fail with
// ErrClientClosed.
func (c *Client) Close() error {
	c.cancel()
	c.mu.Lock()
	started, conn := c.started, c.live
	if !started {
		c.stopped = true
		c.buffer = nil
	}
	c.mu.Unlock()
	if conn != nil {
		_ = c.write(conn, EncodedPacket{Text: Packet{Type: PacketDisconnect, Namespace: c.opts.Namespace}.Encode()})
		conn.Close()
	}
	if started {
		<-c.exited
	} else {
		c.acks.failAll(ErrClientClosed)
	}
	return nil
}

// Emit sends an event; []byte arguments become binary attachments. While
// disconnected the event is buffered (see ClientOptions.BufferSize).
func (c *Client) Emit(event string, args ...any) error {
	p, err := encodePacket(PacketEvent, c.opts.Namespace, 0, false, event, args)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sendLocked(p, 0, false)
}

// EmitWithAck sends an event and waits for the server's ack or the end of
// ctx (give it a deadline to time out). While disconnected the event is
// buffered and the wait goes on across the reconnection; once sent, the
// loss of the connection fails it with ErrDisconnected.
func (c *Client) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	id, ch := c.acks.register(nil)
	p, err := encodePacket(PacketEvent, c.opts.Namespace, id, true, event, args)
	if err == nil {
		c.mu.Lock()
		err = c.sendLocked(p, id, true)
		c.mu.Unlock()
	}
	if err != nil {
		c.acks.cancel(id)
		return nil, err
	}
	args2, err := c.acks.wait(ctx, id, ch)
	if err != nil && ctx.Err() != nil {
		c.mu.Lock()
		c.buffer = slices.DeleteFunc(c.buffer, func(b buffered) bool { return b.hasID && b.id == id })
		c.mu.Unlock()
	}
	return args2, err
}

// sendLocked sends p on the live connection, or buffers it. c.mu must be
// held.
func (c *Client) sendLocked(p EncodedPacket, id uint64, hasID bool) error {
	if c.live != nil {
		if hasID {
			c.acks.retag(id, c.live)
		}
		err := c.write(c.live, p)
		if err == nil {
			return nil
		}
		if c.opts.BufferSize < 0 {
			return fmt.Errorf("socketio: send: %w", err)
		}
		// The connection is going; keep the packet for the next one.
		if hasID {
			c.acks.retag(id, nil)
		}
	}
	if c.stopped || c.ctx.Err() != nil {
		return ErrClientClosed
	}
	if c.opts.BufferSize < 0 {
		return ErrNotConnected
	}
	if len(c.buffer) >= c.opts.BufferSize {
		return ErrBufferFull
	}
	c.buffer = append(c.buffer, buffered{p: p, id: id, hasID: hasID})
	return nil
}

// write queues a packet's messages on conn, together.
func (c *Client) write(conn *engineio.Conn, p EncodedPacket) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := conn.Send(p.Text, false); err != nil {
		return err
	}
	for _, b := range p.Attachments {
		if err := conn.Send(b, true); err != nil {
			return err
		}
	}
	return nil
}

// run dials, serves the connection until it ends, and dials again after a
// backoff, until Close or a refused connection.
func (c *Client) run(first chan<- error) {
	defer close(c.exited)
	defer func() {
		c.mu.Lock()
		c.stopped = true
		c.buffer = nil
		c.mu.Unlock()
		c.acks.failAll(ErrClientClosed)
	}()
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
		select { // a Retry from before this wait is stale
		case <-c.retry:
		default:
		}
		c.mu.Lock()
		c.nextAttempt = time.Now().Add(d)
		c.mu.Unlock()
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.retry:
			t.Stop()
		case <-c.ctx.Done():
			t.Stop()
			report(ErrClientClosed)
			return
		}
		c.mu.Lock()
		c.nextAttempt = time.Time{}
		c.mu.Unlock()
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

// connectPayload returns the CONNECT auth: the user's, plus the session to
// recover when there is one.
func (c *Client) connectPayload() (json.RawMessage, *ConnectError) {
	var auth json.RawMessage
	if c.opts.Auth != nil {
		if v := c.opts.Auth(); v != nil {
			var err error
			if auth, err = marshal(v); err != nil || jsonKind(auth) != '{' {
				return nil, &ConnectError{Message: fmt.Sprintf("auth payload must encode to a JSON object (err: %v)", err)}
			}
		}
	}
	c.mu.Lock()
	pid, offset := c.pid, c.offset
	c.mu.Unlock()
	if pid == "" {
		return auth, nil
	}
	return withRecovery(auth, pid, offset), nil
}

// withRecovery adds "pid" and, when known, "offset" to a JSON object (nil
// for none). Keys of auth come later, so they win, as in the reference
// client.
func withRecovery(auth json.RawMessage, pid, offset string) json.RawMessage {
	var b bytes.Buffer
	b.WriteString(`{"pid":`)
	v, _ := marshal(pid) // cannot fail: a string
	b.Write(v)
	if offset != "" {
		b.WriteString(`,"offset":`)
		v, _ = marshal(offset)
		b.Write(v)
	}
	inner := bytes.TrimSpace(auth)
	if len(inner) >= 2 {
		inner = bytes.TrimSpace(inner[1 : len(inner)-1])
	}
	if len(inner) > 0 {
		b.WriteByte(',')
		b.Write(inner)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// once makes one connection and serves it until it ends. It returns a
// *ConnectError if the server refused the namespace.
func (c *Client) once(onConnected func()) (refused *ConnectError, err error) {
	ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
	defer cancel()
	h := &clientHandler{c: c, result: make(chan error, 1), closed: make(chan string, 1), events: newDispatcher(maxQueued)}
	// Every path below ends the connection first, so no message is
	// queued after this; at Close what is still queued is dropped.
	defer func() { h.events.finish(c.ctx.Err() != nil) }()
	conn, err := engineio.Dial(ctx, c.url, engineio.DialOptions{Path: c.opts.Path, Header: c.opts.Header, Logger: c.log, Transports: c.opts.Transports}, func(conn *engineio.Conn) engineio.Handler {
		h.conn = conn
		return h
	})
	if err != nil {
		return nil, err
	}
	auth, bad := c.connectPayload()
	if bad != nil {
		conn.Close()
		conn.Wait()
		return bad, nil // retrying cannot help: stop as if refused
	}
	defer func() {
		c.mu.Lock()
		c.live, c.sid = nil, ""
		c.mu.Unlock()
		c.acks.fail(func(tag any) bool { return tag == any(conn) }, ErrDisconnected)
	}()
	_ = c.write(conn, EncodedPacket{Text: Packet{Type: PacketConnect, Namespace: c.opts.Namespace, Data: auth}.Encode()})
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
	c.mu.Lock()
	c.live = conn
	buf := c.buffer
	c.buffer = nil
	for _, b := range buf {
		if b.hasID {
			c.acks.retag(b.id, conn)
		}
		_ = c.write(conn, b.p) // a failure shows as the connection's end
	}
	fns := c.onConnect
	c.mu.Unlock()
	onConnected()
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
	// The events received before the end are handled before OnDisconnect.
	h.events.finish(c.ctx.Err() != nil)
	c.mu.Lock()
	c.live, c.sid = nil, ""
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

// clientHandler receives one connection's packets, one at a time, on the
// connection's reader, and queues its events for events.
type clientHandler struct {
	c      *Client
	conn   *engineio.Conn
	dec    reassembler
	events *dispatcher
	result chan error  // the CONNECT or CONNECT_ERROR outcome
	closed chan string // the close reason
	kicked bool        // the server sent DISCONNECT; written before closed
}

func (h *clientHandler) OnMessage(data []byte, binary bool) {
	c := h.c
	p, ok, err := h.dec.add(data, binary)
	if err != nil {
		c.log.Info("socketio: closing on bad packet", "err", err)
		h.conn.Close()
		return
	}
	if !ok || p.Namespace != c.opts.Namespace {
		return
	}
	switch p.Type {
	case PacketConnect:
		var v struct {
			SID string `json:"sid"`
			PID string `json:"pid"`
		}
		if err := json.Unmarshal(p.Data, &v); err != nil || v.SID == "" {
			h.settle(fmt.Errorf("socketio: CONNECT without sid"))
			return
		}
		c.mu.Lock()
		c.sid = v.SID
		c.recovered = v.PID != "" && v.PID == c.pid
		if !c.recovered {
			c.offset = ""
		}
		c.pid = v.PID
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
	case PacketEvent, PacketBinaryEvent:
		name, args, err := splitEvent(p.Data)
		if err == nil && reservedEvent(name) {
			err = fmt.Errorf("%w: reserved event name %q", ErrParse, name)
		}
		if err != nil {
			c.log.Info("socketio: closing on bad event", "err", err)
			h.conn.Close()
			return
		}
		c.mu.Lock()
		fn, anyFn := c.handlers[name], c.anyHandler
		c.mu.Unlock()
		var ack AckFunc
		if p.HasID {
			ack = newAck(p, func(q EncodedPacket) error { return c.write(h.conn, q) })
		}
		h.noteOffset(args)
		h.queue(func() {
			switch {
			case fn != nil:
				fn(args, ack)
			case anyFn != nil:
				anyFn(name, args, ack)
			}
		}, true)
	case PacketAck, PacketBinaryAck:
		if args, err := splitArray(p.Data); err == nil {
			h.queue(func() { c.acks.resolve(p.ID, args) }, false)
		}
	}
}

// queue hands fn to the connection's dispatcher. An ack (event false) is
// resolved at once, here, when no event is pending, else after those
// before it. A dispatcher so far behind that its queue is full closes the
// connection: the client reconnects, and the application catches up on
// connecting.
func (h *clientHandler) queue(fn func(), event bool) {
	idle, full := h.events.push(fn, !event)
	switch {
	case idle:
		fn()
	case full:
		h.c.log.Warn("socketio: event handlers too far behind; closing the connection", "queued", maxQueued)
		h.conn.Close()
	}
}

// maxQueued bounds the events (and acks behind them) a connection keeps
// for its handlers.
const maxQueued = 1024

// dispatcher runs a connection's event handlers, one at a time, in order,
// on a goroutine of its own, so that the connection's reader never waits
// for them.
type dispatcher struct {
	max  int
	wake chan struct{} // cap 1: something was queued, or finish
	done chan struct{} // closed when the goroutine exits

	mu       sync.Mutex // guards the following
	queue    []func()
	running  bool // a function runs
	finished bool // no more pushes; exit once the queue is empty
}

func newDispatcher(max int) *dispatcher {
	d := &dispatcher{max: max, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go d.run()
	return d
}

// push queues fn. With idleOK, when nothing is queued or running, it
// queues nothing and reports idle: the caller runs fn itself, in order.
// It reports full, queuing nothing, when max functions wait already.
func (d *dispatcher) push(fn func(), idleOK bool) (idle, full bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if idleOK && !d.running && len(d.queue) == 0 {
		return true, false
	}
	if d.finished || len(d.queue) >= d.max {
		return false, true
	}
	d.queue = append(d.queue, fn)
	select {
	case d.wake <- struct{}{}:
	default:
	}
	return false, false
}

func (d *dispatcher) run() {
	defer close(d.done)
	for {
		d.mu.Lock()
		for len(d.queue) == 0 {
			d.running = false
			if d.finished {
				d.mu.Unlock()
				return
			}
			d.mu.Unlock()
			<-d.wake
			d.mu.Lock()
		}
		fn := d.queue[0]
		d.queue[0] = nil
		d.queue = d.queue[1:]
		d.running = true
		d.mu.Unlock()
		fn()
	}
}

// finish stops the dispatcher once it has run what is queued (or, with
// drop, right after the function running, if any) and waits for that.
func (d *dispatcher) finish(drop bool) {
	d.mu.Lock()
	d.finished = true
	if drop {
		d.queue = nil
	}
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
	<-d.done
}

// noteOffset keeps the offset a recovery-enabled server appends to
// broadcasts: the last argument, when it is a string, as the reference
// client does.
func (h *clientHandler) noteOffset(args []json.RawMessage) {
	if len(args) == 0 || jsonKind(args[len(args)-1]) != '"' {
		return
	}
	c := h.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pid == "" {
		return
	}
	var o string
	if json.Unmarshal(args[len(args)-1], &o) == nil {
		c.offset = o
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
