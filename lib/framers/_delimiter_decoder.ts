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

import type { Decoder, EofPolicy, TooLongPolicy } from "../framer.ts";
import { FrameTooLongError, type FramingError, IncompleteFrameError } from "../errors.ts";
import { ByteQueue } from "./_byte_queue.ts";

/** Finds the next delimiter in a queue. */
export interface Scanner {
  /**
   * Searches from position `from`. Returns the position where the winning delimiter
   * starts (and sets `matchLength`), or -1 (and sets `resume`, where the next search
   * starts, and `content`, how many bytes surely belong to the frame). With `final`
   * (end of input) a partial delimiter at the end is only content.
   */
  find(q: ByteQueue, from: number, final: boolean): number;
  /** The length of the delimiter found. */
  matchLength: number;
  /** Where to search next time. */
  resume: number;
  /** Bytes at the front that cannot be part of a delimiter. */
  content: number;
}

/** Scans for one byte. */
export class ByteScanner implements Scanner {
  matchLength = 1;
  resume = 0;
  content = 0;
  #byte: number;
  constructor(byte: number) {
    this.#byte = byte;
  }
  find(q: ByteQueue, from: number): number {
    const p = q.indexOfByte(this.#byte, from);
    if (p >= 0) return p;
    this.resume = this.content = q.length;
    return -1;
  }
}

/** Scans for `\n` and takes a `\r` just before it as part of the delimiter. */
export class LfScanner implements Scanner {
  matchLength = 1;
  resume = 0;
  content = 0;
  find(q: ByteQueue, from: number, final: boolean): number {
    const p = q.indexOfByte(10, from);
    if (p >= 0) {
      if (p !== 0 && q.peekByte(p - 1) === 13) {
        this.matchLength = 2;
        return p - 1;
      }
      this.matchLength = 1;
      return p;
    }
    const len = q.length;
    this.resume = len;
    this.content = !final && q.lastByte() === 13 ? len - 1 : len;
    return -1;
  }
}

/** Scans for any of several byte sequences (at least one byte each). */
export class SequenceScanner implements Scanner {
  matchLength = 0;
  resume = 0;
  content = 0;
  #delimiters: Uint8Array[];
  #first: number; // the first byte shared by every delimiter, or -1
  #table = new Uint8Array(256); // 1 for each first byte

  constructor(delimiters: Uint8Array[]) {
    this.#delimiters = delimiters;
    for (const d of delimiters) this.#table[d[0]] = 1;
    const first = delimiters[0][0];
    this.#first = delimiters.every((d) => d[0] === first) ? first : -1;
  }

  find(q: ByteQueue, from: number, final: boolean): number {
    const delimiters = this.#delimiters;
    const first = this.#first;
    for (let pos = from;;) {
      const p = first >= 0 ? q.indexOfByte(first, pos) : q.indexOfAny(this.#table, pos);
      if (p < 0) break;
      for (let k = 0; k < delimiters.length; k++) {
        const r = q.compare(delimiters[k], p);
        if (r === 1) {
          this.matchLength = delimiters[k].length;
          return p;
        }
        if (r === -1 && !final) {
          this.resume = this.content = p;
          return -1;
        }
      }
      pos = p + 1;
    }
    this.resume = this.content = q.length;
    return -1;
  }
}

/** Settings of a {@linkcode DelimiterDecoder}. */
export interface DelimiterDecoderInit {
  scanner: Scanner;
  maxLength: number;
  tooLong: TooLongPolicy;
  eof: EofPolicy;
  includeDelimiter: boolean;
  /** Split pieces end on a UTF-8 character boundary (when `maxLength >= 4`). */
  utf8: boolean;
}

/** Frames bytes by delimiter, with the length limit and the policies. */
export class DelimiterDecoder implements Decoder<Uint8Array> {
  #q = new ByteQueue();
  #scanner: Scanner;
  #max: number;
  #tooLong: TooLongPolicy;
  #eof: EofPolicy;
  #include: boolean;
  #utf8: boolean;
  #scanned = 0; // where the next search starts
  #discarding = false; // inside a too-long frame that "skip" drops
  #ended = false;
  #error: FramingError | null = null;

  constructor(init: DelimiterDecoderInit) {
    this.#scanner = init.scanner;
    this.#max = init.maxLength;
    this.#tooLong = init.tooLong;
    this.#eof = init.eof;
    this.#include = init.includeDelimiter;
    this.#utf8 = init.utf8;
  }

  get buffered(): number {
    return this.#q.length;
  }

  push(chunk: Uint8Array): void {
    this.#q.push(chunk);
  }

  next(): Uint8Array | undefined {
    if (this.#error !== null || this.#discarding) return this.#nextSlow();
    // The hot path, kept small so that engines inline what it calls.
    const s = this.#scanner;
    const q = this.#q;
    const p = s.find(q, this.#scanned, this.#ended);
    if (p >= 0 && p <= this.#max) {
      this.#scanned = 0;
      return this.#include ? q.take(p + s.matchLength) : q.take(p, s.matchLength);
    }
    return this.#settle(p);
  }

  /** Handles a search that found a frame over the limit (`p >= 0`) or nothing (-1). */
  #settle(p: number): Uint8Array | undefined {
    const s = this.#scanner;
    if (p >= 0) return this.#overLimit(p, p + s.matchLength);
    const content = this.#ended ? this.#q.length : s.content;
    if (content > this.#max) return this.#overLimit(content, -1);
    this.#scanned = s.resume;
    return undefined;
  }

  /** next() after an error, or while dropping a frame that is too long. */
  #nextSlow(): Uint8Array | undefined {
    if (this.#error !== null) throw this.#error;
    const q = this.#q;
    const s = this.#scanner;
    const p = s.find(q, this.#scanned, this.#ended);
    if (p < 0) {
      const content = this.#ended ? q.length : s.content;
      q.skip(content);
      this.#scanned = s.resume > content ? s.resume - content : 0;
      return undefined;
    }
    q.skip(p + s.matchLength);
    this.#discarding = false;
    this.#scanned = 0;
    return this.next();
  }

  /**
   * A frame over the limit: `length` bytes of it are known (all of it when `end`,
   * the position after its delimiter, is not -1).
   */
  #overLimit(length: number, end: number): Uint8Array | undefined {
    const max = this.#max;
    const q = this.#q;
    switch (this.#tooLong) {
      case "close":
        throw (this.#error = new FrameTooLongError(length, max));
      case "skip":
        if (end >= 0) {
          q.skip(end);
          this.#scanned = 0;
        } else {
          q.skip(length);
          const s = this.#scanner;
          this.#scanned = s.resume > length ? s.resume - length : 0;
          this.#discarding = true;
        }
        throw new FrameTooLongError(length, max, true);
      case "split": {
        let n = max;
        if (this.#utf8 && max >= 4) {
          // Do not start the next piece inside a character.
          while (n > max - 3 && (q.peekByte(n) & 0xc0) === 0x80) n--;
        }
        const scanned = end >= 0 ? end - this.#scanner.matchLength : this.#scanner.resume;
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
    this.#scanned = 0;
    this.#discarding = false;
    return this.#q.takeRemaining();
  }
}
