/**
 * The Deno adapter's reads: adaptive read buffers ({@linkcode ReadBuffer}), the probes
 * idle connections wait on, cut from shared slabs, and the shared slab small reads are
 * copied into. Internal.
 *
 * @module
 */

import { Slab, SlotPool } from "../../_slab.ts";

/** Sizes of the adaptive read buffer, bytes. */
export interface ReadBufferSizes {
  /**
   * The probe a connection waits on when it has caught up with its peer. Default 128.
   * Set it to `min` or more to always read into the full buffer.
   */
  idle?: number;
  /** The size reads start at when data flows, and shrink back to. Default 1024. */
  min: number;
  /** The size reads grow to while they keep filling the buffer. Default 65536. */
  max: number;
}

export const DEFAULT_SIZES: ReadBufferSizes = { idle: 128, min: 1024, max: 64 * 1024 };

/**
 * The read buffers of one connection. A read that does not fill its buffer means the
 * kernel had nothing more: the next read will likely wait, so it waits on a small
 * probe (`idle` bytes) instead of pinning a big buffer. A read that fills its buffer
 * means more is waiting: the next read uses the data buffer, which starts at `min`,
 * doubles each time a read fills it (up to `max`) and shrinks to fit small reads. A
 * grown probe (`min` bytes) that a read fills doubles too, up to twice `min`, and halves back to `idle`
 * while reads use a quarter of it or less: a busy connection whose bursts are about one
 * size waits on a buffer they fill only partly (see {@linkcode ReadBuffer.take}).
 *
 * Chunks handed out are never reused: a read of more than 2 KiB that fills more than
 * half of the data buffer is handed out as a view and the buffer replaced; a smaller
 * one is copied out (see {@linkcode copyOut}) and the buffer read into again.
 *
 * A probe of {@linkcode POOLED_PROBE} bytes (the default) is a slot of a slab shared by
 * the connections of this thread (see {@linkcode takeProbe}); call
 * {@linkcode ReadBuffer.dispose} once no read can write into the buffers any more.
 */
export class ReadBuffer {
  #probe: Uint8Array | undefined;
  #idle = 0;
  /** The size of the probe the last read filled, else 0: its burst may fit a bigger probe. */
  #spilled = 0;
  #data: Uint8Array | undefined;
  #size: number;
  #min: number;
  #max: number;
  #flowing: boolean;
  /** Chunks are lent (see {@linkcode ReadBuffer.lend}): views of buffers read into again. */
  #lending = false;
  /** The buffer the last chunk was lent from, until {@linkcode ReadBuffer.reclaim} or `detach()`. */
  #lentFrom: Uint8Array | undefined;

