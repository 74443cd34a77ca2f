/**
 * Lent chunks: a connection with `lentMessages` pushes into its decoder chunks that are
 * valid only during the socket's `data()` call (the next read goes into the same
 * memory). Whatever the decoder still holds of such a chunk when the call ends must
 * become the decoder's own: {@linkcode OWN} is the key of the decoder method that copies
 * it, without changing where the decoder is in its frame. Internal.
 *
 * @module
 */

import type { ByteQueue } from "./_byte_queue.ts";

/**
 * The key of a decoder's method that copies the bytes it holds in `lent` (the buffer of
 * a chunk lent for one call), so that nothing it keeps points into that memory. Frames
 * it returned before stay as they are.
 */
export const OWN: unique symbol = Symbol("tcpkit.own");

/** A decoder that can make the bytes it holds its own (the built-in ones). */
export interface OwningDecoder {
  [OWN]?(lent: ArrayBufferLike): void;
}

/**
 * Copies the chunks of `q` that lie in `lent`. The queue is emptied and refilled in the
 * same order, so positions relative to its front (all a decoder's state refers to) stay
 * the same; only the memory behind them changes.
 */
export function ownQueue(q: ByteQueue, lent: ArrayBufferLike): void {
  if (q.length === 0) return;
  const rest = q.takeRemaining();
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i];
    q.push(c.buffer === lent ? c.slice() : c);
  }
}
