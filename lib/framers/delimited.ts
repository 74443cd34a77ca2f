/**
 * {@linkcode delimited}: frames ended by one or more arbitrary byte sequences.
 * @module
 */

import type { Decoder, EofPolicy, Framer, TooLongPolicy } from "./framer.ts";
import { FrameTooLongError } from "../errors.ts";
import { ByteQueue } from "./_byte_queue.ts";
import { checkEof, checkInteger, checkOptions, checkTooLong, utf8Encoder } from "./_common.ts";
import {
  ByteScanner,
  DelimiterDecoder,
  type DelimiterDecoderInit,
  type Scanner,
  scanResult,
  SequenceScanner,
} from "./_delimiter_decoder.ts";
import type { Keys } from "../_options.ts";

/** Options of {@linkcode delimited}. */
export interface DelimitedOptions {
  /**
   * The delimiter, or several. A string is taken as its UTF-8 bytes. Each delimiter
   * has at least one byte.
   */
  delimiter: Uint8Array | string | readonly (Uint8Array | string)[];
  /** The longest frame accepted, in bytes, not counting its delimiter. Default 64 KiB. */
  maxLength?: number;
  /** What to do with a frame over `maxLength`. Default `"close"`. */
  tooLong?: TooLongPolicy;
  /** What to do with an unterminated last frame at end of input. Default `"emit"`. */
  eof?: EofPolicy;
  /** Whether frames keep their delimiter at the end. Default `false`. */
  includeDelimiter?: boolean;
}

const KEYS = {
  delimiter: true,
  maxLength: true,
  tooLong: true,
  eof: true,
  includeDelimiter: true,
} as const satisfies Keys<DelimitedOptions>;

/**
 * Frames ended by a delimiter: any byte sequence, or several.
 *
 * ```
 * | frame: maxLength bytes at most | delimiter |
 * ```
 *
 * Decoding:
 * - A delimiter split over several chunks is found, and frames do not depend on how
 *   the input is split. Searching is linear (bytes already searched are not searched
 *   again), except that for a delimiter of `m` bytes each candidate position costs up
 *   to `m` comparisons.
 * - With several delimiters the one that starts first wins; when two start at the
 *   same byte, the one listed first wins (as in Netty's `DelimiterBasedFrameDecoder`).
 *   A match is taken only once no other delimiter could still win, so the decoder may
 *   wait for a few more bytes before yielding a frame.
 * - Frames are `Uint8Array`s without the delimiter (with it when `includeDelimiter`).
 *   They may be views into the chunks pushed, see {@linkcode Decoder}.
 * - `maxLength` (default 64 KiB) counts the frame's bytes without the delimiter, also
 *   with `includeDelimiter`. A frame is known to be too long once more than
 *   `maxLength` of its bytes are known not to start a delimiter, so a decoder holds at
 *   most `maxLength` bytes plus a delimiter's length plus one chunk.
 * - `tooLong`: `"close"` throws `FrameTooLongError`; `"skip"` throws one recoverable
 *   `FrameTooLongError`, drops the frame up to and including its delimiter and goes
 *   on; `"split"` yields the frame in pieces of `maxLength` bytes.
 * - `eof`: an unterminated last frame is yielded by `"emit"` (the default), dropped by
 *   `"discard"`, or raises `IncompleteFrameError` with `"error"`. Input that ends with a
 *   delimiter gives no extra empty frame.
 *
 * Encoding: the message (always without a delimiter) followed by the first delimiter,
 * as two chunks. A message that would not decode back to itself (it contains a
 * delimiter, or its end and the delimiter form an earlier match) raises `TypeError`;
 * one over `maxLength` raises `FrameTooLongError`.
 *
 * @param options The delimiter(s), limit and policies.
 * @returns A framer of byte frames.
 *
 * @example NUL-terminated frames
 * ```ts
 * import { delimited } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const framer = delimited({ delimiter: Uint8Array.of(0), maxLength: 4096 });
 * const decoder = framer.decoder();
 * decoder.push(Uint8Array.of(1, 2, 0, 3));
 * decoder.push(Uint8Array.of(4, 0));
 * assert.deepEqual(decoder.next(), Uint8Array.of(1, 2));
 * assert.deepEqual(decoder.next(), Uint8Array.of(3, 4));
 * ```
 *
 * @example Several delimiters, multi-byte
 * ```ts
 * import { delimited } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const framer = delimited({ delimiter: ["\r\n\r\n", "\n\n"] });
 * const decoder = framer.decoder();
 * decoder.push(new TextEncoder().encode("a: 1\r\n\r"));
 * decoder.push(new TextEncoder().encode("\nb: 2\n\n"));
 * assert.equal(new TextDecoder().decode(decoder.next()), "a: 1");
 * assert.equal(new TextDecoder().decode(decoder.next()), "b: 2");
 * ```
 */
export function delimited(options: DelimitedOptions): Framer<Uint8Array> {
  const o = checkOptions("delimited()", options, KEYS);
  const delimiters = toDelimiters(o.delimiter);
  const maxLength = checkInteger("delimited()", "maxLength", o.maxLength ?? 64 * 1024, 1);
  const tooLong = checkTooLong("delimited()", o.tooLong ?? "close");
  const eof = checkEof("delimited()", o.eof ?? "emit");
  const includeDelimiter = o.includeDelimiter ?? false;
  if (typeof includeDelimiter !== "boolean") {
    throw new TypeError("delimited(): includeDelimiter must be a boolean");
  }
  const scanner: Scanner = delimiters.length === 1 && delimiters[0].length === 1
    ? new ByteScanner(delimiters[0][0])
    : new SequenceScanner(delimiters);
  const first = delimiters[0];
  const init: DelimiterDecoderInit = {
    scanner,
    maxLength,
    tooLong,
    eof,
    includeDelimiter,
    utf8: false,
  };

  return {
    name: "delimited",
    maxLength,
    decoder(): Decoder<Uint8Array> {
      return new DelimiterDecoder(init);
    },
    encode(msg: Uint8Array): readonly Uint8Array[] {
      if (!(msg instanceof Uint8Array)) {
        throw new TypeError("delimited(): can only encode a Uint8Array");
      }
      if (msg.length > maxLength) throw new FrameTooLongError(msg.length, maxLength);
      // The decoder itself decides: msg + delimiter must frame as exactly msg.
      const q = new ByteQueue();
      q.push(msg);
      q.push(first);
      const found = scanResult();
      const at = scanner.find(q, 0, false, found);
      if (at !== msg.length || found.matchLength !== first.length) {
        throw new TypeError(
          "delimited(): cannot encode a message that contains a delimiter or runs into one",
        );
      }
      return [msg, first];
    },
  };
}

function toDelimiters(value: DelimitedOptions["delimiter"]): Uint8Array[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new TypeError("delimited(): delimiter must not be an empty list");
  return list.map((d: unknown) => {
    const bytes = typeof d === "string" ? utf8Encoder.encode(d) : d;
    if (!(bytes instanceof Uint8Array)) {
      throw new TypeError(
        "delimited(): delimiter must be a Uint8Array, a string or a list of them",
      );
    }
    if (bytes.length === 0) throw new RangeError("delimited(): a delimiter must not be empty");
    return bytes.slice();
  });
}
