/**
 * The stress suite's server: one file that runs unchanged on Deno, Bun and Node, set up
 * per scenario by flags. Run by `scripts/stress.ts`, one process per scenario and runtime.
 *
 *   deno run -A --v8-flags=--expose-gc tests/stress/server.ts --scenario slowloris --first-message 2000
 *   bun run tests/stress/server.ts --scenario flood
 *   node --expose-gc tests/stress/server.ts --scenario tls --cert c.pem --key k.pem
 *
 * It uses only the public API (`../mod.ts`). Every listener binds 127.0.0.1 on a free
 * port. Once bound it prints `ports {"name": port, ...}`, then `ready <first port>`.
 *
 * - stdin `stats` is answered with one line, `stats {...}`: `server.stats()` plus what
 *   the suite needs to judge a scenario (see {@linkcode Extra}).
 * - SIGUSR2 runs a full GC and answers `gc heap <bytes>`; SIGTERM stops the server and
 *   exits (`bench/_harness.ts`). Except in `drain`, where SIGTERM belongs to
 *   `shutdownOnSignals()`: the process must then end by itself, and prints
 *   `final {...}` (the same fields) once the server has finished.
 *
 * Scenarios (`--scenario`):
 * - `slowloris`: a `lines()` echo with `timeouts.firstMessage` (`--first-message` ms).
 * - `flood`: a `lines()` echo with `maxConnections` 100 and `backlog` 100; each handler
 *   holds its slot `--hold` ms, answers one line and closes; `rejectMessage` names the reason.
 * - `nonreader`: `BIG` is answered with 60 000 bytes, fire and forget; `BIGW` too, but
 *   the hook returns the send (it waits for the queue to drain); `FLOOD <n>` with n bytes
 *   of such replies sent in a loop that ignores backpressure; anything else is echoed.
 *   `timeouts.writeStall` is `--write-stall` ms; `maxOutbound` keeps its default (1 MiB).
 * - `reset`: a `lines()` echo in the hooks style.
 * - `fuzz`: an echo of `--framer lines|length|varint` in `--style iterator|hooks`.
 * - `drain`: `REQ <id>` is written to the processed log (`--log`, one id a line, written
 *   synchronously) and only then acknowledged with `ACK <id>`; a request takes 0 to 10 ms.
 *   `shutdownOnSignals(server, { timeout: --drain-timeout })`; each connection closes
 *   once its request in progress is acknowledged.
 * - `proxy`: three `lines()` listeners answering `<remote address> <line>`: `trusted`
 *   (PROXY header required from 127.0.0.1; timeout 3 000 ms; 65 551-byte headers
 *   allowed), `untrusted` (only 10.0.0.0/8 is trusted) and `plain` (no PROXY protocol).
 * - `soak`: `E <text>` is echoed, `B <n>` answered with n bytes, `S <ms> <text>` echoed
 *   after ms.
 * - `tls`: a `lines()` echo on a TLS listener (`--cert`, `--key` files,
 *   `--handshake-timeout` ms) and on a plain one; `--adapter node` forces node:tls.
 *
 * @module
 */

import process from "node:process";
import { openSync, readFileSync, writeSync } from "node:fs";
import { createInterface } from "node:readline";
import {
  type AdapterName,
  type Connection,
  type Framer,
  type Handler,
  lengthPrefixed,
  lines,
  serve,
  type ServeOptions,
  type Server,
  shutdownOnSignals,
  TimeoutError,
} from "../../mod.ts";
import { ready } from "../../bench/_harness.ts";

const argv = process.argv.slice(2);
function flag(name: string, fallback?: string): string {
  const i = argv.indexOf(`--${name}`);
  const v = i >= 0 ? argv[i + 1] : fallback;
  if (v === undefined) throw new TypeError(`tests/stress/server.ts: --${name} is required`);
  return v;
}
const num = (name: string, fallback: number) => Number(flag(name, String(fallback)));

