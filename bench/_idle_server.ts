// Child process of bench/idle_memory.ts: a server that accepts connections and keeps
// them open and idle. Not run on its own.
//
//   <runtime> bench/_idle_server.ts tcpkit [min]  the runtime's native tcpkit adapter
//                                                 (Deno: optional minimum read buffer)
//   <runtime> bench/_idle_server.ts tcpkit-node   tcpkit's node:net adapter
//   <runtime> bench/_idle_server.ts native [size] hand-written Deno.listen / Bun.listen /
//                                                 node:net server (Deno: read buffer size)
//
// Prints "ready <port>", then answers each "count" line on stdin with
// "<open connections> <connections that sent data>", and each "gc" line (a full garbage
// collection, so that RSS is not measured with garbage in it) with "gc done".
import process from "node:process";
import net from "node:net";
import { createInterface } from "node:readline";
import { detectRuntime, getTransport } from "../lib/adapters/mod.ts";
import { createDenoTransport } from "../lib/adapters/deno/transport.ts";
import { bunGlobal } from "../lib/adapters/bun/_types.ts";

const kind = process.argv[2] ?? "tcpkit";
const runtime = detectRuntime();
let open = 0;
let withData = 0;

function opened(): () => void {
  open++;
  let seen = false;
  return () => {
    if (!seen) {
      seen = true;
      withData++;
    }
  };
}

async function listenTcpkit(adapter: "node" | undefined, minBuffer?: number): Promise<number> {
  const transport = minBuffer
    ? createDenoTransport({ readBuffer: { min: minBuffer, max: 64 * 1024 } })
    : getTransport(adapter);
  const listener = transport.listen(
    { hostname: "127.0.0.1", port: 0, backlog: 4096, writeHighWaterMark: 64 * 1024 },
    (s) => {
      const onData = opened();
      s.start({
        data: onData,
        end: () => s.end(),
        drain() {},
        close: () => void open--,
      });
      s.resume();
    },
  );
  await listener.ready;
  const addr = listener.addr;
  return addr.transport === "tcp" ? addr.port : 0;
}

function listenNativeDeno(size: number): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0, tcpBacklog: 4096 });
  (async () => {
    for await (const conn of listener) {
      const onData = opened();
      (async () => {
        const buf = new Uint8Array(size);
        try {
          while (true) {
            const n = await conn.read(buf);
            if (n === null) break;
            onData();
          }
        } catch { /* reset */ }
        open--;
        conn.close();
      })();
    }
  })();
  return (listener.addr as Deno.NetAddr).port;
}

function listenNativeBun(): number {
  const server = bunGlobal().listen<() => void>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        s.data = opened();
      },
      data: (s) => s.data(),
      close: () => void open--,
    },
  });
  return server.port!;
}

function listenNativeNode(): Promise<number> {
  const server = net.createServer((s) => {
    const onData = opened();
    s.on("data", onData);
    s.on("error", () => {});
    s.on("close", () => void open--);
  });
  return new Promise((resolve) => {
    server.listen({ host: "127.0.0.1", port: 0, backlog: 4096 }, () => {
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

let port: number;
if (kind === "tcpkit") port = await listenTcpkit(undefined, Number(process.argv[3] ?? 0));
else if (kind === "tcpkit-node") port = await listenTcpkit("node");
else if (kind === "native" && runtime === "deno") {
  port = listenNativeDeno(Number(process.argv[3] ?? 16384));
} else if (kind === "native" && runtime === "bun") port = listenNativeBun();
else if (kind === "native") port = await listenNativeNode();
else throw new Error(`unknown server kind ${kind}`);

console.log(`ready ${port}`);
/** A full garbage collection, where the runtime was started with it exposed. */
function collect(): void {
  const g = globalThis as { gc?: () => void; Bun?: { gc(sync: boolean): void } };
  if (g.Bun) g.Bun.gc(true);
  else g.gc?.();
}

createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = line.trim();
  if (cmd === "count") console.log(`${open} ${withData}`);
  if (cmd === "gc") {
    collect();
    setTimeout(() => console.log("gc done"), 100);
  }
});
