/**
 * `serve()`: listeners, admission, a router, a handler per connection, and a clean stop.
 * Runtime-free: the adapter is picked by `lib/adapters/mod.ts`.
 *
 * ```
 * accept -> Admission (per-client, rate, maxConnections, backlog queue) -> Router -> handler
 * ```
 * @module
 */

import type { AdapterName, RawSocket, Transport, TransportListener } from "../transport.ts";
import { getTransport, listenOn } from "../adapters/mod.ts";
import { Admission, type Ticket } from "../admission/admission.ts";
import {
  Connection,
  type ConnectionInit,
  type ResolvedLimits,
  resolveLimits,
} from "../connection/connection.ts";
import {
  RejectedError,
  type RejectReason,
  ShutdownError,
  TimeoutError,
  UnsupportedError,
} from "../errors.ts";
import type { Framer } from "../framers/framer.ts";
import { raw } from "../framers/raw.ts";
import { canonicalIp, clientKey } from "../ip.ts";
import { type RouteInfo, Router } from "../router/router.ts";
import { AcceptErrors } from "../admission/_accept_errors.ts";
import { Sweeper, type Watch } from "../connection/_timeouts.ts";
import {
  type Handler,
  type HandlerOrFactory,
  resolveHandler,
  runHandler,
} from "../router/handler.ts";
import { type ProxiedSocket, ProxyStage } from "../admission/_proxy_stage.ts";
import type { Addr } from "../types.ts";
import { checkObject } from "../_options.ts";

import {
  type ListenerOptions,
  type RejectInfo,
  SERVE,
  type ServeOptions,
  type ServerStats,
  type ShutdownOptions,
} from "./options.ts";
import { nextConnectionId } from "../connection/_id.ts";

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
const encoder = new TextEncoder();

/** How long a rejected connection may linger after its `rejectMessage` (ms). */
const LINGER_MS = 1_000;
/** How many bytes a rejected connection may still send while it lingers. */
const LINGER_BYTES = 16 * 1024;
/** Rejected connections that may linger at once; beyond, they are closed at once (a flood). */
const MAX_LINGERING = 1024;
/** The smallest kernel listen backlog the server-wide `backlog` turns into (Node's and Deno's default). */
const MIN_KERNEL_BACKLOG = 511;

/** The per-client key of an address; the address itself if it does not parse (a zone id, say). */
function keyOf(hostname: string): string {
  try {
    return clientKey(hostname);
  } catch {
    return hostname;
  }
}

