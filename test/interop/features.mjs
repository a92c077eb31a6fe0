// Exercises Socket.IO features of a Go socketio server with the official
// client, over the transports given, and prints one JSON line per check.
//
//   node features.mjs URL TRANSPORTS
import { io } from "socket.io-client";

const [url, transports] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const opts = { transports: transports.split(","), reconnection: false, timeout: 5000 };

const deadline = setTimeout(() => { out({ check: "timeout" }); process.exit(3); }, 20000);

function connect(nsp, auth) {
  return new Promise((resolve) => {
    const s = io(url + nsp, { ...opts, auth, forceNew: true });
    // Listen before connecting: an emit made on connection arrives with it.
    const welcome = new Promise((r) => s.once("welcome", r));
    s.once("connect", () => resolve({ socket: s, welcome }));
    s.once("connect_error", (err) => resolve({ error: { message: err.message, data: err.data ?? null } }));
  });
}

// Server → client ack: the server asks "question" on connect.
const main = io(url, { ...opts, forceNew: true });
main.on("question", (n, ack) => ack(n * 2));
const answered = new Promise((r) => main.once("answered", r));
await new Promise((r) => main.once("connect", r));

// Client → server ack with binary both ways.
// (emitWithAck resolves with the first argument only, so use a callback.)
const reply = await new Promise((resolve, reject) =>
  main.timeout(5000).emit("echo", "text", Buffer.from([1, 2, 3]), { nested: Buffer.from([4]) },
    (err, ...args) => (err ? reject(err) : resolve(args))));
out({ check: "binary-ack", text: reply[0], bin: [...reply[1]], nested: [...reply[2].nested] });

// The server reports what the client answered.
out({ check: "server-ack", value: await answered });

// Custom namespace: refused, then accepted.
const refused = await connect("/custom", { key: "wrong" });
out({ check: "custom-refused", error: refused.error });
const ok = await connect("/custom", { key: "right" });
out({ check: "custom-ok", welcome: await ok.welcome });

// Unknown namespace.
const unknown = await connect("/nope");
out({ check: "unknown-namespace", error: unknown.error });

ok.socket.close();
main.close();
clearTimeout(deadline);
