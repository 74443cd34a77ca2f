/**
 * The decoder of `lengthPrefixed()`: it waits for the header, then for the whole frame,
 * and applies the length limit and the policies for frames too long and input that ends
 * inside a frame. Apart from the framer, which checks the options and encodes. Internal.
 *
 * @module
 */

import type { Decoder, EofPolicy, TooLongPolicy } from "./framer.ts";
import {
  CorruptFrameError,
  FrameTooLongError,
  type FramingError,
  IncompleteFrameError,
} from "../errors.ts";
import { ByteQueue } from "./_byte_queue.ts";
import { FRAME_WIRE, type Span } from "./_wire.ts";
import { OWN, ownQueue } from "./_own.ts";
import { BATCH, batchOfOne, type BatchSlots } from "./_batch.ts";
import { type HeaderLayout, headerLength } from "./_length_header.ts";

/** The checked options of a `lengthPrefixed()` framer. */
export interface LengthInit extends HeaderLayout {
  adjustment: number;
  includeHeader: boolean;
  maxLength: number;
  tooLong: TooLongPolicy;
  eof: EofPolicy;
}

/** The decoder: wait for the header, then for the whole frame. */
export class LengthDecoder implements Decoder<Uint8Array> {
  #q = new ByteQueue();
  #size: number;
  #little: boolean;
  #offset: number;
  #adjustment: number;
  #include: boolean;
  #max: number;
  #tooLong: TooLongPolicy;
  #eof: EofPolicy;
  #hlen = -1; // header length once the header is parsed, else -1
  #plen = 0; // payload length of the current frame
  #discard = 0; // bytes of a skipped frame still to drop
  #split = 0; // payload bytes of a split frame still to deliver
  #error: FramingError | null = null;
  #layout: HeaderLayout;

  constructor(init: LengthInit) {
    this.#size = init.size;
    this.#little = init.little;
    this.#offset = init.offset;
    this.#adjustment = init.adjustment;
    this.#include = init.includeHeader;
    this.#max = init.maxLength;
    this.#tooLong = init.tooLong;
    this.#eof = init.eof;
    this.#layout = init;
  }

  get buffered(): number {
    return this.#q.length;
  }

  /**
   * @internal See `FRAME_WIRE` (_wire.ts); `null` forgets the frame. A header read is the
   * one `encode()` writes (a varint is minimal) unless it has offset bytes; the pieces of
   * a frame split and a frame cut short at the end are forgotten as they are taken.
   */
  [FRAME_WIRE](out: Span | null, frame?: Uint8Array): Uint8Array | null | undefined {
    if (out === null || this.#include || this.#offset !== 0) {
      this.#q.lastCut(null, 0);
      return undefined;
    }
    const n = frame!.length;
    return this.#q.lastCut(out, headerLength(this.#layout, n - this.#adjustment)) ?? null;
  }

  push(chunk: Uint8Array): void {
    this.#q.push(chunk);
  }

