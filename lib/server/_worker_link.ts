/**
 * A worker's end of `serve({ workers })`: once its server is bound, the worker connects
 * to the primary's control socket and says so (with its addresses), reports its stats
 * twice a second and once more when it has finished, and obeys the primary (drain,
 * force, close the listeners, a new `maxConnections`). When the primary is gone the
 * worker drains by itself, so no worker outlives its supervisor.
 *
 * The channel is tcpkit itself, a Unix socket with one JSON text per line (`lines()`:
 * a JSON text has no raw newline), so it needs no runtime-specific IPC and is tested with
 * the rest of the framework. Apart from the server because only a worker runs it.
 * @internal
 * @module
 */

import { connect } from "../client/client.ts";
import { lines } from "../framers/lines.ts";
import type { Addr } from "../types.ts";
import type { ServerStats } from "./options.ts";

/** How often a worker reports its stats, in ms. */
const REPORT_EVERY = 500;
/** The longest control message, in bytes. */
export const MAX_CONTROL_LINE = 1024 * 1024;

/** A worker's message to the primary. */
export type WorkerMessage =
  | { t: "ready"; index: number; id: number; addrs: { name: string; addr: Addr }[] }
  | { t: "stats" | "bye"; index: number; id: number; stats: ServerStats; connections: number };

/** The primary's message to a worker. */
export type PrimaryMessage =
  | { t: "drain"; timeout: number }
  | { t: "force" }
  | { t: "close" }
  | { t: "max"; n: number | null };

/** What the link needs of the worker's server. */
export interface LinkedServer {
  readonly ready: Promise<unknown>;
  readonly finished: Promise<void>;
  readonly addrs: { name: string; addr: Addr }[];
  readonly connections: number;
  stats(): ServerStats;
  shutdown(options?: { timeout?: number }): Promise<void>;
  closeListeners(): Promise<void>;
  setMaxConnections(n: number): void;
}

/**
 * Connects worker `index` (process `id`) to the primary at `control` once `server` is
 * bound, and keeps the link until the server has finished.
 *
 * @param isShuttingDown Whether the server has begun its shutdown (a signal the terminal
 *   sent to the whole process group and the primary's drain are one request, not two).
 * @param shutdownTimeout The deadline used when the primary goes away.
 */
export async function linkWorker(
  server: LinkedServer,
  { index, id, control }: { index: number; id: number; control: string },
  isShuttingDown: () => boolean,
  shutdownTimeout: number,
): Promise<void> {
  await server.ready;
  let conn;
  try {
    conn = await connect({ path: control, framer: lines({ maxLength: MAX_CONTROL_LINE }) });
  } catch {
    // The primary is gone: a worker never serves unsupervised.
    if (!isShuttingDown()) server.shutdown({ timeout: shutdownTimeout }).catch(() => {});
    return;
  }
  const send = (m: WorkerMessage) => conn.send(JSON.stringify(m)).catch(() => {});
  const report = (t: "stats" | "bye") =>
    send({ t, index, id, stats: server.stats(), connections: server.connections });
  await send({ t: "ready", index, id, addrs: server.addrs });
  const timer = setInterval(() => report("stats"), REPORT_EVERY);
  server.finished.then(async () => {
    clearInterval(timer);
    await report("bye");
    conn.close();
  });
  try {
    for await (const line of conn) {
      const m = JSON.parse(line) as PrimaryMessage;
      if (m.t === "drain") {
        if (!isShuttingDown()) server.shutdown({ timeout: m.timeout }).catch(() => {});
      } else if (m.t === "force") {
        if (isShuttingDown()) server.shutdown().catch(() => {});
      } else if (m.t === "close") {
        server.closeListeners().catch(() => {});
      } else if (m.t === "max") {
        server.setMaxConnections(m.n ?? Infinity);
      }
    }
  } catch { /* the primary is gone */ }
  // The primary is gone (or the worker said bye): drain, if not already.
  if (!isShuttingDown()) server.shutdown({ timeout: shutdownTimeout }).catch(() => {});
}
