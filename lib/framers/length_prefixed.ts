/**
 * {@linkcode lengthPrefixed}: frames that start with a header holding their length.
 * @module
 */

import type { Decoder, EofPolicy, Framer, TooLongPolicy } from "./framer.ts";
import {
  CorruptFrameError,
  FrameTooLongError,
  type FramingError,
  IncompleteFrameError,
} from "../errors.ts";
import { ByteQueue } from "./_byte_queue.ts";
import { checkEof, checkInteger, checkOneOf, checkOptions, checkTooLong } from "./_common.ts";
import { type Span, WIRE, type WireFramer } from "./_wire.ts";
import type { Keys } from "../_options.ts";
import { Slab } from "../_slab.ts";

/** The size of a length field: 1, 2, 3, 4 or 8 bytes, or an unsigned LEB128 varint. */
export type LengthFieldSize = 1 | 2 | 3 | 4 | 8 | "varint";

/** Options of {@linkcode lengthPrefixed}. */
export interface LengthPrefixedOptions {
  /** The length field: 1, 2, 3, 4 (the default) or 8 bytes, or `"varint"`. */
  size?: LengthFieldSize;
  /** Byte order of a fixed-size length field. Default `"big"`. */
  endian?: "big" | "little";
  /** Bytes of header before the length field. Default 0. */
  offset?: number;
  /**
   * Added to the length field's value to get the payload length, the number of bytes
   * after the length field. Default 0. Use `-size` when the field counts itself, or
   * `-(offset + size)` when it counts the whole header.
   */
  adjustment?: number;
  /** Whether frames keep their header (the offset bytes and the length field). Default `false`. */
  includeHeader?: boolean;
  /** The largest payload accepted, in bytes, after adjustment. Default 8 MiB. */
  maxLength?: number;
  /** What to do with a frame over `maxLength`. Default `"close"`. */
  tooLong?: TooLongPolicy;
  /** What to do with a partial frame at end of input. Default `"error"`. */
  eof?: EofPolicy;
}

const KEYS = {
  size: true,
  endian: true,
  offset: true,
  adjustment: true,
  includeHeader: true,
  maxLength: true,
  tooLong: true,
  eof: true,
} as const satisfies Keys<LengthPrefixedOptions>;

const FIELD_MAX = { 1: 0xff, 2: 0xffff, 3: 0xffffff, 4: 0xffffffff, 8: Number.MAX_SAFE_INTEGER };

/**
 * Frames that carry their length in a header, in the spirit of Netty's
 * `LengthFieldBasedFrameDecoder` and tokio's `LengthDelimitedCodec`.
 *
 * ```
 * | len: u32 BE | payload: len bytes |                          the default
 * | offset bytes | len: size bytes, BE or LE, or varint | payload: len + adjustment bytes |
 * ```
 *
 * Decoding:
 * - The payload length is the field's value plus `adjustment`. A negative result,
 *   a varint that is truncated (at end of input), non-minimal or longer than 8 bytes,
 *   and any length over `Number.MAX_SAFE_INTEGER` raise `CorruptFrameError`.
 * - `maxLength` (default 8 MiB) limits the payload after adjustment, never the header
 *   (unlike tokio#4815): with `size: 4, adjustment: -4` a field of `4 + 1000` is a
 *   1000-byte payload. The framer's `maxLength` property is the smaller of this and
 *   what the field can express.
 * - Frames are the payload, or header and payload with `includeHeader`. They may be
 *   views into the chunks pushed, see {@linkcode Decoder}. A frame is taken only once
 *   all its bytes have arrived: nothing is ever allocated from a declared length, and
 *   a decoder holds at most the header, `maxLength` payload bytes and one chunk.
 * - `tooLong` (checked as soon as the header arrives): `"close"` throws
 *   `FrameTooLongError`; `"skip"` throws one recoverable `FrameTooLongError`, then drops
 *   exactly the frame's bytes as they arrive and goes on; `"split"` yields the payload
 *   in pieces of `maxLength` bytes (not with `includeHeader`).
 * - `eof`, for a partial frame at end of input: `"error"` (the default) raises
 *   `IncompleteFrameError` (`CorruptFrameError` for a truncated varint); `"emit"`
 *   yields the bytes that arrived (the partial payload once the header is complete and
 *   `includeHeader` is off, else every byte held); `"discard"` drops them.
 *
 * Encoding: the payload (or, with `includeHeader`, a frame whose header is rewritten),
 * returned as `[header, payload]` without copying the payload. Bytes before the length
 * field are zeros unless `includeHeader` supplies them. A payload over `maxLength` or
 * too long for the field raises `FrameTooLongError`, one shorter than `adjustment`
 * raises `RangeError`: nothing is ever truncated (tokio#5080).
 *
 * @param options The header layout, limit and policies.
 * @returns A framer of byte frames.
 *
 * @example A 4-byte big-endian length, then the payload
 * ```ts
 * import { lengthPrefixed } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const framer = lengthPrefixed({ maxLength: 1 << 20 });
 * const [header, payload] = framer.encode(Uint8Array.of(1, 2, 3)) as Uint8Array[];
 * assert.deepEqual(header, Uint8Array.of(0, 0, 0, 3));
 * const decoder = framer.decoder();
 * decoder.push(header);
 * decoder.push(payload);
 * assert.deepEqual(decoder.next(), Uint8Array.of(1, 2, 3));
 * ```
 *
 * @example A type byte, then a 2-byte little-endian length that counts the whole header
 * ```ts
 * import { lengthPrefixed } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const framer = lengthPrefixed({
 *   size: 2,
 *   endian: "little",
 *   offset: 1,
 *   adjustment: -3,
 *   includeHeader: true,
 * });
 * const decoder = framer.decoder();
 * decoder.push(Uint8Array.of(0x07, 5, 0, 0xaa, 0xbb));
 * assert.deepEqual(decoder.next(), Uint8Array.of(0x07, 5, 0, 0xaa, 0xbb));
 * ```
 */
