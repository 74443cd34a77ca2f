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
 * This file is the public face: the types and every public member, documented. The
 * work is in a chain of classes, one file per concern, each extending the one below:
 * `_core.ts` (shared state, the packed flag bits and their accessors, flow control),
 * `_zero_copy.ts` (replies sent as the received bytes; corking), `_outbound.ts`
 * (writing, backpressure), `_inbound.ts` (delivery, peeking, end of input),
 * `_lifecycle.ts` (events in, end, close, abort, STARTTLS), `_batch.ts` (the `messages` hook).
 *
 * Why a chain: a connection stays one object of one class, with plain fields, as an
 * idle connection's memory is counted (bench/idle_memory.ts). State split into several
 * objects would cost memory on each; module functions over the object would need its
 * fields public. `#private` fields cannot be reached from another module, so the state
 * is `protected` (underscore names): the published types show it only on the internal
 * base classes, never on `Connection`. Every call site sees the one concrete class, so
 * it stays monomorphic. The fields are declared in `_core.ts` and `_zero_copy.ts` only
 * (the public ones are re-declared here, type only, for their documentation): each
 * class that declares fields runs an initializer of its own when a connection is made.
 *
 * @module
 */

import type { RawSocket } from "../transport.ts";
import type { Framer } from "../framers/framer.ts";
import type { Addr, TlsClientOptions, TlsInfo, TlsServerOptions } from "../types.ts";
import { PAUSE_USER, Rare, type ResolvedLimits } from "./_core.ts";
import { ConnectionBatches, type MessageBatch } from "./_batch.ts";

export type { ResolvedLimits } from "./_core.ts";
export type { MessageBatch } from "./_batch.ts";

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
   * Instead of `message` (then never called): the whole frames of one read at once, no
   * object made per frame. For hot paths; see {@linkcode MessageBatch} (and `setFramer()` there).
   */
  messages?(conn: Connection<In, Out, Data>, batch: MessageBatch<In>): void | Promise<void>;
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
  /**
   * Messages are lent, not given: a `Uint8Array` message (`raw()`, `delimited()`,
   * `fixed()`, `lengthPrefixed()`, `lines({ encoding: null })`) is valid only until the
   * `message` hook returns (an async hook may use it before its first `await`), or with
   * the iterator until the next `next()`. Then the socket reads into the same memory
   * again: no fresh buffer per read. Copy a message to keep it (`msg.slice()`); sending
   * it back with `conn.send()` or `conn.write()` during the hook is safe (the bytes are
   * kept until they are written), and so is sending it on another connection during the
   * hook (that socket copies it); after the hook returns it is not. One kept anyway is
   * detached first (`transfer()`): it reads as empty, `slice()` throws, never later bytes.
   * Strings and decoded objects are unaffected. Default false: messages are yours to keep.
   *
   * Adapters that cannot lend (Bun, Node, the memory pair) ignore it: there messages
   * stay valid for good. What the connection keeps past a read (a partial frame, messages
   * held while paused, peeked bytes) it copies; an iterating handler's input is kept past
   * each read, so it gains nothing: only hooks (`message`, `messages`) have the socket lend.
   *
   * @example An echo server whose hook copies only what it keeps
   * ```ts
   * import { connect, serve } from "@tcpkit/tcpkit";
   * import assert from "node:assert/strict";
   *
   * const kept: Uint8Array[] = [];
   * const message = (conn: { send(m: Uint8Array): unknown }, msg: Uint8Array) => {
   *   kept.push(msg.slice()); // a copy: msg itself is reused after this hook
   *   conn.send(msg); // sending it back at once is safe
   * };
   * await using server = serve({ hostname: "127.0.0.1", port: 0, lentMessages: true, handler: { message } });
   * await server.ready;
   * const port = server.addr.transport === "tcp" ? server.addr.port : 0;
   * await using conn = await connect({ hostname: "127.0.0.1", port });
   * await conn.send(Uint8Array.of(1, 2, 3));
   * assert.deepEqual(await conn.next(), Uint8Array.of(1, 2, 3));
   * assert.deepEqual(kept, [Uint8Array.of(1, 2, 3)]);
   * ```
   */
  lentMessages?: boolean;
}

