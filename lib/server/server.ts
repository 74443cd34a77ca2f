/**
 * `serve()` and the {@linkcode Server} it returns. Runtime-free: the adapter is picked by
 * `lib/adapters/mod.ts`.
 *
 * ```
 * accept -> Admission (per-client, rate, maxConnections, backlog queue) -> Router -> handler
 * ```
 *
 * The class is the public face only: it checks the options, assembles the server's state
 * (`_state.ts`) and calls the functions that do each job on it: `_listeners.ts` (binding),
 * `_entry.ts` (a new connection, its PROXY phase, admission, its record), `_reject.ts`,
 * `_route.ts` (routing, the handler), `_stats.ts`, `_metrics.ts` (the Prometheus text)
 * and `_shutdown.ts`. With `workers`, the primary's jobs are `_workers.ts` and a
 * worker's link to it is `_worker_link.ts`.
 * @module
 */

import type { AdapterName } from "../transport.ts";
import { getTransport } from "../adapters/mod.ts";
import { Admission } from "../admission/admission.ts";
import { AcceptErrors } from "../admission/_accept_errors.ts";
import { resolveLimits } from "../connection/connection.ts";
import { Sweeper } from "../connection/_timeouts.ts";
import type { Framer } from "../framers/framer.ts";
import { raw } from "../framers/raw.ts";
import type { Addr } from "../types.ts";
import { checkObject } from "../_options.ts";
import { SERVE, type ServeOptions, type ServerStats, type ShutdownOptions } from "./options.ts";
import { bind, closeListeners } from "./_listeners.ts";
import { shutdown } from "./_shutdown.ts";
import { newCounters, snapshot } from "./_stats.ts";
import { formatMetrics } from "./_metrics.ts";
import { type Conn, report, type ServerState } from "./_state.ts";
import { Primary } from "./_workers.ts";
import { workerRole } from "./_worker_role.ts";
import { linkWorker } from "./_worker_link.ts";

export type {
  ListenerOptions,
  PerClientOptions,
  ProxyProtocolOptions,
  RejectInfo,
  ServeOptions,
  ServerStats,
  ShutdownOptions,
  Timeouts,
} from "./options.ts";

const noop = () => {};

/**
 * A running server. Made by {@linkcode serve}.
 *
 * @example Where it listens, what it holds, and its end
 * ```ts
 * import { serve } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * await using server = serve({ hostname: "127.0.0.1", port: 0, handler: (conn) => conn.close() });
 * await server.ready;
 * assert.deepEqual(server.addrs.map((l) => l.name), ["default"]);
 * assert.equal(server.addr.transport, "tcp");
 * assert.equal(server.connections, 0);
 * // `await using` shuts it down at the end of the scope, as `await server.shutdown()` does.
 * ```
 */
export class Server<In = Uint8Array, Out = In, Data = unknown> {
  /** Everything the server holds; the functions of the files beside this one work on it. */
  #s!: ServerState;
  /** With `workers`, in the primary: the supervisor that the methods are passed to. */
  #p: Primary | undefined;
  /**
   * Resolves once every listener is bound; rejects with a bind error. In the primary of
   * `workers`: once every worker is bound (it rejects when every worker crash-loops).
   */
  readonly ready: Promise<this>;
  /** With `workers`: this worker's index; `undefined` in the primary or without workers. */
  readonly worker: number | undefined;

