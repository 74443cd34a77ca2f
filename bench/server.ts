/**
 * The tcpkit benchmark server: one file that runs unchanged on every runtime.
 *
 *   deno run -A bench/server.ts --port 0 --framer raw|lines|length --style iterator|hooks|batch
 *   bun run bench/server.ts ...
 *   node bench/server.ts ...
 *
 * - `raw` echoes bytes as they come (`raw({ maxLength: 1 MiB })`);
 * - `lines` echoes each line (`lines({ encoding: null })`: bytes, no UTF-8 decoding);
 * - `length` echoes each frame of a 4-byte big-endian length and its payload.
 *
 * `iterator` is `for await (const msg of conn) await conn.send(msg)`; `hooks` is
 * `message(conn, msg) { conn.send(msg) }`; `batch` is `messages(conn, b) { conn.sendBatch(b) }`,
 * `batches` is `for await (const b of conn.batches()) await conn.sendBatch(b)`;
 * the whole frames of one read in one call, echoed as one view of the bytes read (with `raw()`,
 * frames come as batches of one). `connection` and `adapter` take layers away
 * (see `_harness.ts`). Limits are set so the benchmark measures the
 * framework, not its limits: 20 000 connections, no idle or write-stall timeout.
 * Prints `ready <port>` once listening; see `_harness.ts` for the signals.
 *
 * `--workers N` (with `iterator`, `hooks` or `batch`) serves with `serve({ workers: N })`: the
 * process is the primary and prints `ready <port>` once every worker is bound; SIGTERM
 * drains the workers. Its handlers close a connection after a reply once the server is
 * draining (`conn.signal` aborted; `batch`: after the replies to the whole batch), so a
 * rolling restart (SIGHUP) moves clients to the new workers between two requests
 * (bench/workers.ts). `--workers 0` is one process with
 * those same handlers, the reference for the worker runs.
 *
 * `--lend` serves with `lentMessages: true` (with `connection` too): messages valid only
 * until the hook returns, read buffers reused where the adapter lends (Deno).
 *
 * @module
 */

import { type Framer, lengthPrefixed, lines, raw, serve, type ServeOptions } from "../mod.ts";
import { Connection, type ConnectionHooks } from "../lib/connection/connection.ts";
import { getTransport } from "../lib/adapters/mod.ts";
import process from "node:process";
import { BACKLOG, benchFlags, MAX_CONNECTIONS, MAX_FRAME, MAX_LINE, ready } from "./_harness.ts";

const { port, framer: kind, style } = benchFlags();
const lend = process.argv.includes("--lend");
const workersAt = process.argv.indexOf("--workers");
const drainClose = workersAt > 0;
const workers = drainClose ? Number(process.argv[workersAt + 1]) : 0;
if (
  drainClose &&
  (!Number.isInteger(workers) || workers < 0 || !/^(hooks|iterator|batch)$/.test(style))
) {
  throw new RangeError("--workers must be a count >= 0, with --style hooks, iterator or batch");
}

// raw(): frames up to 1 MiB, so that a large read (Bun's reach 512 KiB) is echoed with one
// write, as the native controls do; the 64 KiB default would cut it into 64 KiB sends.
const framer: Framer<Uint8Array, Uint8Array> = kind === "raw"
  ? raw({ maxLength: 1024 * 1024 })
  : kind === "lines"
  ? lines({ encoding: null, maxLength: MAX_LINE })
  : lengthPrefixed({ size: 4, maxLength: MAX_FRAME });

const handler: ServeOptions<Uint8Array>["handler"] = drainClose
  // With workers: the same echo, and a draining server closes the connection after a reply.
  ? style === "iterator"
    ? async (conn) => {
      for await (const msg of conn) {
        await conn.send(msg);
        if (conn.signal.aborted) return conn.close();
      }
    }
    : style === "batch"
    ? {
      messages(conn, batch) {
        conn.sendBatch(batch);
        if (conn.signal.aborted) conn.close();
      },
    }
    : {
      message(conn, msg) {
        conn.send(msg);
        if (conn.signal.aborted) conn.close();
      },
    }
  : style === "iterator"
  ? async (conn) => {
    for await (const msg of conn) await conn.send(msg);
  }
  : style === "batches"
  ? async (conn) => {
    for await (const batch of conn.batches()) await conn.sendBatch(batch);
  }
  : style === "batch"
  ? {
    messages(conn, batch) {
      conn.sendBatch(batch);
    },
  }
  : {
    message(conn, msg) {
      conn.send(msg);
    },
  };

if (style === "adapter" || style === "connection") {
  // The layers below serve(), for bench/README's breakdown: the runtime's adapter alone,
  // or a Connection on it (no admission, router, timeouts or server bookkeeping).
  const hooks = handler as ConnectionHooks<Uint8Array>;
  let id = 0;
  const listener = getTransport().listen(
    { hostname: "127.0.0.1", port, backlog: BACKLOG, writeHighWaterMark: 64 * 1024 },
    style === "adapter"
      ? (s) => {
        s.start({
          data: (chunk) => void s.write(chunk),
          end: () => s.close(),
          drain() {},
          close() {},
        });
        s.resume();
      }
      : (s) => new Connection({ socket: s, framer, id: ++id, lentMessages: lend })._start(hooks),
  );
  await listener.ready;
  const addr = listener.addr;
  ready(addr.transport === "tcp" ? addr.port : 0, () => listener.close());
} else {
  const server = serve<Uint8Array>({
    hostname: "127.0.0.1",
    port,
    framer,
    handler,
    maxConnections: MAX_CONNECTIONS,
    backlog: BACKLOG,
    timeouts: { idle: 0, writeStall: 0, firstMessage: 0 },
    onError() {}, // resets from the load client closing are not news
    lentMessages: lend,
    ...(workers > 0 ? { workers, shutdownTimeout: 2000 } : {}),
  });
  await server.ready;
  const addr = server.addr;
  if (server.worker === undefined) { // alone, or the primary (workers print nothing)
    ready(addr.transport === "tcp" ? addr.port : 0, () => server.shutdown({ timeout: 500 }));
  }
}
