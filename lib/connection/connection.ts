/**
 * {@linkcode Connection}: one TCP (or TLS, or Unix) connection with a framer on it.
 * Runtime-free: it sits on the adapters' `RawSocket` and knows nothing of Deno, Bun or Node.
 *
 * Inbound: bytes go through the framer's decoder; frames are read with
 * `for await (const msg of conn)`, `conn.next()`, or delivered to hooks. When the
 * handler falls behind, reading from the socket pauses (TCP pushes back on the peer).
 *
 * Outbound: `send(msg)` encodes and writes. Its promise resolves once the bytes are
 * accepted under the high-water mark, so `await conn.send()` is backpressure; a peer
 * that never reads cannot make the queue grow past `maxOutbound`.
 *
 * @module
 */

import type { RawSocket, RawSocketHandler } from "../transport.ts";
import {
  ConnectionClosedError,
  FramingError,
  OutboundOverflowError,
  TcpkitError,
  TlsError,
  UnsupportedError,
} from "../errors.ts";
import { concatBytes } from "../_bytes.ts";
import type { Decoder, Framer } from "../framers/framer.ts";
import { type Span, WIRE, type WireFramer } from "../framers/_wire.ts";
import type { Addr, TlsClientOptions, TlsInfo, TlsServerOptions } from "../types.ts";

/**
 * Options of {@linkcode Connection.startTls}: the role this side plays in the handshake.
 * A client verifies the server's certificate against `serverName`, else `hostname`,
 * else the peer's IP address.
 */
export type StartTlsOptions =
  | { server: TlsServerOptions; client?: undefined }
  | { client: TlsClientOptions & { hostname?: string }; server?: undefined };

/** The life stages of a connection. */
export type ConnectionState =
  | "open"
  | "half-closed-by-peer"
  | "half-closed-by-us"
  | "closing"
  | "closed";

/**
 * Hooks: the callback style, for hot paths where a promise per message costs too much.
 * A hook that returns a promise pauses delivery until it settles (messages stay in order).
 * A hook that throws (or rejects) aborts its connection and is reported through `onError`.
 */
export interface ConnectionHooks<In, Out = In, Data = unknown> {
  /** The connection is ready; set `conn.data` here. */
  open?(conn: Connection<In, Out, Data>): void | Promise<void>;
  /** One decoded message. */
  message?(conn: Connection<In, Out, Data>, msg: In): void | Promise<void>;
  /**
   * The peer half-closed. Without this hook the connection ends its own side once
   * everything queued is sent; with it, the hook decides (it may still `send()`).
   */
  end?(conn: Connection<In, Out, Data>): void | Promise<void>;
  /** The outbound queue emptied after `send()` reported backpressure. */
  drain?(conn: Connection<In, Out, Data>): void;
  /** A recoverable problem: a frame skipped by the `"skip"` policy. */
  error?(conn: Connection<In, Out, Data>, error: Error): void;
  /** The connection is gone; `error` is set when it broke. Called exactly once. */
  close?(conn: Connection<In, Out, Data>, error?: Error): void;
}

/** Tuning of a connection's buffers. All sizes in bytes. */
export interface ConnectionLimits {
  /**
   * `send()` resolves at once while less than this is queued outbound. Inbound, it is
   * also the read-ahead: an iterating handler decodes messages on demand, and once this
   * many bytes wait undecoded, reading pauses until the handler asks for more.
   * Default 64 KiB.
   */
  highWaterMark?: number;
  /** Queued outbound bytes beyond this abort the connection with `OutboundOverflowError`. Default 1 MiB. */
  maxOutbound?: number;
  /** Messages delivered per turn of the event loop before yielding to other connections. Default 1024. */
  messageBudget?: number;
}

/** @internal {@linkcode ConnectionLimits} with the defaults applied. */
export interface ResolvedLimits {
  readonly hwm: number;
  readonly maxOutbound: number;
  readonly budget: number;
}

/** @internal Applies the defaults: a server does it once for all its connections. */
export function resolveLimits(limits: ConnectionLimits): ResolvedLimits {
  return {
    hwm: limits.highWaterMark ?? 64 * 1024,
    maxOutbound: limits.maxOutbound ?? 1024 * 1024,
    budget: limits.messageBudget ?? 1024,
  };
}

/** @internal Options the server or client gives a new connection. */
export interface ConnectionInit<In, Out> extends ConnectionLimits {
  /** The limits resolved, when the caller shares one object among connections (else made here). */
  limits?: ResolvedLimits;
  socket: RawSocket;
  framer: Framer<In, Out>;
  id: number;
  /** Aborting it aborts `conn.signal` (server shutdown) without closing the socket. */
  parentSignal?: AbortSignal;
  /** Where recoverable errors and hook errors go when no `error` hook is set. */
  report?: (error: unknown, conn: Connection<In, Out>) => void;
  /** Called once, after the socket is gone. */
  onClosed?: (conn: Connection<In, Out>, error?: Error) => void;
}

