/**
 * Echo server. Echoes bytes back as they come (any TCP client works: `nc 127.0.0.1 7000`),
 * or whole lines with `--framer lines`.
 *
 *   deno run --allow-net examples/echo.ts [port] [--framer raw|lines] [--host 127.0.0.1]
 *                                         [--proxy-protocol CIDR[,CIDR]] [--who]
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
 * - SIGTERM or Ctrl-C drains: the listener closes at once, open connections are served
 *   until they end (5 s at most), then the process exits; a second signal forces.
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

const options = {
  hostname: flag("host") ?? "127.0.0.1",
  port: port(7000),
  proxyProtocol: trusted ? { trusted } : undefined,
};

/** Echoes lines; with `--who`, answers `who` with the client's and this server's address. */
async function echoLines(conn: Connection<string>): Promise<void> {
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
      for await (const chunk of conn) await conn.send(chunk);
    },
  });

await server.ready;
const a = server.addr;
console.log(
  `echo server (${mode}) on ${a.transport === "tcp" ? `${a.hostname}:${a.port}` : a.transport}` +
    (trusted ? `, PROXY header required from ${trusted.join(", ")}` : ""),
);
shutdownOnSignals(server, {
  timeout: 5_000,
  onSignal: (signal, n) => console.log(`${signal}: ${n === 1 ? "draining (5 s)" : "forcing"}`),
});
await server.finished;
console.log(`stopped after ${server.stats().accepted} connections`);
