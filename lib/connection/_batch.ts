/**
 * Batch delivery: the `messages` hook gets every whole frame of one read in one call, as
 * offsets into the read's bytes ({@linkcode MessageBatch}), and `sendBatch()` sends them
 * back as those bytes. A frame costs no object unless the handler asks for one (`at()`),
 * and an echo of a whole read is one view written. The link in the connection's chain
 * between `_lifecycle.ts` and `Connection`; it declares no field, so a connection's size
 * does not change. Internal, except the {@linkcode MessageBatch} type.
 *
 * @module
 */

import { ConnectionLifecycle } from "./_lifecycle.ts";
import { PAUSE_FAIRNESS, Rare, rejected, RESOLVED } from "./_core.ts";
import { ConnectionClosedError } from "../errors.ts";
import { BATCH, BATCH_MAX, type BatchDecoder, batchOfOne, BatchSlots } from "../framers/_batch.ts";
import { EMPTY } from "../framers/_byte_queue.ts";
import { utf8Decoder, utf8Encoder } from "../framers/_common.ts";

/**
 * Several messages of one connection, handed to the `messages` hook at once: the whole
 * frames of one read, at most the `messageBudget` left in this turn of the event loop.
 *
 * A batch is lent for the hook's call: it is valid until the hook returns (an async
 * hook: until its first `await`), then every member throws `TypeError` (the memory
 * behind it serves the next batch). The messages `at()` returns live as `message()`'s
 * do: views into the bytes read, kept for good (with `lentMessages`, only during the call).
 *
 * `bytes`, `start()` and `end()` give the frames' bytes without making an object per
 * frame: message `i` is `bytes[start(i)]` up to `bytes[end(i) - 1]`, payload only (no
 * delimiter, no length header). For `lines()` text these are the line's UTF-8 bytes.
 * A message a custom framer decodes to something else than bytes has none: `bytes` is
 * empty and `start(i) === end(i) === 0`.
 *
 * @typeParam T The message type (the framer's frame type).
 *
 * @example Count the bytes of every line of a read, and echo them in one write
 * ```ts
 * import { connectionPair, lines } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * let bytes = 0;
 * await using pair = connectionPair(lines({ encoding: null }), {
 *   handler: {
 *     messages(conn, batch) {
 *       for (let i = 0; i < batch.count; i++) bytes += batch.end(i) - batch.start(i);
 *       conn.sendBatch(batch);
 *     },
 *   },
 * });
 * await pair.client.write(new TextEncoder().encode("ab\ncde\n"));
 * assert.deepEqual(await pair.client.next(), new TextEncoder().encode("ab"));
 * assert.deepEqual(await pair.client.next(), new TextEncoder().encode("cde"));
 * assert.equal(bytes, 5);
 * ```
 */
export interface MessageBatch<T> extends Iterable<T> {
  /** How many messages (at least 1). */
  readonly count: number;
  /** Message `i` (`0 <= i < count`), as the `message` hook would get it; made on each call. */
  at(i: number): T;
  /** The memory the messages' bytes lie in (a view of the chunk read, or a copy). */
  readonly bytes: Uint8Array;
  /** Where message `i`'s bytes start in `bytes`. */
  start(i: number): number;
  /** Where message `i`'s bytes end in `bytes` (exclusive). */
  end(i: number): number;
}

/** The hook as this layer calls it (`ConnectionHooks.messages` is the documented form). */
interface BatchHooks {
  messages?(conn: unknown, batch: MessageBatch<unknown>): void | Promise<void>;
}

/** The slots every batch uses while none is being handled (one hook runs at a time). */
let shared: BatchSlots | undefined;

/** @internal One batch: a small object per hook call over the reused slots. */
class Batch<T> implements MessageBatch<T> {
  readonly count: number;
  _owner: object;
  _slots: BatchSlots;
  _gen: number;
  _framer: unknown;
  /** The one message when it is not plain bytes (a string at end of input, an object). */
  _one: T | undefined;
  /** `_one` has no bytes (a custom decoder's object or string): it is sent as itself. */
  _opaque: boolean;

  constructor(owner: object, framer: unknown, slots: BatchSlots, count: number, one: One<T>) {
    this._owner = owner;
    this._framer = framer;
    this._slots = slots;
    this._gen = slots.gen;
    this.count = count;
    this._one = one === undefined ? undefined : one.msg;
    this._opaque = one !== undefined && one.opaque;
  }

  /** The slots, while the batch is valid. */
  _live(): BatchSlots {
    const s = this._slots;
    if (s.gen !== this._gen) {
      throw new TypeError("a MessageBatch is valid only during its messages() hook call");
    }
    return s;
  }

  #index(i: number): BatchSlots {
    const s = this._live();
    if (!(i >= 0 && i < this.count && i === Math.floor(i))) {
      throw new RangeError(`batch index ${i} outside 0..${this.count - 1}`);
    }
    return s;
  }

  get bytes(): Uint8Array {
    return this._live().bytes;
  }

  start(i: number): number {
    return this.#index(i).starts[i];
  }

  end(i: number): number {
    return this.#index(i).ends[i];
  }

  at(i: number): T {
    const s = this.#index(i);
    if (this._one !== undefined) return this._one;
    const b = s.bytes;
    const start = s.starts[i];
    const view = new Uint8Array(b.buffer, b.byteOffset + start, s.ends[i] - start);
    return (s.text ? utf8Decoder.decode(view) : view) as T;
  }

  /** The bytes of message `i` (a view; the message itself when it has none). */
  _payload(i: number): unknown {
    if (this._opaque) return this._one;
    const s = this._slots;
    return s.bytes.subarray(s.starts[i], s.ends[i]);
  }

  *[Symbol.iterator](): Iterator<T> {
    for (let i = 0; i < this.count; i++) yield this.at(i);
  }
}