  /** @internal Use {@linkcode serve}. */
  constructor(options: ServeOptions<In, Out, Data>) {
    checkObject("serve()", options, SERVE);
    if (
      !options || (typeof options.handler !== "function" && typeof options.handler !== "object")
    ) {
      throw new TypeError(
        "serve() needs a handler: an async function, an object of hooks, or a router()",
      );
    }
    let opts = options as unknown as ServeOptions<unknown, unknown, unknown>;
    const role = opts.workers === undefined ? undefined : workerRole(opts);
    if (role?.role === "primary") {
      this.#p = new Primary(role, opts, (o) => new Server(o));
      this.ready = this.#p.ready.then(() => {
        for (const l of this.addrs) options.onListen?.(l);
        return this;
      });
      this.ready.catch(noop);
      this.#watch(options.signal, options.shutdownTimeout);
      return;
    }
    if (role?.role === "worker") {
      opts = role.options;
      options = opts as unknown as typeof options;
    }
    this.worker = role?.role === "worker" ? role.index : undefined;
    const pc = options.perClient;
    let resolveFinished!: () => void;
    const finished = new Promise<void>((r) => (resolveFinished = r));
    const s: ServerState = {
      opts,
      limits: resolveLimits(options),
      transport: getTransport(options.adapter),
      framer: (options.framer ?? raw()) as Framer<unknown, unknown>,
      perClient: pc !== undefined && (pc.maxConnections !== undefined || pc.rate !== undefined),
      listeners: [],
      proxies: undefined,
      live: [],
      lingering: 0,
      admission: new Admission({
        maxConnections: options.maxConnections,
        backlog: options.backlog,
        perClient: options.perClient,
      }),
      sweeper: new Sweeper(
        options.timeouts ?? {},
        (_c, kind) => s.counters.timeouts[kind as "idle"]++,
        () => s.admission.expire(s.sweeper.timeouts.queue || Infinity),
      ),
      counters: newCounters(),
      acceptErrors: new AcceptErrors((e) => report(s, e)),
      shutdown: new AbortController(),
      shutdownStarted: false,
      resolveAllClosed: undefined,
      finished,
      resolveFinished,
      reportFor: (e: unknown, conn: Conn) => report(s, e, conn),
    };
    this.#s = s;
    bind(s, opts);
    s.sweeper.start();
    this.ready = Promise.all(s.listeners.map((l) => l.listener.ready)).then(() => {
      for (const { name, listener } of s.listeners) {
        options.onListen?.({ name, addr: listener.addr });
      }
      return this;
    });
    this.ready.catch(noop);
    this.#watch(options.signal, options.shutdownTimeout);
    if (role?.role === "worker") {
      const timeout = options.shutdownTimeout ?? 10_000;
      linkWorker(this, role, () => s.shutdownStarted, timeout).catch(noop);
    }
  }

  /** Shuts down when `signal` aborts. */
  #watch(signal: AbortSignal | undefined, timeout: number | undefined): void {
    if (!signal) return;
    const onAbort = () => this.shutdown({ timeout });
    if (signal.aborted) queueMicrotask(onAbort);
    else signal.addEventListener("abort", onAbort, { once: true });
    this.finished.then(() => signal.removeEventListener("abort", onAbort));
  }

  /** The address of the first listener (the real port when port 0 was asked for). */
  get addr(): Addr {
    if (this.#p) return this.#p.addr;
    return this.#s.listeners[0].listener.addr;
  }
  /** Every listener's name and address. */
  get addrs(): { name: string; addr: Addr }[] {
    if (this.#p) return this.#p.addrs.slice();
    return this.#s.listeners.map(({ name, listener }) => ({ name, addr: listener.addr }));
  }
  /** The adapter in use. */
  get adapter(): AdapterName {
    return this.#p ? getTransport(this.#p.adapter).name : this.#s.transport.name;
  }
  /** Sockets the server holds: running, queued, and rejected ones still lingering. */
  get connections(): number {
    return this.#p ? this.#p.connections : this.#s.live.length;
  }
  /** Connections accepted since start. */
  get accepted(): number {
    return this.#p ? this.#p.stats().accepted : this.#s.counters.accepted;
  }
  /** Resolves once the server has shut down and every connection is gone. */
  get finished(): Promise<void> {
    return this.#p ? this.#p.finished : this.#s.finished;
  }

  /**
   * Changes `maxConnections` while running. Raising it starts queued connections at once
   * (in FIFO order); lowering it stops no running handler, it only holds new ones back.
   *
   * @param n The new limit: an integer >= 1, or `Infinity`.
   * @throws {RangeError} When `n` is not allowed.
   *
   * @example Shed load when the machine is busy
   * ```ts
   * import { serve } from "@tcpkit/tcpkit";
   * import assert from "node:assert/strict";
   *
   * const server = serve({
   *   hostname: "127.0.0.1",
   *   port: 0,
   *   maxConnections: 1_000,
   *   handler: (conn) => conn.close(),
   * });
   * server.setMaxConnections(200);
   * assert.throws(() => server.setMaxConnections(0), RangeError);
   * await server.shutdown();
   * ```
   */
  setMaxConnections(n: number): void {
    if (this.#p) return this.#p.setMaxConnections(n);
    this.#s.admission.setMaxConnections(n);
  }

  /**
   * A plain snapshot of the counters (a new object each call; safe to keep or serialize).
   *
   * @returns Active and queued connections, accepted, rejections by reason, timeouts by
   *   kind, bytes and messages both ways (closed connections included), and errors.
   *
   * @example Counting a served connection
   * ```ts
   * import { connect, serve } from "@tcpkit/tcpkit";
   * import assert from "node:assert/strict";
   *
   * const server = serve({
   *   hostname: "127.0.0.1",
   *   port: 0,
   *   async handler(conn) {
   *     for await (const chunk of conn) await conn.send(chunk);
   *   },
   * });
   * await server.ready;
   * const port = server.addr.transport === "tcp" ? server.addr.port : 0;
   * const conn = await connect({ hostname: "127.0.0.1", port });
   * await conn.send(Uint8Array.of(1, 2, 3));
   * await conn.next(); // the echo
   * const { active, accepted, bytesIn, rejected } = server.stats();
   * assert.deepEqual([active, accepted, bytesIn, rejected.capacity], [1, 1, 3, 0]);
   * conn.close();
   * await server.shutdown();
   * ```
   */
  stats(): ServerStats {
    return this.#p ? this.#p.stats() : snapshot(this.#s);
  }

  /**
   * The counters of {@linkcode Server.stats} as Prometheus text (exposition format
   * 0.0.4), for a scrape endpoint: serve it with `Content-Type: text/plain; version=0.0.4`.
   *
   * | metric                                    | type    | from `stats()`                  |
   * | ----------------------------------------- | ------- | ------------------------------- |
   * | `tcpkit_connections_accepted_total`       | counter | `accepted`                      |
   * | `tcpkit_rejected_total{reason}`           | counter | `rejected`                      |
   * | `tcpkit_timeouts_total{kind}`             | counter | `timeouts`                      |
   * | `tcpkit_accept_errors_total{kind}`        | counter | `acceptErrors`                  |
   * | `tcpkit_received_bytes_total`, `sent_`    | counter | `bytesIn`, `bytesOut`           |
   * | `tcpkit_received_messages_total`, `sent_` | counter | `messagesIn`, `messagesOut`     |
   * | `tcpkit_errors_total`                     | counter | `errors`                        |
   * | `tcpkit_connections_active`, `_queued`    | gauge   | `active`, `queued`              |
   * | `tcpkit_connections_held`                 | gauge   | `server.connections`            |
   *
   * Every reason and kind has a sample, at 0 until it happens, so a rate can be taken
   * from the first scrape.
   *
   * @param labels Labels added to every sample (e.g. `{ worker: "1" }`, or the service's
   *   name when one process runs several servers). Values are escaped; names must be
   *   `[a-zA-Z_][a-zA-Z0-9_]*`, not start with `__`, and not be `reason` or `kind`.
   * @returns The text, each line ended by a newline.
   * @throws {TypeError} A label name or value that is not allowed.
   *
   * @example A scrape
   * ```ts
   * import { serve } from "@tcpkit/tcpkit";
   * import assert from "node:assert/strict";
   *
   * const server = serve({ hostname: "127.0.0.1", port: 0, handler: (conn) => conn.close() });
   * const text = server.metrics({ service: "echo" });
   * assert.match(text, /^# TYPE tcpkit_connections_accepted_total counter$/m);
   * assert.match(text, /^tcpkit_rejected_total\{service="echo",reason="capacity"\} 0$/m);
   * await server.shutdown();
   * ```
   */
  metrics(labels?: Readonly<Record<string, string>>): string {
    if (this.#p) return this.#p.metrics(labels);
    return formatMetrics({ stats: snapshot(this.#s), connections: this.#s.live.length }, labels);
  }

  /**
   * With `workers`, in the primary: sends `signal` to every worker process that is bound
   * (what it means is up to the script, e.g. a lame duck before `shutdown()`; listen for it
   * before `serve()`); elsewhere it does nothing.
   *
   * @returns The number of processes signalled.
   * @throws {TypeError} A signal other than `"SIGUSR1"` or `"SIGUSR2"`.
   *
   * @example Without workers there is no process to signal
   * ```ts
   * import { serve } from "@tcpkit/tcpkit";
   * import assert from "node:assert/strict";
   *
   * const server = serve({ hostname: "127.0.0.1", port: 0, handler: (conn) => conn.close() });
   * assert.equal(server.signalWorkers("SIGUSR2"), 0);
   * await server.shutdown();
   * ```
   */
  signalWorkers(signal: "SIGUSR1" | "SIGUSR2"): number {
    if (signal !== "SIGUSR1" && signal !== "SIGUSR2") {
      throw new TypeError(`signalWorkers(): the signal must be SIGUSR1 or SIGUSR2, got ${signal}`);
    }
    return this.#p ? this.#p.signalWorkers(signal) : 0;
  }

  /** Stops accepting on every listener. Established connections keep working. */
  closeListeners(): Promise<void> {
    if (this.#p) return this.#p.closeListeners();
    return closeListeners(this.#s);
  }

  /**
   * Stops the server: stops accepting at once and rejects queued connections with
   * `"shutdown"`, aborts `conn.signal` of every live connection (with a `ShutdownError`),
   * waits for them to finish, and force-closes what is left at the deadline (their error
   * is a `TimeoutError` of kind `"shutdown"`). A second call forces at once (the error is
   * a `ShutdownError`). `shutdownOnSignals()` calls it on SIGINT and SIGTERM.
   *
   * @param options `timeout`: ms to wait before forcing (default 10 000).
   * @returns Resolves once every connection is gone and the listeners are closed.
   *
   * @example Drain for 5 s
   * ```ts
   * import { serve } from "@tcpkit/tcpkit";
   * const server = serve({
   *   hostname: "127.0.0.1",
   *   port: 0,
   *   async handler(conn) {
   *     for await (const chunk of conn) {
   *       if (conn.signal.aborted) break; // the server is shutting down
   *       await conn.send(chunk);
   *     }
   *   },
   * });
   * await server.shutdown({ timeout: 5_000 });
   * ```
   */
  shutdown(options: ShutdownOptions = {}): Promise<void> {
    if (this.#p) return this.#p.shutdown(options);
    return shutdown(this.#s, options);
  }

  /** `await using server = serve(...)` shuts it down at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }
}

/**
 * Starts a TCP server: binds the listeners and runs `handler` for each connection.
 *
 * Binding is synchronous on Deno and Bun (a bind error throws here, and `server.addr` is
 * known on return); on Node it completes a moment later: `await server.ready` before
 * reading `server.addr` in code that must run everywhere.
 *
 * Options are checked once, here: an unknown key throws a `TypeError` that names it and
 * suggests the closest known one (`host` -> `hostname`), and a value of the wrong type
 * or out of range throws a `TypeError` or `RangeError` that says what is allowed.
 *
 * @example A line echo server
 * ```ts
 * import { connect, lines, serve } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const server = serve({
 *   hostname: "127.0.0.1",
 *   port: 0, // any free port: server.addr says which
 *   framer: lines({ maxLength: 64 * 1024 }),
 *   async handler(conn) {
 *     for await (const line of conn) await conn.send(line);
 *   },
 * });
 * await server.ready;
 * const port = server.addr.transport === "tcp" ? server.addr.port : 0;
 * const conn = await connect({ hostname: "127.0.0.1", port, framer: lines() });
 * await conn.send("hello");
 * assert.equal(await conn.next(), "hello");
 * conn.close();
 * await server.shutdown({ timeout: 5_000 });
 * ```
 */
export function serve<In = Uint8Array, Out = In, Data = unknown>(
  options: ServeOptions<In, Out, Data>,
): Server<In, Out, Data> {
  return new Server(options);
}
