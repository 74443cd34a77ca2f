// deno-lint-ignore-file no-explicit-any -- handler factories hold handlers of any message type
/**
 * Handlers: what runs for each connection ({@linkcode Handler}, a function or hooks),
 * {@linkcode perConnection} factories, and `runHandler()`, the one way `serve()` and
 * `connectionPair()` run them (internal).
 *
 * @module
 */

import type { Connection, ConnectionHooks } from "../connection/connection.ts";
import { TcpkitError } from "../errors.ts";

/**
 * What runs for each connection: an async function (the connection is closed when it
 * returns, after queued bytes are sent), or hooks (the connection lives until either
 * side closes it).
 */
export type Handler<In = Uint8Array, Out = In, Data = unknown> =
  | HandlerFunction<In, Out, Data>
  | ConnectionHooks<In, Out, Data>;

/** The function form of a {@linkcode Handler}. */
export type HandlerFunction<In = Uint8Array, Out = In, Data = unknown> = (
  conn: Connection<In, Out, Data>,
) => void | Promise<void>;

/**
 * A handler, or a factory of handlers that makes one per connection (fresh state each).
 *
 * @example Either one
 * ```ts
 * import { type HandlerOrFactory, perConnection } from "@tcpkit/tcpkit";
 * const plain: HandlerOrFactory = (conn) => conn.close();
 * const fresh: HandlerOrFactory = perConnection(() => ({ open: (conn) => conn.close() }));
 * ```
 */
export type HandlerOrFactory = Handler<any, any, any> | HandlerFactory;

/**
 * Makes a fresh handler for each connection. Made by {@linkcode perConnection}.
 *
 * @example Fresh hooks per connection
 * ```ts
 * import { type HandlerFactory, perConnection } from "@tcpkit/tcpkit";
 * const factory: HandlerFactory = perConnection(() => ({ message: (conn, msg) => conn.send(msg) }));
 * ```
 */
export interface HandlerFactory {
  /** @internal */
  readonly [FACTORY]: () => Handler<any, any, any>;
}

const FACTORY: unique symbol = Symbol("tcpkit.handlerFactory");

/**
 * Marks a function as a handler factory: it is called once per connection and returns
 * that connection's handler (hooks with their own state, say).
 *
 * @param make Called once per connection, when its route is chosen.
 * @returns A factory to pass as a handler to `serve()` or a route.
 *
 * @example State of its own for each connection
 * ```ts
 * import { connectionPair, lines, perConnection } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const numbered = perConnection(() => {
 *   let count = 0; // one counter per connection
 *   return { message: (conn, line) => void conn.send(`${++count} ${line}`) };
 * });
 * await using a = connectionPair(lines(), { handler: numbered });
 * await using b = connectionPair(lines(), { handler: numbered });
 * await a.client.send("x");
 * await a.client.send("y");
 * await b.client.send("z");
 * assert.equal(await a.client.next(), "1 x");
 * assert.equal(await a.client.next(), "2 y");
 * assert.equal(await b.client.next(), "1 z");
 * ```
 */
export function perConnection(make: () => Handler<any, any, any>): HandlerFactory {
  return { [FACTORY]: make };
}

/** @internal Resolves a handler or factory to a handler. */
export function resolveHandler(h: HandlerOrFactory): Handler<any, any, any> {
  return typeof h === "object" && h !== null && FACTORY in h
    ? (h as HandlerFactory)[FACTORY]()
    : h as Handler;
}

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
