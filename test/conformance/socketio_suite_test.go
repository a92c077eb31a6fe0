package conformance

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestSocketIOProtocolSuite ports test-suite/test-suite.js of
// socketio/socket.io-protocol (commit 4f633dd), case by case: 32 cases,
// named and grouped as its describe and it blocks.
func TestSocketIOProtocolSuite(t *testing.T) {
	s := newServer(t)
	const p = "/socket.io/"
	on := func(fn func(*tc, string)) func(*tc) { return func(c *tc) { fn(c, p) } }

	t.Run("Engine.IO protocol", func(t *testing.T) {
		t.Run("handshake", func(t *testing.T) {
			t.Run("HTTP long-polling", func(t *testing.T) {
				s.it(t, "should successfully open a session", mochaTimeout, on(handshakePollingOpens))
				s.it(t, "should fail with an invalid 'EIO' query parameter", mochaTimeout, on(handshakePollingBadEIO))
				s.it(t, "should fail with an invalid 'transport' query parameter", mochaTimeout, on(handshakePollingBadTransport))
				s.it(t, "should fail with an invalid request method", mochaTimeout, on(handshakePollingBadMethod))
			})
			t.Run("WebSocket", func(t *testing.T) {
				s.it(t, "should successfully open a session", mochaTimeout, on(handshakeWebSocketOpens))
				s.it(t, "should fail with an invalid 'EIO' query parameter", mochaTimeout, on(handshakeWebSocketBadEIO))
				s.it(t, "should fail with an invalid 'transport' query parameter", mochaTimeout, on(handshakeWebSocketBadTransport))
			})
		})

		t.Run("heartbeat", func(t *testing.T) {
			t.Run("HTTP long-polling", func(t *testing.T) {
				s.it(t, "should send ping/pong packets", heartbeatTimeout, on(heartbeatPollingPingPong))
				s.it(t, "should close the session upon ping timeout", heartbeatTimeout, on(heartbeatPollingTimeout))
			})
			t.Run("WebSocket", func(t *testing.T) {
				s.it(t, "should send ping/pong packets", heartbeatTimeout, on(heartbeatWebSocketPingPong))
				s.it(t, "should close the session upon ping timeout", heartbeatTimeout, on(heartbeatWebSocketTimeout))
			})
		})

		t.Run("close", func(t *testing.T) {
			t.Run("HTTP long-polling", func(t *testing.T) {
				s.it(t, "should forcefully close the session", mochaTimeout, on(closePolling))
			})
			t.Run("WebSocket", func(t *testing.T) {
				s.it(t, "should forcefully close the session", mochaTimeout, on(closeWebSocket))
			})
		})

		t.Run("upgrade", func(t *testing.T) {
			s.it(t, "should successfully upgrade from HTTP long-polling to WebSocket", mochaTimeout, func(c *tc) {
				sid := c.initLongPollingSession(p)
				socket := c.dial(s.wsURL + p + "?EIO=4&transport=websocket&sid=" + sid)
				socket.send("2probe") // send probe
				socket.expect(text("3probe"))
				socket.send("5") // complete upgrade
			})
			s.it(t, "should ignore HTTP requests with same sid after upgrade", mochaTimeout, func(c *tc) {
				sid := c.initLongPollingSession(p)
				socket := c.dial(s.wsURL + p + "?EIO=4&transport=websocket&sid=" + sid)
				socket.send("2probe")
				socket.send("5")
				pollResponse := c.fetch("GET", s.url+p+"?EIO=4&transport=polling&sid="+sid, "")
				c.expectStatus("GET after the upgrade", pollResponse, 400)
			})
			s.it(t, "should ignore WebSocket connection with same sid after upgrade", mochaTimeout, func(c *tc) {
				sid := c.initLongPollingSession(p)
				socket := c.dial(s.wsURL + p + "?EIO=4&transport=websocket&sid=" + sid)
				socket.send("2probe")
				socket.send("5")
				// socket2 has no "error" listener, and a refused handshake
				// makes Node's ws emit "error", which throws: the server must
				// open socket2 and then close it.
				socket2 := c.dial(s.wsURL + p + "?EIO=4&transport=websocket&sid=" + sid)
				socket2.waitClose()
			})
		})
	})

	t.Run("Socket.IO protocol", func(t *testing.T) {
		t.Run("connect", func(t *testing.T) {
			s.it(t, "should allow connection to the main namespace", mochaTimeout, func(c *tc) {
				connectNamespace(c, "40", "40", `42["auth",{}]`)
			})
			s.it(t, "should allow connection to the main namespace with a payload", mochaTimeout, func(c *tc) {
				connectNamespace(c, `40{"token":"123"}`, "40", `42["auth",{"token":"123"}]`)
			})
			s.it(t, "should allow connection to a custom namespace", mochaTimeout, func(c *tc) {
				connectNamespace(c, "40/custom,", "40/custom,", `42/custom,["auth",{}]`)
			})
			s.it(t, "should allow connection to a custom namespace with a payload", mochaTimeout, func(c *tc) {
				connectNamespace(c, `40/custom,{"token":"abc"}`, "40/custom,", `42/custom,["auth",{"token":"abc"}]`)
			})
			s.it(t, "should disallow connection to an unknown namespace", mochaTimeout, func(c *tc) {
				socket := c.dial(s.wsURL + p + "?EIO=4&transport=websocket")
				socket.next() // Engine.IO handshake
				socket.send("40/random")
				socket.expect(text(`44/random,{"message":"Invalid namespace"}`))
			})
			s.it(t, "should disallow connection with an invalid handshake", mochaTimeout, func(c *tc) {
				socket := c.dial(s.wsURL + p + "?EIO=4&transport=websocket")
				socket.next() // Engine.IO handshake
				socket.send("4abc")
				socket.waitClose()
			})
			s.it(t, "should close the connection if no handshake is received", mochaTimeout, func(c *tc) {
				socket := c.dial(s.wsURL + p + "?EIO=4&transport=websocket")
				socket.waitClose()
			})
		})

		t.Run("disconnect", func(t *testing.T) {
			s.it(t, "should disconnect from the main namespace", mochaTimeout, func(c *tc) {
				socket := initSocketIOConnection(c)
				socket.send("41")
				socket.expect(text("2"))
			})
			s.it(t, "should connect then disconnect from a custom namespace", mochaTimeout, func(c *tc) {
				socket := initSocketIOConnection(c)
				socket.next() // ping

				socket.send("40/custom")
				socket.next() // Socket.IO handshake
				socket.next() // auth packet

				socket.send("41/custom")
				socket.send(`42["message","message to main namespace"]`)
				socket.expect(text(`42["message-back","message to main namespace"]`))
			})
		})

		t.Run("message", func(t *testing.T) {
			s.it(t, "should send a plain-text packet", mochaTimeout, func(c *tc) {
				socket := initSocketIOConnection(c)
				socket.send(`42["message",1,"2",{"3":[true]}]`)
				socket.expect(text(`42["message-back",1,"2",{"3":[true]}]`))
			})
			s.it(t, "should send a packet with binary attachments", mochaTimeout, func(c *tc) {
				socket := initSocketIOConnection(c)
				socket.send(`452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
				socket.sendBinary(1, 2, 3)
				socket.sendBinary(4, 5, 6)

				expectPackets(c, socket.packets(3),
					text(`452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`),
					binary(1, 2, 3),
					binary(4, 5, 6))
				socket.close()
			})
			s.it(t, "should send a plain-text packet with an ack", mochaTimeout, func(c *tc) {
				socket := initSocketIOConnection(c)
				socket.send(`42456["message-with-ack",1,"2",{"3":[false]}]`)
				socket.expect(text(`43456[1,"2",{"3":[false]}]`))
			})
			s.it(t, "should send a packet with binary attachments and an ack", mochaTimeout, func(c *tc) {
				socket := initSocketIOConnection(c)
				socket.send(`452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
				socket.sendBinary(1, 2, 3)
				socket.sendBinary(4, 5, 6)

				expectPackets(c, socket.packets(3),
					text(`462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`),
					binary(1, 2, 3),
					binary(4, 5, 6))
				socket.close()
			})
			s.it(t, "should close the connection upon invalid format (unknown packet type)", mochaTimeout, func(c *tc) {
				socket := initSocketIOConnection(c)
				socket.send("4abc")
				socket.waitClose()
			})
			s.it(t, "should close the connection upon invalid format (invalid payload format)", mochaTimeout, func(c *tc) {
				socket := initSocketIOConnection(c)
				socket.send("42{}")
				socket.waitClose()
			})
			s.it(t, "should close the connection upon invalid format (invalid ack id)", mochaTimeout, func(c *tc) {
				socket := initSocketIOConnection(c)
				socket.send(`42abc["message-with-ack",1,"2",{"3":[false]}]`)
				socket.waitClose()
			})
		})
	})
}

// initSocketIOConnection is the suite's initSocketIOConnection(): a
// WebSocket session joined to the main namespace, its "auth" packet read.
func initSocketIOConnection(c *tc) *ws {
	c.Helper()
	socket := c.dial(c.s.wsURL + "/socket.io/?EIO=4&transport=websocket")
	socket.next() // Engine.IO handshake
	socket.send("40")
	socket.next() // Socket.IO handshake
	socket.next() // "auth" packet
	return socket
}

// connectNamespace is the body of the four "should allow connection" cases:
// after the CONNECT packet connect, the server answers a message that starts
// with prefix and goes on with JSON holding exactly a string "sid", and then
// sends the "auth" packet auth.
func connectNamespace(c *tc, connect, prefix, auth string) {
	c.Helper()
	socket := c.dial(c.s.wsURL + "/socket.io/?EIO=4&transport=websocket")
	socket.next() // Engine.IO handshake
	socket.send(connect)

	data := socket.next()
	if data.binary || !strings.HasPrefix(string(data.data), prefix) {
		c.Fatalf("got %v, want text starting with %q", data, prefix)
	}
	var handshake map[string]json.RawMessage
	if err := json.Unmarshal(data.data[len(prefix):], &handshake); err != nil {
		c.Fatalf("JSON.parse(%q): %v", data.data[len(prefix):], err)
	}
	expectKeys(c, handshake, "sid")
	expectString(c, "handshake.sid", handshake["sid"])

	socket.expect(text(auth))
}

// expectPackets is the expect(packets[i]).to.eql(want[i]) lines.
func expectPackets(c *tc, got []message, want ...message) {
	c.Helper()
	for i := range want {
		if !got[i].equal(want[i]) {
			c.Fatalf("packets[%d]: got %v, want %v", i, got[i], want[i])
		}
	}
}
