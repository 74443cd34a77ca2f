/**
 * Batch decoding: a built-in decoder can hand over every whole frame of the chunk at
 * the front of its queue in one call, as offsets into that chunk, with no object per
 * frame. The connection's `messages` hook is built on it. Internal: not exported.
 *
 * @module
 */

/** The key of a decoder's batch method ({@linkcode BatchDecode}). */
export const BATCH: unique symbol = Symbol("tcpkit.batch");

/** The most frames one batch holds (the default fairness budget). */
export const BATCH_MAX = 1024;

/**
 * Where a batch's frames lie. Filled by a decoder's {@linkcode BatchDecode} method; one
 * is reused for every batch while no other is being handled (the connection checks).
 */
export class BatchSlots {
  /** The memory the frames lie in: offsets below are indexes into it. */
  bytes: Uint8Array = new Uint8Array(0);
  /** Where frame `i`'s payload starts and ends (exclusive). */
  readonly starts: Int32Array;
  readonly ends: Int32Array;
  /** Where frame `i`'s wire form (delimiter or header included) ends. */
  readonly wireEnds: Int32Array;
  /**
   * Where the first frame's wire form starts, when the frames' wire forms, back to back
   * from here, are exactly what the framer's `encode()` of each payload's bytes writes;
   * -1 when not (a `\r\n` line, a frame copied from several chunks, a custom decoder).
   */
  wireStart = -1;
  /** `bytes` is the one frame `next()` returned (by {@linkcode batchOfOne}). */
  single = false;
  /** Frames are UTF-8 text: a message is its bytes decoded. */
  text = false;
  /** Counts the batches handed out over these slots (a batch is valid while it matches). */
  gen = 0;
  /** A batch over these slots is being handled. */
  busy = false;

  /** Slots for up to `size` frames (12 bytes each). */
  constructor(size: number = BATCH_MAX) {
    this.starts = new Int32Array(size);
    this.ends = new Int32Array(size);
    this.wireEnds = new Int32Array(size);
  }
}

/**
 * A decoder's batch method: fills `slots` with up to `max` (`>= 1`) whole frames, in
 * order, removes them from the decoder and returns how many; 0 when no frame is whole.
 * It behaves as `next()` would for the frames it returns: when its fast scan cannot
 * take the first frame (a frame over chunks, a policy at work, an error), it takes that
 * one frame with `next()` (a batch of one, `wireStart` -1), and throws what `next()` throws.
 */
export type BatchDecode = (slots: BatchSlots, max: number) => number;

/** A decoder that may carry a {@linkcode BatchDecode} method (the built-in ones). */
export interface BatchDecoder {
  [BATCH]?: BatchDecode;
}

/** Makes `slots` a batch of the one frame `frame` (copied or cut by `next()`). */
export function batchOfOne(slots: BatchSlots, frame: Uint8Array | undefined): number {
  if (frame === undefined) return 0;
  slots.bytes = frame;
  slots.single = true;
  slots.starts[0] = 0;
  slots.ends[0] = slots.wireEnds[0] = frame.length;
  slots.wireStart = -1;
  return 1;
}
