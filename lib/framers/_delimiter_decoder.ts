/**
 * The scanning machinery behind `lines()` and `delimited()`: delimiter scanners and
 * one decoder that applies the length limit and the policies. Internal.
 *
 * Matching rule, for any set of delimiters: the delimiter that starts earliest wins;
 * at one position, the one listed first wins. A match is only taken once it is sure:
 * while the bytes at the end could still grow into a delimiter that would win, the
 * decoder waits for more. That keeps the frames the same for any split of the input.
 *
 * @module
 */

import type { Decoder, EofPolicy, TooLongPolicy } from "./framer.ts";
import { FrameTooLongError, type FramingError, IncompleteFrameError } from "../errors.ts";
import { ByteQueue } from "./_byte_queue.ts";
import { FRAME_WIRE, type Span } from "./_wire.ts";
import { OWN, ownQueue } from "./_own.ts";
import { BATCH, batchOfOne, type BatchSlots } from "./_batch.ts";

/** What a search reports besides the position it returns. */
export interface ScanResult {
  /** The length of the delimiter found. */
  matchLength: number;
  /** Where to search next time. */
  resume: number;
  /** Bytes at the front that cannot be part of a delimiter. */
  content: number;
}

/** A new {@linkcode ScanResult}. */
export function scanResult(): ScanResult {
  return { matchLength: 0, resume: 0, content: 0 };
}

/**
 * Finds the next delimiter in a queue. Scanners hold no state of a search: one is shared
 * by every decoder of a framer, and each decoder keeps its own {@linkcode ScanResult}.
 */
export interface Scanner {
  /**
   * Searches from position `from`. Returns the position where the winning delimiter
   * starts (and sets `out.matchLength`), or -1 (and sets `out.resume`, where the next
   * search starts, and `out.content`, how many bytes surely belong to the frame). With
   * `final` (end of input) a partial delimiter at the end is only content.
   */
  find(q: ByteQueue, from: number, final: boolean, out: ScanResult): number;
}

/** Scans for one byte. */
export class ByteScanner implements Scanner {
  /** The delimiter. */
  readonly byte: number;
  constructor(byte: number) {
    this.byte = byte;
  }
  find(q: ByteQueue, from: number, _final: boolean, out: ScanResult): number {
    const p = q.indexOfByte(this.byte, from);
    if (p >= 0) {
      out.matchLength = 1;
      return p;
    }
    out.resume = out.content = q.length;
    return -1;
  }
}

/** Scans for `\n` and takes a `\r` just before it as part of the delimiter. */
export class LfScanner implements Scanner {
  find(q: ByteQueue, from: number, final: boolean, out: ScanResult): number {
    const p = q.indexOfByte(10, from);
    if (p >= 0) {
      if (p !== 0 && q.peekByte(p - 1) === 13) {
        out.matchLength = 2;
        return p - 1;
      }
      out.matchLength = 1;
      return p;
    }
    const len = q.length;
    out.resume = len;
    out.content = !final && q.lastByte() === 13 ? len - 1 : len;
    return -1;
  }
}

/** Scans for any of several byte sequences (at least one byte each). */
export class SequenceScanner implements Scanner {
  #delimiters: Uint8Array[];
  #first: number; // the first byte shared by every delimiter, or -1
  #table = new Uint8Array(256); // 1 for each first byte

  constructor(delimiters: Uint8Array[]) {
    this.#delimiters = delimiters;
    for (const d of delimiters) this.#table[d[0]] = 1;
    const first = delimiters[0][0];
    this.#first = delimiters.every((d) => d[0] === first) ? first : -1;
  }

