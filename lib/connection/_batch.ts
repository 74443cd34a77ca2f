/**
 * Batch delivery: the `messages` hook gets every whole frame of one read in one call, as
 * offsets into the read's bytes ({@linkcode MessageBatch}, `_message_batch.ts`), and
 * `sendBatch()` sends them back as those bytes; `batches()` iterates over them. A frame
 * costs no object unless the handler asks for one (`at()`), and an echo of a whole read
 * is one view written. The link in the connection's chain between `_lifecycle.ts` and
 * `Connection`; it declares no field, so a connection's size does not change. Internal.
 *
 * @module
 */

import { ConnectionLifecycle } from "./_lifecycle.ts";
import { DONE, rejected, RESOLVED } from "./_core.ts";
import { ConnectionClosedError } from "../errors.ts";
import {
  BATCH,
  BATCH_MAX,
  type BatchDecoder,
  batchOfOne,
  type BatchSlots,
} from "../framers/_batch.ts";
import {
  Batch,
  BatchIterator,
  type MessageBatch,
  type One,
  oneOf,
  releaseSlots,
  takeSlots,
} from "./_message_batch.ts";

export type { MessageBatch } from "./_message_batch.ts";

/** The hook as this layer calls it (`ConnectionHooks.messages` is the documented form). */
interface BatchHooks {
  messages?(conn: unknown, batch: MessageBatch<unknown>): void | Promise<void>;
}

/** A `next()` of `batches()` waiting for bytes: `_feedIterator` hands it a batch. */
type BatchWaiter<T> = {
  /** From `_deliver` and `_finishInput`: a message (made a batch of one), or done. */
  resolve(v: IteratorResult<T, undefined>): void;
  reject(e: unknown): void;
  it: BatchIterator<T>;
  batch(b: MessageBatch<T>): void;
};

/** What `_fill` found: a custom decoder's message that is not plain bytes. */
let opaque: unknown = undefined;

/** @internal The `messages` hook, `sendBatch()` and `batches()`. */
export abstract class ConnectionBatches<In, Out, Data> extends ConnectionLifecycle<In, Out, Data> {
  /**
   * Decodes up to `max` whole frames into `slots`; 0 when none is whole, -1 for one
   * message of a decoder of the user's own that is not bytes (left in `opaque`). Throws
   * what the decoder throws.
   */
  protected _fill(slots: BatchSlots, max: number): number {
    slots.text = false;
    const decoder = this._decoder as BatchDecoder & typeof this._decoder;
    if (decoder[BATCH] !== undefined) return decoder[BATCH](slots, max);
    const msg = decoder.next(); // a decoder of the user's own: one message at a time
    if (msg === undefined) return 0;
    if (msg instanceof Uint8Array && Object.getPrototypeOf(msg) === Uint8Array.prototype) {
      return batchOfOne(slots, msg);
    }
    opaque = msg; // (a subclass of Uint8Array too: `at()` gives the decoder's own object)
    return -1;
  }

  /** A batch of what `_fill` returned `n` for, counted in `messagesIn`. */
  protected _batch(slots: BatchSlots, n: number): Batch<In> {
    let one: One<In> = undefined;
    if (n < 0) {
      one = oneOf(slots, opaque as In, false);
      opaque = undefined;
      n = 1;
    }
    this.messagesIn += n;
    // A frame next() just returned: sent back, its decoder tells whether it is a span.
    this._fresh = slots.single ? slots.bytes : undefined;
    return new Batch(this, this._framer, slots, n, one);
  }

  /** A batch of the one message `msg` (already counted) over `slots`. */
  protected _batchOfOne(slots: BatchSlots, msg: In): Batch<In> {
    slots.text = false;
    const builtIn = (this._decoder as BatchDecoder)[BATCH] !== undefined;
    return new Batch(this, this._framer, slots, 1, oneOf(slots, msg, builtIn));
  }