export function lengthPrefixed(options?: LengthPrefixedOptions): Framer<Uint8Array> {
  const name = "lengthPrefixed()";
  const o = checkOptions(name, options, KEYS);
  const size = checkOneOf(name, "size", o.size ?? 4, [1, 2, 3, 4, 8, "varint"] as const);
  const little = checkOneOf(name, "endian", o.endian ?? "big", ["big", "little"]) === "little";
  const offset = checkInteger(name, "offset", o.offset ?? 0, 0, 0xffff);
  const adjustment = checkInteger(name, "adjustment", o.adjustment ?? 0, -Number.MAX_SAFE_INTEGER);
  const includeHeader = o.includeHeader ?? false;
  if (typeof includeHeader !== "boolean") {
    throw new TypeError(`${name}: includeHeader must be a boolean`);
  }
  const tooLong = checkTooLong(name, o.tooLong ?? "close");
  const eof = checkEof(name, o.eof ?? "error");
  if (tooLong === "split" && includeHeader) {
    throw new TypeError(`${name}: tooLong "split" cannot be used with includeHeader`);
  }
  const fieldMax = FIELD_MAX[size === "varint" ? 8 : size];
  if (fieldMax + adjustment < 0) {
    throw new RangeError(`${name}: adjustment ${adjustment} leaves no valid length`);
  }
  const maxLength = Math.min(
    checkInteger(name, "maxLength", o.maxLength ?? 8 * 1024 * 1024, 1),
    fieldMax + adjustment,
  );
  const init: LengthInit = {
    size: size === "varint" ? 0 : size,
    little,
    offset,
    adjustment,
    includeHeader,
    maxLength,
    tooLong,
    eof,
  };
  const framer: Framer<Uint8Array> & WireFramer = {
    name: "length-prefixed",
    maxLength,
    decoder: (): Decoder<Uint8Array> => new LengthDecoder(init),
    encode(msg: Uint8Array): readonly Uint8Array[] {
      if (!(msg instanceof Uint8Array)) {
        throw new TypeError(`${name}: can only encode a Uint8Array`);
      }
      let payload = msg;
      let prefix: Uint8Array | undefined;
      if (offset !== 0 && includeHeader) prefix = msg.subarray(0, offset);
      if (includeHeader) {
        const n = size === "varint" ? varintLength(msg, offset) : size;
        if (n < 0 || msg.length < offset + n) {
          throw new RangeError(`${name}: the message does not start with a valid header`);
        }
        payload = msg.subarray(offset + n);
      }
      const n = payload.length;
      if (n > maxLength) throw new FrameTooLongError(n, maxLength);
      const value = n - adjustment;
      if (value < 0) {
        throw new RangeError(
          `${name}: a payload of ${n} bytes is too short for adjustment ${adjustment}`,
        );
      }
      const header = writeHeader(init, prefix, value);
      return [header, payload];
    },
  };
  // The header and the payload, where the header encode() writes precedes it in memory.
  if (!includeHeader) {
    framer[WIRE] = (msg: Uint8Array, whole: Uint8Array, _trusted: boolean, out: Span): boolean => {
      const n = msg.length;
      const value = n - adjustment;
      if (n > maxLength || value < 0) return false;
      const start = msg.byteOffset - headerLength(init, value);
      return start >= 0 && headerMatches(init, whole, start, value) &&
        setSpan(out, start, n + msg.byteOffset);
    };
  }
  return framer;
}

