/**
 * Echo server. Echoes bytes back as they come (any TCP client works: `nc 127.0.0.1 7000`),
 * or whole lines with `--framer lines`.
 *
 *   deno run -A examples/echo.ts [port] [--framer raw|lines] [--host 127.0.0.1]
 *                                [--proxy-protocol CIDR[,CIDR]] [--who] [--lame-duck MS]
 *                                [--workers N|auto]
 *   bun run examples/echo.ts
 *   node examples/echo.ts
 *
 * The port comes from an argument (before the options, or `--port`), or PORT (default
 * 7000; 0 = any free port).
 *
 * - `--proxy-protocol 10.0.0.0/8,127.0.0.1` puts it behind a load balancer: from those
 *   sources a PROXY header (v1 or v2) is required, and the connection's address is the
 *   real client's; from anyone else a header is refused. See `examples/deploy/`.
 * - `--who` (with `--framer lines`): the line `who` is answered, instead of echoed, with
 *   `client=<the client's address> server=<this server's address>`, to see which
 *   client a load balancer passed on, and to which instance.
 * - SIGTERM or Ctrl-C drains: the listener closes, open connections are served until
 *   they end (5 s at most), then the process exits; a second signal forces. With
 *   `--framer lines`, a connection is closed between two requests once the server
 *   drains (the request it is on is answered first), as an HTTP server going away
 *   closes its keep-alive connections: a client reconnects, and loses nothing.
 * - `--lame-duck MS` (default 3000 with `--proxy-protocol`, else 0): between the signal
 *   and closing the listener, new connections are still served, but a load balancer's
 *   health checks (connections whose PROXY header is LOCAL, as HAProxy's checks send)
 *   are closed unanswered, so the balancer marks this server down and stops sending
 *   to it before its listener closes: no client connection is refused or reset.
 * - `--workers N|auto` (or WORKERS=N): one process per core. This script becomes a
 *   primary that starts N worker processes sharing the port (`serve({ workers })`,
 *   Linux). SIGTERM or Ctrl-C to the primary: the lame duck in every worker (the
 *   primary passes it on with SIGUSR2), then every worker drains; a second signal
 *   forces. SIGHUP to the primary is a rolling restart: one worker at a time, a new
 *   process starts and, once it listens, the old one drains (its listener closes; no
 *   lame duck, since the instance stays up for the balancer). Each worker prints
 *   `worker <index> (pid <pid>) ready` and `... stopped after <n> connections`.
 *   On Deno, give `-A` (or `--allow-net --allow-run --allow-env --allow-read --allow-write`).
 * @module
 */
import { type Connection, formatAddr, lines, raw, serve, shutdownOnSignals } from "../mod.ts";
import { env, flag, has, onSignal, pid, port } from "./_args.ts";

const mode = flag("framer") ?? "raw";
if (mode !== "raw" && mode !== "lines") {
  throw new TypeError(`--framer must be raw or lines, got "${mode}"`);
}
const who = has("who");
if (who && mode !== "lines") throw new TypeError("--who needs --framer lines");
const trusted = flag("proxy-protocol")?.split(",").map((s) => s.trim()).filter(Boolean);
if (trusted?.length === 0) throw new TypeError("--proxy-protocol needs CIDR[,CIDR]");

const lameDuck = Number(flag("lame-duck") ?? (trusted ? 3000 : 0));
if (!(lameDuck >= 0)) throw new RangeError("--lame-duck must be a number of ms >= 0");

const workersText = flag("workers") ?? env("WORKERS");
const workers: number | "auto" | undefined = workersText === undefined || workersText === "auto"
  ? workersText
  : Number(workersText);
if (workers !== undefined && workers !== "auto" && !(Number.isInteger(workers) && workers >= 1)) {
  throw new RangeError(`--workers must be a number >= 1 or auto, got "${workersText}"`);
}

/** Set on the first signal (in a worker: on the primary's SIGUSR2): health checks are refused. */
let draining = false;
// The primary's lame duck, passed on to every worker: health checks fail from then on,
// clients are still served. Listened for before serve(), as the primary signals a worker
// as soon as it is bound.
if (workers !== undefined) onSignal("SIGUSR2", () => void (draining = true));

/** A load balancer's health check while draining: it gets no answer, so the check fails. */
function refuseCheck(conn: Connection<unknown>): boolean {
  if (!draining || !trusted || conn.proxiedBy !== undefined) return false;
  conn.close();
  return true;
}

const options = {
  hostname: flag("host") ?? "127.0.0.1",
  port: port(7000),
  proxyProtocol: trusted ? { trusted } : undefined,
  workers,
  shutdownTimeout: 5_000, // a worker's drain in a rolling restart
};

/**
 * Echoes lines; with `--who`, answers `who` with the client's and this server's address.
 * Once the server drains, the connection is closed between two requests.
 */
async function echoLines(conn: Connection<string>): Promise<void> {
  if (refuseCheck(conn)) return;
  let busy = false;
  // Draining while waiting for a request: close now (a request on its way gets no answer,
  // so its client knows it was not served and sends it again on a new connection).
  const leave = () => void (busy || conn.close());
  if (conn.signal.aborted) leave();
  else conn.signal.addEventListener("abort", leave, { once: true });
  try {
    for await (const line of conn) {
      busy = true;
      if (who && line === "who") {
        await conn.send(`client=${formatAddr(conn.remoteAddr)} server=${formatAddr(server.addr)}`);
      } else await conn.send(line);
      busy = false;
      if (conn.signal.aborted) break; // draining: this request was the last
    }
  } finally {
    conn.signal.removeEventListener("abort", leave);
  }
}

const server = mode === "lines"
  ? serve({ ...options, framer: lines({ maxLength: 64 * 1024 }), handler: echoLines })
  : serve({
    ...options,
    framer: raw(),
    async handler(conn) {
      if (refuseCheck(conn)) return;
      for await (const chunk of conn) await conn.send(chunk);
    },
  });

await server.ready;
const a = server.addr;
const self = server.worker === undefined ? "" : `worker ${server.worker} (pid ${pid()}) `;
if (server.worker !== undefined) {
  console.log(`${self}ready`);
} else {
  console.log(
    `echo server (${mode}) on ${a.transport === "tcp" ? `${a.hostname}:${a.port}` : a.transport}` +
      (workers === undefined ? "" : ` with ${workers} workers (primary pid ${pid()})`) +
      (trusted ? `, PROXY header required from ${trusted.join(", ")}` : ""),
  );
  if (workers !== undefined) onSignal("SIGHUP", () => console.log("SIGHUP: rolling restart"));
}
// In a worker too: a Ctrl-C reaches every process of the group, and each one runs its
// own lame duck (the primary's drain that follows is the same request).
shutdownOnSignals({
  finished: server.finished,
  // The first signal: the lame-duck wait, then a graceful shutdown; a second one forces.
  async shutdown(options) {
    if (options === undefined) return server.shutdown({ timeout: 0 });
    draining = true;
    server.signalWorkers("SIGUSR2"); // in the primary: every worker's lame duck
    if (lameDuck > 0) await new Promise((r) => setTimeout(r, lameDuck));
    console.log(`${self}closing the listener`);
    return server.shutdown(options);
  },
}, {
  timeout: 5_000,
  onSignal: (signal, n) =>
    console.log(
      self + (n > 1
        ? `${signal}: forcing`
        : `${signal}: ${lameDuck ? `lame duck for ${lameDuck} ms, then ` : ""}draining (5 s)`),
    ),
});
await server.finished;
console.log(`${self}stopped after ${server.stats().accepted} connections`);