  find(q: ByteQueue, from: number, final: boolean, out: ScanResult): number {
    const delimiters = this.#delimiters;
    const first = this.#first;
    for (let pos = from;;) {
      const p = first >= 0 ? q.indexOfByte(first, pos) : q.indexOfAny(this.#table, pos);
      if (p < 0) break;
      for (let k = 0; k < delimiters.length; k++) {
        const r = q.compare(delimiters[k], p);
        if (r === 1) {
          out.matchLength = delimiters[k].length;
          return p;
        }
        if (r === -1 && !final) {
          out.resume = out.content = p;
          return -1;
        }
      }
      pos = p + 1;
    }
    out.resume = out.content = q.length;
    return -1;
  }
}

/**
 * Settings of a {@linkcode DelimiterDecoder}: made once per framer and shared by its
 * decoders (the scanner too).
 */
export interface DelimiterDecoderInit {
  scanner: Scanner;
  maxLength: number;
  tooLong: TooLongPolicy;
  eof: EofPolicy;
  includeDelimiter: boolean;
  /** Split pieces end on a UTF-8 character boundary (when `maxLength >= 4`). */
  utf8: boolean;
  /** Set on first use: the one delimiter byte a batch scans for, or -1 (no fast batches). */
  batchByte?: number;
  /**
   * The length of the delimiter `encode()` writes, when a frame whose match was as long
   * is written as it came (`lines()`); without it the decoder does not tell (FRAME_WIRE).
   */
  wireLength?: number;
}

/** Frames bytes by delimiter, with the length limit and the policies. */
export class DelimiterDecoder implements Decoder<Uint8Array>, ScanResult {
  #q = new ByteQueue();
  #init: DelimiterDecoderInit;
  #scanned = 0; // where the next search starts
  #discarding = false; // inside a too-long frame that "skip" drops
  #ended = false;
  #error: FramingError | null = null;
  /** @internal The last search's report (see {@linkcode ScanResult}). */
  matchLength = 0;
  /** @internal */
  resume = 0;
  /** @internal */
  content = 0;

  constructor(init: DelimiterDecoderInit) {
    this.#init = init;
  }

  get buffered(): number {
    return this.#q.length;
  }

  /** @internal See `FRAME_WIRE` (_wire.ts); `null` forgets the frame. */
  [FRAME_WIRE](out: Span | null, frame?: Uint8Array): Uint8Array | null | undefined {
    const wire = this.#init.wireLength;
    const chunk = this.#q.lastCut(out, 0);
    if (wire === undefined || out === null) return undefined;
    // The frame and the delimiter dropped after it (none after a piece of a long line or
    // a last line without one, two for a \r\n where encode() writes \n)
    return chunk !== undefined && out.end - out.start === frame!.length + wire ? chunk : null;
  }

  push(chunk: Uint8Array): void {
    this.#q.push(chunk);
  }

