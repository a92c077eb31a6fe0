// Drives the official socket.io-client against a Tandem hub and prints what
// happens as JSON lines on stdout, for interop_test.go to check.
//
//   node client.mjs URL TOKEN ROOM [TRANSPORTS]
//
// TRANSPORTS is a comma-separated list (default "websocket"); with
// "polling,websocket" the client starts on polling and upgrades.
//
// Lines: {"event":"connect"} | {"event":"connect_error","message":...,"data":...}
//        {"event":"join","ack":...} | {"event":"changeTrack","payload":...}
//        {"event":"error-ack","ack":...}
import { io } from "socket.io-client";

const [url, token, room, transports = "websocket"] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const socket = io(url, {
  transports: transports.split(","),
  upgrade: transports.includes("websocket"),
  auth: { token },
  reconnection: false,
  timeout: 10000,
});

const deadline = setTimeout(() => {
  out({ event: "timeout" });
  process.exit(3);
}, 20000);

socket.on("connect_error", (err) => {
  out({ event: "connect_error", message: err.message, data: err.data ?? null });
  clearTimeout(deadline);
  socket.close();
});

socket.on("connect", async () => {
  out({ event: "connect", id: socket.id, transport: socket.io.engine.transport.name });
  const ack = await socket.timeout(5000).emitWithAck("room:join", { room });
  out({ event: "join", ack });
  const bad = await socket.timeout(5000).emitWithAck("playback:changeTrack", { room: "not-joined", trackId: "0".repeat(64) });
  out({ event: "error-ack", ack: bad });
  out({ event: "ready" });
});

socket.on("changeTrack", (payload) => {
  out({ event: "changeTrack", payload, transport: socket.io.engine.transport.name });
  clearTimeout(deadline);
  socket.close();
});
