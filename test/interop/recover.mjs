// Connects the official socket.io-client to a hub, joins a room once, and
// prints JSON lines, for the connection state recovery interop test.
//
//   node recover.mjs URL TOKEN ROOM
//
// Lines: {"event":"connect","recovered":bool} after each connection (the
// room is joined only on the first); {"event":"changeTrack","payload":...}.
import { io } from "socket.io-client";

const [url, token, room] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const socket = io(url, {
  transports: ["websocket"],
  auth: { token },
  reconnectionDelay: 100,
  reconnectionDelayMax: 300,
});

let joined = false;
socket.on("connect", async () => {
  if (!joined) {
    joined = true;
    const ack = await socket.timeout(5000).emitWithAck("room:join", { room });
    out({ event: "connect", recovered: socket.recovered, joined: ack.ok });
  } else {
    out({ event: "connect", recovered: socket.recovered });
  }
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
