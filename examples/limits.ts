/**
 * Limits, routing and a clean stop: a line service that stays up when clients flood it,
 * stall it or misbehave, with an admin port to watch and tune it while it runs.
 *
 *   deno run --allow-net examples/limits.ts [port] [--admin-port 7021] [--max 100] [--backlog 50]
 *   bun run examples/limits.ts    node examples/limits.ts
 *
 * - public (the port from the argument, `--port` or PORT; default 7020): each line is
 *   answered upper-cased (`nc 127.0.0.1 7020`). At most `--max` handlers run at once;
 *   `--backlog` more wait in line (5 s at most); beyond, a client reads
 *   `ERR busy (capacity)` and is closed. Every rejection is logged.
 * - Per client address: 10 connections at once, 20 new ones per 10 s.
 * - Timeouts: the first line within 10 s (slowloris), 60 s idle, 30 s of a full send queue.
 * - A client that starts with `GET ` is answered with a one-line HTTP status page
 *   (sniffed: the bytes are not lost, the HTTP handler reads them).
 * - admin (127.0.0.1 only, `--admin-port`, default 7021): `stats`, `max N`. It is a
 *   server of its own: limits apply to every listener of a server, and the admin port
 *   must answer when the public one is full. It also answers an HTTP `GET /metrics`
 *   with the public server's `metrics()`, for Prometheus or
 *   `curl http://127.0.0.1:7021/metrics` (sniffed, like the status page).
 * - Ctrl-C or SIGTERM drains both for up to 5 s, then forces; a second signal forces at once.
 * @module
 */
import { type Connection, formatAddr, lines, router, serve, shutdownOnSignals } from "../mod.ts";
import { flag, port } from "./_args.ts";

const hostname = flag("host") ?? "127.0.0.1";
const num = (name: string, fallback: number) => Number(flag(name) ?? fallback);

/** The public service: upper-cases each line. */
async function shout(conn: Connection<string>): Promise<void> {
  for await (const line of conn) await conn.send(line.toUpperCase());
}

/** A one-line status page for `GET` requests (sniffed on the public port). */
async function status(conn: Connection<string>): Promise<void> {
  await conn.next(); // the request line
  const s = server.stats();
  const body = `${s.active} active, ${s.queued} waiting, ${s.accepted} accepted\n`;
  const head = `HTTP/1.0 200 OK\r\ncontent-length: ${body.length}\r\n\r\n`;
  await conn.write(new TextEncoder().encode(head + body)); // raw bytes: lines() refuses CRLF
}

/** `GET /metrics` on the admin port: the Prometheus text of the public server (HTTP/1.0). */
async function metrics(conn: Connection<string>): Promise<void> {
  const request = await conn.next(); // "GET /metrics HTTP/1.1"
  // Read the headers up to the empty line, so that no unread request is left behind.
  for (let i = 0; i < 100; i++) {
    const header = await conn.next();
    if (header === undefined || header === "") break;
  }
  const found = request?.split(" ")[1] === "/metrics";
  const body = new TextEncoder().encode(found ? server.metrics() : "not found: GET /metrics\n");
  const head = `HTTP/1.0 ${found ? "200 OK" : "404 Not Found"}\r\n` +
    `content-type: text/plain; version=0.0.4; charset=utf-8\r\n` +
    `content-length: ${body.length}\r\nconnection: close\r\n\r\n`;
  await conn.write(new TextEncoder().encode(head));
  await conn.write(body); // the handler returns: the connection closes
}

/** The admin shell. */
async function admin(conn: Connection<string>): Promise<void> {
  for await (const line of conn) {
    const [cmd, arg] = line.trim().split(/\s+/);
    if (cmd === "stats") await conn.send(JSON.stringify(server.stats()));
    else if (cmd === "max" && Number.isInteger(Number(arg)) && Number(arg) > 0) {
      server.setMaxConnections(Number(arg));
      await conn.send(`maxConnections ${arg}`);
    } else await conn.send("commands: stats, max N");
  }
}

const server = serve<string, string>({
  listen: [{ name: "public", hostname, port: port(7020) }],
  framer: lines({ maxLength: 64 * 1024 }),
  handler: router()
    .on({ sniff: (head) => startsWith(head, "GET ") }, status)
    .otherwise(shout),
  maxConnections: num("max", 100),
  backlog: num("backlog", 50),
  perClient: { maxConnections: 10, rate: { connections: 20, perSeconds: 10 } },
  timeouts: { firstMessage: 10_000, idle: 60_000, writeStall: 30_000, queue: 5_000 },
  rejectMessage: (_info, reason) => `ERR busy (${reason})\n`,
  onReject: (info, reason) => console.log(`rejected ${formatAddr(info.remoteAddr)}: ${reason}`),
  onError: (error) => console.error("error:", error),
});

const adminServer = serve<string, string>({
  listen: [{ name: "admin", hostname: "127.0.0.1", port: num("admin-port", 7021) }],
  framer: lines({ maxLength: 1024 }),
  // Only local clients; anyone else matches no route and is closed (and reported).
  handler: router()
    .on({ remote: ["127.0.0.1", "::1"], sniff: (head) => startsWith(head, "GET ") }, metrics)
    .on({ remote: ["127.0.0.1", "::1"] }, admin),
  maxConnections: 4,
  backlog: 0,
  timeouts: { idle: 300_000 },
});

/** True when `head` starts with the ASCII `prefix`; `undefined` while too short to tell. */
function startsWith(head: Uint8Array, prefix: string): boolean | undefined {
  for (let i = 0; i < prefix.length; i++) {
    if (i >= head.length) return undefined;
    if (head[i] !== prefix.charCodeAt(i)) return false;
  }
  return true;
}

await Promise.all([server.ready, adminServer.ready]);
for (const s of [server, adminServer]) {
  for (const { name, addr } of s.addrs) console.log(`${name} listener on ${formatAddr(addr)}`);
}
shutdownOnSignals(server, {
  timeout: 5_000,
  onSignal: (signal, n) => console.log(`${signal}: ${n === 1 ? "draining (5 s)" : "forcing"}`),
});
shutdownOnSignals(adminServer, { timeout: 1_000 });
await Promise.all([server.finished, adminServer.finished]);
console.log(`stopped: ${JSON.stringify(server.stats())}`);
