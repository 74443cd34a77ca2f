/**
 * Zero-copy re-sending of received frames. Internal: not exported from `mod.ts`.
 *
 * A frame a built-in decoder returns is usually a view into a chunk the socket read,
 * and the bytes that framed it on the way in (a line's `\n`, a length header) are
 * still there around it. When they are exactly the bytes `encode()` would write, the
 * wire form of the message is already in memory: a connection can send that span of
 * the chunk instead of encoding, and adjacent spans (the replies to one read, in
 * order) coalesce into one write of one view, with no copy and no allocation per message.
 *
 * A framer opts in with a method under {@linkcode WIRE}. The connection only asks for
 * spans inside the last chunk it read (which no one writes to: see the transport
 * contract), and only until the replies to that chunk are sent (at the latest, the end
 * of the task that read it), so the bytes it checks are the bytes it sends. A message is checked as `encode()` checks it (no delimiter
 * inside, length within bounds), except a frame sent back while it is being handled
 * (from its `message` hook, or before the iterator asks for the next one): the decoder
 * has just checked it. Such a frame is sent as it came, so a handler that writes a
 * delimiter into a received frame and sends it back sends that byte as it is.
 *
 * @module
 */

/** The key of a framer's wire-span method. */
export const WIRE: unique symbol = Symbol("tcpkit.wire");

/**
 * Where a wire span starts and ends, as offsets into the message's buffer. The caller
 * owns it and passes it in; a {@linkcode WireSpan} method that returns true fills it.
 */
export interface Span {
  start: number;
  end: number;
}

/**
 * Finds the wire form of `msg` around it in memory.
 *
 * @param msg The message to send.
 * @param chunk The chunk read that may hold it: a view of `msg.buffer` from `base`.
 * @param base `chunk.byteOffset`: offsets are `msg.byteOffset` based, so the byte at
 *   offset `i` is `chunk[i - base]` (`undefined` outside the chunk).
 * @param trusted `msg` is the frame the decoder just returned: the scan for a
 *   delimiter inside it may be skipped.
 * @param out Filled with the span when the method returns true.
 * @returns true when the bytes at offsets `[out.start, out.end)` are exactly what
 *   `encode(msg)` would produce; false when the message must go through `encode()`
 *   (which also raises any error), and then `out` may hold anything.
 */
export type WireSpan = (
  msg: Uint8Array,
  chunk: Uint8Array,
  base: number,
  trusted: boolean,
  out: Span,
) => boolean;

/** A framer that may carry a {@linkcode WireSpan} method. */
export interface WireFramer {
  [WIRE]?: WireSpan;
}

/**
 * The key of a decoder's method that tells where `frame`, which its last `next()` or
 * `finish()` returned, came from, with its framing: it sets `out` to the span of that frame's wire form
 * in the chunk it was cut from (offsets into that chunk, which it returns) when those bytes
 * are exactly what `encode()` writes for it; `null` when they are not (a copy from several
 * chunks, a header or delimiter `encode()` writes otherwise: encode it); `undefined` when the
 * decoder cannot tell (then the frame is checked as any other message is). A connection asks
 * it for the frame it is handling, instead of reading the frame's `.buffer` and
 * `.byteOffset` and the bytes around it: on Bun `.buffer` costs about what a view does.
 * Called with `null`, the decoder forgets that frame and lets go of its chunk; a connection
 * does so once the replies to a read are out.
 */
export const FRAME_WIRE: unique symbol = Symbol("tcpkit.frameWire");

/** A decoder that may tell where its last frame came from. */
export interface FrameWireSource {
  [FRAME_WIRE]?(out: Span | null, frame?: Uint8Array): Uint8Array | null | undefined;
}
