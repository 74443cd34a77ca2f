/**
 * The options of `serve()` and what a server reports: listeners, limits, hooks, stats.
 * The checks that `serve()` runs once per call are here too, next to the types they
 * check, so that a new option cannot be added without its check (a type error).
 *
 * @module
 */

import type { AdapterName } from "../transport.ts";
import type { PerClientOptions } from "../admission/admission.ts";
import type { ProxyProtocolOptions } from "../admission/_proxy_stage.ts";
import type { Connection, ConnectionLimits } from "../connection/connection.ts";
import { hooks, keepAlive, LIMITS } from "../connection/_checks.ts";
import type { Timeouts } from "../connection/_timeouts.ts";
import type { AcceptFailure, RejectReason } from "../errors.ts";
import type { Framer } from "../framers/framer.ts";
import type { Handler, HandlerFactory } from "../router/handler.ts";
import { Router } from "../router/router.ts";
import type { Addr, TlsServerOptions } from "../types.ts";

import {
  abortSignal,
  arrayOf,
  boolean,
  checkedLater,
  delay,
  either,
  fail,
  framer,
  func,
  integer,
  object,
  port,
  type Schema,
  string,
} from "../_options.ts";

export type { PerClientOptions, ProxyProtocolOptions, Timeouts };

/** One listener of a server. */
export interface ListenerOptions {
  /** A name for routing and stats. Default `"default"`, or `"listener-<i>"` in a list. */
  name?: string;
  /** IP address or hostname to bind. Default `"0.0.0.0"`. */
  hostname?: string;
  /** Port; 0 = any free port (`server.addr` says which). */
  port?: number;
  /** A Unix socket path (instead of hostname and port). */
  path?: string;
  /** TLS for this listener. */
  tls?: TlsServerOptions;
  /**
   * The kernel's listen backlog for this listener, passed as is where the runtime lets it
   * be set (Deno `tcpBacklog`, Node `backlog`; Bun always uses 512; Linux caps it at
   * `net.core.somaxconn`). Default: the server's `backlog`, but at least 511.
   */
  backlog?: number;
  /** SO_REUSEPORT where the runtime supports it. */
  reusePort?: boolean;
  /**
   * Unix sockets: when `path` exists, remove it if no process listens on it (probed by
   * connecting) and bind. Default false: an existing path fails with an error that says
   * what to do. The file is removed on shutdown either way.
   */
  removeStale?: boolean;
  /**
   * The PROXY protocol (v1 and v2) from the `trusted` proxies: the header is required
   * from them and refused from everyone else, before admission, so per-client limits
   * and `remote` routes see the real client. Set at the top level it applies to every
   * listener of `listen` that does not set its own; `false` turns it off for one.
   */
  proxyProtocol?: ProxyProtocolOptions | false;
}

/** What `onReject` and `rejectMessage` are told of a turned-away connection. */
export interface RejectInfo {
  /** The listener's name. */
  listener: string;
  /** The client's address. */
  remoteAddr: Addr;
  /** The local address. */
  localAddr: Addr;
}

