/**
 * A TCP forwarder: every client connection is piped to an upstream, bytes both ways.
 *
 *   deno run -A examples/proxy.ts [port] --to HOST:PORT [--proxy-v2]
 *   bun run examples/proxy.ts 7003 --to 127.0.0.1:6379    node examples/proxy.ts ...
 *
 * - Backpressure both ways: a chunk is read from one side only once the other side took
 *   the last one (`await write()`), so a slow reader slows the fast writer, not memory.
 * - Half-close passes through: when one side ends its sending, the other side's sending
 *   is ended too, and the other direction keeps flowing until it ends as well.
 * - When the upstream cannot be reached, the client's connection is closed at once.
 * - `--proxy-v2` sends a PROXY protocol v2 header first, so the upstream learns the client's
 *   address (HAProxy, nginx and tcpkit's `ProxyHeaderParser` read it).
 * @module
 */
import { connect, type Connection, encodeProxyV2, formatAddr, raw, serve } from "../mod.ts";
import { flag, has, port } from "./_args.ts";

const to = flag("to") ?? "127.0.0.1:7000";
const colon = to.lastIndexOf(":");
const upstreamHost = to.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
const upstreamPort = Number(to.slice(colon + 1));
if (colon < 1 || !Number.isInteger(upstreamPort)) {
  throw new TypeError(`--to must be HOST:PORT, got "${to}"`);
}
const proxyV2 = has("proxy-v2");

/** Copies one direction until its end of stream, then half-closes the other side. */
async function pipe(from: Connection, to: Connection): Promise<void> {
  for await (const chunk of from) await to.write(chunk);
  to.end();
}

const limits = { highWaterMark: 64 * 1024 }; // at most ~64 KiB read ahead per direction

const server = serve({
  hostname: flag("host") ?? "127.0.0.1",
  port: port(7003),
  framer: raw(),
  ...limits,
  async handler(client) {
    let upstream: Connection;
    try {
      upstream = await connect({
        hostname: upstreamHost,
        port: upstreamPort,
        timeout: 10_000,
        ...limits,
      });
    } catch (e) {
      console.log(`proxy: connection ${client.id}: upstream ${to}: ${(e as Error).message}`);
      return client.abort(); // the client learns of it by the connection closing
    }
    try {
      const src = client.remoteAddr, dst = client.localAddr;
      if (proxyV2) {
        const tcp = src.transport === "tcp" && dst.transport === "tcp";
        await upstream.write(encodeProxyV2(tcp ? { source: src, destination: dst } : {}));
      }
      await Promise.all([pipe(client, upstream), pipe(upstream, client)]);
      upstream.close(); // both ways ended; the server closes the client when we return
    } catch {
      client.abort(); // one side broke: drop both
      upstream.abort();
    }
  },
});
await server.ready;
console.log(`proxy on ${formatAddr(server.addr)} to ${to}`);
