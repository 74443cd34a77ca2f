/**
 * A queue of byte chunks that the built-in decoders share. Internal: not exported.
 *
 * - `push()` keeps the chunk itself (no copy); runs of small chunks (a trickle of 1-byte
 *   reads) are packed into an owned block: a slow sender costs bytes, not objects.
 * - `indexOf()` searches across chunks with the native `indexOf` from a start offset;
 *   a cursor keeps the chunk the last search stopped in, so resuming is free.
 * - `take(n)` returns a view (`new Uint8Array(buffer, offset, n)`: no species lookup)
 *   when the bytes lie in one chunk, else one copy (a small one cut from a slab).
 *
 * @module
 */

import { Slab } from "../_slab.ts";
import type { Span } from "./_wire.ts";

/** A shared empty chunk. */
export const EMPTY: Uint8Array = new Uint8Array(0);
/** Where a frame copied from several chunks, up to 1 KiB, is cut from (_slab.ts). */
const COPIES = new Slab(16 * 1024);
const SMALL = 512; // chunks shorter than this are packed together while they keep coming
const SCRATCH_MIN = 1024;
const SCRATCH_MAX = 64 * 1024;

/** A FIFO of byte chunks with cross-chunk search; positions count from its front (oldest byte). */
export class ByteQueue {
  /** Bytes examined by searches plus chunks stepped over, over all queues (tests: linear). */
  static work = 0;
  #chunks: Uint8Array[] = [];
  #head = 0; // index of the oldest live chunk
  #off = 0; // bytes of chunks[#head] already consumed
  #len = 0; // bytes held
  #consumed = 0; // bytes removed since creation: the absolute position of the front
  #curIdx = -1; // cursor: a chunk index...
  #curStart = 0; // ...and the absolute position of that chunk's first byte
  #scratch: Uint8Array | null = null; // owned block small chunks are packed into
  #scratchTail: Uint8Array | null = null; // the last chunk when packed: #scratch.subarray(0, n)
  #viewBuf: ArrayBufferLike | undefined = undefined; // the head chunk's, read once per chunk
  #viewBase = 0;
  // The last take()'s frame: head chunk [#cutStart, #off), or #cut [-1 - #cutStart, #cutEnd).
  #cutStart = -1;
  #cut: Uint8Array | undefined = undefined;
  #cutEnd = 0;

  /** Bytes held. */
  get length(): number {
    return this.#len;
  }

  /** Appends a chunk, kept (not to be changed); a subclass of Uint8Array viewed as a plain one. */
  push(chunk: Uint8Array): void {
    const n = chunk.length;
    if (n === 0) return;
    if (chunk.constructor !== Uint8Array) { // (Object.getPrototypeOf() is 15 ns on V8)
      chunk = new Uint8Array(chunk.buffer, chunk.byteOffset, n);
    }
    const chunks = this.#chunks;
    const held = this.#len;
    this.#len += n;
    if (n < SMALL && held !== 0) {
      const last = chunks.length - 1;
      const tail = chunks[last];
      if (tail === this.#scratchTail) {
        const s = this.#scratch!;
        const used = tail.length;
        if (used + n <= s.length) {
          if (n <= 8) { for (let i = 0; i < n; i++) s[used + i] = chunk[i]; }
          else s.set(chunk, used);
          const view = s.subarray(0, used + n);
          chunks[last] = view;
          this.#scratchTail = view;
          return;
        }
        return this.#newScratch(chunk, EMPTY, Math.min(SCRATCH_MAX, s.length * 2));
      }
      if (tail.length < SMALL) {
        // The tail is small too: pack both into a fresh block that replaces the tail.
        // The whole tail is copied, so a partly consumed head keeps its offset.
        chunks.pop();
        return this.#newScratch(chunk, tail, SCRATCH_MIN);
      }
    }
    chunks.push(chunk);
  }