/** Options of {@linkcode serve}. */
export interface ServeOptions<In = Uint8Array, Out = In, Data = unknown>
  extends ListenerOptions, ConnectionLimits {
  /** Several listeners; when given, the top-level hostname/port/path/tls are ignored. */
  listen?: ListenerOptions[];
  /** The framer for every connection (a route may set its own). Default `raw()`. */
  framer?: Framer<In, Out>;
  /** What runs for each connection: a handler, a `perConnection()` factory, or a `router()`. */
  handler: Handler<In, Out, Data> | HandlerFactory | Router;
  /**
   * Makes each connection's `conn.data` before its handler runs, and gives `conn.data`
   * its type: with `data: () => ({ count: 0 })`, `conn.data.count++` type-checks in the
   * hooks and the handler. Without it `conn.data` is `undefined` until the handler sets
   * it, and typed by the `Data` type parameter (default `unknown`).
   */
  data?: () => Data;
  /** Force an adapter instead of detecting the runtime. */
  adapter?: AdapterName;
  /** TCP_NODELAY on accepted sockets. Default true (Nagle off). */
  noDelay?: boolean;
  /** SO_KEEPALIVE on accepted sockets: true, or the initial delay in ms. Default off. */
  keepAlive?: boolean | number;
  /**
   * Handlers running at once; more wait in the queue. Default 10 000. Change it with
   * `setMaxConnections()`. With `workers`, the limit is per worker (as are `backlog` and
   * `perClient`): the kernel's spread of connections is not exact, so a limit split across
   * workers would turn clients away from one while another has room.
   */
  maxConnections?: number;
  /**
   * Accepted connections that may wait for a handler slot (FIFO); beyond it they are
   * rejected with `"capacity"`. Default 1024; 0 = nobody waits.
   *
   * It is also the kernel's listen backlog, but never below 511 (the runtimes' default):
   * tcpkit accepts every connection at once and queues it here, so the kernel's queue
   * only has to absorb bursts, and a small one would drop them silently (the client's
   * handshake is retried after 1 s, 3 s, ...). A listener's own `backlog` is passed as is.
   */
  backlog?: number;
  /** Limits per client address (IPv4, or the IPv6 /64); per worker with `workers`. */
  perClient?: PerClientOptions;
  /**
   * Serve on every core: this same script runs as a primary and `workers` worker
   * processes (`"auto"`: one per CPU, `navigator.hardwareConcurrency`). Each worker makes
   * the same `serve()` call and binds the same TCP port with `reusePort`, so the kernel
   * spreads connections across them; with port 0, worker 0 binds first and the others
   * take its port. `server.worker` is the index in a worker, `undefined` in the primary.
   *
   * The primary binds no public port. It supervises: a worker that exits unasked is
   * restarted after 100 ms, doubling to 5 s; 5 crashes of one worker within 60 s is a
   * crash loop, reported as an `Error` through `onError`, and that worker is not started
   * again (when no worker is left, `ready` rejects). `shutdown()` (so `shutdownOnSignals()`
   * and `signal`) drains every worker with the deadline; a second call forces them.
   * SIGHUP to the primary is a rolling restart: for each worker in turn a new process is
   * started and, once it is bound, the old one drains (with `shutdownTimeout`).
   * `stats()` sums the workers' reports (sent twice a second and when a worker ends;
   * an ended worker's counts are kept, so counters never go down), `metrics()` gives one
   * sample per worker with a `worker` label, and `setMaxConnections()` and
   * `closeListeners()` are passed on to every worker.
   *
   * The control channel is tcpkit itself: a Unix socket in a private temporary directory,
   * one JSON message per line. Linux only: elsewhere reusePort does not spread connections,
   * so `serve()` runs alone in this process with a warning. On Deno, the worker is
   * started with the primary's own flags (it needs `--allow-run`, `--allow-read`,
   * `--allow-write` and `--allow-env` besides `--allow-net`); without `--unstable-net` the
   * workers use the `"node"` adapter, which shares ports without it (said once).
   * Unix socket listeners cannot be shared: they throw a `TypeError`.
   */
  workers?: number | "auto";
  /** Timeouts in ms; 0 turns one off. */
  timeouts?: Timeouts;
  /** Bytes written to a rejected connection before it is closed: bytes, or a function of the reason. */
  rejectMessage?:
    | Uint8Array
    | string
    | ((info: RejectInfo, reason: RejectReason) => Uint8Array | string | undefined);
  /** Aborting it shuts the server down (with `shutdownTimeout`). */
  signal?: AbortSignal;
  /** Deadline in ms used when `signal` triggers the shutdown. Default 10 000. */
  shutdownTimeout?: number;
  /** A listener is bound. */
  onListen?(info: { name: string; addr: Addr }): void;
  /** A connection got a handler slot; its handler is about to run. */
  onConnection?(conn: Connection<In, Out, Data>): void;
  /** A connection was turned away. Nothing is dropped silently: every rejection comes here. */
  onReject?(info: RejectInfo, reason: RejectReason): void;
  /**
   * A connection that got `onConnection` is gone; `error` says why when it broke (a
   * `TimeoutError` names its kind). Rejected connections go to `onReject` only.
   */
  onClose?(conn: Connection<In, Out, Data>, error?: Error): void;
  /**
   * A handler threw, a hook failed, or a frame was skipped. The server keeps serving.
   * Default: `console.error`.
   */
  onError?(error: unknown, conn?: Connection<In, Out, Data>): void;
}

// The checks of every option of serve(), run once per call. A value marked `checkedLater`
// is checked where it is used (Admission, Sweeper, ProxyStage, the adapters' TLS).

