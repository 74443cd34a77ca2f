/**
 * Small byte arrays cut from shared slabs, as Node's `Buffer` pool does. A typed array
 * of its own costs, besides its bytes, an ArrayBuffer object, the allocator's records
 * for its memory and garbage-collector work (on Deno its memory is a `calloc`, freed by a
 * collector thread that contends with the next allocation for the allocator's lock); a
 * view of a slab costs a tenth of that. Used for the length headers `lengthPrefixed()`
 * writes, and for the Deno adapter's idle probes and the copies of its small reads. A
 * base-layer file of its own because framers and adapters both use it. Internal.
 *
 * A view keeps its whole slab alive for as long as it lives: only for many small views
 * that live about as long as each other.
 *
 * @module
 */

const EMPTY = new Uint8Array(0);

/** A bump allocator: views cut one after the other from a slab, a new slab once it is full. */
export class Slab {
  readonly #size: number;
  #slab: Uint8Array = EMPTY; // the first slab is cut at the first take()
  #used = 0;

  /** @param size The bytes of each slab: the most a single {@linkcode Slab.take} may ask for. */
  constructor(size: number) {
    this.#size = size;
  }

  /** A view of `n` fresh bytes, zeros (`n <= size`): no other view shares them. */
  take(n: number): Uint8Array {
    if (this.#used + n > this.#slab.length) {
      this.#slab = new Uint8Array(this.#size);
      this.#used = 0;
    }
    return this.#slab.subarray(this.#used, this.#used += n);
  }
}

/**
 * Equal-size slots of slabs, with a free list: a slot given back with
 * {@linkcode SlotPool.release} is handed out again before a new one is cut. For views
 * whose lives end at a known point. The slabs stay: as many slots as were ever out at
 * once, as memory freed to `malloc` stays with the process.
 */
export class SlotPool {
  /** The bytes of each slot. */
  readonly slot: number;
  readonly #slab: Slab;
  readonly #free: Uint8Array[] = [];

  /**
   * @param slot The bytes of each slot.
   * @param slabSize The bytes of each slab (a multiple of `slot`).
   */
  constructor(slot: number, slabSize: number) {
    this.slot = slot;
    this.#slab = new Slab(slabSize);
  }

  /** A slot: one given back (its old bytes still in it), else a fresh one. */
  take(): Uint8Array {
    return this.#free.pop() ?? this.#slab.take(this.slot);
  }

  /** Gives a slot back: its holder must no longer use it (no read pending into it). */
  release(slot: Uint8Array): void {
    this.#free.push(slot);
  }
}
