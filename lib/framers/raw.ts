/**
 * {@linkcode raw}: bytes as they arrive, no framing.
 * @module
 */

import type { Decoder, Framer } from "./framer.ts";
import { ByteQueue } from "./_byte_queue.ts";
import { OWN, ownQueue } from "./_own.ts";
import { FRAME_WIRE, type Span } from "./_wire.ts";
import { checkInteger, checkOptions } from "./_common.ts";
import type { Keys } from "../_options.ts";

/** Options of {@linkcode raw}. */
export interface RawOptions {
  /**
   * The largest frame yielded, in bytes: a longer chunk is yielded in views of this
   * size (no copy). Default 64 KiB, about the size of one read.
   */
  maxLength?: number;
}

const KEYS = { maxLength: true } as const satisfies Keys<RawOptions>;

/**
 * No framing: every chunk read is a frame, as it arrived.
 *
 * ```
 * | chunk | chunk | chunk | ...    (whatever the transport read)
 * ```
 *
 * Decoding yields the chunks pushed, in order, without copying; a chunk longer than
 * `maxLength` (default 64 KiB) is yielded as several views of at most `maxLength`
 * bytes. Runs of tiny chunks that pile up before `next()` is called may come out
 * merged. There is never a partial frame, so end of input needs no policy.
 *
 * Encoding sends a `Uint8Array` as it is.
 *
 * @param options The largest frame.
 * @returns A framer of byte chunks.
 *
 * @example Chunks pass through as they came
 * ```ts
 * import { raw } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const decoder = raw({ maxLength: 2 }).decoder();
 * decoder.push(Uint8Array.of(1, 2, 3));
 * assert.deepEqual(decoder.next(), Uint8Array.of(1, 2)); // at most maxLength bytes a frame
 * assert.deepEqual(decoder.next(), Uint8Array.of(3));
 * assert.equal(decoder.next(), undefined);
 * ```
 */
export function raw(options?: RawOptions): Framer<Uint8Array> {
  const o = checkOptions("raw()", options, KEYS);
  const maxLength = checkInteger("raw()", "maxLength", o.maxLength ?? 64 * 1024, 1);
  return {
    name: "raw",
    maxLength,
    decoder: (): Decoder<Uint8Array> => new RawDecoder(maxLength),
    encode(msg: Uint8Array): Uint8Array {
      if (!(msg instanceof Uint8Array)) throw new TypeError("raw(): can only encode a Uint8Array");
      return msg;
    },
  };
}

class RawDecoder implements Decoder<Uint8Array> {
  #q = new ByteQueue();
  #max: number;
  constructor(max: number) {
    this.#max = max;
  }
  get buffered(): number {
    return this.#q.length;
  }
  push(chunk: Uint8Array): void {
    this.#q.push(chunk);
  }
  /** @internal See `OWN` (_own.ts). */
  [OWN](lent: ArrayBufferLike): void {
    ownQueue(this.#q, lent);
  }
  /** @internal See `FRAME_WIRE` (_wire.ts): only forgets (raw frames have no framing). */
  [FRAME_WIRE](out: Span | null): undefined {
    if (out === null) this.#q.lastCut(null, 0);
  }
  next(): Uint8Array | undefined {
    return this.#q.takeChunk(this.#max);
  }
  finish(): Uint8Array | undefined {
    return this.#q.takeChunk(this.#max);
  }
  takeRemaining(): Uint8Array[] {
    return this.#q.takeRemaining();
  }
}
