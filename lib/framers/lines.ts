/**
 * {@linkcode lines}: text lines ended by `\n` (or strictly `\r\n`).
 * @module
 */

import type { Decoder, EofPolicy, Framer, TooLongPolicy } from "./framer.ts";
import { FrameTooLongError } from "../errors.ts";
import {
  checkEof,
  checkInteger,
  checkOneOf,
  checkOptions,
  checkTooLong,
  utf8Decoder,
  utf8Encoder,
} from "./_common.ts";
import {
  DelimiterDecoder,
  type DelimiterDecoderInit,
  LfScanner,
  SequenceScanner,
} from "./_delimiter_decoder.ts";
import { FRAME_WIRE, type FrameWireSource, type Span, WIRE, type WireFramer } from "./_wire.ts";
import { OWN, type OwningDecoder } from "./_own.ts";
import { BATCH, type BatchDecoder, type BatchSlots } from "./_batch.ts";
import type { Keys } from "../_options.ts";

/** Options of {@linkcode lines}. */
export interface LinesOptions {
  /**
   * The longest line accepted, in bytes, not counting its delimiter (`\n`, or the
   * `\r\n` pair). Default 64 KiB (65 536).
   */
  maxLength?: number;
  /**
   * `"\n"` (the default) ends a line at `\n` and drops one `\r` just before it, also
   * when the two arrive in different chunks. `"\r\n"` ends a line only at `\r\n`; a
   * lone `\n` or `\r` is part of the line.
   */
  delimiter?: "\n" | "\r\n";
  /** `"utf-8"` (the default) yields strings; `null` yields the raw bytes. */
  encoding?: "utf-8" | null;
  /** What to do with a line over `maxLength`. Default `"close"`. */
  tooLong?: TooLongPolicy;
  /** What to do with an unterminated last line at end of input. Default `"emit"`. */
  eof?: EofPolicy;
}

const KEYS = {
  maxLength: true,
  delimiter: true,
  encoding: true,
  tooLong: true,
  eof: true,
} as const satisfies Keys<LinesOptions>;

const LF_BYTES = Uint8Array.of(10);
const CRLF_BYTES = Uint8Array.of(13, 10);

/**
 * Lines of text: each frame is one line, without its line ending.
 *
 * ```
 * | line: maxLength bytes at most | \n |        delimiter "\n" (the default; a \r before \n is dropped)
 * | line: maxLength bytes at most | \r | \n |   delimiter "\r\n" (strict)
 * ```
 *
 * Decoding:
 * - Frames are strings (UTF-8, invalid bytes become U+FFFD, a byte order mark is
 *   kept) or, with `encoding: null`, `Uint8Array`s. Byte frames may be views into the
 *   chunks pushed, see {@linkcode Decoder}.
 * - `maxLength` (default 64 KiB) counts the bytes of the line without its delimiter:
 *   with `maxLength: 3`, `"abc\r\n"` is accepted and `"abcd\n"` is too long. A line is
 *   known to be too long as soon as more than `maxLength` bytes of it have arrived, so
 *   a decoder holds at most `maxLength + 1` bytes of an unfinished line, plus one chunk.
 * - `tooLong`: `"close"` throws `FrameTooLongError`; `"skip"` throws one recoverable
 *   `FrameTooLongError`, drops the line up to and including its delimiter and goes on;
 *   `"split"` yields the line in pieces of `maxLength` bytes (string pieces end on a
 *   character boundary, so they may be up to 3 bytes shorter).
 * - `eof`: a last line without a delimiter is yielded by `"emit"` (the default,
 *   including a lone trailing `\r`), dropped by `"discard"`, or raises
 *   `IncompleteFrameError` with `"error"`. Input that ends with a delimiter gives no
 *   extra empty line.
 * - Searching is linear: bytes already searched are never searched again.
 *
 * Encoding: a string (UTF-8 encoded) or bytes; the delimiter is appended. A message
 * containing the delimiter (or, with `"\n"`, ending in `\r`) raises `TypeError`; one
 * over `maxLength` bytes raises `FrameTooLongError`.
 *
 * @param options Limits, delimiter, encoding and policies.
 * @returns A framer of strings.
 *
 * @example Splitting text into lines
 * ```ts
 * import { lines } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const decoder = lines().decoder();
 * decoder.push(new TextEncoder().encode("HELLO\r\nWOR"));
 * decoder.push(new TextEncoder().encode("LD\nbye"));
 * const got: string[] = [];
 * for (let line = decoder.next(); line !== undefined; line = decoder.next()) got.push(line);
 * for (let line = decoder.finish(); line !== undefined; line = decoder.finish()) got.push(line);
 * assert.deepEqual(got, ["HELLO", "WORLD", "bye"]);
 * ```
 */
export function lines(
  options?: LinesOptions & { encoding?: "utf-8" },
): Framer<string, string | Uint8Array>;
/**
 * Lines as bytes (`encoding: null`): each frame is the line's bytes without the
 * delimiter. Everything else is as for string lines.
 *
 * @param options Limits, delimiter and policies, with `encoding: null`.
 * @returns A framer of byte lines.
 *
 * @example Byte lines
 * ```ts
 * import { lines } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const framer = lines({ encoding: null, maxLength: 1024 });
 * const decoder = framer.decoder();
 * decoder.push(Uint8Array.of(0x68, 0x69, 0x0a));
 * assert.deepEqual(decoder.next(), Uint8Array.of(0x68, 0x69));
 * ```
 */
