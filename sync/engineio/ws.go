package engineio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// wsConn is a WebSocket as a Conn's writer uses it: the server's own
// (serverWS) or, on the client, gorilla's.
type wsConn interface {
	// writePackets writes each packet as one frame, in order.
	writePackets(ps []packet, deadline time.Time) error
	// writeClose sends a close frame; no data frame may follow it.
	writeClose(code int, reason string, deadline time.Time) error
	close() error
	netConn() net.Conn
	// hasPending reports whether bytes wait for the flusher outside the
	// Conn's queue.
	hasPending() bool
}

// gorillaWS is the client's WebSocket, which gorilla reads and writes.
type gorillaWS struct{ ws *websocket.Conn }

func (g gorillaWS) writePackets(ps []packet, deadline time.Time) error {
	_ = g.ws.SetWriteDeadline(deadline)
	for _, p := range ps {
		if err := writeGorilla(g.ws, p); err != nil {
			return err
		}
	}
	return nil
}

// writeGorilla writes one packet as one frame, without copying its data.
func writeGorilla(ws *websocket.Conn, p packet) error {
	if p.binary {
		return ws.WriteMessage(websocket.BinaryMessage, p.data)
	}
	w, err := ws.NextWriter(websocket.TextMessage)
	if err != nil {
		return err
	}
	typ := [1]byte{p.typ}
	if _, err := w.Write(typ[:]); err != nil {
		return err
	}
	if _, err := w.Write(p.data); err != nil {
		return err
	}
	return w.Close()
}

func (g gorillaWS) writeClose(code int, reason string, deadline time.Time) error {
	return g.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), deadline)
}

func (g gorillaWS) close() error      { return g.ws.Close() }
func (g gorillaWS) netConn() net.Conn { return g.ws.NetConn() }
func (g gorillaWS) hasPending() bool  { return false }

// serverWS is the server's side of a WebSocket (RFC 6455): the socket and
// a lock for writing frames. It holds no buffer: frames are written with
// writev straight from the packets, and what reads it (wsDispatch) keeps
// its own state. Server frames are not masked.
type serverWS struct {
	nc   net.Conn
	rc   syscall.RawConn // for writes that must not block; nil when nc has none
	bufs *sync.Pool      // the server's *[]byte buffers for such writes

	mu        sync.Mutex // one writer at a time: the flusher, inline writes, pongs and closes
	closeSent bool       // guarded by mu
	pending   []byte     // guarded by mu: the unwritten end of a frame written without blocking
}

var errCloseSent = errors.New("engineio: websocket close frame already sent")