const PAUSE_CONSUMER = 1;
const PAUSE_OUTBOUND = 2;
const PAUSE_FAIRNESS = 4;
const PAUSE_HOOK = 8;
const PAUSE_USER = 16;
const PAUSE_TLS = 32;

// Bits of Connection.#flags.
const F_EOF = 1; // FIN seen
const F_PEER_ENDED = 2; // FIN seen and the decoder finished
const F_DROP_INPUT = 4; // we closed or aborted: nothing more is delivered
const F_WE_ENDED = 8;
const F_ERROR_DELIVERED = 16;
/** The socket is corked: replies are held so that a batch leaves in one write. */
const F_CORKED = 32;
/** Listed to have held replies sent at the end of the task (see #corkForIterator). */
const F_END_OF_TASK = 64;

/** Bytes of adjacent wire spans gathered before they are handed to the socket as one write. */
const RUN_MAX = 16 * 1024;
/** Where the framer writes the span it finds (one at a time: filled, then read at once). */
const SPAN: Span = { start: 0, end: 0 };

/** Runs a callback once the current task and its microtasks are done. */
const afterTask: (fn: () => void) => void = typeof setImmediate === "function"
  ? (fn) => void setImmediate(fn)
  : (fn) => void setTimeout(fn, 0);

const RESOLVED: Promise<void> = Promise.resolve();
const noop = () => {};
/** A rejected promise whose rejection is marked handled: fire-and-forget `send()` never crashes a process. */
function rejected<T>(error: unknown): Promise<T> {
  const p = Promise.reject(error);
  p.catch(noop);
  return p;
}
const DONE: IteratorResult<never, undefined> = { done: true, value: undefined };
/** The queue of a connection that has never queued a message (most): shared, never written. */
const NO_QUEUE: unknown[] = Object.freeze([] as unknown[]) as unknown[];

/**
 * The parts of a connection that most connections never use, in an object of their own
 * made on first use: an idle connection costs less memory.
 */
class Rare {
  /** Routing by sniffing: gets the bytes read until `_start()`. */
  peek: ((chunk: Uint8Array, eof: boolean) => void) | undefined = undefined;
  /** Behind `conn.signal` (and no listener on the server's shutdown signal until then). */
  ac: AbortController | undefined = undefined;
  /** The signal's reason, when it is made after the close. */
  closeReason: unknown = undefined;
  closed: Promise<void> | undefined = undefined;
  resolveClosed: (() => void) | undefined = undefined;
  /** The fairness pause after a long run of messages. */
  yieldTimer: ReturnType<typeof setTimeout> | undefined = undefined;
}

/**
 * One connection, server or client side, with a framer on it.
 *
 * @typeParam In What the framer decodes (messages read).
 * @typeParam Out What the framer encodes (messages sent).
 * @typeParam Data The type of `conn.data`, per-connection user state.
 *
 * @example Echo with async iteration, and a client of the same type
 * ```ts
 * import { connect, lines, serve } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const server = serve({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   framer: lines(),
 *   async handler(conn) {
 *     for await (const line of conn) await conn.send(line);
 *   },
 * });
 * await server.ready;
 * const port = server.addr.transport === "tcp" ? server.addr.port : 0;
 * const conn = await connect({ hostname: "127.0.0.1", port, framer: lines() });
 * await conn.send("one");
 * assert.equal(await conn.next(), "one");
 * conn.end(); // the server's loop ends, its handler returns, and it closes
 * assert.equal(await conn.next(), undefined);
 * await conn.closed;
 * assert.equal(conn.state, "closed");
 * await server.shutdown();
 * ```
 */
export class Connection<In = Uint8Array, Out = In, Data = unknown> {
  /** A number unique among this process's connections. */
  readonly id: number;
  /** Per-connection user state. */
  data: Data = undefined as Data;
  /** Bytes read from the socket. */
  bytesIn = 0;
  /** Bytes handed to the socket. */
  bytesOut = 0;
  /** Messages decoded. */
  messagesIn = 0;
  /** Messages sent. */
  messagesOut = 0;

  #socket: RawSocket;
  #framer: Framer<In, Out>;
  #decoder: Decoder<In>;
  #hooks: ConnectionHooks<In, Out, Data> | undefined;
  #init: ConnectionInit<In, Out>;
  /** What few connections use (`signal`, `closed`, peeking, a fairness pause): made on first use. */
  #rare: Rare | undefined;
  #state: ConnectionState = "open";
  #paused = PAUSE_USER; // sockets start paused until start()
  #queue: In[] = NO_QUEUE as In[]; // an array of its own once something is queued
  #qHead = 0;
  #waiter:
    | { resolve(v: IteratorResult<In, undefined>): void; reject(e: unknown): void }
    | undefined;
  /** The F_ bits: one number rather than a field per yes-or-no. */
  #flags = 0;
  #burst = 0; // messages next() returned without waiting, for fairness
  #error: Error | undefined;
  #drain: { promise: Promise<void>; resolve(): void; reject(e: unknown): void } | undefined;
  #limits: ResolvedLimits;
  // Zero-copy replies (framers/_wire.ts): the last chunk read, where spans may be found...
  #rxBuf: ArrayBufferLike | undefined;
  #rxWhole: Uint8Array | undefined; // a view of all of #rxBuf, made on first use
  #rxStart = 0;
  #rxEnd = 0;
  /** The frame being handled (a hook runs, or next() returned it): sent back as it came. */
  #fresh: unknown;
  // ...and the run of adjacent spans being gathered while corked, sent as one view.
  #run: Uint8Array | undefined;
  #runStart = 0;
  #runEnd = 0;

