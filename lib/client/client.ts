/**
 * `connect()`: a client connection with the same {@linkcode Connection} type and the
 * same framers as the server side.
 * @module
 */

import type { AdapterName } from "../transport.ts";
import { getTransport } from "../adapters/mod.ts";
import {
  Connection,
  type ConnectionHooks,
  type ConnectionLimits,
} from "../connection/connection.ts";
import { ConnectError, TimeoutError } from "../errors.ts";
import type { Framer } from "../framers/framer.ts";
import { raw } from "../framers/raw.ts";
import { hooks, keepAlive, LIMITS } from "../connection/_checks.ts";
import { nextConnectionId } from "../connection/_id.ts";
import {
  abortSignal,
  arrayOf,
  boolean,
  checkedLater,
  checkObject,
  delay,
  framer,
  func,
  object,
  port,
  type Schema,
  string,
} from "../_options.ts";
import type { TlsClientOptions } from "../types.ts";

/** Options of {@linkcode connect}. */
export interface ConnectOptions<In = Uint8Array, Out = In, Data = unknown>
  extends ConnectionLimits {
  /** Host name or IP address. Default `"127.0.0.1"`. */
  hostname?: string;
  /** Port (TCP). */
  port?: number;
  /** A Unix socket path (instead of hostname and port). */
  path?: string;
  /** TLS options: the connection is TLS from the start. */
  tls?: TlsClientOptions;
  /** The framer. Default `raw()`. */
  framer?: Framer<In, Out>;
  /** Hooks instead of iteration: messages go to `hooks.message`. */
  hooks?: ConnectionHooks<In, Out, Data>;
  /** Makes `conn.data` (and gives it its type) before the hooks' `open` runs. */
  data?: () => Data;
  /** Milliseconds the connect may take before it fails with `ConnectError("timeout")`. Default 30 000. */
  timeout?: number;
  /** Aborting it abandons the connect, or aborts the connection once made. */
  signal?: AbortSignal;
  /** Force an adapter instead of detecting the runtime. */
  adapter?: AdapterName;
  /** TCP_NODELAY. Default true (Nagle off). */
  noDelay?: boolean;
  /** SO_KEEPALIVE: true, or the initial delay in ms. Default off. */
  keepAlive?: boolean | number;
}

const TLS = {
  caCerts: arrayOf(string, "a list of PEM texts"),
  serverName: string,
  alpnProtocols: arrayOf(string, "a list of protocol names"),
  cert: string,
  key: string,
} as const satisfies Schema<TlsClientOptions>;

/** @internal The checks of every option of `connect()`, run once per call. */
export const CONNECT = {
  ...LIMITS,
  hostname: string,
  port,
  path: string,
  tls: object(TLS),
  framer,
  hooks,
  data: func,
  timeout: delay(0, true),
  signal: abortSignal,
  adapter: checkedLater,
  noDelay: boolean,
  keepAlive,
} as const satisfies Schema<ConnectOptions>;

/**
 * Opens a connection.
 *
 * Options are checked first: an unknown key rejects with a `TypeError` that names it and
 * suggests the closest known one (`host` -> `hostname`), and a value of the wrong type or
 * out of range with a `TypeError` or `RangeError` that says what is allowed.
 *
 * @example A line client
 * ```ts
 * import { connect, lines, serve } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * await using server = serve({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   framer: lines(),
 *   async handler(conn) {
 *     for await (const line of conn) await conn.send(line.toUpperCase());
 *   },
 * });
 * await server.ready;
 * const port = server.addr.transport === "tcp" ? server.addr.port : 0;
 * await using conn = await connect({ hostname: "127.0.0.1", port, framer: lines() });
 * await conn.send("ping");
 * assert.equal(await conn.next(), "PING");
 * // At the end of the scope the connection closes first, then the server shuts down.
 * ```
 */
export async function connect<In = Uint8Array, Out = In, Data = unknown>(
  options: ConnectOptions<In, Out, Data>,
): Promise<Connection<In, Out, Data>> {
  checkObject("connect()", options, CONNECT); // a port given is an integer 0-65535
  if (!options || (!options.path && options.port === undefined)) {
    throw new TypeError("connect() needs a port from 0 to 65535 or a path");
  }
  const transport = getTransport(options.adapter);
  const timeout = options.timeout ?? 30_000;
  const timer = new AbortController();
  const t = setTimeout(() => timer.abort(new TimeoutError("connect", timeout)), timeout);
  const signal = options.signal ? AbortSignal.any([options.signal, timer.signal]) : timer.signal;
  const hostname = options.path ? undefined : options.hostname ?? "127.0.0.1";
  const target = options.path ?? `${hostname}:${options.port}`;
  let socket;
  try {
    socket = await transport.connect({
      hostname,
      port: options.path ? undefined : options.port,
      path: options.path,
      tls: options.tls,
      signal,
      writeHighWaterMark: options.highWaterMark ?? 64 * 1024,
    });
  } catch (e) {
    if (timer.signal.aborted && !options.signal?.aborted) {
      throw new ConnectError("timeout", target, { cause: e });
    }
    if (options.signal?.aborted && !(e instanceof ConnectError && e.reason === "aborted")) {
      throw new ConnectError("aborted", target, { cause: e });
    }
    throw e;
  } finally {
    clearTimeout(t);
  }
  if (options.path === undefined) {
    if (options.noDelay !== false) socket.setNoDelay(true);
    if (options.keepAlive) {
      socket.setKeepAlive(
        true,
        typeof options.keepAlive === "number" ? options.keepAlive : undefined,
      );
    }
  }
  const conn = new Connection<In, Out, Data>({
    socket,
    framer: (options.framer ?? raw()) as Framer<In, Out>,
    id: nextConnectionId(),
    parentSignal: options.signal,
    highWaterMark: options.highWaterMark,
    maxOutbound: options.maxOutbound,
    messageBudget: options.messageBudget,
    lentMessages: options.lentMessages,
    report: (e) => console.error(`tcpkit: client connection to ${target}:`, e),
  });
  if (options.signal) {
    const s = options.signal;
    const onAbort = () => conn.abort(s.reason instanceof Error ? s.reason : undefined);
    s.addEventListener("abort", onAbort, { once: true });
    conn.closed.then(() => s.removeEventListener("abort", onAbort));
  }
  try {
    if (options.data) conn.data = options.data();
    if (options.hooks?.open) await options.hooks.open(conn);
  } catch (e) {
    conn.abort(); // connect() rejects: nobody else holds the connection to close it
    throw e;
  }
  conn._start(options.hooks);
  return conn;
}