const scenario = flag("scenario");
const host = "127.0.0.1";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the suite reads besides `server.stats()`. */
export interface Extra {
  /** Sockets the server holds (`server.connections`). */
  connections: number;
  /** Connections that got a slot (`onConnection`). */
  opened: number;
  /** The most connections with a running handler at once: `stats().active` in `onConnection`. */
  peakActive: number;
  /**
   * The most connections between `onConnection` and `onClose` at once, counted by those
   * callbacks (a slot is handed to the next connection before the old one's `onClose`).
   */
  peakCallbacks: number;
  /** How connections ended (`onClose`): `clean`, or the error's name (`TimeoutError:kind`). */
  closes: Record<string, number>;
  /** What `onError` got, by name. */
  reported: Record<string, number>;
  /** Rejections seen by `onReject`, by reason. */
  rejects: Record<string, number>;
  /** Unhandled rejections and uncaught exceptions in the process: must stay 0. */
  unhandled: number;
  /** The first few of them, as text. */
  unhandledSamples: string[];
  /** The adapter in use. */
  adapter: string;
  /** `process.memoryUsage()` when the stats were taken: rss, heap, external, arrayBuffers. */
  memory: Record<string, number>;
}

const extra: Extra = {
  connections: 0,
  opened: 0,
  peakActive: 0,
  peakCallbacks: 0,
  closes: {},
  reported: {},
  rejects: {},
  unhandled: 0,
  unhandledSamples: [],
  adapter: "",
  memory: {},
};
let running = 0;
const tally = (m: Record<string, number>, k: string) => void (m[k] = (m[k] ?? 0) + 1);
const nameOf = (e: unknown) =>
  e instanceof TimeoutError ? `TimeoutError:${e.kind}` : e instanceof Error ? e.name : typeof e;

function unhandled(kind: string, e: unknown): void {
  extra.unhandled++;
  const text = `${kind}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`;
  if (extra.unhandledSamples.length < 5) extra.unhandledSamples.push(text);
  console.error(text);
}
process.on("unhandledRejection", (e) => unhandled("unhandledRejection", e));
process.on("uncaughtException", (e) => unhandled("uncaughtException", e));

/** Options every scenario shares: the counters the suite reads. */
function common<In, Out>(): Partial<ServeOptions<In, Out>> {
  return {
    hostname: host,
    port: 0,
    adapter: argv.includes("--adapter") ? flag("adapter") as AdapterName : undefined,
    onConnection() {
      extra.opened++;
      running++;
      if (running > extra.peakCallbacks) extra.peakCallbacks = running;
      const active = server.stats().active;
      if (active > extra.peakActive) extra.peakActive = active;
    },
    onClose(_conn, error) {
      running--;
      tally(extra.closes, error ? nameOf(error) : "clean");
    },
    onReject(_info, reason) {
      tally(extra.rejects, reason);
    },
    onError(error) {
      tally(extra.reported, nameOf(error));
    },
  };
}

/** An iterating echo of whatever the framer yields. */
async function echo<T>(conn: Connection<T>): Promise<void> {
  for await (const msg of conn) await conn.send(msg);
}

const enc = new TextEncoder();
/** What this file needs of the server, whatever its message types. */
type Running =
  & Pick<Server, "stats" | "connections" | "adapter" | "addrs" | "shutdown" | "finished">
  & {
    readonly ready: Promise<unknown>;
  };
let server: Running;
let stop: () => unknown = () => server.shutdown({ timeout: 500 });