/** @internal Applies the defaults: a server does it once for all its connections. */
export function resolveLimits(limits: ConnectionLimits): ResolvedLimits {
  return {
    hwm: limits.highWaterMark ?? 64 * 1024,
    maxOutbound: limits.maxOutbound ?? 1024 * 1024,
    budget: limits.messageBudget ?? 1024,
    lend: limits.lentMessages === true,
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
export class Connection<In = Uint8Array, Out = In, Data = unknown>
  extends ConnectionBatches<In, Out, Data> {
  /** A number unique among this process's connections. */
  declare readonly id: number;
  /** Per-connection user state. */
  declare data: Data;
  /** Bytes read from the socket. */
  declare bytesIn: number;
  /** Bytes handed to the socket. */
  declare bytesOut: number;
  /** Messages decoded. */
  declare messagesIn: number;
  /** Messages sent. */
  declare messagesOut: number;

  /** @internal Use `serve()` or `connect()`. */
  constructor(init: ConnectionInit<In, Out>) {
    super(init, init.limits ?? resolveLimits(init));
    this._socket.start(this._events());
  }

  /** Aborted when the connection goes away or the server shuts down. */
  get signal(): AbortSignal {
    const rare = this._rare ??= new Rare();
    return (rare.ac ??= this._controller()).signal;
  }
  /** Resolves once the socket is gone (never rejects). */
  get closed(): Promise<void> {
    return this._closedPromise();
  }
  /** The local address. */
  get localAddr(): Addr {
    return this._socket.localAddr;
  }
  /** The peer's address. */
  get remoteAddr(): Addr {
    return this._socket.remoteAddr;
  }
  /** TLS session facts, or `undefined` on a plain connection. */
  get tls(): TlsInfo | undefined {
    return this._socket.tls;
  }
  /**
   * The proxy's address when a PROXY protocol header named the real client (then
   * `remoteAddr` is the client and `localAddr` the address it connected to); else `undefined`.
   */
  get proxiedBy(): Addr | undefined {
    return this._socket.proxiedBy;
  }
  /** Where the connection is in its life. */
  get state(): ConnectionState {
    return this._state;
  }
  /** The framer in use. */
  get framer(): Framer<In, Out> {
    return this._framer;
  }
  /** Outbound bytes queued and not yet taken by the kernel. */
  get bufferedAmount(): number {
    return this._socket.bufferedAmount + this._runBytes;
  }
  /** The error the connection broke with, if it did. */
  get error(): Error | undefined {
    return this._error;
  }

  /** @internal Starts delivery: in hooks mode when `hooks` is given, else for iteration. */
  _start(hooks?: ConnectionHooks<In, Out, Data>): void {
    this._hooks = hooks;
    // (Only hooks gain from lent chunks: the iterator's input is kept past each read.)
    if (hooks && this._limits.lend) this._lent = this._socket.lend?.() === true;
    if (this._rare) this._rare.peek = undefined;
    this._unpause(PAUSE_USER);
  }

  /**
   * The next message, or `undefined` at end of stream. Rejects with the error the
   * connection broke with (a reset, a framing error), once; after that, `undefined`.
   */
  next(): Promise<In | undefined> {
    return this._nextResult().then((r) => r.value);
  }

  /** Async iteration over the messages. Breaking out of the loop does not close the connection. */
  [Symbol.asyncIterator](): AsyncIterator<In, undefined> {
    return this._iterator();
  }
  /** Async iteration over batches of messages, one per read; each valid until the next `next()`. */
  batches(): AsyncIterableIterator<MessageBatch<In>> {
    return this._batches();
  }

  /** Pauses reading until {@linkcode Connection.resume}. */
  pause(): void {
    this._pause(PAUSE_USER);
  }
  /** Resumes reading after {@linkcode Connection.pause}. */
  resume(): void {
    this._unpause(PAUSE_USER);
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
  startTls(options: StartTlsOptions): Promise<void> {
    return this._startTls(options);
  }

  /**
   * Swaps the framer. Bytes already read and not yet decoded are handed to the new
   * framer, so nothing is lost (protocol upgrades, PROXY headers, STARTTLS).
   * Messages already decoded and queued stay queued.
   */
  setFramer<In2, Out2>(framer: Framer<In2, Out2>): Connection<In2, Out2, Data> {
    const rest = this._decoder.takeRemaining();
    const next = framer.decoder();
    for (const chunk of rest) next.push(chunk);
    const self = this as unknown as Connection<In2, Out2, Data>;
    self._framer = framer;
    self._decoder = next;
    if (this._paused === 0) queueMicrotask(() => this._pump());
    return self;
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
    return this._send(msg);
  }

  /**
   * Sends messages `from` to `to - 1` (default: all) of the batch the `messages` hook is
   * handling, as `send()` of each one's bytes would: when the bytes received already are
   * that wire form, as one view of them (no copy, no encoding). See {@linkcode MessageBatch}.
   */
  sendBatch(batch: MessageBatch<In>, from?: number, to?: number): Promise<void> {
    return this._sendBatch(batch, from, to);
  }

  /** Writes bytes as they are, bypassing the framer. */
  write(bytes: Uint8Array): Promise<void> {
    return this._write(bytes);
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Half-closes: no more sending from us; the peer sees end of stream once everything
   * queued is sent. Reading goes on until the peer ends too.
   */
  end(): void {
    this._end();
  }

  /** Closes once everything queued is sent. */
  close(): void {
    this._close();
  }

  /** Closes at once, dropping anything queued. `reason` becomes the connection's error. */
  abort(reason?: Error): void {
    this._abort(reason);
  }

  /** `await using conn = await connect(...)` closes it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.closed;
  }
}
