package engineio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// DialOptions configure Dial.
type DialOptions struct {
	Path   string      // default "/socket.io/"
	Header http.Header // extra request headers
	Logger *slog.Logger
	// Transports lists the transports in order of use: the first opens the
	// session; "websocket" after "polling" is an upgrade once the session is
	// open. Default: websocket only.
	Transports []string
	// HTTPClient carries polling requests; default a client of its own.
	HTTPClient *http.Client
	// MaxMessage bounds one message from the server, in bytes; default
	// DefaultMaxMessage. (The server's maxPayload bounds what it accepts,
	// not what it sends: a playlist of 10,000 entries is several MB.)
	MaxMessage int64
}

// DefaultMaxMessage is the default DialOptions.MaxMessage, the most one
// polling response may hold too.
const DefaultMaxMessage = 64 << 20

// baseURL turns a hub address (http, https, ws or wss; a bare host:port
// means http) into the Engine.IO endpoint's http(s) URL with EIO set.
func baseURL(raw, path string) (*url.URL, error) {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("engineio: parse url %q: %w", raw, err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "http"
	case "https", "wss":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("engineio: url %q: scheme must be http, https, ws or wss", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("engineio: url %q has no host", raw)
	}
	if path == "" {
		path = "/socket.io/"
	}
	u.Path = path
	q := u.Query()
	q.Set("EIO", Protocol)
	u.RawQuery = q.Encode()
	return u, nil
}

// transportURL returns the endpoint URL for a transport and session.
func transportURL(base *url.URL, transport, sid string) string {
	u := *base
	if transport == WebSocket {
		u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	}
	q := u.Query()
	q.Set("transport", transport)
	if sid != "" {
		q.Set("sid", sid)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// EndpointURL returns the Engine.IO WebSocket URL of a hub address.
func EndpointURL(raw, path string) (string, error) {
	u, err := baseURL(raw, path)
	if err != nil {
		return "", err
	}
	return transportURL(u, WebSocket, ""), nil
}

// Dial opens an Engine.IO connection to rawURL and waits for the open
// packet. accept is called with the connection before any message is read
// and returns its handler.
func Dial(ctx context.Context, rawURL string, opts DialOptions, accept func(*Conn) Handler) (*Conn, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(opts.Transports) == 0 {
		opts.Transports = []string{WebSocket}
	}
	for _, t := range opts.Transports {
		if t != Polling && t != WebSocket {
			return nil, fmt.Errorf("engineio: unknown transport %q", t)
		}
	}
	base, err := baseURL(rawURL, opts.Path)
	if err != nil {
		return nil, err
	}
	if opts.Transports[0] == WebSocket {
		return dialWebSocket(ctx, base, opts, log, accept)
	}
	return dialPolling(ctx, base, opts, log, accept)
}

func dialWebSocket(ctx context.Context, base *url.URL, opts DialOptions, log *slog.Logger, accept func(*Conn) Handler) (*Conn, error) {
	u := transportURL(base, WebSocket, "")
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, Proxy: http.ProxyFromEnvironment}
	ws, resp, err := d.DialContext(ctx, u, opts.Header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("engineio: dial %s: %w (HTTP %s)", u, err, resp.Status)
		}
		return nil, fmt.Errorf("engineio: dial %s: %w", u, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = ws.SetReadDeadline(dl)
	} else {
		_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	}
	mt, data, err := ws.ReadMessage()
	if err != nil {
		ws.Close()
		return nil, fmt.Errorf("engineio: read open packet: %w", err)
	}
	_ = ws.SetReadDeadline(time.Time{})
	if mt != websocket.TextMessage {
		ws.Close()
		return nil, errors.New("engineio: open packet is not text")
	}
	h, err := decodeOpen(data)
	if err != nil {
		ws.Close()
		return nil, err
	}
	limit := opts.MaxMessage
	if limit <= 0 {
		limit = DefaultMaxMessage
	}
	ws.SetReadLimit(limit)
	c := newConn(h.SID, false, h, log)
	c.start(accept(c))
	c.useWebSocket(ws)
	return c, nil
}

// pollClient carries a client connection over HTTP long-polling.
type pollClient struct {
	c      *Conn
	base   *url.URL
	http   *http.Client
	header http.Header
	ctx    context.Context // ends when the connection closes
	cancel context.CancelFunc
	pushed chan struct{} // closed when the pusher has stopped for an upgrade
	polled chan struct{} // closed when the poller has stopped for an upgrade
}

func dialPolling(ctx context.Context, base *url.URL, opts DialOptions, log *slog.Logger, accept func(*Conn) Handler) (*Conn, error) {
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, transportURL(base, Polling, ""), nil)
	if err != nil {
		return nil, fmt.Errorf("engineio: handshake: %w", err)
	}
	maps(req.Header, opts.Header)
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("engineio: handshake: %w", err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("engineio: handshake: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("engineio: handshake: HTTP %s: %s", resp.Status, truncate(body))
	}
	ps, err := decodePayload(body)
	if err != nil || ps[0].typ != typeOpen {
		return nil, fmt.Errorf("engineio: handshake: expected open packet, got %q", truncate(body))
	}
	h, err := decodeOpen(append([]byte{typeOpen}, ps[0].data...))
	if err != nil {
		return nil, err
	}
	c := newConn(h.SID, false, h, log)
	pctx, cancel := context.WithCancel(context.Background())
	p := &pollClient{c: c, base: base, http: client, header: opts.Header, ctx: pctx, cancel: cancel,
		pushed: make(chan struct{}), polled: make(chan struct{})}
	c.start(accept(c))
	c.exited.Add(3)
	go func() {
		defer c.exited.Done()
		<-c.done
		cancel() // ends a waiting GET; the pusher flushes with its own deadline
	}()
	go p.push()
	go p.poll(ps[1:])
	if slices.Contains(opts.Transports, WebSocket) && slices.Contains(h.Upgrades, WebSocket) {
		c.exited.Add(1)
		go p.upgrade(opts)
	}
	return c, nil
}

func maps(dst, src http.Header) {
	for k, v := range src {
		dst[k] = append(dst[k], v...)
	}
}

// poll issues GETs one after another and delivers their packets, until the
// connection closes or an upgrade takes over.
func (p *pollClient) poll(first []packet) {
	defer p.c.exited.Done()
	c := p.c
	for _, pk := range first {
		c.receive(pk)
	}
	for {
		c.mu.Lock()
		stop := c.upgrading || c.ws != nil
		c.mu.Unlock()
		if stop {
			close(p.polled)
			return
		}
		if c.isClosed() {
			return
		}
		body, err := p.do(p.ctx, http.MethodGet, nil)
		if err != nil {
			if !c.isClosed() {
				c.log.Debug("engineio: poll", "sid", c.id, "err", err)
				c.closeWith(ReasonTransportError)
			}
			return
		}
		ps, err := decodePayload(body)
		if err != nil {
			c.closeWith(ReasonParseError)
			return
		}
		for _, pk := range ps {
			if pk.typ == typeOpen || pk.typ == typeUpgrade {
				c.closeWith(ReasonParseError)
				return
			}
			c.receive(pk)
		}
	}
}

// push POSTs what is queued, in one payload at a time, until the connection
// closes (after a last flush) or an upgrade takes over.
func (p *pollClient) push() {
	defer p.c.exited.Done()
	c := p.c
	for {
		select {
		case <-c.wake:
		case <-c.done:
			if q := c.take(); len(q) > 0 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_, _ = p.do(ctx, http.MethodPost, encodePayload(q))
				cancel()
			}
			return
		}
		c.mu.Lock()
		if c.upgrading || c.ws != nil {
			c.mu.Unlock()
			close(p.pushed)
			return
		}
		q := c.queue
		c.queue = nil
		c.mu.Unlock()
		if len(q) == 0 {
			continue
		}
		if _, err := p.do(p.ctx, http.MethodPost, encodePayload(q)); err != nil {
			if !c.isClosed() {
				c.log.Debug("engineio: push", "sid", c.id, "err", err)
				c.closeWith(ReasonTransportError)
			}
			return
		}
	}
}

func (p *pollClient) do(ctx context.Context, method string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, transportURL(p.base, Polling, p.c.id), rd)
	if err != nil {
		return nil, err
	}
	maps(req.Header, p.header)
	if body != nil {
		req.Header.Set("Content-Type", "text/plain; charset=UTF-8")
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, DefaultMaxMessage))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s: %s", resp.Status, truncate(out))
	}
	return out, nil
}

