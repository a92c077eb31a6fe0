package conformance

import "time"

// requestGap separates two requests whose order matters; see closePolling.
const requestGap = 5 * time.Millisecond

// The Engine.IO cases that both official suites have, the same but for the
// path (/engine.io/ or /socket.io/) and the wording of their names.

// handshakePollingOpens: "successfully opens a session" (HTTP long-polling).
func handshakePollingOpens(c *tc, path string) {
	response := c.fetch("GET", c.s.url+path+"?EIO=4&transport=polling", "")
	c.expectStatus("GET", response, 200)
	c.expectOpen(response.body, []string{"websocket"})
}

// handshakePollingBadEIO: "fails with an invalid 'EIO' query parameter".
func handshakePollingBadEIO(c *tc, path string) {
	response := c.fetch("GET", c.s.url+path+"?transport=polling", "")
	c.expectStatus("GET without EIO", response, 400)
	response2 := c.fetch("GET", c.s.url+path+"?EIO=abc&transport=polling", "")
	c.expectStatus("GET with EIO=abc", response2, 400)
}

// handshakePollingBadTransport: "fails with an invalid 'transport' query
// parameter".
func handshakePollingBadTransport(c *tc, path string) {
	response := c.fetch("GET", c.s.url+path+"?EIO=4", "")
	c.expectStatus("GET without transport", response, 400)
	response2 := c.fetch("GET", c.s.url+path+"?EIO=4&transport=abc", "")
	c.expectStatus("GET with transport=abc", response2, 400)
}

// handshakePollingBadMethod: "fails with an invalid request method".
func handshakePollingBadMethod(c *tc, path string) {
	response := c.fetch("post", c.s.url+path+"?EIO=4&transport=polling", "")
	c.expectStatus("POST", response, 400)
	response2 := c.fetch("put", c.s.url+path+"?EIO=4&transport=polling", "")
	c.expectStatus("PUT", response2, 400)
}

// handshakeWebSocketOpens: "successfully opens a session" (WebSocket).
func handshakeWebSocketOpens(c *tc, path string) {
	socket := c.dial(c.s.wsURL + path + "?EIO=4&transport=websocket")
	data := socket.next()
	if data.binary {
		c.Fatalf("open packet: got %v, want text", data)
	}
	c.expectOpen(string(data.data), []string{})
	socket.close()
}

// The two WebSocket handshake failures. The JS cases call waitFor(socket,
// "close") without awaiting it, so they end at once and check nothing; the
// ports wait for the "close" that those lines mean.

// handshakeWebSocketBadEIO: "fails with an invalid 'EIO' query parameter".
func handshakeWebSocketBadEIO(c *tc, path string) {
	c.expectClosed(c.s.wsURL + path + "?transport=websocket")
	c.expectClosed(c.s.wsURL + path + "?EIO=abc&transport=websocket")
}

// handshakeWebSocketBadTransport: "fails with an invalid 'transport' query
// parameter".
func handshakeWebSocketBadTransport(c *tc, path string) {
	c.expectClosed(c.s.wsURL + path + "?EIO=4")
	c.expectClosed(c.s.wsURL + path + "?EIO=4&transport=abc")
}

// heartbeatPollingPingPong: "sends ping/pong packets" (HTTP long-polling).
func heartbeatPollingPingPong(c *tc, path string) {
	sid := c.initLongPollingSession(path)
	url := c.s.url + path + "?EIO=4&transport=polling&sid=" + sid
	for range 3 {
		pollResponse := c.fetch("GET", url, "")
		c.expectStatus("GET", pollResponse, 200)
		c.expectBody("GET", pollResponse, "2")
		pushResponse := c.fetch("post", url, "3")
		c.expectStatus("POST 3", pushResponse, 200)
	}
}

// heartbeatPollingTimeout: "closes the session upon ping timeout" (HTTP
// long-polling).
func heartbeatPollingTimeout(c *tc, path string) {
	sid := c.initLongPollingSession(path)
	c.sleep(suitePingInterval + suitePingTimeout)
	pollResponse := c.fetch("GET", c.s.url+path+"?EIO=4&transport=polling&sid="+sid, "")
	c.expectStatus("GET after the ping timeout", pollResponse, 400)
}

// heartbeatWebSocketPingPong: "sends ping/pong packets" (WebSocket).
func heartbeatWebSocketPingPong(c *tc, path string) {
	socket := c.dial(c.s.wsURL + path + "?EIO=4&transport=websocket")
	socket.next() // handshake
	for range 3 {
		socket.expect(text("2"))
		socket.send("3")
	}
	socket.close()
}

// heartbeatWebSocketTimeout: "closes the session upon ping timeout"
// (WebSocket).
func heartbeatWebSocketTimeout(c *tc, path string) {
	socket := c.dial(c.s.wsURL + path + "?EIO=4&transport=websocket")
	socket.waitClose()
}

// closePolling: "forcefully closes the session" (HTTP long-polling).
func closePolling(c *tc, path string) {
	sid := c.initLongPollingSession(path)
	url := c.s.url + path + "?EIO=4&transport=polling&sid=" + sid
	// Promise.all([GET, POST "1"]): the JS starts the GET first, and Node
	// serves requests in the order they arrive. A Go server reads each
	// connection on its own goroutine, so a request sent first may still be
	// served second: this port sends the POST 5 ms after the GET is on the
	// wire, to keep the JS order.
	wrote := make(chan struct{})
	poll := c.goFetch("GET", url, "", wrote)
	<-wrote
	time.Sleep(requestGap)
	push := c.goFetch("post", url, "1", nil)
	pollResponse := c.await("GET", url, poll)
	c.await("POST", url, push)
	c.expectStatus("GET", pollResponse, 200)
	c.expectBody("GET", pollResponse, "6")
	pollResponse2 := c.fetch("GET", url, "")
	c.expectStatus("GET after close", pollResponse2, 400)
}

// closeWebSocket: "forcefully closes the session" (WebSocket).
func closeWebSocket(c *tc, path string) {
	socket := c.dial(c.s.wsURL + path + "?EIO=4&transport=websocket")
	socket.next() // handshake
	socket.send("1")
	socket.waitClose()
}