  /** @internal See `OWN` (_own.ts). */
  [OWN](lent: ArrayBufferLike): void {
    ownQueue(this.#q, lent);
  }

  next(): Uint8Array | undefined {
    if (this.#error !== null || this.#discard !== 0 || this.#split !== 0) return this.#nextSlow();
    // The hot path, kept small so that engines inline what it calls.
    const q = this.#q;
    let hlen = this.#hlen;
    if (hlen < 0) {
      hlen = this.#header();
      if (hlen < 0) return this.#split !== 0 ? this.#nextSlow() : undefined;
    }
    const plen = this.#plen;
    if (q.length < hlen + plen) return undefined;
    this.#hlen = -1;
    if (this.#include) return q.take(hlen + plen);
    q.skip(hlen);
    return q.take(plen);
  }

  /**
   * @internal See `BATCH` (_batch.ts). The fast scan takes the frames that lie whole in
   * the front chunk, for a 1, 2 or 4-byte length field at offset 0.
   */
  [BATCH](slots: BatchSlots, max: number): number {
    const size = this.#size;
    const q = this.#q;
    const bytes = q.head(); // the chunk itself: offsets below are into it
    if (
      bytes === undefined || this.#offset !== 0 || (size !== 1 && size !== 2 && size !== 4) ||
      this.#hlen >= 0 || this.#error !== null || this.#discard !== 0 || this.#split !== 0
    ) return batchOfOne(slots, this.next());
    const { starts, ends, wireEnds } = slots;
    const little = this.#little;
    const adjustment = this.#adjustment;
    const include = this.#include;
    const limit = this.#max;
    const last = bytes.length - size; // the last offset a header fits at
    const first = q.headOffset;
    let at = first;
    let n = 0;
    for (; n < max && at <= last; n++) {
      const v = size === 4
        ? little
          ? (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0
          : ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0
        : size === 2
        ? little ? bytes[at] | (bytes[at + 1] << 8) : (bytes[at] << 8) | bytes[at + 1]
        : bytes[at];
      const plen = v + adjustment;
      const end = at + size + plen;
      if (plen < 0 || plen > limit || end > bytes.length) break; // next() decides
      starts[n] = include ? at : at + size;
      ends[n] = wireEnds[n] = end;
      at = end;
    }
    if (n === 0) return batchOfOne(slots, this.next());
    q.skip(at - first);
    slots.bytes = bytes;
    slots.single = false;
    slots.wireStart = include ? -1 : first;
    return n;
  }

  /** next() after an error, or while dropping or splitting a frame that is too long. */
  #nextSlow(): Uint8Array | undefined {
    if (this.#error !== null) throw this.#error;
    const q = this.#q;
    if (this.#discard !== 0) {
      const k = Math.min(this.#discard, q.length);
      q.skip(k);
      if ((this.#discard -= k) !== 0) return undefined;
    }
    if (this.#split !== 0) {
      const n = Math.min(this.#split, this.#max);
      if (q.length < n) return undefined;
      this.#split -= n;
      const piece = q.take(n);
      q.lastCut(null, 0); // no header right before it: no wire form (FRAME_WIRE)
      return piece;
    }
    return this.next();
  }

  /** Parses the header: its length, or -1 when more bytes are needed. May throw. */
  #header(): number {
    const q = this.#q;
    const at = this.#offset;
    const size = this.#size;
    let value: number;
    let hlen: number;
    if (size === 0) {
      value = 0;
      hlen = -1;
      for (let i = 0, mul = 1;; i++, mul *= 128) {
        const b = q.peekByte(at + i);
        if (b < 0) return -1;
        if (i === 7 && b > 0x0f) {
          throw this.#fatal(new CorruptFrameError("varint length over 2^53 - 1"));
        }
        value += (b & 0x7f) * mul;
        if (b < 0x80) {
          if (b === 0 && i > 0) {
            throw this.#fatal(new CorruptFrameError("non-minimal varint length"));
          }
          hlen = at + i + 1;
          break;
        }
      }
    } else {
      hlen = at + size;
      if (q.length < hlen) return -1;
      if (size === 8) {
        const hi = readUint(q, this.#little ? at + 4 : at, 4, this.#little);
        if (hi > 0x1fffff) throw this.#fatal(new CorruptFrameError("length over 2^53 - 1"));
        value = hi * 0x100000000 + readUint(q, this.#little ? at : at + 4, 4, this.#little);
      } else {
        value = readUint(q, at, size, this.#little);
      }
    }
    const plen = value + this.#adjustment;
    if (plen < 0) throw this.#fatal(new CorruptFrameError(`negative frame length ${plen}`, plen));
    if (plen > Number.MAX_SAFE_INTEGER) {
      throw this.#fatal(new CorruptFrameError("frame length over 2^53 - 1", plen));
    }
    if (plen > this.#max) return this.#overLimit(hlen, plen);
    this.#hlen = hlen;
    this.#plen = plen;
    return hlen;
  }

  #overLimit(hlen: number, plen: number): number {
    const max = this.#max;
    switch (this.#tooLong) {
      case "close":
        throw this.#fatal(new FrameTooLongError(plen, max));
      case "skip": {
        const q = this.#q;
        const total = hlen + plen;
        const k = Math.min(total, q.length);
        q.skip(k);
        this.#discard = total - k;
        throw new FrameTooLongError(plen, max, true);
      }
      case "split":
        this.#q.skip(hlen);
        this.#split = plen;
        return -1;
    }
  }

  #fatal(error: FramingError): FramingError {
    return (this.#error = error);
  }

  finish(): Uint8Array | undefined {
    if (this.#error !== null) throw this.#error;
    const frame = this.next();
    if (frame !== undefined) return frame;
    const q = this.#q;
    const n = q.length;
    const hlen = this.#hlen;
    const splitting = this.#split !== 0;
    const inFrame = n !== 0 || splitting;
    const discarding = this.#discard !== 0;
    this.#hlen = -1;
    this.#discard = 0;
    this.#split = 0;
    if (!inFrame || discarding) {
      q.skip(n);
      return undefined;
    }
    switch (this.#eof) {
      case "emit": {
        if (hlen >= 0 && !this.#include) q.skip(hlen);
        if (q.length === 0) return undefined;
        const rest = q.take(q.length);
        q.lastCut(null, 0); // cut short: no wire form (FRAME_WIRE)
        return rest;
      }
      case "discard":
        q.skip(n);
        return undefined;
      case "error":
        if (this.#size === 0 && hlen < 0 && !splitting && n > this.#offset) {
          throw this.#fatal(new CorruptFrameError("stream ended inside a varint length", n));
        }
        throw this.#fatal(new IncompleteFrameError(n));
    }
  }

  takeRemaining(): Uint8Array[] {
    this.#hlen = -1;
    this.#discard = 0;
    this.#split = 0;
    return this.#q.takeRemaining();
  }
}

/** The unsigned integer in the `n` bytes (1 to 4) at `at` of `q`, or -1 when not all held. */
function readUint(q: ByteQueue, at: number, n: number, little: boolean): number {
  const c = q.head();
  const j = q.headOffset + at;
  if (c !== undefined && j + n <= c.length) {
    if (n === 4) {
      return little
        ? (c[j] | (c[j + 1] << 8) | (c[j + 2] << 16) | (c[j + 3] << 24)) >>> 0
        : ((c[j] << 24) | (c[j + 1] << 16) | (c[j + 2] << 8) | c[j + 3]) >>> 0;
    }
    if (n === 2) return little ? c[j] | (c[j + 1] << 8) : (c[j] << 8) | c[j + 1];
    if (n === 1) return c[j];
  }
  if (at + n > q.length) return -1;
  let v = 0;
  for (let i = 0; i < n; i++) v = v * 256 + q.peekByte(at + (little ? n - 1 - i : i));
  return v;
}
