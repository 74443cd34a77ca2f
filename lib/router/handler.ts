/**
 * Runs a handler on a connection: the one way `serve()` and `connectionPair()` both do it.
 * Internal: not exported from `mod.ts`.
 *
 * @module
 */

import type { Connection } from "../connection/connection.ts";
import { TcpkitError } from "../errors.ts";
import type { Handler } from "../server/server.ts";

/**
 * Runs `handler` on `conn`, which has not been started yet. `data` (when given) makes
 * `conn.data` first. A function handler gets the connection started for iteration, and
 * the connection is closed when the function returns (after queued bytes are sent).
 * Hooks get `open` called, and delivery to the hooks starts once it has settled.
 *
 * A `data()`, handler or `open` hook that throws or rejects aborts the connection, and
 * the error goes to `report`, unless it is the error the connection itself broke with
 * (a reset, a timeout, a forced shutdown) that the handler let through.
 *
 * @param conn The connection, not started.
 * @param handler The function or hooks.
 * @param data Makes `conn.data`, or `undefined`.
 * @param report Where failures go (the server's `onError`).
 */
export function runHandler<In, Out, Data>(
  conn: Connection<In, Out, Data>,
  handler: Handler<In, Out, Data>,
  data: (() => Data) | undefined,
  report: (error: unknown, conn: Connection<In, Out, Data>) => void,
): void {
  if (data) {
    try {
      conn.data = data();
    } catch (e) {
      return fail(conn, e, report);
    }
  }
  if (typeof handler === "function") {
    conn._start();
    let r: void | Promise<void>;
    try {
      r = handler(conn);
    } catch (e) {
      return fail(conn, e, report);
    }
    if (r && typeof r.then === "function") {
      r.then(() => conn.close(), (e) => fail(conn, e, report));
    } else conn.close();
    return;
  }
  if (handler.open) {
    let r: void | Promise<void>;
    try {
      r = handler.open(conn);
    } catch (e) {
      return fail(conn, e, report);
    }
    if (r && typeof r.then === "function") {
      r.then(() => conn.state !== "closed" && conn._start(handler), (e) => fail(conn, e, report));
      return;
    }
  }
  conn._start(handler);
}

/** A handler failed: report it (unless the connection broke with it) and abort the connection. */
function fail<In, Out, Data>(
  conn: Connection<In, Out, Data>,
  e: unknown,
  report: (error: unknown, conn: Connection<In, Out, Data>) => void,
): void {
  if (e !== conn.error) report(e, conn);
  conn.abort(e instanceof Error ? e : new TcpkitError(String(e)));
}