// appendFrameHeader appends the header of an unmasked, final frame.
func appendFrameHeader(b []byte, op byte, n int) []byte {
	b = append(b, 0x80|op)
	switch {
	case n < 126:
		return append(b, byte(n))
	case n <= 0xFFFF:
		return binary.BigEndian.AppendUint16(append(b, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
	}
}

// writePackets writes every packet in one writev, with one deadline.
func (w *serverWS) writePackets(ps []packet, deadline time.Time) error {
	const most = 10 + 1 // the longest header, and a text packet's type byte
	hdrs := make([]byte, 0, most*len(ps))
	bufs := make(net.Buffers, 0, 2*len(ps))
	for _, p := range ps {
		start := len(hdrs)
		if p.binary {
			hdrs = appendFrameHeader(hdrs, opBinary, len(p.data))
		} else {
			hdrs = append(appendFrameHeader(hdrs, opText, 1+len(p.data)), p.typ)
		}
		bufs = append(bufs, hdrs[start:len(hdrs):len(hdrs)])
		if len(p.data) > 0 {
			bufs = append(bufs, p.data)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closeSent {
		return errCloseSent
	}
	return w.writeLocked(bufs, deadline)
}

// writeLocked writes what a write without blocking left, then bufs; w.mu
// must be held.
func (w *serverWS) writeLocked(bufs net.Buffers, deadline time.Time) error {
	if len(w.pending) > 0 {
		bufs = append(net.Buffers{w.pending}, bufs...)
		w.pending = nil
	}
	if err := w.nc.SetWriteDeadline(deadline); err != nil {
		return fmt.Errorf("engineio: websocket write deadline: %w", err)
	}
	if _, err := bufs.WriteTo(w.nc); err != nil {
		return fmt.Errorf("engineio: websocket write: %w", err)
	}
	return nil
}

// hasPending reports whether a write without blocking left bytes for the
// flusher.
func (w *serverWS) hasPending() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending) > 0
}

// writeControl writes a control frame.
func (w *serverWS) writeControl(op byte, payload []byte, deadline time.Time) error {
	frame := append(appendFrameHeader(make([]byte, 0, 2+len(payload)), op, len(payload)), payload...)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closeSent {
		return errCloseSent
	}
	if op == opClose {
		w.closeSent = true
	}
	return w.writeLocked(net.Buffers{frame}, deadline)
}

// writeClose sends a close frame: code and reason, or nothing for
// closeNoStatus.
func (w *serverWS) writeClose(code int, reason string, deadline time.Time) error {
	var payload []byte
	if code != closeNoStatus {
		payload = append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
	}
	return w.writeControl(opClose, payload, deadline)
}

func (w *serverWS) close() error      { return w.nc.Close() }
func (w *serverWS) netConn() net.Conn { return w.nc }

// acceptWebSocket completes the server's opening handshake with gorilla's
// Upgrader and takes the connection over: from then on the server reads
// and writes frames itself (serverWS), so that an idle connection holds no
// gorilla state, buffer or goroutine. A refused handshake gets an HTTP
// error from the Upgrader; a client that sent data before the handshake
// completed is refused (gorilla closes the connection), so the socket
// holds nothing read yet.
func acceptWebSocket(w http.ResponseWriter, r *http.Request, bufs *sync.Pool) (*serverWS, error) {
	if _, ok := w.(http.Hijacker); !ok {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return nil, errors.New("engineio: websocket handshake: the response cannot be hijacked")
	}
	// The origin was checked before (Options.AllowOrigin); no subprotocol
	// or compression is offered, and no buffers are given, since gorilla's
	// Conn is dropped right after the handshake.
	up := websocket.Upgrader{HandshakeTimeout: writeWait, CheckOrigin: func(*http.Request) bool { return true }}
	gc, err := up.Upgrade(w, r, nil)
	if err != nil {
		return nil, fmt.Errorf("engineio: websocket handshake: %w", err)
	}
	// gorilla's Conn has read nothing past the handshake (its Upgrade
	// refuses buffered bytes), so the socket carries on from here.
	nc := gc.NetConn()
	_ = nc.SetDeadline(time.Time{})
	ws := &serverWS{nc: nc, bufs: bufs}
	if sc, ok := nc.(syscall.Conn); ok {
		ws.rc, _ = sc.SyscallConn() // nil on error: every write goes through the flusher
	}
	return ws, nil
}

// wsDispatch hands what the server's frame reader parses to the
// connection: data messages, as Engine.IO packets or, while the WebSocket
// probes a polling session, as the probe's steps; pings are answered and
// closes and protocol errors close the connection. The readiness loop
// (poll_linux.go) or a goroutine (readLoop) drives it, one turn at a time.
type wsDispatch struct {
	c          *Conn
	ws         *serverWS
	frames     wsFrames
	probing    bool        // the WebSocket probes a polling session for an upgrade
	probeTimer *time.Timer // gives the probe up
	done       bool        // the connection was given up: stop reading
	watch      detacher    // the readiness loop's registration; nil when a goroutine reads
}

func (d *wsDispatch) detach() {
	if d.watch != nil {
		d.watch.detach()
	}
}

// startProbe arms the probe's time limit: then the end of input makes
// the reader give the probe up.
func (d *wsDispatch) startProbe(timeout time.Duration) {
	c, ws := d.c, d.ws
	d.probing = true
	d.probeTimer = time.AfterFunc(timeout, func() {
		c.mu.Lock()
		if c.probeWS == ws {
			shutdownRead(ws)
		}
		c.mu.Unlock()
	})
}

// wsMessage implements wsFrameHandler.
func (d *wsDispatch) wsMessage(binary bool, data []byte) bool {
	if !d.probing {
		if !d.c.wsMessage(binary, data) {
			d.done = true
			return false
		}
		return true
	}
	more, upgraded := d.c.probeMessage(d.ws, binary, data)
	switch {
	case upgraded:
		d.endProbe()
		d.c.mu.Lock()
		if d.watch != nil {
			d.c.watch = d.watch
		}
		closed := d.c.closed
		d.c.mu.Unlock()
		if closed {
			d.detach()
			d.done = true
			return false
		}
		return true
	case !more:
		d.giveUp()
		return false
	}
	return true
}

// wsPing implements wsFrameHandler: it answers with a pong.
func (d *wsDispatch) wsPing(payload []byte) bool {
	_ = d.ws.writeControl(opPong, payload, time.Now().Add(writeWait))
	return true
}

// wsClose implements wsFrameHandler: it answers the peer's close and
// closes the connection.
func (d *wsDispatch) wsClose(code int, _ []byte) {
	_ = d.ws.writeClose(code, "", time.Now().Add(writeWait))
	if d.probing {
		d.giveUp()
		return
	}
	d.done = true
	d.detach()
	switch code {
	case closeNormal, closeGoingAway, closeNoStatus:
		d.c.closeWith(ReasonTransportClose)
	default:
		d.c.closeWith(ReasonTransportError)
	}
}

// protocolError closes the connection with the close code of the peer's
// protocol violation.
func (d *wsDispatch) protocolError(err *wsError) {
	d.c.log.Debug("engineio: websocket protocol error", "sid", d.c.id, "err", err)
	_ = d.ws.writeClose(err.code, "", time.Now().Add(writeWait))
	if d.probing {
		d.giveUp()
		return
	}
	d.done = true
	d.detach()
	if err.code == closeMessageTooBig {
		d.c.closeWith(ReasonPayloadTooLarge)
	} else {
		d.c.closeWith(ReasonTransportError)
	}
}

// fail handles the end of input or a read error.
func (d *wsDispatch) fail(err error) {
	if d.probing {
		d.giveUp()
		return
	}
	d.done = true
	d.detach()
	if err != nil && !d.c.isClosed() {
		d.c.log.Debug("engineio: read", "sid", d.c.id, "err", err)
	}
	d.c.closeWith(ReasonTransportError)
}

// endProbe ends the probe phase, upgraded or not.
func (d *wsDispatch) endProbe() {
	d.probing = false
	if d.probeTimer != nil {
		d.probeTimer.Stop()
		d.probeTimer = nil
	}
}

// giveUp abandons a probe that did not upgrade the session.
func (d *wsDispatch) giveUp() {
	d.endProbe()
	d.done = true
	d.detach()
	d.c.probeFailed(d.ws)
}

// feed parses b, handing what it holds over, and returns the bytes of
// an incomplete frame at its end with the size that frame will have (0
// when its header is incomplete). stop is true when the reader should
// stop: the connection was given up.
func (d *wsDispatch) feed(b []byte) (rest []byte, need int, stop bool) {
	consumed, need, werr := d.frames.feed(b, d)
	if werr != nil {
		d.protocolError(werr)
		return nil, 0, true
	}
	if d.done {
		return nil, 0, true
	}
	return b[consumed:], need, false
}

// readLoop reads the WebSocket on the calling goroutine until the
// connection ends: where the readiness loop cannot (systems other than
// Linux, TLS) or with Options.GoroutineReads.
func (d *wsDispatch) readLoop() {
	var in wsInput
	buf := make([]byte, goroutineReadBuf)
	read := func(b []byte) (int, error) { return d.ws.nc.Read(b) }
	for {
		if done, err := in.turn(buf, 1, read, d.feed); done {
			if err != nil {
				d.fail(err)
			}
			return
		}
	}
}

// goroutineReadBuf is the read buffer of a WebSocket read by a goroutine.
const goroutineReadBuf = 4096

// errNoInput is what a non-blocking read returns when the socket holds
// nothing more for now.
var errNoInput = errors.New("engineio: no input for now")

// wsInput is the input side of one WebSocket's reader, shared by both
// read modes: it reads into a caller's buffer, hands complete frames to
// the parser, and keeps the bytes of a frame that has not fully arrived
// until the next read. A frame larger than the buffer is read into a
// buffer of its own size once its header is in, so it is copied once.
type wsInput struct {
	in   []byte // the bytes of an incomplete frame; nil when none
	need int    // that frame's whole size once its header is in; 0 otherwise
}

// turn reads at most reads times with read, into buf after the bytes
// kept from before (or into a buffer of a large frame's size), and feeds
// what it holds to feed, which returns the bytes of an incomplete frame
// at its end, that frame's size when known, and whether to stop. read
// returns errNoInput when nothing more is there now; any other error
// ends the input, after the bytes read with it are fed. turn reports
// done when reading should stop, with the read error if that was why.
func (w *wsInput) turn(buf []byte, reads int, read func([]byte) (int, error), feed func([]byte) ([]byte, int, bool)) (done bool, err error) {
	for range reads {
		var data []byte
		big := w.need > len(buf)
		if big {
			if cap(w.in) < w.need {
				grown := make([]byte, len(w.in), w.need)
				copy(grown, w.in)
				w.in = grown
			}
			data = w.in
		} else {
			data = append(buf[:0], w.in...)
		}
		space := data[len(data):cap(data)]
		n, rerr := read(space)
		if errors.Is(rerr, errNoInput) {
			return false, nil
		}
		if n > 0 {
			data = data[:len(data)+n]
			rest, need, stop := feed(data)
			if stop {
				return true, nil
			}
			w.keep(data, rest, need, big, len(buf))
		}
		if rerr != nil {
			return true, rerr
		}
		if n < len(space) {
			return false, nil // drained for now
		}
	}
	return false, nil
}

// keep holds rest, the tail of data that is an incomplete frame of need
// bytes (0 when its header is incomplete), for the next read; data is a
// frame-sized buffer of the reader's own when big.
func (w *wsInput) keep(data, rest []byte, need int, big bool, bufLen int) {
	w.need = need
	switch {
	case len(rest) == 0:
		w.in = nil
	case need > bufLen && big && cap(data) >= need:
		// rest lies inside data; move it to the front of the same buffer.
		w.in = data[:copy(data, rest)]
	case need > bufLen:
		w.in = append(make([]byte, 0, need), rest...)
	default:
		w.in = append([]byte(nil), rest...)
	}
}