// upgrade probes a WebSocket for the session; when the server answers the
// probe, it stops polling, finishes the upgrade and moves to the WebSocket.
// A failed probe leaves the connection on polling.
func (p *pollClient) upgrade(opts DialOptions) {
	defer p.c.exited.Done()
	c := p.c
	ctx, cancel := context.WithTimeout(p.ctx, DefaultUpgradeTimeout)
	defer cancel()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, Proxy: http.ProxyFromEnvironment}
	ws, _, err := d.DialContext(ctx, transportURL(p.base, WebSocket, c.id), opts.Header)
	if err != nil {
		c.log.Debug("engineio: upgrade dial", "sid", c.id, "err", err)
		return
	}
	fail := func(why string, err error) {
		c.log.Debug("engineio: upgrade failed; staying on polling", "sid", c.id, "why", why, "err", err)
		ws.Close()
	}
	if opts.MaxMessage > 0 {
		ws.SetReadLimit(opts.MaxMessage)
	} else {
		ws.SetReadLimit(DefaultMaxMessage)
	}
	_ = ws.SetWriteDeadline(time.Now().Add(writeWait))
	if err := ws.WriteMessage(websocket.TextMessage, []byte("2probe")); err != nil {
		fail("probe", err)
		return
	}
	_ = ws.SetReadDeadline(time.Now().Add(DefaultUpgradeTimeout))
	mt, data, err := ws.ReadMessage()
	if err != nil || mt != websocket.TextMessage || string(data) != "3probe" {
		fail("probe answer", err)
		return
	}
	_ = ws.SetReadDeadline(time.Time{})
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		ws.Close()
		return
	}
	c.upgrading = true
	c.mu.Unlock()
	c.signal() // the pusher stops
	for _, ch := range []chan struct{}{p.pushed, p.polled} {
		select {
		case <-ch:
		case <-c.done:
			ws.Close()
			return
		}
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte{typeUpgrade}); err != nil {
		ws.Close()
		c.closeWith(ReasonTransportError)
		return
	}
	c.useWebSocket(ws)
}
