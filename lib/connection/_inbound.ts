/**
 * The inbound side of a connection: bytes read go through the decoder, and the frames
 * to the hooks or to the iterator (`next()`, `for await`); peeking for routing by
 * sniffing; the pauses that make TCP push back on the peer (a slow consumer, a hook's
 * promise, the fairness budget); the end of the input. Internal.
 *
 * @module
 */

import { FramingError, TcpkitError } from "../errors.ts";
import { concatBytes } from "../_bytes.ts";
import {
  DONE,
  NO_QUEUE,
  PAUSE_CONSUMER,
  PAUSE_FAIRNESS,
  PAUSE_HOOK,
  PAUSE_USER,
  Rare,
  rejected,
} from "./_core.ts";
import { ConnectionOutbound } from "./_outbound.ts";
import { OWN, type OwningDecoder } from "../framers/_own.ts";
import type { Decoder } from "../framers/framer.ts";

/** A waiting `next()` (`ConnectionCore._waiter`): what `_deliver` and the end hand it. */
type Waiter<In> = { resolve(r: IteratorResult<In, undefined>): void; reject(e: unknown): void };

/** The waiter of `next()`: its promise's own functions. */
const plainWaiter = <T>(
  resolve: (r: IteratorResult<T, undefined>) => void,
  reject: (e: unknown) => void,
) => ({ resolve, reject });

/** @internal Delivery of frames, flow control of reading, the end of the input. */
export abstract class ConnectionInbound<In, Out, Data> extends ConnectionOutbound<In, Out, Data> {
  /**
   * @internal Reads without delivering, to peek at the first bytes (routing by sniffing).
   * `onBytes(head, eof)` runs after each chunk; the bytes stay in the decoder for the
   * handler. Reading stops once `limit` bytes are held; `_start()` ends the peek.
   */
  _peek(limit: number, onBytes: (head: Uint8Array, eof: boolean) => void): void {
    const chunks: Uint8Array[] = [];
    let held = 0;
    (this._rare ??= new Rare()).peek = (chunk, eof) => {
      if (chunk.length) {
        chunks.push(chunk);
        held += chunk.length;
        if (held >= limit) this._socket.pause();
      }
      const head = chunks.length === 1 ? chunks[0] : concatBytes(chunks, held);
      onBytes(head.subarray(0, Math.min(limit, head.length)), eof || held >= limit);
    };
    this._unpause(PAUSE_USER);
    this._paused |= PAUSE_USER; // delivery stays off; the socket reads
  }