switch (scenario) {
  case "slowloris":
  case "reset": {
    server = serve<string>({
      ...common<string, string>(),
      framer: lines(),
      handler: scenario === "reset" ? { message: (conn, line) => void conn.send(line) } : echo,
      timeouts: { firstMessage: scenario === "slowloris" ? num("first-message", 2_000) : 0 },
    });
    break;
  }
  case "flood": {
    const hold = num("hold", 250);
    server = serve<string>({
      ...common<string, string>(),
      framer: lines(),
      maxConnections: 100,
      backlog: 100,
      rejectMessage: (_info, reason) => `ERR busy (${reason})\n`,
      async handler(conn) {
        const line = await conn.next();
        if (line === undefined) return;
        await sleep(hold);
        await conn.send(line);
      },
    });
    break;
  }
  case "nonreader": {
    const big = enc.encode("x".repeat(60_000));
    server = serve<string, string | Uint8Array>({
      ...common<string, string | Uint8Array>(),
      framer: lines(),
      timeouts: { writeStall: num("write-stall", 2_000) },
      handler: {
        message(conn, line) {
          if (line === "BIG") void conn.send(big);
          else if (line === "BIGW") return conn.send(big);
          else if (line.startsWith("FLOOD ")) {
            // Replies sent in a loop that ignores backpressure: maxOutbound must stop it.
            for (let left = Number(line.slice(6)); left > 0; left -= big.length) {
              if (conn.state !== "open" && conn.state !== "half-closed-by-peer") break;
              void conn.send(big);
            }
          } else void conn.send(line);
        },
      },
    });
    break;
  }
  case "fuzz": {
    const kind = flag("framer");
    const framer: Framer<Uint8Array> = kind === "lines"
      ? lines({ encoding: null, maxLength: 4096 })
      : lengthPrefixed({ size: kind === "varint" ? "varint" : 4, maxLength: 65_536 });
    const handler: Handler<Uint8Array> = flag("style", "iterator") === "hooks"
      ? { message: (conn, msg) => void conn.send(msg) }
      : echo;
    server = serve<Uint8Array>({ ...common<Uint8Array, Uint8Array>(), framer, handler });
    break;
  }
  case "drain": {
    const log = openSync(flag("log"), "a");
    server = serve<string>({
      ...common<string, string>(),
      framer: lines(),
      handler: {
        open(conn) {
          conn.data = { busy: false };
          conn.signal.addEventListener("abort", () => {
            if (!(conn.data as { busy: boolean }).busy) conn.close();
          });
        },
        async message(conn, line) {
          const state = conn.data as { busy: boolean };
          if (conn.signal.aborted) return conn.close(); // read after the signal: not ours
          state.busy = true;
          const id = line.slice(4);
          await sleep(Math.random() * 10);
          writeSync(log, `${id}\n`); // processed, and on disk, before it is acknowledged
          void conn.send(`ACK ${id}`);
          state.busy = false;
          if (conn.signal.aborted) conn.close();
        },
      },
    });
    shutdownOnSignals(server, { timeout: num("drain-timeout", 5_000) });
    stop = () => {};
    break;
  }
  case "proxy": {
    const reply = async (conn: Connection<string>) => {
      for await (const line of conn) {
        const r = conn.remoteAddr;
        await conn.send(`${r.transport === "tcp" ? r.hostname : r.transport} ${line}`);
      }
    };
    server = serve<string>({
      ...common<string, string>(),
      framer: lines(),
      listen: [
        {
          name: "trusted",
          hostname: host,
          port: 0,
          proxyProtocol: { trusted: ["127.0.0.1"], timeout: 3_000, maxHeaderBytes: 65_551 },
        },
        {
          name: "untrusted",
          hostname: host,
          port: 0,
          proxyProtocol: { trusted: ["10.0.0.0/8"], timeout: 3_000 },
        },
        { name: "plain", hostname: host, port: 0 },
      ],
      handler: reply,
    });
    break;
  }
  case "soak": {
    const bytes = new Uint8Array(32_768).fill(0x62); // "b"
    server = serve<string, string | Uint8Array>({
      ...common<string, string | Uint8Array>(),
      framer: lines(),
      async handler(conn) {
        for await (const line of conn) {
          if (line.startsWith("B ")) await conn.send(bytes.subarray(0, Number(line.slice(2))));
          else if (line.startsWith("S ")) {
            const sp = line.indexOf(" ", 2);
            await sleep(Number(line.slice(2, sp)));
            await conn.send(line);
          } else await conn.send(line);
        }
      },
    });
    break;
  }
  case "tls": {
    const cert = readFileSync(flag("cert"), "utf8");
    const key = readFileSync(flag("key"), "utf8");
    server = serve<string>({
      ...common<string, string>(),
      framer: lines(),
      listen: [
        {
          name: "tls",
          hostname: host,
          port: 0,
          tls: { cert, key, handshakeTimeout: num("handshake-timeout", 2_000) },
        },
        { name: "plain", hostname: host, port: 0 },
      ],
      handler: echo,
    });
    break;
  }
  default:
    throw new TypeError(`tests/stress/server.ts: unknown --scenario ${scenario}`);
}

await server.ready;
extra.adapter = server.adapter;

function snapshot(): string {
  extra.connections = server.connections;
  extra.memory = { ...process.memoryUsage() };
  return JSON.stringify({ ...server.stats(), ...extra });
}

const ports: Record<string, number> = {};
for (const { name, addr } of server.addrs) ports[name] = addr.transport === "tcp" ? addr.port : 0;
console.log(`ports ${JSON.stringify(ports)}`);

if (scenario === "drain") {
  // No stdin reader here: the process must be able to end by itself after the drain.
  server.finished.then(() => console.log(`final ${snapshot()}`));
  console.log(
    `ready ${server.addrs[0].addr.transport === "tcp" ? ports[server.addrs[0].name] : 0}`,
  );
} else {
  const rl = createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    if (line.trim() === "stats") console.log(`stats ${snapshot()}`);
  });
  ready(ports[server.addrs[0].name], stop);
}
