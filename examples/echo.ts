/**
 * Echo server. Echoes bytes back as they come (any TCP client works: `nc 127.0.0.1 7000`),
 * or whole lines with `--framer lines`.
 *
 *   deno run --allow-net examples/echo.ts [port] [--framer raw|lines] [--host 127.0.0.1]
 *                                         [--proxy-protocol CIDR[,CIDR]] [--who] [--lame-duck MS]
 *   bun run examples/echo.ts
 *   node examples/echo.ts
 *
 * The port comes from an argument, `--port`, or PORT (default 7000; 0 = any free port).
 *
 * - `--proxy-protocol 10.0.0.0/8,127.0.0.1` puts it behind a load balancer: from those
 *   sources a PROXY header (v1 or v2) is required, and the connection's address is the
 *   real client's; from anyone else a header is refused. See `examples/deploy/`.
 * - `--who` (with `--framer lines`): the line `who` is answered, instead of echoed, with
 *   `client=<the client's address> server=<this server's address>`, to see which
 *   client a load balancer passed on, and to which instance.
 * - SIGTERM or Ctrl-C drains: the listener closes, open connections are served until
 *   they end (5 s at most), then the process exits; a second signal forces.
 * - `--lame-duck MS` (default 3000 with `--proxy-protocol`, else 0): between the signal
 *   and closing the listener, new connections are still served, but a load balancer's
 *   health checks (connections whose PROXY header is LOCAL, as HAProxy's checks send)
 *   are closed unanswered, so the balancer marks this server down and stops sending
 *   to it before its listener closes: no client connection is refused or reset.
 * @module
 */
import { type Connection, formatAddr, lines, raw, serve, shutdownOnSignals } from "../mod.ts";
import { flag, has, port } from "./_args.ts";

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
/** Set on the first signal: health checks are refused from then on. */
let draining = false;

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
};

/** Echoes lines; with `--who`, answers `who` with the client's and this server's address. */
async function echoLines(conn: Connection<string>): Promise<void> {
  if (refuseCheck(conn)) return;
  for await (const line of conn) {
    if (who && line === "who") {
      await conn.send(`client=${formatAddr(conn.remoteAddr)} server=${formatAddr(server.addr)}`);
    } else await conn.send(line);
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
console.log(
  `echo server (${mode}) on ${a.transport === "tcp" ? `${a.hostname}:${a.port}` : a.transport}` +
    (trusted ? `, PROXY header required from ${trusted.join(", ")}` : ""),
);
shutdownOnSignals({
  finished: server.finished,
  // The first signal: the lame-duck wait, then a graceful shutdown; a second one forces.
  async shutdown(options) {
    if (options === undefined) return server.shutdown({ timeout: 0 });
    draining = true;
    if (lameDuck > 0) await new Promise((r) => setTimeout(r, lameDuck));
    console.log("closing the listener");
    return server.shutdown(options);
  },
}, {
  timeout: 5_000,
  onSignal: (signal, n) =>
    console.log(
      n > 1
        ? `${signal}: forcing`
        : `${signal}: ${lameDuck ? `lame duck for ${lameDuck} ms, then ` : ""}draining (5 s)`,
    ),
});
await server.finished;
console.log(`stopped after ${server.stats().accepted} connections`);