  /**
   * Creates the buffers; nothing is allocated before the first read.
   * @param sizes Probe, minimum and maximum sizes.
   */
  constructor(sizes: ReadBufferSizes = DEFAULT_SIZES) {
    this.#min = sizes.min;
    this.#max = Math.max(sizes.min, sizes.max);
    this.#size = this.#min;
    const idle = sizes.idle ?? DEFAULT_SIZES.idle!;
    if (idle < this.#min) this.#probe = takeProbe(this.#idle = idle);
    this.#flowing = !this.#probe;
  }

  /** The buffer the next read goes into. */
  get buf(): Uint8Array {
    if (!this.#flowing) return this.#probe!;
    return this.#data ??= new Uint8Array(this.#size);
  }

  /**
   * Lends chunks from now on: {@linkcode ReadBuffer.take} hands out views of the buffer
   * read into, which the next read overwrites, instead of copies or buffers replaced
   * (reads into a pooled probe are still copied: its slot is given back to the pool).
   * Before the next read, {@linkcode ReadBuffer.reclaim} takes the memory back from the
   * chunk lent last, or {@linkcode ReadBuffer.detach} leaves that chunk intact for good.
   */
  lend(): void {
    this.#lending = true;
  }

  /** Reads go into new memory from now on: whatever views the current buffers stay intact. */
  detach(): void {
    this.#lentFrom = this.#data = undefined;
    const probe = this.#probe;
    if (probe && probe.length !== POOLED_PROBE) this.#probe = new Uint8Array(probe.length);
  }

  /**
   * Takes the memory of the chunk lent last back from every view of it: its
   * `ArrayBuffer` is detached (`transfer()`, which moves the memory without copying or
   * zeroing it), so views kept past `data()` read as empty (length 0) instead of showing
   * the bytes of later reads, and the next read goes into the same memory under a new
   * `ArrayBuffer`. Call it before the next read, only when nothing (a write in flight or
   * queued) still needs the lent bytes: else call {@linkcode ReadBuffer.detach}.
   */
  reclaim(): void {
    const from = this.#lentFrom;
    if (from === undefined) return;
    this.#lentFrom = undefined;
    const moved = new Uint8Array((from.buffer as ArrayBuffer).transfer());
    if (from === this.#data) this.#data = moved;
    else if (from === this.#probe) this.#probe = moved;
  }

  /**
   * Takes the `n` bytes the last read put into {@linkcode ReadBuffer.buf}.
   * @param n Bytes read.
   * @returns A chunk the caller owns, or, when lending, a view valid until the next read.
   */
  take(n: number): Uint8Array {
    if (!this.#flowing) {
      const probe = this.#probe!;
      const full = n === probe.length;
      this.#flowing = full;
      this.#spilled = full ? n : 0;
      const lent = this.#lending && probe.length !== POOLED_PROBE;
      if (lent) this.#lentFrom = probe;
      const chunk = lent ? probe.subarray(0, n) : copyOut(probe, n);
      if (full && probe.length >= this.#min && probe.length < this.#min * 2) {
        // A burst filled a grown probe: wait on twice that from now on. A read that fills
        // its buffer leaves the socket marked readable, so the next read is a system call
        // that mostly finds nothing (EAGAIN) when bursts are exactly the probe's size; a
        // read that leaves room tells the runtime to wait for the poller instead.
        releaseProbe(probe);
        this.#probe = takeProbe(probe.length * 2);
      } else if (n <= probe.length >>> 2 && probe.length > this.#idle) {
        // A probe that bursts use a quarter of or less halves, back down to `idle`.
        releaseProbe(probe);
        this.#probe = takeProbe(probe.length >>> 1);
      }
      return chunk;
    }
    const buf = this.#data!;
    const size = buf.length;
    if (this.#spilled !== 0) {
      // A burst of a bit more than the probe took two reads (and its replies two writes):
      // grow the probe to hold the next one, up to `min`. Streams that fill the data
      // buffer leave it as it is.
      const burst = this.#spilled + n;
      this.#spilled = 0;
      const probe = this.#probe!;
      let next = probe.length;
      while (next < burst && next < this.#min) next *= 2;
      if (n < size && next > probe.length) {
        releaseProbe(probe);
        this.#probe = takeProbe(next);
      }
    }
    this.#flowing = n === size || !this.#probe;
    if (n > size >>> 1 && n > COPY_MAX && !this.#lending) {
      if (n === size) this.#size = Math.min(size * 2, this.#max);
      this.#data = undefined;
      return n === size ? buf : buf.subarray(0, n);
    }
    if (this.#lending) this.#lentFrom = buf;
    const chunk = this.#lending ? buf.subarray(0, n) : copyOut(buf, n);
    if (n === size && size < this.#max) {
      this.#size = Math.min(size * 2, this.#max);
      this.#data = undefined;
    } else if (n <= size >>> 2 && size > this.#min) {
      // Shrink to twice the next power of two above n.
      let next = this.#min;
      while (next < n * 2 && next < size) next *= 2;
      this.#size = next;
      this.#data = undefined;
    }
    // Waiting on the probe from now on: do not pin the data buffer meanwhile.
    if (!this.#flowing) this.#data = undefined;
    return chunk;
  }

  /**
   * Gives the probe back to the pool and drops the data buffer. Call it once, when no
   * read is pending and none will be made: a read in flight writes into its buffer.
   */
  dispose(): void {
    if (this.#probe) releaseProbe(this.#probe);
    this.#probe = this.#data = this.#lentFrom = undefined;
  }
}

/** Probes of this size are slots of shared slabs; other sizes are arrays of their own. */
const POOLED_PROBE = 128;
const PROBES = new SlotPool(POOLED_PROBE, 16 * 1024);

/**
 * A probe of `size` bytes. Every idle connection waits on one, so they are cut from
 * slabs shared by all the connections of this thread: on Deno a typed array of its own
 * costs, besides its bytes, an ArrayBuffer object and the allocator's records for its
 * memory: about 300 bytes per idle connection (measured with 10 000 connections, after
 * a full GC: 190 fewer `malloc` bytes in use, 150 fewer JS heap bytes). A slot is given
 * back with {@linkcode releaseProbe} and handed to the next connection; the slabs stay,
 * about 128 bytes for each connection of the busiest moment, as memory freed to
 * `malloc` does.
 */
function takeProbe(size: number): Uint8Array {
  return size === POOLED_PROBE ? PROBES.take() : new Uint8Array(size);
}

/** Gives a probe back: no read may be pending on it. */
function releaseProbe(probe: Uint8Array): void {
  if (probe.length === POOLED_PROBE) PROBES.release(probe);
}

/** Reads up to this many bytes are copied out of the read buffer into a shared slab. */
const COPY_MAX = 2048;
const COPIES = new Slab(16 * 1024);

/**
 * Copies the first `n` bytes of `src` (`n <= COPY_MAX`, or a copy of its own) into the
 * slab shared by every connection of this thread: one allocation per 16 KiB of small
 * reads instead of one per read. On Deno each typed array's memory is its own `calloc`,
 * freed later by a garbage collector thread, and the two contend for the allocator's
 * lock (measured: a futex call every few reads in a pipelined echo). A chunk handed out
 * is never written again, so sharing is safe; a chunk kept alive keeps its slab alive.
 */
function copyOut(src: Uint8Array, n: number): Uint8Array {
  if (n > COPY_MAX) return src.slice(0, n);
  const out = COPIES.take(n);
  out.set(n === src.length ? src : src.subarray(0, n));
  return out;
}
