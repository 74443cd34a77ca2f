/**
 * {@linkcode fixed}: frames of one fixed size.
 * @module
 */

import type { Decoder, EofPolicy, Framer } from "./framer.ts";
import { FrameTooLongError, type FramingError, IncompleteFrameError } from "../errors.ts";
import { ByteQueue } from "./_byte_queue.ts";
import { OWN, ownQueue } from "./_own.ts";
import { checkEof, checkInteger, checkOptions } from "./_common.ts";
import { FRAME_WIRE, type Span, WIRE, type WireFramer } from "./_wire.ts";
import type { Keys } from "../_options.ts";

/** Options of {@linkcode fixed}. */
export interface FixedOptions {
  /** What to do with a partial frame at end of input. Default `"error"`. */
  eof?: EofPolicy;
}

const KEYS = { eof: true } as const satisfies Keys<FixedOptions>;

/**
 * Frames of exactly `size` bytes each.
 *
 * ```
 * | frame: size bytes | frame: size bytes | ...
 * ```
 *
 * Decoding: every `size` bytes make a frame, whatever the chunks. Frames may be views
 * into the chunks pushed, see {@linkcode Decoder}. A decoder holds less than `size`
 * bytes plus one chunk. At end of input a partial frame raises `IncompleteFrameError`
 * (`eof: "error"`, the default), is yielded as it is (`"emit"`) or dropped
 * (`"discard"`).
 *
 * Encoding: a message of exactly `size` bytes is sent as it is; a longer one raises
 * `FrameTooLongError`, a shorter one `RangeError`.
 *
 * @param size The frame size in bytes, at least 1.
 * @param options The EOF policy.
 * @returns A framer of byte frames.
 *
 * @example 8-byte records
 * ```ts
 * import { fixed } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const decoder = fixed(8).decoder();
 * decoder.push(new Uint8Array(12));
 * decoder.push(new Uint8Array(4));
 * assert.equal(decoder.next()?.length, 8);
 * assert.equal(decoder.next()?.length, 8);
 * assert.equal(decoder.next(), undefined);
 * ```
 */
export function fixed(size: number, options?: FixedOptions): Framer<Uint8Array> {
  checkInteger("fixed()", "size", size, 1);
  const eof = checkEof("fixed()", checkOptions("fixed()", options, KEYS).eof ?? "error");
  const framer: Framer<Uint8Array> & WireFramer = {
    name: "fixed",
    maxLength: size,
    decoder: (): Decoder<Uint8Array> => new FixedDecoder(size, eof),
    encode(msg: Uint8Array): Uint8Array {
      if (!(msg instanceof Uint8Array)) {
        throw new TypeError("fixed(): can only encode a Uint8Array");
      }
      if (msg.length > size) throw new FrameTooLongError(msg.length, size);
      if (msg.length < size) {
        throw new RangeError(`fixed(): a message must be ${size} bytes, got ${msg.length}`);
      }
      return msg;
    },
    // A frame is its own wire form: adjacent frames of one read go out as one write.
    [WIRE](
      msg: Uint8Array,
      _chunk: Uint8Array,
      _base: number,
      _trusted: boolean,
      out: Span,
    ): boolean {
      if (msg.length !== size) return false;
      out.start = msg.byteOffset;
      out.end = msg.byteOffset + size;
      return true;
    },
  };
  return framer;
}

class FixedDecoder implements Decoder<Uint8Array> {
  #q = new ByteQueue();
  #size: number;
  #eof: EofPolicy;
  #error: FramingError | null = null;

  constructor(size: number, eof: EofPolicy) {
    this.#size = size;
    this.#eof = eof;
  }

  get buffered(): number {
    return this.#q.length;
  }

  /** @internal See `FRAME_WIRE` (_wire.ts): a whole frame is its own wire form. */
  [FRAME_WIRE](out: Span | null, frame?: Uint8Array): Uint8Array | null {
    const chunk = this.#q.lastCut(out, 0);
    return chunk !== undefined && frame!.length === this.#size ? chunk : null;
  }

  push(chunk: Uint8Array): void {
    this.#q.push(chunk);
  }
  /** @internal See `OWN` (_own.ts). */
  [OWN](lent: ArrayBufferLike): void {
    ownQueue(this.#q, lent);
  }

  next(): Uint8Array | undefined {
    if (this.#error !== null) throw this.#error;
    return this.#q.length >= this.#size ? this.#q.take(this.#size) : undefined;
  }

  finish(): Uint8Array | undefined {
    const frame = this.next();
    if (frame !== undefined) return frame;
    const q = this.#q;
    const n = q.length;
    if (n === 0) return undefined;
    switch (this.#eof) {
      case "emit":
        return q.take(n);
      case "discard":
        q.skip(n);
        return undefined;
      case "error":
        throw (this.#error = new IncompleteFrameError(n));
    }
  }

  takeRemaining(): Uint8Array[] {
    return this.#q.takeRemaining();
  }
}
