/**
 * The sending half of a `BunRawSocket`: Bun's `write()` sends what the kernel takes now
 * and returns the count, so the rest is queued here and sent on Bun's `drain`; `cork()`
 * holds small writes until `uncork()` and sends them as one. A base class of the socket
 * rather than an object of its own, so that a socket stays one object (memory per
 * connection) and the write path stays one call. Internal.
 *
 * @module
 */

import type { BunSocket } from "./_types.ts";
import { BunSocketState } from "./_state.ts";
import { takeBatch } from "../_util.ts";

/** While corked, held bytes go out once they reach this (the size `takeBatch` sends alone). */
const CORK_LIMIT = 16 * 1024;

/** The queue of a socket that has none: shared, never written to. */
export const NONE: Uint8Array[] = [];

/** A Bun socket's write queue and cork. `D` is the type of the Bun socket's `data`. */
export abstract class BunWriteQueue<D> extends BunSocketState {
  /** Bun's socket. */
  protected readonly s: BunSocket<D>;
  /** The write high-water mark. */
  protected readonly hwm: number;
  /** Unsent bytes, in order: `#one` (only while corked) then `#queue`. */
  #queue: Uint8Array[] = NONE; // an array of its own once used: most sockets never queue
  /** The write held since cork() while it is the only one (most batches): no array. */
  #one: Uint8Array | undefined = undefined;
  #queued = 0;

  /**
   * @param s Bun's socket.
   * @param hwm The write high-water mark.
   */
  constructor(s: BunSocket<D>, hwm: number) {
    super();
    this.s = s;
    this.hwm = hwm;
  }

  /** The handler's `drain`: what was written went out after a `write()` returned false. */
  protected abstract drained(): void;
  /** The queue is empty after a `drain`: a waiting `end()` or `close()` goes on. */
  protected abstract flushed(): void;

  get bufferedAmount(): number {
    return this.#queued;
  }

  /** Nothing waits in the queue (a write held by cork() aside). */
  protected get queueEmpty(): boolean {
    return this.#queue.length === 0;
  }

  /** Forgets every unsent byte (on close and abort). */
  protected dropQueue(): void {
    this.#queue = NONE;
    this.#one = undefined;
    this.#queued = 0;
  }

  #ownQueue(): Uint8Array[] {
    return this.#queue === NONE ? (this.#queue = []) : this.#queue;
  }

  write(chunk: Uint8Array): boolean {
    if (!this.outputOpen) return false;
    if (chunk.length > 0) {
      if (this.#queue.length === 0 && this.#one === undefined) {
        if (!this.corked || chunk.length >= CORK_LIMIT) this.#writeNow(chunk);
        else {
          this.#one = chunk;
          this.#queued += chunk.length;
        }
      } else {
        const q = this.#ownQueue();
        if (this.#one !== undefined) {
          q.push(this.#one);
          this.#one = undefined;
        }
        q.push(chunk);
        this.#queued += chunk.length;
        if (this.corked && this.#queued >= CORK_LIMIT) this.#sendHeld();
      }
    }
    const ok = this.#queued < this.hwm;
    if (!ok) this.needDrain = true;
    return ok;
  }

  cork(): void {
    this.corked = true;
  }

  uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    const one = this.#one;
    if (one !== undefined) {
      this.#one = undefined;
      if (this.closed) return;
      this.#queued -= one.length;
      this.#writeNow(one);
      // What the kernel did not take is queued for Bun's drain event; all of it went:
      // a drain that was waited for fires.
      if (this.#queue.length === 0) this.#sendHeld();
    } else if (this.#queue.length > 0 && !this.closed) this.#sendHeld();
  }

  /** Bun's `drain` event: the kernel takes bytes again. */
  onDrain(): void {
    if (this.closed || !this.#sendQueue()) return;
    if (this.needDrain) {
      this.needDrain = false;
      this.drained();
    }
    if (this.#queue.length === 0) this.flushed();
  }

  /** Writes with nothing queued before it; what the kernel does not take is queued. */
  #writeNow(chunk: Uint8Array): void {
    const n = Math.max(0, this.s.write(chunk));
    if (n < chunk.length) {
      this.#ownQueue().push(n === 0 ? chunk : chunk.subarray(n));
      this.#queued += chunk.length - n;
    }
  }

  /** Hands the queue to the kernel; true when all of it went. */
  #sendQueue(): boolean {
    const s = this.s;
    while (this.#queue.length > 0) {
      const batch = takeBatch(this.#queue);
      const n = Math.max(0, s.write(batch));
      this.#queued -= n;
      if (n < batch.length) {
        this.#queue.unshift(n === 0 ? batch : batch.subarray(n));
        return false;
      }
    }
    this.#queue = NONE; // an idle socket keeps no array
    return true;
  }

  /**
   * Sends what cork() held. When it all goes, a waiting `drain` fires from a microtask,
   * as it would have from Bun's event (never inside the `write()` or `uncork()` call).
   */
  #sendHeld(): void {
    if (!this.#sendQueue() || !this.needDrain) return;
    queueMicrotask(() => {
      if (this.closed || this.#queue.length > 0 || !this.needDrain) return;
      this.needDrain = false;
      this.drained();
    });
  }
}