  /** @internal See `OWN` (_own.ts). */
  [OWN](lent: ArrayBufferLike): void {
    ownQueue(this.#q, lent);
  }

  next(): Uint8Array | undefined {
    if (this.#error !== null || this.#discarding) return this.#nextSlow();
    // The hot path, kept small so that engines inline what it calls.
    const init = this.#init;
    const q = this.#q;
    const p = init.scanner.find(q, this.#scanned, this.#ended, this);
    if (p >= 0 && p <= init.maxLength) {
      this.#scanned = 0;
      return init.includeDelimiter ? q.take(p + this.matchLength) : q.take(p, this.matchLength);
    }
    return this.#settle(p);
  }

  /**
   * @internal See `BATCH` (_batch.ts). The fast scan takes the frames that lie whole in
   * the front chunk, for a one-byte delimiter (`\n` of `lines()` with its optional `\r`).
   */
  [BATCH](slots: BatchSlots, max: number): number {
    const init = this.#init;
    const byte = init.batchByte ??= batchByteOf(init);
    const q = this.#q;
    const bytes = q.head(); // the chunk itself: offsets below are into it
    if (byte < 0 || bytes === undefined || this.#error !== null || this.#discarding) {
      return batchOfOne(slots, this.next());
    }
    const { starts, ends, wireEnds } = slots;
    const limit = init.maxLength;
    const include = init.includeDelimiter;
    const cr = byte === 10 && init.scanner instanceof LfScanner;
    let canonical = !include;
    const first = q.headOffset;
    let at = first; // where the next frame starts
    let from = first + Math.min(this.#scanned, bytes.length - first);
    let n = 0;
    let searched = 0; // how far the rest of the chunk is known to hold no delimiter
    for (; n < max; n++) {
      const p = bytes.indexOf(byte, from);
      if (p < 0) {
        searched = bytes.length - at;
        break;
      }
      let end = p; // the payload's end
      if (cr && p > at && bytes[p - 1] === 13) {
        end = p - 1;
        canonical = false;
      }
      if (end - at > limit) break;
      starts[n] = at;
      ends[n] = include ? p + 1 : end;
      wireEnds[n] = from = at = p + 1;
    }
    if (n === 0) return batchOfOne(slots, this.next());
    q.skip(at - first);
    this.#scanned = searched; // (linear: a search resumes where the last one ended)
    slots.bytes = bytes;
    slots.single = false;
    slots.wireStart = canonical ? first : -1;
    return n;
  }

  /** Handles a search that found a frame over the limit (`p >= 0`) or nothing (-1). */
  #settle(p: number): Uint8Array | undefined {
    if (p >= 0) return this.#overLimit(p, p + this.matchLength);
    const content = this.#ended ? this.#q.length : this.content;
    if (content > this.#init.maxLength) return this.#overLimit(content, -1);
    this.#scanned = this.resume;
    return undefined;
  }

  /** next() after an error, or while dropping a frame that is too long. */
  #nextSlow(): Uint8Array | undefined {
    if (this.#error !== null) throw this.#error;
    const q = this.#q;
    const p = this.#init.scanner.find(q, this.#scanned, this.#ended, this);
    if (p < 0) {
      const content = this.#ended ? q.length : this.content;
      q.skip(content);
      this.#scanned = this.resume > content ? this.resume - content : 0;
      return undefined;
    }
    q.skip(p + this.matchLength);
    this.#discarding = false;
    this.#scanned = 0;
    return this.next();
  }

  /**
   * A frame over the limit: `length` bytes of it are known (all of it when `end`,
   * the position after its delimiter, is not -1).
   */
  #overLimit(length: number, end: number): Uint8Array | undefined {
    const init = this.#init;
    const max = init.maxLength;
    const q = this.#q;
    switch (init.tooLong) {
      case "close":
        throw (this.#error = new FrameTooLongError(length, max));
      case "skip":
        if (end >= 0) {
          q.skip(end);
          this.#scanned = 0;
        } else {
          q.skip(length);
          this.#scanned = this.resume > length ? this.resume - length : 0;
          this.#discarding = true;
        }
        throw new FrameTooLongError(length, max, true);
      case "split": {
        let n = max;
        if (init.utf8 && max >= 4) {
          // Do not start the next piece inside a character.
          while (n > max - 3 && (q.peekByte(n) & 0xc0) === 0x80) n--;
        }
        const scanned = end >= 0 ? end - this.matchLength : this.resume;
        this.#scanned = scanned > n ? scanned - n : 0;
        return q.take(n);
      }
    }
  }

  finish(): Uint8Array | undefined {
    if (this.#error !== null) throw this.#error;
    this.#ended = true;
    const frame = this.next();
    if (frame !== undefined) return frame;
    const q = this.#q;
    const n = q.length;
    this.#discarding = false;
    this.#scanned = 0;
    if (n === 0) return undefined;
    switch (this.#init.eof) {
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
    this.#scanned = 0;
    this.#discarding = false;
    return this.#q.takeRemaining();
  }
}

/** The byte a batch of `init`'s frames ends each frame with, or -1 when it scans otherwise. */
function batchByteOf(init: DelimiterDecoderInit): number {
  const s = init.scanner;
  return s instanceof LfScanner ? 10 : s instanceof ByteScanner ? s.byte : -1;
}
