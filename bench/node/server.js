// Reference server for cmd/hubbench: the official Socket.IO 4.8 server
// speaking the subset of Tandem's protocol (docs/PROTOCOL.md) that the
// benchmark drives, with no storage and no token check.
//
//   node server.js [PORT] [--host 127.0.0.1] [--presence]
//
// room:join {room}               → ack {ok, state: {room, queue, nowPlaying, version}}
// playback:changeTrack {room, trackId | entryId}
//                                → ack {ok, version}, then every member of the
//                                  room, the sender included, gets
//                                  changeTrack {room, entryId, trackId, by, version, startAt}
//
// With --presence it also sends `presence {room, members}` to the room after
// every join and every changeTrack, as Tandem's hub does, so that both
// servers write the same frames. It prints "listening on HOST:PORT" when ready.
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
};
const port = Number(args.find((a) => /^\d+$/.test(a)) || 7879);
const host = option("--host", "127.0.0.1");
const presence = flag("--presence");

const LEAD_MS = 400; // the hub's scheduling lead (hub.DefaultLead)

// Four stand-in tracks, shaped like the hub's sha256 track ids.
const TRACKS = ["0", "1", "2", "3"].map((d) => d.repeat(64));
const QUEUE = TRACKS.map((trackId, i) => ({ id: `e${i + 1}`, trackId }));

/** @type {Map<string, {version: number, nowPlaying: object, members: Map<string, string>}>} */
const rooms = new Map();

function roomOf(name) {
  let r = rooms.get(name);
  if (!r) {
    r = { version: 0, nowPlaying: { state: "stopped", position: 0 }, members: new Map() };
    rooms.set(name, r);
  }
  return r;
}

function fail(code, message) {
  return { ok: false, error: { code, message } };
}

function validRoom(room) {
  return typeof room === "string" && room.length > 0 && room.length <= 64 && room.trim() === room;
}

// The member list as the hub sends it: one entry per name, sorted.
function members(r) {
  const names = [...new Set(r.members.values())].sort();
  const playing = r.nowPlaying.state === "playing";
  return names.map((name) => (playing ? { name, nowPlaying: r.nowPlaying.trackId } : { name }));
}

function sendPresence(name, r) {
  if (presence) io.to(name).emit("presence", { room: name, members: members(r) });
}

const httpServer = http.createServer();
const io = new Server(httpServer, {
  // Socket.IO's defaults, spelled out: the hub uses the same.
  pingInterval: 25000,
  pingTimeout: 20000,
  maxHttpBufferSize: 1e6,
  transports: ["polling", "websocket"],
});

io.on("connection", (socket) => {
  const auth = socket.handshake.auth || {};
  const user = String(auth.name || auth.token || "guest");

  socket.on("room:join", (req, ack) => {
    if (typeof ack !== "function") return;
    if (!req || !validRoom(req.room)) return ack(fail("EINVALID", "bad room name"));
    const r = roomOf(req.room);
    socket.join(req.room);
    r.members.set(socket.id, user);
    ack({ ok: true, state: { room: req.room, queue: QUEUE, nowPlaying: r.nowPlaying, version: r.version } });
    sendPresence(req.room, r);
  });

  socket.on("playback:changeTrack", (req, ack) => {
    const reply = typeof ack === "function" ? ack : () => {};
    if (!req || !validRoom(req.room)) return reply(fail("EINVALID", "bad room name"));
    if (!socket.rooms.has(req.room)) return reply(fail("EFORBIDDEN", `you have not joined room "${req.room}"`));
    if (!req.entryId === !req.trackId) return reply(fail("EINVALID", "give exactly one of entryId and trackId"));
    let entryId = req.entryId || "";
    let trackId = req.trackId;
    if (entryId) {
      const e = QUEUE.find((q) => q.id === entryId);
      if (!e) return reply(fail("ENOTFOUND", `entry "${entryId}" is not in the queue`));
      trackId = e.trackId;
    }
    const r = roomOf(req.room);
    const startAt = Date.now() + LEAD_MS;
    r.version++;
    r.nowPlaying = { entryId, trackId, state: "playing", position: 0, startAt };
    // The hub tells the room first and acks after, as here.
    io.to(req.room).emit("changeTrack", { room: req.room, entryId, trackId, by: user, version: r.version, startAt });
    sendPresence(req.room, r);
    reply({ ok: true, version: r.version });
  });

  socket.on("disconnect", () => {
    for (const [name, r] of rooms) {
      if (r.members.delete(socket.id)) sendPresence(name, r);
    }
  });
});

httpServer.listen(port, host, () => {
  console.log(`listening on ${host}:${httpServer.address().port}${presence ? " (presence on)" : ""}`);
});

function shutdown() {
  io.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