function setSpan(out: Span, start: number, end: number): true {
  out.start = start;
  out.end = end;
  return true;
}

/** The bytes of the header that carries `value`: the offset bytes and the length field. */
function headerLength(init: LengthInit, value: number): number {
  let n: number = init.size;
  if (n === 0) {
    n = 1;
    for (let v = value; v >= 128; v = Math.floor(v / 128)) n++;
  }
  return init.offset + n;
}

/** Whether `bytes` at `at` hold the header {@linkcode writeHeader} writes for `value`. */
function headerMatches(init: LengthInit, bytes: Uint8Array, at: number, value: number): boolean {
  const { size, little, offset } = init;
  for (let i = 0; i < offset; i++) if (bytes[at + i] !== 0) return false;
  at += offset;
  if (size === 0) {
    let v = value;
    for (; v >= 128; at++, v = Math.floor(v / 128)) {
      if (bytes[at] !== ((v % 128) | 0x80)) return false;
    }
    return bytes[at] === v;
  }
  if (size === 4 && !little) {
    return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>>
        0 ===
      value;
  }
  for (let i = 0, v = value; i < size; i++, v = Math.floor(v / 256)) {
    if (bytes[at + (little ? i : size - 1 - i)] !== v % 256) return false;
  }
  return true;
}

interface LengthInit {
  size: 0 | 1 | 2 | 3 | 4 | 8; // 0: varint
  little: boolean;
  offset: number;
  adjustment: number;
  includeHeader: boolean;
  maxLength: number;
  tooLong: TooLongPolicy;
  eof: EofPolicy;
}

/**
 * Headers are carved from shared slabs (see `_slab.ts`): a small typed array of its own
 * costs about 0.3 µs on Deno, a view of a slab a tenth of that. A header is written once
 * and never changed, so sharing is safe; it keeps its 8 KiB slab alive while it lives.
 */
const HEADERS = new Slab(8192);

function writeHeader(init: LengthInit, prefix: Uint8Array | undefined, value: number): Uint8Array {
  const { size, little, offset } = init;
  let n: number = size;
  if (size === 0) {
    n = 1;
    for (let v = value; v >= 128; v = Math.floor(v / 128)) n++;
  }
  const header = offset + n <= 64 ? HEADERS.take(offset + n) : new Uint8Array(offset + n);
  if (prefix) header.set(prefix);
  if (size === 0) {
    let v = value;
    for (let i = offset; v >= 128; i++, v = Math.floor(v / 128)) header[i] = (v % 128) | 0x80;
    header[header.length - 1] = v;
  } else {
    for (let i = 0, v = value; i < size; i++, v = Math.floor(v / 256)) {
      header[offset + (little ? i : size - 1 - i)] = v % 256;
    }
  }
  return header;
}

/** The length of the varint at `at` in `bytes`, or -1 when it is not a valid one. */
function varintLength(bytes: Uint8Array, at: number): number {
  for (let i = 0; i < 8 && at + i < bytes.length; i++) {
    const b = bytes[at + i];
    if (b < 0x80) return (b === 0 && i > 0) || (i === 7 && b > 0x0f) ? -1 : i + 1;
  }
  return -1;
}

/** The decoder: wait for the header, then for the whole frame. */
class LengthDecoder implements Decoder<Uint8Array> {
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

  constructor(init: LengthInit) {
    this.#size = init.size;
    this.#little = init.little;
    this.#offset = init.offset;
    this.#adjustment = init.adjustment;
    this.#include = init.includeHeader;
    this.#max = init.maxLength;
    this.#tooLong = init.tooLong;
    this.#eof = init.eof;
  }

  get buffered(): number {
    return this.#q.length;
  }

  push(chunk: Uint8Array): void {
    this.#q.push(chunk);
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
      return q.take(n);
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
        const hi = q.readUint(this.#little ? at + 4 : at, 4, this.#little);
        if (hi > 0x1fffff) throw this.#fatal(new CorruptFrameError("length over 2^53 - 1"));
        value = hi * 0x100000000 + q.readUint(this.#little ? at : at + 4, 4, this.#little);
      } else {
        value = q.readUint(at, size, this.#little);
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
      case "emit":
        if (hlen >= 0 && !this.#include) q.skip(hlen);
        return q.length === 0 ? undefined : q.take(q.length);
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
