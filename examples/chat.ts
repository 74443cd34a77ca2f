/**
 * A line-based chat room for many clients at once. Try it with `nc 127.0.0.1 7001` or telnet.
 *
 *   deno run -A examples/chat.ts [port]    bun run examples/chat.ts    node examples/chat.ts
 *
 * Commands: `/nick NAME`, `/who`, `/quit`; any other line goes to everyone else as
 * `<nick> text`. Joins and leaves are announced with `* `.
 *
 * Nobody waits for a slow client: broadcasts are fire-and-forget `send()`s, and a client
 * that does not read gets at most `maxOutbound` (64 KiB) queued for it, beyond which its
 * connection is dropped (`OutboundOverflowError`) and the room is told it left.
 * @module
 */
import { type Connection, formatAddr, lines, OutboundOverflowError, serve } from "../mod.ts";
import { flag, port } from "./_args.ts";

type Member = Connection<string, string, { nick: string }>;
const room = new Set<Member>();

function broadcast(from: Member | undefined, text: string): void {
  for (const m of room) if (m !== from) m.send(text); // never awaited: no one waits for a slow reader
}

function nickTaken(nick: string): boolean {
  for (const m of room) if (m.data.nick === nick) return true;
  return false;
}

const server = serve<string, string, { nick: string }>({
  hostname: flag("host") ?? "127.0.0.1",
  port: port(7001),
  framer: lines({ maxLength: 1024 }),
  maxOutbound: 64 * 1024,
  maxConnections: 1000,
  async handler(conn) {
    conn.data = { nick: `guest${conn.id}` };
    room.add(conn);
    let why = "";
    try {
      await conn.send(
        `* welcome, ${conn.data.nick}; ${room.size} here. Commands: /nick NAME, /who, /quit`,
      );
      broadcast(conn, `* ${conn.data.nick} joined`);
      for await (const line of conn) {
        if (line === "/quit") {
          await conn.send("* bye");
          break;
        }
        if (line === "/who") {
          await conn.send(`* here: ${[...room].map((m) => m.data.nick).join(", ")}`);
        } else if (line.startsWith("/nick ")) {
          const nick = line.slice(6).trim();
          if (!/^[\w-]{1,32}$/.test(nick)) {
            await conn.send("* a nick is 1 to 32 letters, digits, _ or -");
          } else if (nickTaken(nick)) await conn.send(`* ${nick} is taken`);
          else {
            broadcast(conn, `* ${conn.data.nick} is now ${nick}`);
            conn.data.nick = nick;
            await conn.send(`* you are ${nick}`);
          }
        } else if (line.startsWith("/")) {
          await conn.send("* commands: /nick NAME, /who, /quit");
        } else if (line.length > 0) {
          broadcast(conn, `<${conn.data.nick}> ${line}`);
        }
      }
    } catch (e) {
      why = e instanceof OutboundOverflowError ? " (too slow)" : ` (${(e as Error).name})`;
    } finally {
      room.delete(conn);
      broadcast(conn, `* ${conn.data.nick} left${why}`);
    }
  },
});
await server.ready;
console.log(`chat server on ${formatAddr(server.addr)}`);
