/**
 * {@linkcode lengthPrefixed}: frames that start with a header holding their length.
 * @module
 */

import type { Decoder, EofPolicy, Framer, TooLongPolicy } from "./framer.ts";
import { FrameTooLongError } from "../errors.ts";
import { checkEof, checkInteger, checkOneOf, checkOptions, checkTooLong } from "./_common.ts";
import { type Span, WIRE, type WireFramer } from "./_wire.ts";
import type { Keys } from "../_options.ts";
import { headerLength, headerMatches, varintLength, writeHeader } from "./_length_header.ts";
import { LengthDecoder, type LengthInit } from "./_length_decoder.ts";

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
 * Layouts, as in Netty's javadoc: the bytes on the wire before decoding (numbers in
 * hex, in wire order; a string stands for its ASCII bytes, `× 25` for 25 of them in a row)
 * and the frame the decoder returns. `encode()` of the frame gives back the bytes on the
 * wire, with zeros for offset bytes that the frame does not keep.
 * (`tests/framers_length_prefixed_test.ts` decodes each of these diagrams as written.)
 *
 * The default: a 4-byte big-endian length; the frame is the payload.
 * ```text
 * lengthPrefixed()
 *
 * BEFORE DECODE (16 bytes)               AFTER DECODE (12 bytes)
 * +-------------+----------------+       +----------------+
 * | Length      | Content        |  -->  | Content        |
 * | 00 00 00 0C | "HELLO, WORLD" |       | "HELLO, WORLD" |
 * +-------------+----------------+       +----------------+
 * ```
 *
 * A 2-byte length, header kept (`includeHeader`).
 * ```text
 * lengthPrefixed({ size: 2, includeHeader: true })
 *
 * BEFORE DECODE (14 bytes)          AFTER DECODE (14 bytes)
 * +--------+----------------+       +--------+----------------+
 * | Length | Content        |  -->  | Length | Content        |
 * | 00 0C  | "HELLO, WORLD" |       | 00 0C  | "HELLO, WORLD" |
 * +--------+----------------+       +--------+----------------+
 * ```
 *
 * A 2-byte length, header stripped (the default).
 * ```text
 * lengthPrefixed({ size: 2 })
 *
 * BEFORE DECODE (14 bytes)          AFTER DECODE (12 bytes)
 * +--------+----------------+       +----------------+
 * | Length | Content        |  -->  | Content        |
 * | 00 0C  | "HELLO, WORLD" |       | "HELLO, WORLD" |
 * +--------+----------------+       +----------------+
 * ```
 *
 * The length counts the header too: `adjustment: -2` (14 - 2 = 12 bytes of payload).
 * ```text
 * lengthPrefixed({ size: 2, adjustment: -2, includeHeader: true })
 *
 * BEFORE DECODE (14 bytes)          AFTER DECODE (14 bytes)
 * +--------+----------------+       +--------+----------------+
 * | Length | Content        |  -->  | Length | Content        |
 * | 00 0E  | "HELLO, WORLD" |       | 00 0E  | "HELLO, WORLD" |
 * +--------+----------------+       +--------+----------------+
 * ```
 *
 * Bytes before the length field: `offset: 2` (here kept; without `includeHeader` they go with the
 * length, and `encode()` writes them as zeros).
 * ```text
 * lengthPrefixed({ size: 3, offset: 2, includeHeader: true })
 *
 * BEFORE DECODE (17 bytes)                     AFTER DECODE (17 bytes)
 * +--------+----------+----------------+       +--------+----------+----------------+
 * | Header | Length   | Content        |  -->  | Header | Length   | Content        |
 * | CA FE  | 00 00 0C | "HELLO, WORLD" |       | CA FE  | 00 00 0C | "HELLO, WORLD" |
 * +--------+----------+----------------+       +--------+----------+----------------+
 * ```
 *
 * Bytes after the length field that it does not count: `adjustment: 2`. They are part of the
 * payload.
 * ```text
 * lengthPrefixed({ size: 3, adjustment: 2 })
 *
 * BEFORE DECODE (17 bytes)                     AFTER DECODE (14 bytes)
 * +----------+--------+----------------+       +--------+----------------+
 * | Length   | Header | Content        |  -->  | Header | Content        |
 * | 00 00 0C | CA FE  | "HELLO, WORLD" |       | CA FE  | "HELLO, WORLD" |
 * +----------+--------+----------------+       +--------+----------------+
 * ```
 *
 * A type byte, then a little-endian length that counts the whole header: `offset: 1`,
 * `adjustment: -3`.
 * ```text
 * lengthPrefixed({ size: 2, endian: "little", offset: 1, adjustment: -3 })
 *
 * BEFORE DECODE (15 bytes)                 AFTER DECODE (12 bytes)
 * +------+--------+----------------+       +----------------+
 * | Type | Length | Content        |  -->  | Content        |
 * | 07   | 0F 00  | "HELLO, WORLD" |       | "HELLO, WORLD" |
 * +------+--------+----------------+       +----------------+
 * ```
 *
 * An unsigned LEB128 varint length: 300 is `AC 02`.
 * ```text
 * lengthPrefixed({ size: "varint" })
 *
 * BEFORE DECODE (302 bytes)              AFTER DECODE (300 bytes)
 * +--------+---------------------+       +---------------------+
 * | Length | Content             |  -->  | Content             |
 * | AC 02  | "HELLO, WORLD" × 25 |       | "HELLO, WORLD" × 25 |
 * +--------+---------------------+       +---------------------+
 * ```
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
    framer[WIRE] = (
      msg: Uint8Array,
      chunk: Uint8Array,
      base: number,
      _trusted: boolean,
      out: Span,
    ): boolean => {
      const n = msg.length;
      const value = n - adjustment;
      if (n > maxLength || value < 0) return false;
      const at = msg.byteOffset;
      const start = at - headerLength(init, value);
      return start >= base && headerMatches(init, chunk, start - base, value) &&
        setSpan(out, start, n + at);
    };
  }
  return framer;
}

function setSpan(out: Span, start: number, end: number): true {
  out.start = start;
  out.end = end;
  return true;
}
