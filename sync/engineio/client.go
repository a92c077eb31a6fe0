package engineio

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// DialOptions configure Dial.
type DialOptions struct {
	Path   string      // default "/socket.io/"
	Header http.Header // extra request headers
	Logger *slog.Logger
}

// EndpointURL turns a hub address (http, https, ws or wss; a bare host:port
// means ws) into the Engine.IO WebSocket URL.
func EndpointURL(raw, path string) (string, error) {
	if !strings.Contains(raw, "://") {
		raw = "ws://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("engineio: parse url %q: %w", raw, err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("engineio: url %q: scheme must be http, https, ws or wss", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("engineio: url %q has no host", raw)
	}
	if path == "" {
		path = "/socket.io/"
	}
	u.Path = path
	q := u.Query()
	q.Set("EIO", Protocol)
	q.Set("transport", "websocket")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Dial opens an Engine.IO connection over WebSocket to rawURL and waits for
// the open packet. accept is called with the connection before any message
// is read and returns its handler.
func Dial(ctx context.Context, rawURL string, opts DialOptions, accept func(*Conn) Handler) (*Conn, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u, err := EndpointURL(rawURL, opts.Path)
	if err != nil {
		return nil, err
	}
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
		return nil, fmt.Errorf("engineio: open packet is not text")
	}
	h, err := decodeOpen(data)
	if err != nil {
		ws.Close()
		return nil, err
	}
	if h.MaxPayload > 0 {
		ws.SetReadLimit(h.MaxPayload + 1)
	}
	c := newConn(h.SID, ws, false, h, log)
	c.start(accept(c))
	return c, nil
}
