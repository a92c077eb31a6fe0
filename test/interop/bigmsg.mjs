// Sends large messages with the official socket.io-client to a Socket.IO
// server that echoes them (bigmsg_test.go), and checks each echo byte for
// byte, both the event sent back and the ack.
//
//   node bigmsg.mjs URL TRANSPORTS BYTES
//
// Lines: {"event":"connect","transport":...}
//        {"event":"echoed","kind":"text"|"binary","bytes":N,"transport":...}
//        {"event":"mismatch","kind":...} | {"event":"error","message":...}
import { io } from "socket.io-client";

const [url, transports, bytesArg] = process.argv.slice(2);
const size = Number(bytesArg);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const deadline = setTimeout(() => {
  out({ event: "timeout" });
  process.exit(3);
}, 60000);

const socket = io(url, {
  transports: transports.split(","),
  upgrade: transports.includes("websocket"),
  reconnection: false,
  timeout: 20000,
});

socket.on("connect_error", (err) => {
  out({ event: "error", message: String(err && err.message) });
  process.exit(2);
});

const transport = () => socket.io.engine.transport.name;

function upgraded() {
  if (!transports.includes("websocket") || transport() === "websocket") return Promise.resolve();
  return new Promise((resolve) => socket.io.engine.once("upgrade", () => resolve()));
}

function echo(kind, value) {
  return new Promise((resolve, reject) => {
    socket.once("echo-back", (back) => {
      const same = kind === "text" ? back === value : Buffer.compare(Buffer.from(back), value) === 0;
      if (!same) reject(new Error(kind + " echo event differs"));
      else resolve();
    });
  }).then(() =>
    socket.timeout(30000).emitWithAck("echo-ack", value).then((back) => {
      const same = kind === "text" ? back === value : Buffer.compare(Buffer.from(back), value) === 0;
      if (!same) throw new Error(kind + " ack differs");
    }),
  );
}

socket.on("connect", async () => {
  out({ event: "connect", transport: transport() });
  try {
    const text = "x".repeat(size - 7) + "bigmsg!";
    // First over the transport the client starts on.
    let p = echo("text", text);
    socket.emit("echo", text);
    await p;
    out({ event: "echoed", kind: "text", bytes: text.length, transport: transport() });
    await upgraded();
    const bin = Buffer.alloc(size);
    for (let i = 0; i < bin.length; i++) bin[i] = (i * 31) & 0xff;
    p = echo("binary", bin);
    socket.emit("echo", bin);
    await p;
    out({ event: "echoed", kind: "binary", bytes: bin.length, transport: transport() });
    p = echo("text", text);
    socket.emit("echo", text);
    await p;
    out({ event: "echoed", kind: "text", bytes: text.length, transport: transport() });
  } catch (err) {
    out({ event: "mismatch", message: String(err && err.message) });
    process.exit(4);
  }
  clearTimeout(deadline);
  socket.close();
});
