/**
 * One server, three listeners, one router: each listener speaks its own protocol.
 *
 *   deno run -A examples/multi_port.ts [--text-port 7010] [--binary-port 7011] [--admin PATH]
 *   bun run examples/multi_port.ts    node examples/multi_port.ts
 *
 * - text (TCP): lines; each line is answered with it upper-cased (`nc 127.0.0.1 7010`).
 * - binary (TCP): frames with a 4-byte big-endian length; each is echoed back reversed.
 * - admin (Unix socket): `stats` answers the server's counters as JSON, `help` lists commands
 *   (`nc -U PATH`, or `python3 -c` with `socket.AF_UNIX`).
 *
 * Port 0 asks for any free port; the bound addresses are printed, one line each. The socket
 * file stays after the process ends: remove it before starting again on the same path.
 * @module
 */
import { type Connection, formatAddr, lengthPrefixed, lines, router, serve } from "../mod.ts";
import { env, flag } from "./_args.ts";

const num = (name: string, fallback: number) => Number(flag(name) ?? fallback);
const admin = flag("admin") ?? `/tmp/tcpkit-multi-port-${env("USER") ?? "user"}.sock`;

async function text(conn: Connection<string>): Promise<void> {
  for await (const line of conn) await conn.send(line.toUpperCase());
}

async function binary(conn: Connection<Uint8Array>): Promise<void> {
  for await (const frame of conn) await conn.send(frame.slice().reverse());
}

async function adminShell(conn: Connection<string>): Promise<void> {
  for await (const line of conn) {
    const cmd = line.trim();
    if (cmd === "stats") await conn.send(JSON.stringify(server.stats()));
    else if (cmd === "listeners") {
      await conn.send(JSON.stringify(server.addrs.map((l) => `${l.name} ${formatAddr(l.addr)}`)));
    } else if (cmd === "quit") return;
    else await conn.send("commands: stats, listeners, quit");
  }
}

const hostname = flag("host") ?? "127.0.0.1";
const server = serve({
  listen: [
    { name: "text", hostname, port: num("text-port", 7010) },
    { name: "binary", hostname, port: num("binary-port", 7011) },
    { name: "admin", path: admin },
  ],
  handler: router()
    .on({ listener: "admin" }, adminShell, { framer: lines({ maxLength: 1024 }) })
    .on({ listener: "binary" }, binary, { framer: lengthPrefixed({ size: 4, maxLength: 1 << 20 }) })
    .otherwise(text, { framer: lines({ maxLength: 64 * 1024 }) }),
  maxConnections: 1000,
});
await server.ready;
for (const { name, addr } of server.addrs) console.log(`${name} listener on ${formatAddr(addr)}`);