export function lines(
  options: LinesOptions & { encoding: null },
): Framer<Uint8Array, string | Uint8Array>;
/**
 * Lines as strings or bytes, depending on `options.encoding`.
 *
 * @param options Limits, delimiter, encoding and policies.
 * @returns A framer of lines.
 *
 * @example Options chosen at run time
 * ```ts
 * import { lines } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const framerFor = (binary: boolean) => lines({ encoding: binary ? null : "utf-8" });
 * const decoder = framerFor(false).decoder(); // frames typed string | Uint8Array
 * decoder.push(new TextEncoder().encode("hi\n"));
 * assert.equal(decoder.next(), "hi");
 * ```
 */
export function lines(
  options?: LinesOptions,
): Framer<string | Uint8Array, string | Uint8Array>;
export function lines(
  options?: LinesOptions,
): Framer<string | Uint8Array, string | Uint8Array> {
  const o = checkOptions("lines()", options, KEYS);
  const maxLength = checkInteger("lines()", "maxLength", o.maxLength ?? 64 * 1024, 1);
  const delimiter = checkOneOf("lines()", "delimiter", o.delimiter ?? "\n", ["\n", "\r\n"]);
  const encoding = checkOneOf(
    "lines()",
    "encoding",
    o.encoding === undefined ? "utf-8" : o.encoding,
    [
      "utf-8",
      null,
    ],
  );
  const tooLong = checkTooLong("lines()", o.tooLong ?? "close");
  const eof = checkEof("lines()", o.eof ?? "emit");
  const strict = delimiter === "\r\n";
  const text = encoding !== null;
  const delimiterBytes = strict ? CRLF_BYTES : LF_BYTES;

  const init: DelimiterDecoderInit = {
    scanner: strict ? new SequenceScanner([CRLF_BYTES]) : new LfScanner(),
    maxLength,
    tooLong,
    eof,
    includeDelimiter: false,
    utf8: text,
    wireLength: delimiterBytes.length,
  };
  const framer: Framer<string | Uint8Array, string | Uint8Array> & WireFramer = {
    name: "lines",
    maxLength,
    decoder(): Decoder<string | Uint8Array> {
      const inner = new DelimiterDecoder(init);
      return text ? new TextDecoderOf(inner) : inner;
    },
    encode(msg: string | Uint8Array): Uint8Array | readonly Uint8Array[] {
      if (typeof msg === "string") {
        if (msg.includes(delimiter) || (!strict && msg.endsWith("\r"))) {
          throw new TypeError(`lines(): cannot encode a line that contains ${describe(strict)}`);
        }
        if (msg.length > maxLength) throw new FrameTooLongError(msg.length, maxLength);
        const bytes = utf8Encoder.encode(msg + delimiter);
        const n = bytes.length - delimiterBytes.length;
        if (n > maxLength) throw new FrameTooLongError(n, maxLength);
        return bytes;
      }
      if (!(msg instanceof Uint8Array)) {
        throw new TypeError("lines(): can only encode a string or a Uint8Array");
      }
      if (strict ? containsCrLf(msg) : msg.includes(10) || msg[msg.length - 1] === 13) {
        throw new TypeError(`lines(): cannot encode a line that contains ${describe(strict)}`);
      }
      if (msg.length > maxLength) throw new FrameTooLongError(msg.length, maxLength);
      return [msg, delimiterBytes];
    },
    // The line and its delimiter, where the delimiter encode() appends follows it in memory.
    [WIRE](msg: Uint8Array, chunk: Uint8Array, base: number, trusted: boolean, out: Span): boolean {
      const n = msg.length;
      if (n > maxLength) return false;
      const start = msg.byteOffset;
      const after = start + n - base; // where the delimiter should be in the chunk
      if (strict) {
        if (chunk[after] !== 13 || chunk[after + 1] !== 10 || (!trusted && containsCrLf(msg))) {
          return false;
        }
      } else if (chunk[after] !== 10 || msg[n - 1] === 13 || (!trusted && msg.includes(10))) {
        return false;
      }
      out.start = start;
      out.end = start + n + delimiterBytes.length;
      return true;
    },
  };
  return framer;
}

function describe(strict: boolean): string {
  return strict ? "\\r\\n" : "\\n or ends with \\r";
}

function containsCrLf(bytes: Uint8Array): boolean {
  for (let i = bytes.indexOf(13); i >= 0 && i < bytes.length - 1; i = bytes.indexOf(13, i + 1)) {
    if (bytes[i + 1] === 10) return true;
  }
  return false;
}

/** Decodes the frames of a byte decoder as UTF-8. */
class TextDecoderOf implements Decoder<string> {
  #inner: Decoder<Uint8Array>;
  constructor(inner: Decoder<Uint8Array>) {
    this.#inner = inner;
  }
  get buffered(): number {
    return this.#inner.buffered;
  }
  push(chunk: Uint8Array): void {
    this.#inner.push(chunk);
  }
  /** @internal See `OWN` (_own.ts). */
  [OWN](lent: ArrayBufferLike): void {
    (this.#inner as OwningDecoder)[OWN]!(lent);
  }
  /** @internal See `FRAME_WIRE` (_wire.ts): only forgets (its frames are strings). */
  [FRAME_WIRE](out: Span | null): undefined {
    if (out === null) (this.#inner as FrameWireSource)[FRAME_WIRE]!(null);
  }
  /** @internal See `BATCH` (_batch.ts): the byte frames, marked as text. */
  [BATCH](slots: BatchSlots, max: number): number {
    const n = (this.#inner as BatchDecoder)[BATCH]!(slots, max);
    slots.text = true;
    return n;
  }
  next(): string | undefined {
    const bytes = this.#inner.next();
    return bytes === undefined ? undefined : utf8Decoder.decode(bytes);
  }
  finish(): string | undefined {
    const bytes = this.#inner.finish();
    return bytes === undefined ? undefined : utf8Decoder.decode(bytes);
  }
  takeRemaining(): Uint8Array[] {
    return this.#inner.takeRemaining();
  }
}