  /** @internal Use `serve()` or `connect()`. */
  constructor(init: ConnectionInit<In, Out>) {
    this.id = init.id;
    this.#init = init;
    this.#socket = init.socket;
    this.#framer = init.framer;
    this.#decoder = init.framer.decoder();
    this.#limits = init.limits ?? resolveLimits(init);
    this.#socket.start(this.#events());
  }

  /** Routes a socket's events here: one small object per socket, no closure per event. */
  static #Events = class implements RawSocketHandler {
    c: Connection<unknown, unknown, unknown>;
    constructor(c: Connection<unknown, unknown, unknown>) {
      this.c = c;
    }
    data(chunk: Uint8Array): void {
      this.c.#onData(chunk);
    }
    end(): void {
      this.c.#onEnd();
    }
    drain(): void {
      this.c.#onDrain();
    }
    close(error?: Error): void {
      this.c.#onClose(error);
    }
  };

  #events(): RawSocketHandler {
    return new Connection.#Events(this as Connection<unknown, unknown, unknown>);
  }

  /** Aborted when the connection goes away or the server shuts down. */
  get signal(): AbortSignal {
    const rare = this.#rare ??= new Rare();
    return (rare.ac ??= this.#controller()).signal;
  }

  #controller(): AbortController {
    const ac = new AbortController();
    const parent = this.#init.parentSignal;
    if (this.#state === "closed") {
      ac.abort(this.#rare?.closeReason ?? new ConnectionClosedError());
    } else if (parent?.aborted) ac.abort(parent.reason);
    else if (parent) {
      const onAbort = () => ac.abort(parent.reason);
      parent.addEventListener("abort", onAbort, { once: true });
      this.closed.then(() => parent.removeEventListener("abort", onAbort));
    }
    return ac;
  }

  /** Resolves once the socket is gone (never rejects). */
  get closed(): Promise<void> {
    const rare = this.#rare ??= new Rare();
    return rare.closed ??= this.#state === "closed"
      ? Promise.resolve()
      : new Promise((r) => (rare.resolveClosed = r));
  }

  /** The local address. */
  get localAddr(): Addr {
    return this.#socket.localAddr;
  }
  /** The peer's address. */
  get remoteAddr(): Addr {
    return this.#socket.remoteAddr;
  }
  /** TLS session facts, or `undefined` on a plain connection. */
  get tls(): TlsInfo | undefined {
    return this.#socket.tls;
  }
  /**
   * The proxy's address when a PROXY protocol header named the real client (then
   * `remoteAddr` is the client and `localAddr` the address it connected to); else `undefined`.
   */
  get proxiedBy(): Addr | undefined {
    return this.#socket.proxiedBy;
  }
  /** Where the connection is in its life. */
  get state(): ConnectionState {
    return this.#state;
  }
  /** The framer in use. */
  get framer(): Framer<In, Out> {
    return this.#framer;
  }
  /** Outbound bytes queued and not yet taken by the kernel. */
  get bufferedAmount(): number {
    return this.#socket.bufferedAmount + this.#runEnd - this.#runStart;
  }
  /** The error the connection broke with, if it did. */
  get error(): Error | undefined {
    return this.#error;
  }

  /** @internal Starts delivery: in hooks mode when `hooks` is given, else for iteration. */
  _start(hooks?: ConnectionHooks<In, Out, Data>): void {
    this.#hooks = hooks;
    if (this.#rare) this.#rare.peek = undefined;
    this.#unpause(PAUSE_USER);
  }

  /**
   * @internal Reads without delivering, to peek at the first bytes (routing by sniffing).
   * `onBytes(head, eof)` runs after each chunk; the bytes stay in the decoder for the
   * handler. Reading stops once `limit` bytes are held; `_start()` ends the peek.
   */
  _peek(limit: number, onBytes: (head: Uint8Array, eof: boolean) => void): void {
    const chunks: Uint8Array[] = [];
    let held = 0;
    (this.#rare ??= new Rare()).peek = (chunk, eof) => {
      if (chunk.length) {
        chunks.push(chunk);
        held += chunk.length;
        if (held >= limit) this.#socket.pause();
      }
      const head = chunks.length === 1 ? chunks[0] : concatBytes(chunks, held);
      onBytes(head.subarray(0, Math.min(limit, head.length)), eof || held >= limit);
    };
    this.#unpause(PAUSE_USER);
    this.#paused |= PAUSE_USER; // delivery stays off; the socket reads
  }

  // ---------------------------------------------------------------- inbound

  /**
   * The next message, or `undefined` at end of stream. Rejects with the error the
   * connection broke with (a reset, a framing error), once; after that, `undefined`.
   */
  next(): Promise<In | undefined> {
    return this.#nextResult().then((r) => r.value);
  }

  /** Async iteration over the messages. Breaking out of the loop does not close the connection. */
  [Symbol.asyncIterator](): AsyncIterator<In, undefined> {
    return new Connection.#Iterator(this as Connection<unknown, unknown, unknown>) as AsyncIterator<
      In,
      undefined
    >;
  }

  /** The iterator of `for await`: one small object, its methods shared (no closure per loop). */
  static #Iterator = class implements AsyncIterator<unknown, undefined> {
    c: Connection<unknown, unknown, unknown>;
    constructor(c: Connection<unknown, unknown, unknown>) {
      this.c = c;
    }
    next(): Promise<IteratorResult<unknown, undefined>> {
      return this.c.#nextResult();
    }
    return(): Promise<IteratorResult<unknown, undefined>> {
      return Promise.resolve(DONE);
    }
  };

  #nextResult(): Promise<IteratorResult<In, undefined>> {
    if (this.#waiter) {
      return rejected(new TypeError("next() called again before the last call settled"));
    }
    if (this.#qHead < this.#queue.length) {
      const value = this.#queue[this.#qHead];
      this.#queue[this.#qHead++] = undefined as In;
      if (this.#qHead === this.#queue.length) {
        this.#queue.length = 0;
        this.#qHead = 0;
      }
      if (this.#paused & PAUSE_CONSUMER) this.#unpause(PAUSE_CONSUMER);
      return Promise.resolve({ done: false, value });
    }
    // Iteration decodes on demand: nothing is decoded before the handler asks for it, so
    // a setFramer() between two next() calls sees every byte after the last message.
    if (
      this.#hooks === undefined && this.#rare?.peek === undefined &&
      (this.#flags & F_DROP_INPUT) === 0
    ) {
      const value = this.#decodeOne();
      if (value !== undefined) {
        if ((this.#flags & F_CORKED) === 0) this.#corkForIterator();
        if (++this.#burst >= this.#limits.budget) {
          // Fairness: a long run of messages already read yields to other connections.
          this.#burst = 0;
          return new Promise((r) => setTimeout(() => r({ done: false, value }), 0));
        }
        return Promise.resolve({ done: false, value });
      }
      if ((this.#flags & (F_EOF | F_PEER_ENDED)) === F_EOF && !this.#error) {
        this.#finishInput();
        if (this.#qHead < this.#queue.length) return this.#nextResult();
      }
    }
    if ((this.#flags & F_CORKED) !== 0) this.#uncork(); // caught up: the replies go out
    if (this.#error && (this.#flags & F_ERROR_DELIVERED) === 0) {
      this.#flags |= F_ERROR_DELIVERED;
      return Promise.reject(this.#error);
    }
    if ((this.#flags & F_PEER_ENDED) !== 0 || this.#state === "closed") {
      return Promise.resolve(DONE);
    }
    this.#burst = 0;
    const p = new Promise<IteratorResult<In, undefined>>((
      resolve,
      reject,
    ) => (this.#waiter = { resolve, reject }));
    if (this.#paused & PAUSE_CONSUMER) this.#unpause(PAUSE_CONSUMER);
    return p;
  }

  /** Decodes one message, reporting skipped frames; `undefined` when none is whole (or on a fatal error). */
  #decodeOne(): In | undefined {
    for (;;) {
      try {
        const m = this.#decoder.next();
        if (m !== undefined) {
          this.messagesIn++;
          this.#fresh = m;
        }
        return m;
      } catch (e) {
        if (!this.#framingError(e)) return undefined;
      }
    }
  }

  /**
   * Iteration: hands one message to a waiting `next()`; with no one waiting, the bytes
   * stay in the decoder and reading pauses once they reach the high-water mark.
   */
  #feedIterator(): void {
    if ((this.#flags & F_DROP_INPUT) !== 0) return;
    const w = this.#waiter;
    if (!w) {
      if (this.#decoder.buffered >= this.#limits.hwm) this.#pause(PAUSE_CONSUMER);
      return;
    }
    const value = this.#decodeOne();
    if (value !== undefined) {
      this.#waiter = undefined;
      if ((this.#flags & F_CORKED) === 0) this.#corkForIterator();
      w.resolve({ done: false, value });
      return;
    }
    if ((this.#flags & (F_EOF | F_PEER_ENDED)) === F_EOF && !this.#error) this.#finishInput();
  }

  /** Pauses reading until {@linkcode Connection.resume}. */
  pause(): void {
    this.#pause(PAUSE_USER);
  }
  /** Resumes reading after {@linkcode Connection.pause}. */
  resume(): void {
    this.#unpause(PAUSE_USER);
  }

  /**
   * Upgrades the connection to TLS in place (STARTTLS), as a server or as a client.
   * Resolves once the handshake is done (`conn.tls` is then set); the same connection,
   * framer and iterator go on over TLS.
   *
   * Send the go-ahead (say `220 Ready`), then call this at once, before the peer can
   * answer: reading pauses now, and bytes already read but not decoded go to TLS as the
   * start of the handshake. Messages already decoded and not yet consumed were sent in
   * plaintext after the command, as in the STARTTLS injection attack (CVE-2011-0411):
   * the connection is aborted with a `TlsError` rather than upgraded.
   *
   * Rejects with `UnsupportedError` where the runtime cannot (the memory adapter; on
   * Deno the server side, and the client side unless called from a `message` hook: see
   * the README) and the connection stays as it was; with `TlsError` or a
   * `TimeoutError` of kind `"handshake"` when the handshake fails, and the connection is
   * then closed with that error.
   *
   * @example A server that upgrades on "STARTTLS"
   * ```ts ignore
   * for await (const line of conn) {
   *   if (line === "STARTTLS") {
   *     await conn.send("220 Ready");
   *     await conn.startTls({ server: { cert, key } });
   *   } else await conn.send(`echo ${line} over ${conn.tls ? "TLS" : "plaintext"}`);
   * }
   * ```
   */
  async startTls(options: StartTlsOptions): Promise<void> {
    const socket = this.#socket;
    if (this.#state === "closed" || (this.#flags & F_WE_ENDED) !== 0) {
      throw this.#error ?? new ConnectionClosedError("startTls() on a closed connection");
    }
    if (!socket.startTls) throw new UnsupportedError("this adapter", "STARTTLS");
    if (this.#qHead < this.#queue.length) {
      const n = this.#queue.length - this.#qHead;
      const err = new TlsError(
        `${n} message(s) arrived in plaintext after the command that started TLS; ` +
          "not upgrading (STARTTLS command injection)",
      );
      this.abort(err);
      throw err;
    }
    if ((this.#flags & F_CORKED) !== 0) this.#uncork(); // the go-ahead goes out now
    this.#pause(PAUSE_TLS);
    const head = this.#decoder.takeRemaining();
    let next: RawSocket;
    try {
      next = await socket.startTls({ server: options.server, client: options.client, head });
    } catch (e) {
      if (this.#socket === socket && this.state !== "closed") {
        for (const chunk of head) this.#decoder.push(chunk); // nothing happened: as it was
        this.#unpause(PAUSE_TLS);
      }
      throw e;
    }
    this.#socket = next;
    next.start(this.#events());
    this.#unpause(PAUSE_TLS);
  }

  /**
   * Swaps the framer. Bytes already read and not yet decoded are handed to the new
   * framer, so nothing is lost (protocol upgrades, PROXY headers, STARTTLS).
   * Messages already decoded and queued stay queued.
   */
  setFramer<In2, Out2>(framer: Framer<In2, Out2>): Connection<In2, Out2, Data> {
    const rest = this.#decoder.takeRemaining();
    const next = framer.decoder();
    for (const chunk of rest) next.push(chunk);
    const self = this as unknown as Connection<In2, Out2, Data>;
    self.#framer = framer;
    self.#decoder = next;
    if (this.#paused === 0) queueMicrotask(() => this.#pump());
    return self;
  }

  #onData(chunk: Uint8Array): void {
    if (this.#state === "closed") return;
    this.bytesIn += chunk.length;
    if ((this.#framer as WireFramer)[WIRE] !== undefined) {
      // (Only then: on Bun, a chunk's `.buffer` costs an ArrayBuffer object.)
      if (this.#rxBuf !== chunk.buffer) {
        this.#rxBuf = chunk.buffer;
        this.#rxWhole = undefined;
      }
      this.#rxStart = chunk.byteOffset;
      this.#rxEnd = chunk.byteOffset + chunk.length;
    }
    this.#decoder.push(chunk);
    const peek = this.#rare?.peek;
    if (peek) peek(chunk, false);
    else this.#pump();
  }

  /**
   * Decodes and delivers as many messages as flow control and the fairness budget allow.
   * With hooks, the socket is corked meanwhile: the replies to every message of one read
   * leave in one write.
   */
  #pump(): void {
    if (this.#hooks === undefined || (this.#flags & F_CORKED) !== 0 || !this.#socket.cork) {
      return this.#decode();
    }
    this.#flags |= F_CORKED;
    this.#socket.cork();
    try {
      this.#decode();
    } finally {
      this.#uncork();
    }
  }

  #decode(): void {
    if (this.#hooks === undefined) return this.#feedIterator();
    let budget = this.#limits.budget;
    // Nothing is delivered once the connection is closing or closed (netty#10417).
    while (this.#paused === 0 && this.#state !== "closed" && this.#state !== "closing") {
      let msg: In | undefined;
      try {
        msg = this.#decoder.next(); // re-read: a hook may have swapped the framer
      } catch (e) {
        if (this.#framingError(e)) continue;
        return;
      }
      if (msg === undefined) {
        if ((this.#flags & (F_EOF | F_PEER_ENDED)) === F_EOF) this.#finishInput();
        return;
      }
      this.#deliver(msg);
      if (--budget === 0) {
        // Fairness: one read that holds thousands of messages must not starve the others.
        this.#pause(PAUSE_FAIRNESS);
        const rare = this.#rare ??= new Rare();
        rare.yieldTimer = setTimeout(() => {
          rare.yieldTimer = undefined;
          this.#unpause(PAUSE_FAIRNESS);
        }, 0);
        return;
      }
    }
  }

  #deliver(msg: In): void {
    this.messagesIn++;
    const hooks = this.#hooks;
    if (hooks) {
      if (!hooks.message) return;
      let r: void | Promise<void>;
      this.#fresh = msg;
      try {
        r = hooks.message(this, msg);
      } catch (e) {
        this.#fresh = undefined;
        this.#hookFailed(e);
        return;
      }
      this.#fresh = undefined;
      if (r && typeof r.then === "function") this.#awaitHook(r);
      return;
    }
    if ((this.#flags & F_CORKED) === 0) this.#corkForIterator();
    const w = this.#waiter;
    if (w) {
      this.#waiter = undefined;
      w.resolve({ done: false, value: msg });
      return;
    }
    if (this.#queue as unknown[] === NO_QUEUE) this.#queue = [];
    this.#queue.push(msg); // only the last frames at end of stream, which the decoder bounds
  }

  /**
   * The iterator is about to run for this message (and any queued after it), and each
   * run likely sends a reply: hold the replies until it has caught up (`next()` finds
   * nothing queued), so that they leave in one write. An iterator that awaits something
   * else meanwhile has them sent at the end of the task: never later.
   */
  #corkForIterator(): void {
    if (!this.#socket.cork) return;
    this.#flags |= F_CORKED;
    this.#socket.cork();
    if ((this.#flags & F_END_OF_TASK) !== 0) return;
    this.#flags |= F_END_OF_TASK;
    const list = Connection.#heldReplies;
    list.push(this as Connection<unknown, unknown, unknown>);
    if (list.length === 1) afterTask(Connection.#sendHeldReplies);
  }

  /** Connections whose iterator holds replies: one list and one callback per task. */
  static #heldReplies: Connection<unknown, unknown, unknown>[] = [];
  static #sendHeldReplies = (): void => {
    const list = Connection.#heldReplies;
    Connection.#heldReplies = [];
    for (const conn of list) {
      conn.#flags &= ~F_END_OF_TASK;
      if ((conn.#flags & F_CORKED) !== 0 && conn.#state !== "closed") conn.#uncork();
    }
  };

  #uncork(): void {
    this.#flags &= ~F_CORKED;
    if (this.#run !== undefined) this.#flushRun();
    // Replies sent from now on may come after the next read: no spans of this chunk.
    this.#rxBuf = this.#rxWhole = this.#fresh = undefined;
    this.#socket.uncork?.();
  }

  #awaitHook(p: Promise<void>): void {
    this.#pause(PAUSE_HOOK);
    p.then(
      () => this.#unpause(PAUSE_HOOK),
      (e) => this.#hookFailed(e),
    );
  }

  #hookFailed(e: unknown): void {
    this.#init.report?.(e, this as unknown as Connection<In, Out>);
    this.abort(e instanceof Error ? e : new TcpkitError(String(e)));
  }

  /** Returns true when decoding can go on. */
  #framingError(e: unknown): boolean {
    if (e instanceof FramingError && e.recoverable) {
      const hook = this.#hooks?.error;
      if (hook) hook(this, e);
      else this.#init.report?.(e, this as unknown as Connection<In, Out>);
      return true;
    }
    this.abort(e instanceof Error ? e : new TcpkitError(String(e)));
    return false;
  }

  #onEnd(): void {
    if (this.#state === "closed") return;
    this.#flags |= F_EOF;
    const peek = this.#rare?.peek;
    if (peek) return peek(new Uint8Array(0), true);
    // Frames still held (paused for flow control) go first; #pump finishes the input.
    if (this.#paused === 0) this.#pump();
  }

  /** End of input: flush the decoder by its EOF policy, then report end of stream. */
  #finishInput(): void {
    for (;;) {
      let msg: In | undefined;
      try {
        msg = this.#decoder.finish();
      } catch (e) {
        if (this.#framingError(e)) continue;
        return;
      }
      if (msg === undefined) break;
      this.#deliver(msg);
      if (this.#paused !== 0) return; // resumed by #unpause -> #pump -> here
    }
    this.#flags |= F_PEER_ENDED;
    if (this.#state !== "closing" && this.#state !== "closed") {
      this.#state = (this.#flags & F_WE_ENDED) !== 0 ? "closing" : "half-closed-by-peer";
    }
    const w = this.#waiter;
    if (w && this.#qHead === this.#queue.length) {
      this.#waiter = undefined;
      w.resolve(DONE);
    }
    const hooks = this.#hooks;
    if (hooks) {
      if (hooks.end) {
        let r: void | Promise<void>;
        try {
          r = hooks.end(this);
        } catch (e) {
          this.#hookFailed(e);
          return;
        }
        if (r && typeof r.then === "function") this.#awaitHook(r);
      } else this.end();
    }
    this.#maybeFinish();
  }

  // ---------------------------------------------------------------- outbound

  /**
   * Encodes and writes one message. The promise resolves at once while less than
   * `highWaterMark` bytes are queued, else when the queue drains: `await conn.send()`
   * is backpressure. Fire-and-forget is safe too: the queue is bounded by `maxOutbound`,
   * and past it the connection is aborted with `OutboundOverflowError`.
   *
   * Throws (synchronously) what the framer's encoder throws for a message the framing
   * cannot carry. Rejects with `ConnectionClosedError` once the connection can no
   * longer send; that rejection never counts as unhandled.
   */
  send(msg: Out): Promise<void> {
    if ((this.#flags & F_WE_ENDED) !== 0 || this.#state === "closing" || this.#state === "closed") {
      return rejected(
        this.#error ?? new ConnectionClosedError("send() after the connection was ended"),
      );
    }
    const framer = this.#framer as Framer<In, Out> & WireFramer;
    if (framer[WIRE] !== undefined && this.#rxBuf !== undefined && (this.#flags & F_CORKED) !== 0) {
      const p = this.#sendSpan(framer, msg);
      if (p !== undefined) return p;
    }
    const encoded = framer.encode(msg);
    this.messagesOut++;
    if (this.#run !== undefined) this.#flushRun();
    let ok: boolean;
    if (encoded instanceof Uint8Array) {
      this.bytesOut += encoded.length;
      ok = this.#socket.write(encoded);
    } else {
      ok = true;
      for (let i = 0; i < encoded.length; i++) {
        const c = encoded[i];
        this.bytesOut += c.length;
        ok = this.#socket.write(c);
      }
    }
    return this.#afterWrite(ok);
  }

  /**
   * Sends `msg` as the span of the chunk just read that already holds its wire form
   * (framers/_wire.ts), gathered with the spans before it into one write; `undefined`
   * when it cannot be (the caller then encodes).
   */
  #sendSpan(framer: WireFramer, msg: Out): Promise<void> | undefined {
    if (!(msg instanceof Uint8Array) || msg.buffer !== this.#rxBuf) return undefined;
    const whole = this.#rxWhole ??= new Uint8Array(this.#rxBuf);
    const trusted = msg === this.#fresh;
    if (
      !framer[WIRE]!(msg, whole, trusted, SPAN) || SPAN.start < this.#rxStart ||
      SPAN.end > this.#rxEnd
    ) return undefined;
    const { start, end } = SPAN;
    this.messagesOut++;
    this.bytesOut += end - start;
    if (this.#run === whole && this.#runEnd === start) this.#runEnd = end;
    else {
      if (this.#run !== undefined) this.#flushRun();
      this.#run = whole;
      this.#runStart = start;
      this.#runEnd = end;
    }
    // A long run goes to the socket, whose answer is then the backpressure signal.
    return this.#afterWrite(this.#runEnd - this.#runStart >= RUN_MAX ? this.#flushRun() : true);
  }

  /** Hands the gathered run of spans to the socket as one view. */
  #flushRun(): boolean {
    const run = this.#run!;
    const view = new Uint8Array(
      run.buffer,
      run.byteOffset + this.#runStart,
      this.#runEnd - this.#runStart,
    );
    this.#run = undefined;
    this.#runStart = this.#runEnd = 0;
    return this.#socket.write(view);
  }

  /** Writes bytes as they are, bypassing the framer. */
  write(bytes: Uint8Array): Promise<void> {
    if ((this.#flags & F_WE_ENDED) !== 0 || this.#state === "closing" || this.#state === "closed") {
      return rejected(
        this.#error ?? new ConnectionClosedError("write() after the connection was ended"),
      );
    }
    if (this.#run !== undefined) this.#flushRun();
    this.bytesOut += bytes.length;
    return this.#afterWrite(this.#socket.write(bytes));
  }

  #afterWrite(ok: boolean): Promise<void> {
    if (ok && this.#drain === undefined) return RESOLVED; // the common case, asked nothing
    const queued = this.#socket.bufferedAmount + this.#runEnd - this.#runStart;
    // Past the bound only while an earlier send() is still waiting for the queue to drain:
    // a caller that ignores backpressure is cut off, while one large message sent onto an
    // empty queue (a peer that reads) is not.
    const limits = this.#limits;
    if (queued > limits.maxOutbound && this.#drain) {
      const err = new OutboundOverflowError(queued, limits.maxOutbound);
      this.abort(err);
      return rejected(err);
    }
    if (ok || queued < limits.hwm) return RESOLVED;
    if (!this.#drain) {
      let resolve!: () => void, reject!: (e: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      promise.catch(noop);
      this.#drain = { promise, resolve, reject };
      // With hooks, replies are fire-and-forget: a peer that does not read stops us
      // reading from it too, so that an echo cannot queue without bound. An iterating
      // handler is held back by awaiting send() instead; pausing its reads here could
      // deadlock two peers that both write before they read.
      if (this.#hooks) this.#pause(PAUSE_OUTBOUND);
    }
    return this.#drain.promise;
  }

  #onDrain(): void {
    const d = this.#drain;
    if (d) {
      this.#drain = undefined;
      d.resolve();
      this.#unpause(PAUSE_OUTBOUND);
    }
    this.#hooks?.drain?.(this);
  }

  /**
   * Half-closes: no more sending from us; the peer sees end of stream once everything
   * queued is sent. Reading goes on until the peer ends too.
   */
  end(): void {
    if ((this.#flags & F_WE_ENDED) !== 0 || this.#state === "closed" || this.#state === "closing") {
      return;
    }
    this.#flags |= F_WE_ENDED;
    this.#state = (this.#flags & F_PEER_ENDED) !== 0 ? "closing" : "half-closed-by-us";
    if (this.#run !== undefined) this.#flushRun();
    // The peer has ended too: closing is all that is left, and a close alone sends the
    // FIN after the queue (one system call, not a half-close and then a close).
    if ((this.#flags & F_PEER_ENDED) === 0) this.#socket.end();
    this.#maybeFinish();
  }

  /** Closes once everything queued is sent. */
  close(): void {
    if (this.#state === "closed") return;
    this.#flags |= F_DROP_INPUT;
    this.#state = "closing";
    this.#flags |= F_WE_ENDED;
    if (this.#run !== undefined) this.#flushRun();
    this.#socket.close();
  }

  /** Closes at once, dropping anything queued. `reason` becomes the connection's error. */
  abort(reason?: Error): void {
    if (this.#state === "closed") return;
    if (reason && !this.#error) this.#error = reason;
    this.#flags |= F_DROP_INPUT;
    this.#state = "closing";
    this.#flags |= F_WE_ENDED;
    this.#run = this.#rxBuf = this.#rxWhole = undefined;
    this.#runStart = this.#runEnd = 0;
    this.#socket.abort();
  }

  /** Both sides ended: release the socket once our queued bytes are out. */
  #maybeFinish(): void {
    if (
      (this.#flags & (F_PEER_ENDED | F_WE_ENDED)) === (F_PEER_ENDED | F_WE_ENDED) &&
      this.#state !== "closed"
    ) {
      if (this.#run !== undefined) this.#flushRun();
      this.#socket.close();
    }
  }

  #onClose(error?: Error): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#flags &= ~F_CORKED;
    this.#run = this.#rxBuf = this.#rxWhole = undefined;
    this.#runStart = this.#runEnd = 0;
    if (error && !this.#error) this.#error = error;
    const rare = this.#rare;
    if (rare?.yieldTimer !== undefined) clearTimeout(rare.yieldTimer);
    const err = this.#error;
    const w = this.#waiter;
    if (w && this.#qHead === this.#queue.length) {
      this.#waiter = undefined;
      if (err && (this.#flags & (F_ERROR_DELIVERED | F_PEER_ENDED)) === 0) {
        this.#flags |= F_ERROR_DELIVERED;
        w.reject(err);
      } else w.resolve(DONE);
    }
    if ((this.#flags & F_PEER_ENDED) !== 0) this.#flags |= F_ERROR_DELIVERED;
    const d = this.#drain;
    if (d) {
      this.#drain = undefined;
      d.reject(err ?? new ConnectionClosedError());
    }
    const ac = rare?.ac;
    if (ac) {
      if (!ac.signal.aborted) ac.abort(err ?? new ConnectionClosedError());
    } else {
      // A signal made later is aborted with what would have aborted it first.
      const parent = this.#init.parentSignal;
      const reason = parent?.aborted ? parent.reason : err;
      if (reason !== undefined) (this.#rare ??= new Rare()).closeReason = reason;
    }
    try {
      this.#hooks?.close?.(this, err);
    } catch (e) {
      this.#init.report?.(e, this as unknown as Connection<In, Out>);
    }
    this.#init.onClosed?.(this as unknown as Connection<In, Out>, err);
    rare?.resolveClosed?.();
  }

  // ---------------------------------------------------------------- flow control

  #pause(reason: number): void {
    const was = this.#paused;
    this.#paused = was | reason;
    if (was === 0) this.#socket.pause();
  }

  #unpause(reason: number): void {
    if (!(this.#paused & reason)) return;
    this.#paused &= ~reason;
    if (this.#paused !== 0 || this.#state === "closed") return;
    this.#pump();
    if (this.#paused === 0) this.#socket.resume();
  }

  /** `await using conn = await connect(...)` closes it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.closed;
  }
}
