/**
 * `request(conn, msg)`: send a message and await the next one, for request/response
 * protocols without request ids.
 * @module
 */

import type { Connection } from "../connection/connection.ts";
import { ConnectionClosedError, TimeoutError } from "../errors.ts";
import { abortSignal, checkObject, delay, type Schema } from "../_options.ts";

/** Options of {@linkcode request}. */
export interface RequestOptions {
  /** Milliseconds to wait for the reply. Default 30 000. */
  timeout?: number;
  /** Aborting it gives up waiting (and closes the connection, as a timeout does). */
  signal?: AbortSignal;
}

const within = delay(0);
const SCHEMA = {
  timeout: (fn, path, value) => value === Infinity || within(fn, path, value),
  signal: abortSignal,
} as const satisfies Schema<RequestOptions>;
const NO_OPTIONS: RequestOptions = Object.freeze({});

// Replies are matched to requests in order: each request reads after the one before it.
const tails = new WeakMap<Connection<unknown, unknown, unknown>, Promise<unknown>>();

/**
 * Sends `msg` and resolves with the next message. Several requests on one connection
 * are pipelined: each is sent at once and replies are matched to them in order.
 *
 * A stream without request ids cannot recover from a lost reply (a late reply would be
 * taken for the next request's), so a timeout or an abort ends the connection: it is
 * aborted with the `TimeoutError` (kind `"request"`) or the signal's reason.
 *
 * @param conn The connection: the request is sent on it, and its next message is the reply.
 * @param msg The request.
 * @param options A timeout and a signal.
 * @returns The reply. Rejects with `ConnectionClosedError` when the connection ends first.
 *
 * @example A request and its reply
 * ```ts
 * import { connect, lines, request, serve } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const server = serve({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   framer: lines(),
 *   async handler(conn) {
 *     for await (const line of conn) await conn.send(`echo ${line}`);
 *   },
 * });
 * await server.ready;
 * const port = server.addr.transport === "tcp" ? server.addr.port : 0;
 * const conn = await connect({ hostname: "127.0.0.1", port, framer: lines() });
 * assert.equal(await request(conn, "hi", { timeout: 1000 }), "echo hi");
 * conn.close();
 * await server.shutdown();
 * ```
 */
export function request<In, Out, Data>(
  conn: Connection<In, Out, Data>,
  msg: Out,
  options: RequestOptions = NO_OPTIONS,
): Promise<In> {
  if (options !== NO_OPTIONS) {
    try {
      checkObject("request()", options, SCHEMA);
    } catch (e) {
      return Promise.reject(e);
    }
  }
  const timeout = options.timeout ?? 30_000;
  const key = conn as unknown as Connection<unknown, unknown, unknown>;
  const prev = tails.get(key) ?? Promise.resolve();
  const sent = conn.send(msg);
  const reply = Promise.all([prev.catch(() => {}), sent]).then(() => conn.next());
  tails.set(key, reply.catch(() => {}));
  return new Promise<In>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const signal = options.signal;
    const fail = (e: Error) => {
      cleanup();
      conn.abort(e);
      reject(e);
    };
    const onAbort = () =>
      fail(signal!.reason instanceof Error ? signal!.reason : new TimeoutError("request", timeout));
    const cleanup = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    if (timeout > 0 && timeout !== Infinity) {
      timer = setTimeout(() => fail(new TimeoutError("request", timeout)), timeout);
    }
    reply.then(
      (value) => {
        cleanup();
        if (value === undefined) {
          reject(conn.error ?? new ConnectionClosedError("connection ended before the reply"));
        } else resolve(value);
      },
      (e) => {
        cleanup();
        reject(e);
      },
    );
  });
}
