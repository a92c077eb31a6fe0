// Connects the official socket.io-client to a hub, joins a room after
// every (re)connection and prints JSON lines, for the restart interop test.
//
//   node restart.mjs URL TOKEN ROOM
//
// Lines: {"event":"connect","n":N} after each connection and join;
//        {"event":"changeTrack","payload":...} then it exits.
import { io } from "socket.io-client";

const [url, token, room] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const socket = io(url, {
  transports: ["websocket"],
  auth: { token },
  reconnectionDelay: 100,
  reconnectionDelayMax: 500,
});

let n = 0;
socket.on("connect", async () => {
  n++;
  const ack = await socket.timeout(5000).emitWithAck("room:join", { room });
  out({ event: "connect", n, ok: ack.ok });
});
socket.on("changeTrack", (payload) => {
  out({ event: "changeTrack", payload });
  clearTimeout(deadline);
  socket.close();
});
const deadline = setTimeout(() => {
  out({ event: "timeout" });
  process.exit(3);
}, 30000);
