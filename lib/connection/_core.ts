/**
 * The base of `Connection`: the state every part of a connection reads (socket, framer,
 * decoder, hooks, life stage, error), the packed yes-or-no bits and their named
 * accessors, and flow control (the pause reasons). Internal.
 *
 * A connection is one object of one class; the work is written in a chain of classes,
 * one file per concern, each extending the one below:
 *
 *   ConnectionCore (here) → ZeroCopyReplies (_zero_copy.ts) → ConnectionOutbound
 *   (_outbound.ts) → ConnectionInbound (_inbound.ts) → ConnectionLifecycle (_lifecycle.ts)
 *   → Connection (connection.ts, the public face)
 *
 * See connection.ts for why it is a chain and why the members are `protected`. The
 * fields are declared here, in one class, rather than in the file that uses each: a
 * class with fields runs its own initializer whenever a connection is made. Only the
 * zero-copy reply path keeps its eight in `_zero_copy.ts`, beside the rules that govern
 * them.
 *
 * @module
 */

import type { RawSocket, RawSocketHandler } from "../transport.ts";
import type { Decoder, Framer } from "../framers/framer.ts";

/** @internal `ConnectionLimits` with the defaults applied. */
export interface ResolvedLimits {
  readonly hwm: number;
  readonly maxOutbound: number;
  readonly budget: number;
  /** `lentMessages`: ask the socket to lend its chunks. */
  readonly lend: boolean;
}

/**
 * @internal What the core needs of `ConnectionInit` (connection.ts), which it cannot name:
 * the callbacks take the connection itself.
 */
export interface CoreInit<In, Out> {
  id: number;
  socket: RawSocket;
  framer: Framer<In, Out>;
  parentSignal?: AbortSignal;
  report?(error: unknown, conn: ConnectionCore<In, Out, unknown>): void;
  onClosed?(conn: ConnectionCore<In, Out, unknown>, error?: Error): void;
  /**
   * Where the socket's events go: an object of the caller's that routes them to the
   * connection once the connection sets `c` (see `ConnectionLifecycle.Events`). Else the
   * connection makes a small router of its own.
   */
  events?: RawSocketHandler & { c: unknown };
}

/** @internal The hooks as the layers under `Connection` call them (`ConnectionHooks` is the documented form). */
export interface CoreHooks<In, Out, Data> {
  message?(conn: ConnectionCore<In, Out, Data>, msg: In): void | Promise<void>;
  end?(conn: ConnectionCore<In, Out, Data>): void | Promise<void>;
  drain?(conn: ConnectionCore<In, Out, Data>): void;
  error?(conn: ConnectionCore<In, Out, Data>, error: Error): void;
  close?(conn: ConnectionCore<In, Out, Data>, error?: Error): void;
}

/** The life stages of a connection (`ConnectionState` in connection.ts). */
export type Stage = "open" | "half-closed-by-peer" | "half-closed-by-us" | "closing" | "closed";

// Why reading is paused: one bit per reason, reading resumes when none is left.
export const PAUSE_CONSUMER = 1;
export const PAUSE_OUTBOUND = 2;
export const PAUSE_FAIRNESS = 4;
export const PAUSE_HOOK = 8;
export const PAUSE_USER = 16;
export const PAUSE_TLS = 32;

// Bits of ConnectionCore._flags, read and written only through the accessors below.
const F_EOF = 1;
const F_PEER_ENDED = 2;
const F_DROP_INPUT = 4;
const F_WE_ENDED = 8;
const F_ERROR_DELIVERED = 16;
const F_CORKED = 32;
const F_END_OF_TASK = 64;
const F_LENT = 128;

/** Runs a callback once the current task and its microtasks are done. */
export const afterTask: (fn: () => void) => void = typeof setImmediate === "function"
  ? (fn) => void setImmediate(fn)
  : (fn) => void setTimeout(fn, 0);

/** The queue of a connection that has never queued a message (most): shared, never written. */
export const NO_QUEUE: unknown[] = Object.freeze([] as unknown[]) as unknown[];

export const RESOLVED: Promise<void> = Promise.resolve();
export const noop = (): void => {};
/** A rejected promise whose rejection is marked handled: fire-and-forget `send()` never crashes a process. */
export function rejected<T>(error: unknown): Promise<T> {
  const p = Promise.reject(error);
  p.catch(noop);
  return p;
}
export const DONE: IteratorResult<never, undefined> = { done: true, value: undefined };

/**
 * The parts of a connection that most connections never use, in an object of their own
 * made on first use: an idle connection costs less memory.
 */
export class Rare {
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

/** @internal The state shared by every part of a connection, its bits, and flow control. */
export abstract class ConnectionCore<In, Out, Data> {
  /** A number unique among this process's connections (documented on `Connection`). */
  readonly id: number;
  /** Per-connection user state (documented on `Connection`). */
  data: Data = undefined as Data;
  /** Bytes read from the socket (documented on `Connection`). */
  bytesIn = 0;
  /** Bytes handed to the socket (documented on `Connection`). */
  bytesOut = 0;
  /** Messages decoded (documented on `Connection`). */
  messagesIn = 0;
  /** Messages sent (documented on `Connection`). */
  messagesOut = 0;