/** @internal The `messages` hook and `sendBatch()`. */
export abstract class ConnectionBatches<In, Out, Data> extends ConnectionLifecycle<In, Out, Data> {
  protected override _decode(): void {
    const hook = (this._hooks as BatchHooks | undefined)?.messages;
    if (hook === undefined) return super._decode();
    let budget = this._limits.budget;
    // Nothing is delivered once the connection is closing or closed (netty#10417).
    while (this._paused === 0 && this._state !== "closed" && this._state !== "closing") {
      const slots = takeSlots();
      const decoder = this._decoder as BatchDecoder & typeof this._decoder;
      let n = 1;
      let one: One<In> = undefined;
      try {
        const max = budget < BATCH_MAX ? budget : BATCH_MAX;
        if (decoder[BATCH] !== undefined) n = decoder[BATCH](slots, max);
        else {
          const msg = decoder.next(); // a decoder of the user's own: one message at a time
          if (msg === undefined) n = 0;
          else one = oneOf(slots, msg, false);
        }
      } catch (e) {
        releaseSlots(slots);
        if (this._framingError(e)) continue;
        return;
      }
      if (n === 0) {
        releaseSlots(slots);
        if (this._eofPending) this._finishInput();
        return;
      }
      this._runBatch(slots, n, one);
      if ((budget -= n) === 0) {
        // Fairness: one read that holds thousands of messages must not starve the others.
        this._pause(PAUSE_FAIRNESS);
        const rare = this._rare ??= new Rare();
        rare.yieldTimer = setTimeout(() => {
          rare.yieldTimer = undefined;
          this._unpause(PAUSE_FAIRNESS);
        }, 0);
        return;
      }
    }
  }

  /** A message found at end of input: with a `messages` hook, a batch of one. */
  protected override _deliver(msg: In): void {
    if ((this._hooks as BatchHooks | undefined)?.messages === undefined) {
      return super._deliver(msg);
    }
    const slots = takeSlots();
    const builtIn = (this._decoder as BatchDecoder)[BATCH] !== undefined;
    this._runBatch(slots, 1, oneOf(slots, msg, builtIn));
  }

  /** Calls the `messages` hook with the batch in `slots`, then ends the batch's validity. */
  protected _runBatch(slots: BatchSlots, n: number, one: One<In>): void {
    this.messagesIn += n;
    const batch = new Batch<In>(this, this._framer, slots, n, one);
    let r: void | Promise<void>;
    try {
      r = (this._hooks as BatchHooks).messages!(this, batch);
    } catch (e) {
      releaseSlots(slots);
      this._hookFailed(e);
      return;
    }
    releaseSlots(slots);
    if (r && typeof r.then === "function") this._awaitHook(r);
  }

  /** `Connection.sendBatch()`. */
  protected _sendBatch(batch: MessageBatch<In>, from = 0, to = batch.count): Promise<void> {
    if (!(batch instanceof Batch) || batch._owner !== this) {
      throw new TypeError("sendBatch(): the batch was not delivered to this connection");
    }
    const s = batch._live();
    if (!(Number.isInteger(from) && Number.isInteger(to) && 0 <= from && from <= to)) {
      throw new RangeError(`sendBatch(): bad range ${from}..${to}`);
    }
    if (to > batch.count) throw new RangeError(`sendBatch(): ${to} is past the batch's end`);
    if (this._weEnded || this._state === "closing" || this._state === "closed") {
      return rejected(
        this._error ?? new ConnectionClosedError("sendBatch() after the connection was ended"),
      );
    }
    if (from === to) return RESOLVED;
    if (s.wireStart >= 0 && batch._framer === this._framer) {
      // The frames as they came are what encode() would write: one span of the chunk.
      const base = s.bytes.byteOffset;
      const start = base + (from === 0 ? s.wireStart : s.wireEnds[from - 1]);
      const end = base + s.wireEnds[to - 1];
      this.messagesOut += to - from;
      this.bytesOut += end - start;
      return this._sendRange(s.bytes.buffer, start, end);
    }
    let p: Promise<void> = RESOLVED;
    for (let i = from; i < to; i++) {
      p = this._send((batch as Batch<In>)._payload(i) as Out);
    }
    return p;
  }
}

/** The shared slots when free, else fresh ones (a hook delivering on another connection). */
function takeSlots(): BatchSlots {
  let s = shared;
  if (s === undefined || s.busy) {
    s = new BatchSlots();
    if (shared === undefined) shared = s;
  }
  s.busy = true;
  s.text = false;
  return s;
}

/** Ends the validity of the batch over `slots`, and frees them. */
function releaseSlots(s: BatchSlots): void {
  s.gen++;
  s.busy = false;
  s.bytes = EMPTY; // (a lent chunk must not be reachable once the call is over)
}

/** A batch's one message when it is not plain bytes, and whether it has bytes at all. */
type One<T> = { msg: T; opaque: boolean } | undefined;

/**
 * Makes `slots` a batch of the one message `msg`: its bytes when it is bytes, or text of
 * a built-in framer (a line at end of input, encoded again); else none (`opaque`).
 */
function oneOf<T>(slots: BatchSlots, msg: T, builtIn: boolean): One<T> {
  if (msg instanceof Uint8Array) {
    batchOfOne(slots, msg);
    return undefined;
  }
  const text = builtIn && typeof msg === "string";
  batchOfOne(slots, text ? utf8Encoder.encode(msg) : EMPTY);
  return { msg, opaque: !text };
}