  protected override _decode(): void {
    const hook = (this._hooks as BatchHooks | undefined)?.messages;
    if (hook === undefined) return super._decode();
    let budget = this._limits.budget;
    // Nothing is delivered once the connection is closing or closed (netty#10417).
    while (this._paused === 0 && this._state !== "closed" && this._state !== "closing") {
      const slots = takeSlots();
      let n: number;
      try {
        n = this._fill(slots, budget < BATCH_MAX ? budget : BATCH_MAX);
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
      const batch = this._batch(slots, n);
      this._runBatch(slots, batch);
      if ((budget -= batch.count) === 0) return this._yieldTurn();
    }
  }

  /** A message found at end of input: with a `messages` hook, a batch of one. */
  protected override _deliver(msg: In): void {
    if ((this._hooks as BatchHooks | undefined)?.messages === undefined) {
      return super._deliver(msg);
    }
    this.messagesIn++;
    const slots = takeSlots();
    this._runBatch(slots, this._batchOfOne(slots, msg));
  }

  /** Calls the `messages` hook with `batch`, then ends its validity. */
  protected _runBatch(slots: BatchSlots, batch: Batch<In>): void {
    let r: void | Promise<void>;
    try {
      r = (this._hooks as BatchHooks).messages!(this, batch);
    } catch (e) {
      releaseSlots(slots);
      this._fresh = undefined;
      this._hookFailed(e);
      return;
    }
    releaseSlots(slots);
    this._fresh = undefined;
    if (r && typeof r.then === "function") this._awaitHook(r);
  }

  /** `Connection.batches()`. */
  protected _batches(): AsyncIterableIterator<MessageBatch<In>> {
    return new BatchIterator<In>(this);
  }

  /** @internal `next()` of `batches()`; the batch it returned before ends here. */
  _nextBatch(it: BatchIterator<In>): Promise<IteratorResult<MessageBatch<In>, undefined>> {
    if (this._waiter) {
      return rejected(new TypeError("next() called again before the last call settled"));
    }
    it.drop();
    if (this._hooks !== undefined) {
      return rejected(new TypeError("batches() needs a function handler: hooks take the messages"));
    }
    if (this._qHead < this._queue.length) return this._queued(it);
    if (this._rare?.peek === undefined && !this._dropInput) {
      const batch = this._takeBatch(it.take());
      if (batch !== undefined) return this._handOut<MessageBatch<In>>(batch, batch.count);
      if (this._eofPending && !this._error) {
        this._finishInput();
        if (this._qHead < this._queue.length) return this._queued(it);
      }
    }
    it.drop(); // (nothing to hold while it waits)
    return this._caughtUp<MessageBatch<In>>((resolve, reject): BatchWaiter<In> => ({
      // A message handed over by `_deliver` (end of input) becomes a batch of one.
      resolve: (r) =>
        resolve(r.done ? DONE : { done: false, value: this._batchOfOne(it.take(), r.value) }),
      reject,
      it,
      batch: (value) => resolve({ done: false, value }),
    }));
  }

  /** The next message queued at end of input, as a batch of one. */
  protected _queued(it: BatchIterator<In>): Promise<IteratorResult<MessageBatch<In>, undefined>> {
    return Promise.resolve({
      done: false,
      value: this._batchOfOne(it.take(), this._shiftQueued()),
    });
  }

  /** Decodes a batch, reporting skipped frames; `undefined` when none is whole (or on a fatal error). */
  protected _takeBatch(slots: BatchSlots): Batch<In> | undefined {
    const max = Math.min(slots.starts.length, this._limits.budget);
    for (;;) {
      let n: number;
      try {
        n = this._fill(slots, max);
      } catch (e) {
        if (this._framingError(e)) continue;
        return undefined;
      }
      return n === 0 ? undefined : this._batch(slots, n);
    }
  }

  /** Bytes read while `batches()` waits: a batch for it. */
  protected override _feedIterator(): void {
    const w = this._waiter as BatchWaiter<In> | undefined;
    if (w?.it === undefined) return super._feedIterator();
    if (this._dropInput) return;
    const batch = this._takeBatch(w.it.take());
    if (batch !== undefined) {
      this._waiter = undefined;
      if (!this._corked) this._corkForIterator();
      w.batch(batch);
      return;
    }
    w.it.drop();
    if (this._eofPending && !this._error) this._finishInput();
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
      const start = from === 0 ? s.wireStart : s.wireEnds[from - 1];
      const end = s.wireEnds[to - 1];
      this.messagesOut += to - from;
      this.bytesOut += end - start;
      return this._sendRange(s.bytes, start, end);
    }
    let p: Promise<void> = RESOLVED;
    for (let i = from; i < to; i++) {
      p = this._send((batch as Batch<In>)._payload(i) as Out);
    }
    return p;
  }
}