/** The server's record of a connection (see `Server.#Entry`). */
interface Entry extends Watch, Ticket {
  readonly listener: string;
  key: string;
  begun: boolean;
  live: number;
}

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
  #opts: ServeOptions<In, Out, Data>;
  /** The connection limits with their defaults, shared by every connection. */
  #limits: ResolvedLimits;
  #transport: Transport;
  #listeners: { name: string; listener: TransportListener }[] = [];
  /** Every socket the server holds (running, queued, lingering), unordered. */
  #live: Entry[] = [];
  #framer: Framer<In, Out>;
  #lingering = 0;
  #admission: Admission;
  #sweeper: Sweeper;
  /** The PROXY protocol stage of each listener that turns it on. */
  #proxies: Map<string, ProxyStage> | undefined;
  #shutdown = new AbortController();
  #shutdownStarted = false;
  #finished: Promise<void>;
  #resolveFinished!: () => void;
  #resolveAllClosed: (() => void) | undefined;
  #stats: Omit<ServerStats, "active" | "queued" | "acceptErrors"> = {
    accepted: 0,
    rejected: {
      capacity: 0,
      "per-client": 0,
      rate: 0,
      "queue-timeout": 0,
      shutdown: 0,
      "no-route": 0,
      proxy: 0,
    },
    timeouts: { firstMessage: 0, idle: 0, writeStall: 0, queue: 0, handshake: 0, proxyHeader: 0 },
    bytesIn: 0,
    bytesOut: 0,
    messagesIn: 0,
    messagesOut: 0,
    errors: 0,
  };
  #acceptErrors = new AcceptErrors((e) => this.#report(e));
  /** Resolves once every listener is bound; rejects with a bind error. */
  readonly ready: Promise<this>;
  #perClient: boolean;

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
    this.#opts = options;
    this.#limits = resolveLimits(options);
    this.#framer = (options.framer ?? raw()) as Framer<In, Out>;
    const pc = options.perClient;
    this.#perClient = pc !== undefined &&
      (pc.maxConnections !== undefined || pc.rate !== undefined);
    this.#transport = getTransport(options.adapter);
    this.#admission = new Admission({
      maxConnections: options.maxConnections,
      backlog: options.backlog,
      perClient: options.perClient,
    });
    this.#sweeper = new Sweeper(
      options.timeouts ?? {},
      (_c, kind) => this.#stats.timeouts[kind as "idle"]++,
      () => this.#admission.expire(this.#sweeper.timeouts.queue || Infinity),
    );
    this.#finished = new Promise((r) => (this.#resolveFinished = r));
    this.#bind(options);
    this.#sweeper.start();
    this.ready = Promise.all(this.#listeners.map((l) => l.listener.ready)).then(() => {
      for (const { name, listener } of this.#listeners) {
        options.onListen?.({ name, addr: listener.addr });
      }
      return this;
    });
    this.ready.catch(noop);
    if (options.signal) {
      const onAbort = () => this.shutdown({ timeout: options.shutdownTimeout });
      if (options.signal.aborted) queueMicrotask(onAbort);
      else options.signal.addEventListener("abort", onAbort, { once: true });
      this.#finished.then(() => options.signal?.removeEventListener("abort", onAbort));
    }
  }

  #bind(options: ServeOptions<In, Out, Data>): void {
    const specs = options.listen?.length ? options.listen : [options];
    const names = new Set<string>();
    try {
      specs.forEach((spec, i) => {
        const name = spec.name ?? (options.listen?.length ? `listener-${i}` : "default");
        if (names.has(name)) throw new TypeError(`two listeners are named "${name}"`);
        names.add(name);
        const stage = this.#proxyStage(spec, options, name);
        const listener = listenOn(
          this.#transport,
          {
            hostname: spec.path ? undefined : spec.hostname ?? "0.0.0.0",
            port: spec.path ? undefined : spec.port ?? 0,
            path: spec.path,
            tls: stage ? undefined : spec.tls, // after the PROXY header, if at all
            removeStale: spec.removeStale,
            onError: (e) => this.#handshakeFailed(e),
            onAcceptError: (kind, e) => this.#acceptErrors.add(kind, e),
            backlog: (spec === options ? undefined : spec.backlog) ??
              Math.max(options.backlog ?? 1024, MIN_KERNEL_BACKLOG),
            reusePort: spec.reusePort,
            writeHighWaterMark: options.highWaterMark ?? 64 * 1024,
          },
          (socket) => this.#accept(socket, name),
        );
        this.#listeners.push({ name, listener });
      });
    } catch (e) {
      for (const { listener } of this.#listeners) listener.close();
      this.#sweeper.stop();
      throw e;
    }
  }

  /** Sets up a listener's PROXY stage; TLS on such a listener starts after the header. */
  #proxyStage(
    spec: ListenerOptions,
    options: ServeOptions<In, Out, Data>,
    name: string,
  ): ProxyStage | undefined {
    const pp = spec.proxyProtocol ?? (spec === options ? undefined : options.proxyProtocol);
    if (!pp) return undefined;
    // TLS after the header is a server-side STARTTLS that takes the bytes read with the
    // header, which not every adapter can do.
    if (spec.tls && !this.#transport.serverTlsAfterRead) {
      throw new UnsupportedError(
        this.#transport.name,
        'tls with proxyProtocol on one listener (terminate TLS at the proxy, or use adapter: "node")',
      );
    }
    const stage = new ProxyStage(pp, spec.tls);
    (this.#proxies ??= new Map()).set(name, stage);
    return stage;
  }

  /** The PROXY header phase of one connection, before admission. */
  async #proxied(stage: ProxyStage, raw: RawSocket, listener: string): Promise<void> {
    if (!stage.trusts(raw.remoteAddr)) {
      // A TLS handshake refuses a header by itself; a plain connection is watched.
      if (stage.tls) return this.#startTls(raw, listener, stage);
      const socket: ProxiedSocket = stage.guard(raw, (e) => {
        this.#stats.rejected.proxy++;
        const info = { listener, remoteAddr: socket.remoteAddr, localAddr: socket.localAddr };
        try {
          this.#opts.onReject?.(info, "proxy");
        } catch (x) {
          this.#report(x);
        }
        this.#report(e);
        socket.fail(e);
      });
      return this.#accept(socket, listener, {});
    }
    const { socket, header } = stage.read(raw);
    try {
      await header;
    } catch (error) {
      if (error instanceof TimeoutError) this.#stats.timeouts.proxyHeader++;
      const refuse = this.#shutdownStarted ? "shutdown" : "proxy";
      return this.#accept(socket, listener, {
        refuse,
        error: this.#shutdownStarted ? undefined : error,
      });
    }
    if (stage.tls) return this.#startTls(socket, listener, stage);
    this.#accept(socket, listener, {});
  }

  /** TLS on a PROXY listener, after the header. */
  async #startTls(socket: RawSocket, listener: string, stage: ProxyStage): Promise<void> {
    let secure: RawSocket;
    try {
      secure = await stage.startTls(socket);
    } catch (e) {
      socket.abort(); // closed already when the handshake itself failed
      return this.#handshakeFailed(e);
    }
    this.#accept(secure, listener, {});
  }

  /** A TLS handshake failed or timed out; the socket is closed already. */
  #handshakeFailed(e: unknown): void {
    if (e instanceof TimeoutError) this.#stats.timeouts.handshake++;
    this.#report(e);
  }

  /** The address of the first listener (the real port when port 0 was asked for). */
  get addr(): Addr {
    return this.#listeners[0].listener.addr;
  }
  /** Every listener's name and address. */
  get addrs(): { name: string; addr: Addr }[] {
    return this.#listeners.map(({ name, listener }) => ({ name, addr: listener.addr }));
  }
  /** The adapter in use. */
  get adapter(): AdapterName {
    return this.#transport.name;
  }
  /** Sockets the server holds: running, queued, and rejected ones still lingering. */
  get connections(): number {
    return this.#live.length;
  }
  /** Connections accepted since start. */
  get accepted(): number {
    return this.#stats.accepted;
  }
  /** Resolves once the server has shut down and every connection is gone. */
  get finished(): Promise<void> {
    return this.#finished;
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
    this.#admission.setMaxConnections(n);
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
    const s = this.#stats;
    let { bytesIn, bytesOut, messagesIn, messagesOut } = s;
    for (const { conn: c } of this.#live) {
      bytesIn += c.bytesIn;
      bytesOut += c.bytesOut;
      messagesIn += c.messagesIn;
      messagesOut += c.messagesOut;
    }
    return {
      active: this.#admission.running,
      queued: this.#admission.queued,
      accepted: s.accepted,
      rejected: { ...s.rejected },
      timeouts: { ...s.timeouts },
      bytesIn,
      bytesOut,
      messagesIn,
      messagesOut,
      errors: s.errors,
      acceptErrors: { ...this.#acceptErrors.counts },
    };
  }

  #report(error: unknown, conn?: Connection<In, Out, Data>): void {
    this.#stats.errors++;
    const onError = this.#opts.onError;
    if (onError) {
      try {
        onError(error, conn);
        return;
      } catch (e) {
        error = e;
      }
    }
    console.error(`tcpkit: connection ${conn?.id ?? "-"}:`, error);
  }

  /**
   * A new connection. `staged` is set when it comes out of the PROXY stage (then it was
   * counted already), with `refuse` when the stage turned it away.
   */
  #accept(
    socket: RawSocket,
    listener: string,
    staged?: { refuse?: RejectReason; error?: unknown },
  ): void {
    if (staged === undefined) {
      this.#stats.accepted++;
      const stage = this.#proxies?.get(listener);
      if (stage) return void this.#proxied(stage, socket, listener);
    }
    const opts = this.#opts;
    // The adapters turn Nagle off on every accepted TCP socket.
    const tcp = socket.remoteAddr.transport === "tcp";
    if (tcp && opts.noDelay === false) socket.setNoDelay(false);
    if (tcp && opts.keepAlive) {
      socket.setKeepAlive(true, typeof opts.keepAlive === "number" ? opts.keepAlive : undefined);
    }
    const entry = new Server.#Entry(this as Server<unknown, unknown, unknown>, listener, socket);
    const conn = new Connection<In, Out, Data>(entry as ConnectionInit<In, Out>);
    entry.conn = conn;
    entry.socket = undefined; // the connection holds it (and its successor after STARTTLS)
    entry.live = this.#live.length;
    this.#live.push(entry);
    if (staged?.refuse) {
      if (staged.error) this.#report(staged.error, conn);
      return this.#reject(conn, listener, staged.refuse);
    }
    if (this.#shutdownStarted) return this.#reject(conn, listener, "shutdown");
    // The per-client key is only worth parsing the address for when per-client limits exist.
    if (this.#perClient && tcp) entry.key = keyOf(socket.remoteAddr.hostname);
    const verdict = this.#admission.offer(entry);
    if (verdict !== "run" && verdict !== "queued") this.#reject(conn, listener, verdict);
  }

  /**
   * The server's record of one connection, one object per connection with its methods
   * on the prototype (no closure per connection): its admission ticket, the callbacks
   * its `Connection` reports to, and what the sweeper watches of it.
   */
  static #Entry = class Entry implements Watch, Ticket {
    server: Server<unknown, unknown, unknown>;
    listener: string;
    /** Read once by the `Connection` constructor. */
    socket: RawSocket | undefined;
    readonly id: number;
    key = "";
    state: Ticket["state"] = undefined;
    queuedAt = 0;
    /** It got a slot and `onConnection`; only such connections get `onClose`. */
    begun = false;
    /** Its place in the server's list of live connections. */
    live = -1;
    // What the sweeper keeps (see `Watch`): the fields themselves, not a base class, so
    // that a new entry is one plain construction.
    conn!: Connection<unknown, unknown, unknown>;
    startedAt = 0;
    moved = 0;
    movedAt = 0;
    stallSince = 0;
    flushed = 0;
    slot = -1;

    constructor(server: Server<unknown, unknown, unknown>, listener: string, socket: RawSocket) {
      this.server = server;
      this.listener = listener;
      this.socket = socket;
      this.id = nextConnectionId();
    }
    get framer(): Framer<unknown, unknown> {
      return this.server.#framer;
    }
    get parentSignal(): AbortSignal {
      return this.server.#shutdown.signal;
    }
    get limits(): ResolvedLimits {
      return this.server.#limits;
    }
    run(): void {
      this.server.#begin(this);
    }
    reject(reason: RejectReason): void {
      this.server.#reject(this.conn, this.listener, reason);
    }
    report(error: unknown, conn: Connection<unknown, unknown, unknown>): void {
      this.server.#report(error, conn);
    }
    onClosed(_conn: Connection<unknown, unknown, unknown>, error?: Error): void {
      this.server.#closed(this, error);
    }
  };

  #reject(conn: Connection<In, Out, Data>, listener: string, reason: RejectReason): void {
    this.#stats.rejected[reason]++;
    if (reason === "queue-timeout") this.#stats.timeouts.queue++;
    const info: RejectInfo = { listener, remoteAddr: conn.remoteAddr, localAddr: conn.localAddr };
    try {
      this.#opts.onReject?.(info, reason);
    } catch (e) {
      this.#report(e, conn);
    }
    let msg = this.#opts.rejectMessage;
    try {
      if (typeof msg === "function") msg = msg(info, reason);
    } catch (e) {
      this.#report(e, conn);
      msg = undefined;
    }
    if (msg === undefined || msg.length === 0 || this.#lingering >= MAX_LINGERING) {
      conn.close();
      return;
    }
    conn.write(typeof msg === "string" ? encoder.encode(msg) : msg).catch(noop);
    this.#linger(conn);
  }

  /**
   * Ends a turned-away connection without losing the message written to it: closing a
   * socket whose peer's bytes were never read sends a reset, which can discard the
   * message before the client reads it. So: half-close after the message, read and
   * drop what the client still sends, and close once it closes too, or after
   * {@linkcode LINGER_MS} or {@linkcode LINGER_BYTES}, whichever comes first.
   */
  #linger(conn: Connection<In, Out, Data>): void {
    this.#lingering++;
    conn.end();
    const plain = conn.setFramer(raw());
    let dropped = 0;
    const timer = setTimeout(() => conn.abort(), LINGER_MS);
    conn.closed.then(() => {
      clearTimeout(timer);
      this.#lingering--;
    });
    plain._start({
      message(c, chunk) {
        dropped += chunk.length;
        if (dropped > LINGER_BYTES) c.abort();
      },
    });
  }

  /** The connection has a slot: watch its timeouts, route it, run its handler. */
  #begin(entry: Entry): void {
    const conn = entry.conn as Connection<In, Out, Data>;
    const listener = entry.listener;
    if (conn.state === "closed") return;
    entry.begun = true;
    this.#sweeper.add(entry);
    try {
      this.#opts.onConnection?.(conn);
    } catch (e) {
      this.#report(e, conn);
    }
    const h = this.#opts.handler;
    if (!(h instanceof Router)) return this.#run(conn, resolveHandler(h as HandlerOrFactory));
    const remote = conn.remoteAddr;
    const info: RouteInfo = {
      listener,
      remote: remote.transport === "tcp" ? canonicalIp(remote.hostname) : "",
      localPort: conn.localAddr.transport === "unix" ? 0 : conn.localAddr.port,
    };
    const decide = (head?: Uint8Array, final = false): boolean => {
      const r = h.match(info, head, final);
      if (r.kind === "more") return false;
      clearTimeout(timer);
      if (r.kind === "none") {
        this.#report(new RejectedError("no-route"), conn);
        this.#reject(conn, listener, "no-route");
        return true;
      }
      if (r.options.framer) conn.setFramer(r.options.framer as Framer<In, Out>);
      this.#run(conn, resolveHandler(r.handler));
      return true;
    };
    let timer: ReturnType<typeof setTimeout> | undefined = undefined;
    if (decide()) return;
    let done = false;
    let seen: Uint8Array = new Uint8Array(0); // the head so far: at the timeout the predicates judge it
    timer = setTimeout(() => {
      if (!done && conn.state !== "closed") done = decide(seen, true);
    }, h.sniffTimeout);
    conn.closed.then(() => clearTimeout(timer));
    conn._peek(h.sniffBytes, (head, final) => {
      seen = head;
      if (!done) done = decide(head, final);
    });
  }

  #run(conn: Connection<In, Out, Data>, handler: Handler<In, Out, Data>): void {
    runHandler(conn, handler, this.#opts.data, this.#reportFor);
  }

  /** `#report` as a function, made once per server: where a failed handler is reported. */
  #reportFor = (e: unknown, conn: Connection<In, Out, Data>): void => this.#report(e, conn);

  #closed(entry: Entry, error?: Error): void {
    const conn = entry.conn as Connection<In, Out, Data>;
    const live = this.#live;
    if (entry.live >= 0) {
      const last = live.pop()!;
      if (last !== entry) {
        live[entry.live] = last;
        last.live = entry.live;
      }
      entry.live = -1;
    }
    this.#sweeper.delete(entry);
    this.#admission.release(entry);
    const s = this.#stats;
    s.bytesIn += conn.bytesIn;
    s.bytesOut += conn.bytesOut;
    s.messagesIn += conn.messagesIn;
    s.messagesOut += conn.messagesOut;
    if (entry.begun) {
      entry.begun = false;
      try {
        this.#opts.onClose?.(conn, error);
      } catch (e) {
        this.#report(e, conn);
      }
    }
    if (this.#shutdownStarted && live.length === 0) this.#resolveAllClosed?.();
  }

  /** Stops accepting on every listener. Established connections keep working. */
  async closeListeners(): Promise<void> {
    await Promise.all(this.#listeners.map((l) => l.listener.close().catch(noop)));
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
  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    if (this.#shutdownStarted) {
      this.#forceClose(new ShutdownError());
      return this.#finished;
    }
    this.#shutdownStarted = true;
    const timeout = options.timeout ?? 10_000;
    const allClosed = new Promise<void>((r) => (this.#resolveAllClosed = r));
    const closing = this.closeListeners();
    for (const stage of this.#proxies?.values() ?? []) stage.abortAll();
    this.#admission.rejectQueued("shutdown");
    this.#shutdown.abort(new ShutdownError());
    if (this.#live.length === 0) this.#resolveAllClosed?.();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<"timeout">((
      r,
    ) => (timer = setTimeout(() => r("timeout"), timeout)));
    const outcome = await Promise.race([allClosed, deadline]);
    clearTimeout(timer);
    if (outcome === "timeout") this.#forceClose(new TimeoutError("shutdown", timeout));
    await allClosed;
    await closing;
    this.#sweeper.stop();
    this.#resolveFinished();
  }

  #forceClose(reason: Error): void {
    for (const { conn } of this.#live.slice()) conn.abort(reason);
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
