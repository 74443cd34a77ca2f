/**
 * {@linkcode MessageBatch}: the frames of one read as offsets into its bytes, the small
 * object handed to the `messages` hook and yielded by `batches()`; the reused slots under
 * it and their lease. Internal, except the type. The delivery is in `_batch.ts`.
 *
 * @module
 */

import { DONE } from "./_core.ts";
import { batchOfOne, BatchSlots } from "../framers/_batch.ts";
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
 * delimiter, no length header). For `lines()` text these are the line's bytes as
 * received, except a last line without its delimiter at end of input: the UTF-8 encoding
 * of its text (the same bytes unless they were not valid UTF-8). A message a custom
 * framer decodes to something else than bytes has none: `bytes` is empty and
 * `start(i) === end(i) === 0`.
 *
 * Which frames share a batch depends on how the bytes arrived, as with any split of a
 * stream: the frames that lie whole in one block the connection holds come together; a
 * frame split over reads comes alone or with the frames after it (small reads are packed
 * into one block). Frames only come whole, once, and in order.
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
  /**
   * The memory the messages' bytes lie in: the chunk read (with whatever it holds before
   * the first message and after the last), or a copy.
   */
  readonly bytes: Uint8Array;
  /** Where message `i`'s bytes start in `bytes`. */
  start(i: number): number;
  /** Where message `i`'s bytes end in `bytes` (exclusive). */
  end(i: number): number;
}

/** The slots every batch uses while none is being handled (one hook runs at a time). */
let shared: BatchSlots | undefined;

/** @internal One batch: a small object per hook call over the reused slots. */
export class Batch<T> implements MessageBatch<T> {
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
    const b = s.bytes;
    const start = s.starts[i];
    const end = s.ends[i];
    // A batch of one frame that next() cut or copied (raw(), a frame over two reads): itself.
    return start === 0 && end === b.length ? b : b.subarray(start, end);
  }

  *[Symbol.iterator](): Iterator<T> {
    for (let i = 0; i < this.count; i++) yield this.at(i);
  }
}

/** What a {@linkcode BatchIterator} iterates: the connection. */
export interface BatchSource<T> {
  _nextBatch(it: BatchIterator<T>): Promise<IteratorResult<MessageBatch<T>, undefined>>;
}

/** Frames one `batches()` iterator's batch holds at most: its slots cost 12 bytes each. */
const ITERATOR_BATCH = 256;
/** Slots of iterators that wait (bounded: more are left to the collector). */
const idle: BatchSlots[] = [];

/**
 * @internal The iterator of `batches()`. Its batch outlives the call that made it, so it
 * holds slots of its own, but only from a batch's making to the next `next()`: an
 * iterator that waits for bytes holds none (an idle connection costs no offsets).
 */
export class BatchIterator<T> implements AsyncIterableIterator<MessageBatch<T>> {
  slots: BatchSlots | undefined = undefined;
  c: BatchSource<T>;
  constructor(c: BatchSource<T>) {
    this.c = c;
  }
  /** Its slots, taken for a batch. */
  take(): BatchSlots {
    return this.slots ??= idle.pop() ?? new BatchSlots(ITERATOR_BATCH);
  }
  /** Ends its batch's validity and gives the slots back. */
  drop(): void {
    const s = this.slots;
    if (s === undefined) return;
    releaseSlots(s);
    this.slots = undefined;
    if (idle.length < 64) idle.push(s);
  }
  next(): Promise<IteratorResult<MessageBatch<T>, undefined>> {
    return this.c._nextBatch(this);
  }
  return(): Promise<IteratorResult<MessageBatch<T>, undefined>> {
    this.drop();
    return Promise.resolve(DONE);
  }
  [Symbol.asyncIterator](): AsyncIterableIterator<MessageBatch<T>> {
    return this;
  }
}

/** The shared slots when free, else fresh ones (a hook delivering on another connection). */
export function takeSlots(): BatchSlots {
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
export function releaseSlots(s: BatchSlots): void {
  s.gen++;
  s.busy = false;
  s.bytes = EMPTY; // (a lent chunk must not be reachable once the call is over)
}

/** A batch's one message when it is not plain bytes, and whether it has bytes at all. */
export type One<T> = { msg: T; opaque: boolean } | undefined;

/**
 * Makes `slots` a batch of the one message `msg`: its bytes when it is bytes, or text of
 * a built-in framer (a line at end of input, encoded again); else none (`opaque`).
 */
export function oneOf<T>(slots: BatchSlots, msg: T, builtIn: boolean): One<T> {
  if (msg instanceof Uint8Array) {
    batchOfOne(slots, msg);
    // A subclass (a decoder's own frame type) is handed over as it is.
    return Object.getPrototypeOf(msg) === Uint8Array.prototype ? undefined : { msg, opaque: false };
  }
  const text = builtIn && typeof msg === "string";
  batchOfOne(slots, text ? utf8Encoder.encode(msg) : EMPTY);
  return { msg, opaque: !text };
}