  /** The iterator of `for await`. */
  protected _iterator(): AsyncIterator<In, undefined> {
    return new ConnectionInbound.#Iterator(
      this as ConnectionInbound<unknown, unknown, unknown>,
    ) as AsyncIterator<In, undefined>;
  }

  /** The iterator of `for await`: one small object, its methods shared (no closure per loop). */
  static #Iterator = class implements AsyncIterator<unknown, undefined> {
    c: ConnectionInbound<unknown, unknown, unknown>;
    constructor(c: ConnectionInbound<unknown, unknown, unknown>) {
      this.c = c;
    }
    next(): Promise<IteratorResult<unknown, undefined>> {
      return this.c._nextResult();
    }
    return(): Promise<IteratorResult<unknown, undefined>> {
      return Promise.resolve(DONE);
    }
  };

  protected _nextResult(): Promise<IteratorResult<In, undefined>> {
    if (this._waiter) {
      return rejected(new TypeError("next() called again before the last call settled"));
    }
    if (this._qHead < this._queue.length) {
      const value = this._shiftQueued();
      if (this._paused & PAUSE_CONSUMER) this._unpause(PAUSE_CONSUMER);
      return Promise.resolve({ done: false, value });
    }
    // Iteration decodes on demand: nothing is decoded before the handler asks for it, so
    // a setFramer() between two next() calls sees every byte after the last message.
    if (this._hooks === undefined && this._rare?.peek === undefined && !this._dropInput) {
      const value = this._decodeOne();
      if (value !== undefined) return this._handOut(value, 1);
      if (this._eofPending && !this._error) {
        this._finishInput();
        if (this._qHead < this._queue.length) return this._nextResult();
      }
    }
    return this._caughtUp(plainWaiter);
  }

  /** Removes and returns the oldest message queued (there is one). */
  protected _shiftQueued(): In {
    const value = this._queue[this._qHead];
    this._queue[this._qHead++] = undefined as In;
    if (this._qHead === this._queue.length) {
      this._queue = NO_QUEUE as In[]; // (not emptied in place: it would keep its room)
      this._qHead = 0;
    }
    return value;
  }

  /** `next()` returns `value`, which holds `n` messages just decoded (fairness counts them). */
  protected _handOut<T>(value: T, n: number): Promise<IteratorResult<T, undefined>> {
    if (!this._corked) this._corkForIterator();
    if ((this._burst += n) >= this._limits.budget) {
      // Fairness: a long run of messages already read yields to other connections.
      this._burst = 0;
      return new Promise((r) => setTimeout(() => r({ done: false, value }), 0));
    }
    return Promise.resolve({ done: false, value });
  }

  /**
   * `next()` found nothing decoded: the replies held go out, then it gets the error (once),
   * the end, or waits for bytes with the waiter `wait` makes.
   */
  protected _caughtUp<T>(
    wait: (
      resolve: (r: IteratorResult<T, undefined>) => void,
      reject: (e: unknown) => void,
    ) => Waiter<In>,
  ): Promise<IteratorResult<T, undefined>> {
    if (this._corked) this._uncork();
    if (this._error && !this._errorDelivered) {
      this._errorDelivered = true;
      return Promise.reject(this._error);
    }
    if (this._peerEnded || this._state === "closed") return Promise.resolve(DONE);
    this._burst = 0;
    const p = new Promise<IteratorResult<T, undefined>>((resolve, reject) => {
      this._waiter = wait(resolve, reject);
    });
    if (this._paused & PAUSE_CONSUMER) this._unpause(PAUSE_CONSUMER);
    return p;
  }

  /** Decodes one message, reporting skipped frames; `undefined` when none is whole (or on a fatal error). */
  protected _decodeOne(): In | undefined {
    for (;;) {
      try {
        const m = this._decoder.next();
        if (m !== undefined) {
          this.messagesIn++;
          this._fresh = m;
        }
        return m;
      } catch (e) {
        if (!this._framingError(e)) return undefined;
      }
    }
  }

  /**
   * Iteration: hands one message to a waiting `next()`; with no one waiting, the bytes
   * stay in the decoder and reading pauses once they reach the high-water mark.
   */
  protected _feedIterator(): void {
    if (this._dropInput) return;
    const w = this._waiter;
    if (!w) {
      if (this._decoder.buffered >= this._limits.hwm) this._pause(PAUSE_CONSUMER);
      return;
    }
    const value = this._decodeOne();
    if (value !== undefined) {
      this._waiter = undefined;
      if (!this._corked) this._corkForIterator();
      w.resolve({ done: false, value });
      return;
    }
    if (this._eofPending && !this._error) this._finishInput();
  }

  /** A chunk read from the socket. */
  protected _onData(chunk: Uint8Array): void {
    if (this._state === "closed") return;
    this.bytesIn += chunk.length;
    if (this._lent) {
      // Hooks running now get views of the chunk; whatever is kept past this call is copied.
      if (
        this._hooks !== undefined && this._paused === 0 && (this._decoder as OwningDecoder)[OWN]
      ) {
        return this._onLentData(chunk);
      }
      // Iteration (messages used after this call), a pause, peeking, a decoder of the
      // user's own: the whole chunk is kept, so it is copied now.
      chunk = chunk.slice();
    }
    chunk = this._keepChunk(chunk);
    this._decoder.push(chunk);
    const peek = this._rare?.peek;
    if (peek) return peek(chunk, false);
    this._pump();
    // Uncorking forgets the chunk; a socket that cannot cork is never corked.
    if (this._socket.cork === undefined) this._forgetChunk();
  }

  /**
   * A lent chunk (valid only during this call) while hooks take the messages: they are
   * delivered as views of it; then what the decoder still holds of it is copied, and the
   * replies gathered from it have been handed to the socket (`_pump` uncorks).
   */
  protected _onLentData(chunk: Uint8Array): void {
    const lent = chunk.buffer;
    chunk = this._keepChunk(chunk);
    this._decoder.push(chunk);
    this._pump();
    // (`_pump` flushes the run; in case it was corked)
    if (this._run !== undefined && this._run.buffer === lent) this._flushRun();
    this._forgetChunk(); // (the decoder must not point into the lent chunk either)
    const decoder: Decoder<In> & OwningDecoder = this._decoder; // (a hook may swap it)
    if (decoder.buffered === 0) return;
    if (decoder[OWN]) return decoder[OWN](lent);
    // A decoder of the user's own, set by setFramer() in a hook: refilled with copies.
    for (const c of decoder.takeRemaining()) decoder.push(c.buffer === lent ? c.slice() : c);
  }

  /**
   * Decodes and delivers as many messages as flow control and the fairness budget allow.
   * With hooks, the socket is corked meanwhile: the replies to every message of one read
   * leave in one write.
   */
  protected override _pump(): void {
    if (this._hooks === undefined || this._corked || !this._socket.cork) {
      return this._decode();
    }
    this._cork();
    try {
      this._decode();
    } finally {
      this._uncork();
    }
  }

  protected _decode(): void {
    if (this._hooks === undefined) return this._feedIterator();
    let budget = this._limits.budget;
    // Nothing is delivered once the connection is closing or closed (netty#10417).
    while (this._paused === 0 && this._state !== "closed" && this._state !== "closing") {
      let msg: In | undefined;
      try {
        msg = this._decoder.next(); // re-read: a hook may have swapped the framer
      } catch (e) {
        if (this._framingError(e)) continue;
        return;
      }
      if (msg === undefined) {
        if (this._eofPending) this._finishInput();
        return;
      }
      this._deliver(msg);
      if (--budget === 0) return this._yieldTurn();
    }
  }

  /**
   * Fairness: one read that holds thousands of messages must not starve the others.
   * Delivery pauses until the next turn of the event loop.
   */
  protected _yieldTurn(): void {
    this._pause(PAUSE_FAIRNESS);
    const rare = this._rare ??= new Rare();
    rare.yieldTimer = setTimeout(() => {
      rare.yieldTimer = undefined;
      this._unpause(PAUSE_FAIRNESS);
    }, 0);
  }

  protected _deliver(msg: In): void {
    this.messagesIn++;
    const hooks = this._hooks;
    if (hooks) {
      if (!hooks.message) return;
      let r: void | Promise<void>;
      this._fresh = msg;
      try {
        r = hooks.message(this, msg);
      } catch (e) {
        this._fresh = undefined;
        this._hookFailed(e);
        return;
      }
      this._fresh = undefined;
      if (r && typeof r.then === "function") this._awaitHook(r);
      return;
    }
    if (!this._corked) this._corkForIterator();
    const w = this._waiter;
    if (w) {
      this._waiter = undefined;
      w.resolve({ done: false, value: msg });
      return;
    }
    if (this._queue as unknown[] === NO_QUEUE) this._queue = [];
    this._queue.push(msg); // only the last frames at end of stream, which the decoder bounds
  }

  protected _awaitHook(p: Promise<void>): void {
    this._pause(PAUSE_HOOK);
    p.then(
      () => this._unpause(PAUSE_HOOK),
      (e) => this._hookFailed(e),
    );
  }

  protected _hookFailed(e: unknown): void {
    this._init.report?.(e, this);
    this._abort(e instanceof Error ? e : new TcpkitError(String(e)));
  }

  /** Returns true when decoding can go on. */
  protected _framingError(e: unknown): boolean {
    if (e instanceof FramingError && e.recoverable) {
      const hook = this._hooks?.error;
      if (hook) hook(this, e);
      else this._init.report?.(e, this);
      return true;
    }
    this._abort(e instanceof Error ? e : new TcpkitError(String(e)));
    return false;
  }

  /** The peer's FIN. */
  protected _onEnd(): void {
    if (this._state === "closed") return;
    this._eof = true;
    const peek = this._rare?.peek;
    if (peek) return peek(new Uint8Array(0), true);
    // Frames still held (paused for flow control) go first; _pump finishes the input.
    if (this._paused === 0) this._pump();
  }

  /** End of input: flush the decoder by its EOF policy, then report end of stream. */
  protected _finishInput(): void {
    for (;;) {
      let msg: In | undefined;
      try {
        msg = this._decoder.finish();
      } catch (e) {
        if (this._framingError(e)) continue;
        return;
      }
      if (msg === undefined) break;
      this._deliver(msg);
      if (this._paused !== 0) return; // resumed by _unpause -> _pump -> here
    }
    this._peerEnded = true;
    if (this._state !== "closing" && this._state !== "closed") {
      this._state = this._weEnded ? "closing" : "half-closed-by-peer";
    }
    const w = this._waiter;
    if (w && this._qHead === this._queue.length) {
      this._waiter = undefined;
      w.resolve(DONE);
    }
    const hooks = this._hooks;
    if (hooks) {
      if (hooks.end) {
        let r: void | Promise<void>;
        try {
          r = hooks.end(this);
        } catch (e) {
          this._hookFailed(e);
          return;
        }
        if (r && typeof r.then === "function") this._awaitHook(r);
      } else this._end();
    }
    this._maybeFinish();
  }

  /** Half-closes (_lifecycle.ts). */
  protected abstract _end(): void;
  /** Both sides ended: releases the socket once our queued bytes are out (_lifecycle.ts). */
  protected abstract _maybeFinish(): void;
}
