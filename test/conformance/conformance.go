// Package conformance is the server that the official protocol test suites
// expect: socketio/engine.io-protocol's test-suite talks to an Engine.IO echo
// server at /engine.io/, and socketio/socket.io-protocol's test-suite talks to
// a Socket.IO server at /socket.io/. Both run on tandem/sync/engineio and
// tandem/sync/socketio with the suites' settings (pingInterval 300 ms,
// pingTimeout 200 ms, maxPayload 1e6, connectTimeout 1 s).
//
// The behaviours are those of the reference servers in the two protocols'
// READMEs. cmd/conformance serves NewHandler on localhost:3000, where the JS
// suites look for it; this package's tests are Go ports of both suites.
package conformance

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"tandem/sync/engineio"
	"tandem/sync/socketio"
)

// The settings both suites assume.
const (
	pingInterval   = 300 * time.Millisecond
	pingTimeout    = 200 * time.Millisecond
	maxPayload     = 1_000_000 // bytes
	connectTimeout = 1000 * time.Millisecond
)

// authDelay separates the "auth" event from the CONNECT reply; see emitAuth.
const authDelay = 10 * time.Millisecond

// authKey is where the namespaces' middleware keeps a socket's handshake
// auth payload until its connection handler emits it.
const authKey = "conformance.auth"

// NewHandler returns the conformance server and a function that closes it.
//
// On /engine.io/ every message is sent back as received, text as text and
// binary as binary. On /socket.io/ a socket joining "/" or "/custom" gets the
// event "auth" with its handshake auth payload ({} when none was sent); on
// "/", "message" is echoed as "message-back" with the same arguments and
// "message-with-ack" is answered through its ack with the same arguments.
// Every origin is allowed, as with the reference servers' cors {origin: "*"}.
//
// The close function closes every connection and waits for their goroutines
// to exit. Call it before shutting the http.Server down, or pending
// long-polling requests keep the shutdown waiting.
func NewHandler(log *slog.Logger) (http.Handler, func() error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := engineio.Options{
		PingInterval: pingInterval,
		PingTimeout:  pingTimeout,
		MaxPayload:   maxPayload,
		// The reference servers' cors: {origin: "*"}.
		AllowedOrigins: []string{"*"},
	}

	eio := engineio.NewServer(opts, log.With("server", "engine.io"), func(c *engineio.Conn) engineio.Handler {
		return echo{c: c}
	})

	sio := socketio.NewServer(socketio.Options{
		Engine:         opts,
		ConnectTimeout: connectTimeout,
		Logger:         log.With("server", "socket.io"),
	})
	main := sio.Of("/")
	main.Use(keepAuth)
	main.OnConnection(func(s *socketio.Socket) {
		emitAuth(s)
		s.On("message", func(args []json.RawMessage, _ socketio.AckFunc) {
			_ = s.Emit("message-back", anys(args)...)
		})
		s.On("message-with-ack", func(args []json.RawMessage, ack socketio.AckFunc) {
			if ack != nil {
				_ = ack(anys(args)...)
			}
		})
	})
	custom := sio.Of("/custom")
	custom.Use(keepAuth)
	custom.OnConnection(emitAuth)

	mux := http.NewServeMux()
	mux.Handle("/engine.io/", eio)
	mux.Handle("/socket.io/", sio)
	return mux, func() error { return errors.Join(eio.Close(), sio.Close()) }
}

// echo sends every Engine.IO message back on its connection.
type echo struct{ c *engineio.Conn }

// OnMessage implements engineio.Handler.
func (e echo) OnMessage(data []byte, binary bool) {
	_ = e.c.Send(bytes.Clone(data), binary) // the transport may reuse data
}

// OnClose implements engineio.Handler.
func (echo) OnClose(string) {}

// keepAuth stores the CONNECT packet's auth payload on the socket.
func keepAuth(s *socketio.Socket, auth json.RawMessage) error {
	s.Set(authKey, auth)
	return nil
}

// emitAuth sends the socket its handshake auth payload, as the reference
// server's socket.emit("auth", socket.handshake.auth), authDelay after the
// CONNECT reply.
//
// The delay is for the JS suite. Its cases await one message at a time with
// a once listener, and Node's ws emits every frame of a TCP read
// synchronously, so a frame that arrives in the same read as the one before
// it is never heard. The reference server writes its next packet only after
// the previous write has completed; our writer sends the CONNECT reply and
// "auth" back to back, and the client reads both at once.
func emitAuth(s *socketio.Socket) {
	auth, _ := s.Get(authKey).(json.RawMessage)
	if auth == nil {
		auth = json.RawMessage("{}") // socket.handshake.auth defaults to {}
	}
	time.AfterFunc(authDelay, func() { _ = s.Emit("auth", auth) })
}

// anys passes event arguments on byte for byte.
func anys(args []json.RawMessage) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a
	}
	return out
}