  #newScratch(chunk: Uint8Array, before: Uint8Array, size: number): void {
    const used = before.length + chunk.length;
    const s = new Uint8Array(Math.max(size, used));
    this.#viewBuf = undefined; // the head may be the tail this block replaces
    s.set(before);
    s.set(chunk, before.length);
    const view = s.subarray(0, used);
    this.#chunks.push(view);
    this.#scratch = s;
    this.#scratchTail = view;
  }

  /** Points the cursor at the chunk holding `pos` (`0 <= pos < length`). */
  #locate(pos: number): void {
    const abs = this.#consumed + pos;
    let i = this.#curIdx;
    let start = this.#curStart;
    if (i < this.#head || start > abs) {
      i = this.#head;
      start = this.#consumed - this.#off;
    }
    const chunks = this.#chunks;
    let steps = 0;
    for (; start + chunks[i].length <= abs; i++, steps++) start += chunks[i].length;
    ByteQueue.work += steps;
    this.#curIdx = i;
    this.#curStart = start;
  }

  /** The chunk holding the front itself (its first `headOffset` bytes consumed), or `undefined`. */
  head(): Uint8Array | undefined {
    return this.#len === 0 ? undefined : this.#chunks[this.#head];
  }

  /** Where the front lies in {@linkcode head}. */
  get headOffset(): number {
    return this.#off;
  }

  /** The last byte held, or -1 when the queue is empty. */
  lastByte(): number {
    if (this.#len === 0) return -1; // (before reading chunks[-1]: a slow lookup on V8)
    const c = this.#chunks[this.#chunks.length - 1];
    return c[c.length - 1];
  }

  /** The byte at position `i`, or -1 when `i` is outside the queue. */
  peekByte(i: number): number {
    if (i < 0 || i >= this.#len) return -1;
    const c = this.#chunks[this.#head];
    const j = this.#off + i;
    if (j < c.length) return c[j];
    this.#locate(i);
    return this.#chunks[this.#curIdx][this.#consumed + i - this.#curStart];
  }

  /**
   * The position of the first `needle` at or after `from`, or -1 (for a sequence, maybe a
   * partial match at the very end: resume at `Math.max(from, length - needle.length + 1)`).
   */
  indexOf(needle: number | Uint8Array, from = 0): number {
    if (from < 0) from = 0;
    if (typeof needle === "number") return this.indexOfByte(needle, from);
    if (needle.length === 0) return from <= this.#len ? from : -1;
    for (let p = from;; p++) {
      p = this.indexOfByte(needle[0], p);
      if (p < 0) return -1;
      const r = this.compare(needle, p);
      if (r !== 0) return r === 1 ? p : -1; // -1: a partial match at the end
    }
  }

  /** The position of the first `byte` at or after `from` (`>= 0`), or -1. */
  indexOfByte(byte: number, from: number): number {
    // Kept small so that engines inline it: the hit in the head chunk is the hot path.
    const c = this.#chunks[this.#head];
    const s = this.#off + from;
    if (c !== undefined && s < c.length) {
      const r = c.indexOf(byte, s);
      if (r >= 0) {
        ByteQueue.work += r - s + 1;
        return r - this.#off;
      }
    }
    return this.#indexOfByteSlow(byte, from);
  }

  #indexOfByteSlow(byte: number, from: number): number {
    if (from >= this.#len) return -1;
    const chunks = this.#chunks;
    let c = chunks[this.#head];
    const off = this.#off;
    let i: number;
    let start: number; // position of chunks[i][0], relative to the front
    let s: number; // where to start in chunks[i]
    if (from < c.length - off) {
      // the head chunk was searched by indexOfByte(): go on with the next one
      ByteQueue.work += c.length - off - from;
      if (chunks.length === this.#head + 1) return -1;
      i = this.#head + 1;
      start = c.length - off;
      s = 0;
    } else {
      this.#locate(from);
      i = this.#curIdx;
      start = this.#curStart - this.#consumed;
      s = from - start;
    }
    c = chunks[i];
    for (const n = chunks.length;;) {
      const r = c.indexOf(byte, s);
      if (r >= 0) {
        ByteQueue.work += r - s + 1;
        return start + r;
      }
      ByteQueue.work += c.length - s;
      if (++i === n) break;
      start += c.length;
      c = chunks[i];
      s = 0;
    }
    this.#curIdx = i - 1;
    this.#curStart = this.#consumed + start;
    return -1;
  }

  /** The position of the first byte at or after `from` with a non-zero `table` entry, or -1. */
  indexOfAny(table: Uint8Array, from = 0): number {
    if (from < 0) from = 0;
    if (from >= this.#len) return -1;
    this.#locate(from);
    const chunks = this.#chunks;
    let i = this.#curIdx;
    let start = this.#curStart - this.#consumed;
    let s = from - start;
    for (const n = chunks.length;;) {
      const c = chunks[i];
      const end = c.length;
      for (let j = s; j < end; j++) {
        if (table[c[j]] !== 0) {
          ByteQueue.work += j - s + 1;
          this.#curIdx = i;
          this.#curStart = this.#consumed + start;
          return start + j;
        }
      }
      ByteQueue.work += end - s;
      if (++i === n) break;
      start += end;
      s = 0;
    }
    this.#curIdx = i - 1;
    this.#curStart = this.#consumed + start;
    return -1;
  }

  /** Compares the bytes at `at` with `seq`: 1 match, 0 differ, -1 ran out first (partial). */
  compare(seq: Uint8Array, at: number): 1 | 0 | -1 {
    const m = seq.length;
    if (at >= this.#len) return m === 0 ? 1 : -1;
    this.#locate(at);
    const chunks = this.#chunks;
    let i = this.#curIdx;
    let c = chunks[i];
    let j = this.#consumed + at - this.#curStart;
    for (let k = 0; k < m; k++, j++) {
      if (j === c.length) {
        if (++i === chunks.length) return -1;
        c = chunks[i];
        j = 0;
      }
      if (c[j] !== seq[k]) return 0;
    }
    return 1;
  }

  /** Removes and returns `n` bytes (a view inside one chunk, else a copy), then drops `drop`. */
  take(n: number, drop = 0): Uint8Array {
    const c = this.#chunks[this.#head];
    if (c !== undefined) {
      const off = this.#off;
      const end = off + n + drop;
      if (end < c.length) {
        // the hot path: the frame and what follows it lie in the head chunk
        this.#off = end;
        this.#len -= n + drop;
        this.#consumed += n + drop;
        this.#cutStart = off;
        if (this.#viewBuf === undefined) {
          this.#viewBuf = c.buffer;
          this.#viewBase = c.byteOffset;
        }
        return new Uint8Array(this.#viewBuf!, this.#viewBase + off, n); // faster than subarray()
      }
    }
    this.#viewBuf = undefined;
    return this.#takeSlow(n, drop);
  }

  /**
   * The chunk the last `take()` cut from, `out` where its frame (with the `before` bytes before
   * it and those it dropped) lies; `undefined`: a copy, not all there. `null` forgets it. Asked
   * before anything else is taken or skipped (the head chunk is where a take left it). */
  lastCut(out: Span | null, before: number): Uint8Array | undefined {
    const hot = this.#cutStart >= 0;
    const c = hot ? this.#chunks[this.#head] : this.#cut;
    const start = hot ? this.#cutStart : -1 - this.#cutStart;
    if (out === null) {
      this.#cutStart = -1;
      this.#cut = undefined;
    } else if (c !== undefined && start >= before) {
      out.start = start - before;
      out.end = hot ? this.#off : this.#cutEnd;
      return c;
    }
    return undefined;
  }

  #takeSlow(n: number, drop: number): Uint8Array {
    let frame = EMPTY;
    const c = this.#chunks[this.#head];
    const avail = n === 0 ? 0 : c.length - this.#off;
    const off = this.#off;
    this.#cut = c !== undefined && off + n + drop <= c.length ? c : undefined;
    this.#cutStart = -1 - off;
    this.#cutEnd = off + n + drop;
    if (n !== 0 && n <= avail) {
      frame = off === 0 && n === c.length ? c : new Uint8Array(c.buffer, c.byteOffset + off, n);
      this.#advance(n, avail);
    } else if (n !== 0) frame = this.#takeCopy(n);
    if (drop !== 0) this.skip(drop);
    return frame;
  }

  #takeCopy(n: number): Uint8Array {
    if (n > this.#len) throw new RangeError(`cannot take ${n} bytes from ${this.#len}`);
    const out = n <= 1024 ? COPIES.take(n) : new Uint8Array(n);
    for (let done = 0; done < n;) {
      const c = this.#chunks[this.#head];
      const off = this.#off;
      const k = Math.min(c.length - off, n - done);
      out.set(off === 0 && k === c.length ? c : c.subarray(off, off + k), done);
      done += k;
      this.#advance(k, c.length - off);
    }
    return out;
  }

  /** Removes up to `max` bytes of the oldest chunk, without copying (`max >= 1`). */
  takeChunk(max: number): Uint8Array | undefined {
    if (this.#len === 0) return undefined;
    return this.take(Math.min(this.#chunks[this.#head].length - this.#off, max));
  }

  /** Drops the first `n` bytes (`0 <= n <= length`). */
  skip(n: number): void {
    const c = this.#chunks[this.#head];
    if (c !== undefined && this.#off + n < c.length) {
      this.#off += n;
      this.#len -= n;
      this.#consumed += n;
      return;
    }
    if (n > this.#len) throw new RangeError(`cannot skip ${n} bytes of ${this.#len}`);
    while (n > 0) {
      const avail = this.#chunks[this.#head].length - this.#off;
      const k = n < avail ? n : avail;
      this.#advance(k, avail);
      n -= k;
    }
  }

  /** Consumes `k` bytes of the head chunk, which has `avail` bytes left. */
  #advance(k: number, avail: number): void {
    this.#len -= k;
    this.#consumed += k;
    if (k === avail) this.#dropHead();
    else this.#off += k;
  }

  #dropHead(): void {
    this.#viewBuf = undefined;
    const chunks = this.#chunks;
    chunks[this.#head++] = EMPTY;
    this.#off = 0;
    if (this.#head === chunks.length) this.#clear();
    else if (this.#head >= 1024 && this.#head * 2 >= chunks.length) {
      chunks.splice(0, this.#head);
      this.#curIdx -= this.#head;
      this.#head = 0;
    }
  }

  /** Removes and returns every byte held, as the chunks they arrived in. */
  takeRemaining(): Uint8Array[] {
    const chunks = this.#chunks;
    const out = chunks.slice(this.#head);
    if (out.length !== 0 && this.#off !== 0) out[0] = out[0].subarray(this.#off);
    this.#consumed += this.#len;
    this.#len = 0;
    this.#clear();
    return out;
  }

  /** Empties the chunk list (every byte in it consumed). */
  #clear(): void {
    this.#chunks = []; // (popped empty, an array keeps its room: 152 B per idle connection)
    this.#head = 0;
    this.#off = 0;
    this.#curIdx = -1;
    this.#scratch = this.#scratchTail = null;
    this.#viewBuf = undefined;
  }
}