  protected _socket: RawSocket;
  protected _framer: Framer<In, Out>;
  protected _decoder: Decoder<In>;
  protected _hooks: CoreHooks<In, Out, Data> | undefined = undefined;
  protected _init: CoreInit<In, Out>;
  /** What few connections use (`signal`, `closed`, peeking, a fairness pause): made on first use. */
  protected _rare: Rare | undefined = undefined;
  protected _state: Stage = "open";
  /** The PAUSE_ reasons in force; sockets start paused until `_start()`. */
  protected _paused: number = PAUSE_USER;
  /** The yes-or-no state, packed in one number rather than a field each: see the accessors. */
  protected _flags = 0;
  protected _error: Error | undefined = undefined;
  protected _limits: ResolvedLimits;

  // ------------------------------------------------------------- inbound (_inbound.ts)

  /** Messages decoded and not yet taken (an array of its own once something is queued). */
  protected _queue: In[] = NO_QUEUE as In[];
  protected _qHead = 0;
  /** A `next()` waiting for a message. */
  protected _waiter:
    | { resolve(v: IteratorResult<In, undefined>): void; reject(e: unknown): void }
    | undefined = undefined;
  /** Messages `next()` returned without waiting, for fairness. */
  protected _burst = 0;

  // ------------------------------------------------------------- outbound (_outbound.ts)

  /** The promise `send()` returns while the queue is past the high-water mark. */
  protected _drain:
    | { promise: Promise<void>; resolve(): void; reject(e: unknown): void }
    | undefined = undefined;

  constructor(init: CoreInit<In, Out>, limits: ResolvedLimits) {
    this.id = init.id;
    this._init = init;
    this._socket = init.socket;
    this._framer = init.framer;
    this._decoder = init.framer.decoder();
    this._limits = limits;
  }

  // ------------------------------------------------------------- the bits of _flags

  /** FIN seen. */
  protected get _eof(): boolean {
    return (this._flags & F_EOF) !== 0;
  }
  protected set _eof(on: boolean) {
    this._flags = on ? this._flags | F_EOF : this._flags & ~F_EOF;
  }
  /** FIN seen and the decoder finished: end of stream. */
  protected get _peerEnded(): boolean {
    return (this._flags & F_PEER_ENDED) !== 0;
  }
  protected set _peerEnded(on: boolean) {
    this._flags = on ? this._flags | F_PEER_ENDED : this._flags & ~F_PEER_ENDED;
  }
  /** FIN seen, and the decoder not yet finished (its EOF policy still to apply). */
  protected get _eofPending(): boolean {
    return (this._flags & (F_EOF | F_PEER_ENDED)) === F_EOF;
  }
  /** We closed or aborted: nothing more is delivered. */
  protected get _dropInput(): boolean {
    return (this._flags & F_DROP_INPUT) !== 0;
  }
  protected set _dropInput(on: boolean) {
    this._flags = on ? this._flags | F_DROP_INPUT : this._flags & ~F_DROP_INPUT;
  }
  /** We ended (or closed, or aborted): no more sending. */
  protected get _weEnded(): boolean {
    return (this._flags & F_WE_ENDED) !== 0;
  }
  protected set _weEnded(on: boolean) {
    this._flags = on ? this._flags | F_WE_ENDED : this._flags & ~F_WE_ENDED;
  }
  /** Both sides ended: closing is all that is left. */
  protected get _bothEnded(): boolean {
    return (this._flags & (F_PEER_ENDED | F_WE_ENDED)) === (F_PEER_ENDED | F_WE_ENDED);
  }
  /** The error was handed to `next()` (once), or need not be (end of stream came first). */
  protected get _errorDelivered(): boolean {
    return (this._flags & F_ERROR_DELIVERED) !== 0;
  }
  protected set _errorDelivered(on: boolean) {
    this._flags = on ? this._flags | F_ERROR_DELIVERED : this._flags & ~F_ERROR_DELIVERED;
  }
  /** The socket is corked: replies are held so that a batch leaves in one write. */
  protected get _corked(): boolean {
    return (this._flags & F_CORKED) !== 0;
  }
  protected set _corked(on: boolean) {
    this._flags = on ? this._flags | F_CORKED : this._flags & ~F_CORKED;
  }
  /** Listed to have held replies sent at the end of the task (see `_corkForIterator`). */
  protected get _endOfTask(): boolean {
    return (this._flags & F_END_OF_TASK) !== 0;
  }
  protected set _endOfTask(on: boolean) {
    this._flags = on ? this._flags | F_END_OF_TASK : this._flags & ~F_END_OF_TASK;
  }

  /** The socket lends its chunks (`lentMessages`): each is valid only during `data()`. */
  protected get _lent(): boolean {
    return (this._flags & F_LENT) !== 0;
  }
  protected set _lent(on: boolean) {
    this._flags = on ? this._flags | F_LENT : this._flags & ~F_LENT;
  }

  // ------------------------------------------------------------- flow control

  protected _pause(reason: number): void {
    const was = this._paused;
    this._paused = was | reason;
    if (was === 0) this._socket.pause();
  }

  protected _unpause(reason: number): void {
    if (!(this._paused & reason)) return;
    this._paused &= ~reason;
    if (this._paused !== 0 || this._state === "closed") return;
    // A connection that has read nothing yet (at `_start()`, most of them) has nothing to
    // decode: it just reads. Keeps the decoding path out of the start of every connection.
    if (this.bytesIn !== 0 || this._eof) {
      this._pump();
      if (this._paused !== 0) return;
    }
    this._socket.resume();
  }

  /** Decodes and delivers what flow control allows (_inbound.ts). */
  protected abstract _pump(): void;
  /** Closes at once, dropping anything queued (_lifecycle.ts). */
  protected abstract _abort(reason?: Error): void;
}
