/**
 * {@linkcode connectionPair}: the two ends of one in-memory link, each a
 * {@linkcode Connection} with a framer, to unit-test a handler without sockets (as
 * Netty's `EmbeddedChannel` does).
 *
 * @module
 */

import { memoryPair } from "../adapters/mod.ts";
import { Connection, type ConnectionLimits } from "../connection/connection.ts";
import type { Framer } from "../framers/framer.ts";
import {
  type Handler,
  type HandlerFactory,
  resolveHandler,
  runHandler,
} from "../router/handler.ts";
import { nextConnectionId } from "../connection/_id.ts";

/**
 * How long `close()` lets the two ends finish before it resets them: neither can finish
 * while each holds bytes that the other does not read.
 */
const STUCK_MS = 200;

/** Options of {@linkcode connectionPair}. */
export interface ConnectionPairOptions<In = Uint8Array, Out = In, Data = unknown>
  extends ConnectionLimits {
  /**
   * What runs on the server end, as `serve()` runs it: an async function (the server
   * end is closed when it returns), hooks, or a `perConnection()` factory. Without it,
   * the server end is started for iteration, for the test to read and write itself.
   */
  handler?: Handler<In, Out, Data> | HandlerFactory;
  /** Makes the server end's `conn.data` before the handler runs, as `serve()`'s `data`. */
  data?: () => Data;
  /** Aborting it aborts the server end's `conn.signal`, as a server shutdown does. */
  signal?: AbortSignal;
}

/** The two ends of one in-memory link. Made by {@linkcode connectionPair}. */
export interface ConnectionPair<In = Uint8Array, Out = In, Data = unknown> {
  /** The server end: the handler runs on it. */
  readonly server: Connection<In, Out, Data>;
  /** The client end, started for iteration: `send()` frames, read replies with `next()`. */
  readonly client: Connection<In, Out>;
  /**
   * What either end reported where a server would call `onError`: a handler, `data()` or
   * hook that threw or rejected, and frames skipped by the `"skip"` policy when no `error`
   * hook takes them. Nothing is printed.
   */
  readonly errors: unknown[];
  /**
   * Closes both ends once what is queued is sent, and resolves once both are gone. When
   * they are not gone within 200 ms (each end holds bytes the other never read, say),
   * the link is reset, as closing a TCP socket with unread bytes resets it: the server
   * end then closes with a `ConnectionResetError`.
   */
  close(): Promise<void>;
  /** `await using pair = connectionPair(...)` closes both ends at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Joins a server-side and a client-side {@linkcode Connection} in memory, both with
 * `framer`, and runs `options.handler` on the server end as `serve()` would: the same
 * framing, backpressure, half-close and error handling, with no socket, port or runtime
 * API underneath. The client end is started for iteration, as `connect()` starts one
 * without hooks.
 *
 * Bytes travel asynchronously, as on a socket: `await` the replies with
 * `client.next()`. `client.write(bytes)` sends bytes past the framer, to feed the handler
 * input that no encoder would make.
 *
 * @typeParam In What the framer decodes.
 * @typeParam Out What the framer encodes.
 * @typeParam Data The type of the server end's `conn.data`.
 * @param framer The framer of both ends.
 * @param options The handler, its `data`, a `signal`, and the connection limits.
 * @returns The two ends, the errors reported, and `close()`.
 *
 * @example Testing a hooks handler
 * ```ts
 * import { connectionPair, type ConnectionHooks, lines } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const shout: ConnectionHooks<string, string> = {
 *   message: (conn, line) => void conn.send(line.toUpperCase()),
 * };
 * await using pair = connectionPair(lines(), { handler: shout });
 * await pair.client.send("hello");
 * assert.equal(await pair.client.next(), "HELLO");
 * ```
 *
 * @example Testing an async handler to the end of its stream
 * ```ts
 * import { connectionPair, lines } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const { client, server, errors } = connectionPair(lines(), {
 *   async handler(conn) {
 *     let n = 0;
 *     for await (const _ of conn) n++;
 *     await conn.send(`${n} lines`);
 *   },
 * });
 * await client.send("a");
 * await client.send("b");
 * client.end(); // the handler's loop ends; it replies, returns, and the server end closes
 * assert.equal(await client.next(), "2 lines");
 * assert.equal(await client.next(), undefined);
 * await server.closed;
 * assert.deepEqual(errors, []);
 * ```
 */
export function connectionPair<In = Uint8Array, Out = In, Data = unknown>(
  framer: Framer<In, Out>,
  options: ConnectionPairOptions<In, Out, Data> = {},
): ConnectionPair<In, Out, Data> {
  const errors: unknown[] = [];
  const report = (e: unknown) => void errors.push(e);
  const [serverSocket, clientSocket] = memoryPair(options.highWaterMark);
  const limits = {
    highWaterMark: options.highWaterMark,
    maxOutbound: options.maxOutbound,
    messageBudget: options.messageBudget,
    lentMessages: options.lentMessages,
  };
  const server = new Connection<In, Out, Data>({
    ...limits,
    socket: serverSocket,
    framer,
    id: nextConnectionId(),
    parentSignal: options.signal,
    report,
  });
  const client = new Connection<In, Out>({
    ...limits,
    socket: clientSocket,
    framer,
    id: nextConnectionId(),
    report,
  });
  client._start();
  if (options.handler) {
    runHandler(server, resolveHandler(options.handler), options.data, report);
  } else {
    if (options.data) server.data = options.data();
    server._start();
  }
  const close = async (): Promise<void> => {
    client.close();
    server.close();
    const gone = Promise.all([client.closed, server.closed]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stuck = new Promise<"stuck">((r) => (timer = setTimeout(r, STUCK_MS, "stuck")));
    if (await Promise.race([gone, stuck]) === "stuck") client.abort();
    clearTimeout(timer);
    await gone;
  };
  return { server, client, errors, close, [Symbol.asyncDispose]: close };
}