const TLS = {
  cert: checkedLater,
  key: checkedLater,
  ca: either("PEM text or a list of them", string, arrayOf(string, "a list of strings")),
  alpnProtocols: arrayOf(string, "a list of protocol names"),
  requestClientCert: boolean,
  handshakeTimeout: checkedLater,
} as const satisfies Schema<TlsServerOptions>;

const PROXY = {
  trusted: checkedLater,
  timeout: checkedLater,
  maxHeaderBytes: checkedLater,
  versions: checkedLater,
} as const satisfies Schema<ProxyProtocolOptions>;
const proxy = object(PROXY);

const LISTENER = {
  name: string,
  hostname: string,
  port,
  path: string,
  tls: object(TLS),
  backlog: integer(0, 2 ** 31 - 1),
  reusePort: boolean,
  removeStale: boolean,
  proxyProtocol: (fn, path, value) => value === false || proxy(fn, path, value),
} as const satisfies Schema<ListenerOptions>;

/** The checks of every option of `serve()`. */
export const SERVE = {
  ...LISTENER,
  ...LIMITS,
  backlog: checkedLater,
  listen: arrayOf(object(LISTENER), "a list of listener options"),
  framer,
  handler: (fn, path, value) => {
    if (typeof value === "function" || value instanceof Router) return;
    const what = "an async function, an object of hooks, or a router()";
    if (typeof value !== "object" || value === null) fail(fn, path, what, value);
    hooks(fn, path, value);
  },
  data: func,
  adapter: checkedLater,
  noDelay: boolean,
  keepAlive,
  maxConnections: checkedLater,
  workers: checkedLater,
  perClient: object(
    {
      maxConnections: checkedLater,
      rate: object(
        { connections: checkedLater, perSeconds: checkedLater } satisfies Schema<
          NonNullable<PerClientOptions["rate"]>
        >,
      ),
    } satisfies Schema<PerClientOptions>,
  ),
  timeouts: object(
    {
      firstMessage: checkedLater,
      idle: checkedLater,
      writeStall: checkedLater,
      queue: checkedLater,
    } satisfies Schema<Timeouts>,
  ),
  rejectMessage: either(
    "a string, a Uint8Array or a function",
    string,
    func,
    (fn, path, v) => v instanceof Uint8Array || fail(fn, path, "a Uint8Array", v),
  ),
  signal: abortSignal,
  shutdownTimeout: delay(0),
  onListen: func,
  onConnection: func,
  onReject: func,
  onClose: func,
  onError: func,
} as const satisfies Schema<ServeOptions>;

/** Options of `server.shutdown()`. */
export interface ShutdownOptions {
  /** Milliseconds to wait for connections to finish before force-closing them. Default 10 000. */
  timeout?: number;
}

/** A plain snapshot of a server's counters. */
export interface ServerStats {
  /** Connections whose handler runs. */
  active: number;
  /** Connections waiting for a slot. */
  queued: number;
  /** Connections accepted since start (rejected ones included). */
  accepted: number;
  /** Rejections by reason. */
  rejected: Record<RejectReason, number>;
  /** Timeouts by kind. */
  timeouts: Record<
    "firstMessage" | "idle" | "writeStall" | "queue" | "handshake" | "proxyHeader",
    number
  >;
  /** Bytes read, all connections. */
  bytesIn: number;
  /** Bytes written, all connections. */
  bytesOut: number;
  /** Messages decoded. */
  messagesIn: number;
  /** Messages sent. */
  messagesOut: number;
  /** Errors reported through `onError` (handler throws, failed hooks, skipped frames). */
  errors: number;
  /**
   * Accepts that failed, by kind: `aborted` when the peer was gone before its connection
   * was accepted (it reset while it waited in the kernel's queue), `exhausted` when the
   * process ran out of file descriptors or memory. Neither is in `accepted`. The listener
   * goes on accepting: at once after an aborted one, after a pause of 5 ms doubling up to
   * 1 s while resources are exhausted. `onError` gets an `AcceptError` at most once per
   * kind every 10 s. A TLS handshake that the peer reset or closed counts as `aborted`.
   *
   * Deno reports running out of file descriptors (EMFILE) to tcpkit. Node (libuv) and Bun
   * close the connections they cannot take by themselves and report nothing, so there
   * `exhausted` stays 0; the server goes on serving once descriptors are free again.
   */
  acceptErrors: Record<AcceptFailure, number>;
}
