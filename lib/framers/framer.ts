/**
 * The framer contract. A framer turns a byte stream into messages and messages into
 * bytes. It is a pure, synchronous codec: it knows nothing of sockets, so the same
 * framer serves a {@linkcode Connection}, a Web Streams `TransformStream` and a unit test.
 *
 * Rules every framer keeps (the built-in ones are tested for each):
 * - bounded: a maximum frame length is always in force, bytes held stay below
 *   `maxLength` plus one pushed chunk, and nothing is allocated from a length the peer declared;
 * - chunk-proof: any split of the input gives the same frames;
 * - linear: no rescanning from the start of the buffer;
 * - typed errors: only {@linkcode FramingError}s are thrown for bad input;
 * - honest encoders: a message that does not fit is refused, never truncated.
 *
 * @module
 */

/** What a framer does with a frame longer than its `maxLength`. */
export type TooLongPolicy = "close" | "skip" | "split";

/** What a framer does with a partial frame at end of stream. */
export type EofPolicy = "error" | "emit" | "discard";

/**
 * The per-connection state machine of a framer.
 *
 * Use: `push()` every chunk, then call `next()` until it returns `undefined`
 * ("need more bytes"). When the input ends, call `finish()` until it returns `undefined`.
 *
 * `next()` and `finish()` throw a `FramingError` for bad input. When the error's
 * `recoverable` is true (the `"skip"` policy) the decoder has already moved past the
 * bad frame and decoding can go on; otherwise the stream is beyond repair, and the
 * built-in decoders throw the same error again on every later call.
 *
 * Chunks passed to `push()` become the decoder's: the caller must not change them
 * afterwards. Frames returned may be views (`subarray`) into those chunks.
 *
 * The built-in decoders choose zero copy: a frame that lies inside one pushed chunk is
 * a view of it, and a frame that spans chunks is copied once (up to 1 KiB, into a slab
 * of 16 KiB shared with other such copies). Views stay valid for good (nothing ever
 * writes into a pushed chunk or a copy), but a small frame kept alive also keeps its
 * whole chunk or slab alive (harper#2080): `.slice()` the frames you store for long.
 * Frames are plain `Uint8Array`s, also when the chunks pushed are a subclass.
 * A trickle of tiny chunks is packed into blocks the decoder owns, so a slow sender
 * costs bytes, not one object per byte.
 */
export interface Decoder<T> {
  /** Appends bytes. Empty chunks are allowed and change nothing. */
  push(chunk: Uint8Array): void;
  /** The next whole frame, or `undefined` when more bytes are needed. */
  next(): T | undefined;
  /**
   * After end of input: the next frame (whole frames still held come first, then
   * whatever the EOF policy makes of a partial one), or `undefined` when done.
   */
  finish(): T | undefined;
  /** Bytes held and not yet returned as frames. */
  readonly buffered: number;
  /**
   * Removes and returns every byte held but not yet decoded, in order. Used to hand
   * the rest of a stream to another framer (protocol upgrade, STARTTLS, PROXY header).
   */
  takeRemaining(): Uint8Array[];
}

/**
 * A framer: a factory of decoders plus an encoder.
 *
 * @typeParam In What the decoder yields (a string for `lines()`, bytes for most).
 * @typeParam Out What the encoder accepts.
 *
 * @example A custom framer: every frame is one byte of length, then the payload
 * ```ts
 * import { type Decoder, type Framer, FrameTooLongError } from "@tcpkit/tcpkit";
 *
 * function tiny(): Framer<Uint8Array> {
 *   return {
 *     name: "tiny",
 *     maxLength: 255,
 *     decoder(): Decoder<Uint8Array> {
 *       let buf = new Uint8Array(0);
 *       return {
 *         push(chunk) {
 *           const next = new Uint8Array(buf.length + chunk.length);
 *           next.set(buf);
 *           next.set(chunk, buf.length);
 *           buf = next;
 *         },
 *         next() {
 *           if (buf.length < 1 || buf.length < 1 + buf[0]) return undefined;
 *           const frame = buf.subarray(1, 1 + buf[0]);
 *           buf = buf.subarray(1 + buf[0]);
 *           return frame;
 *         },
 *         finish: () => undefined,
 *         get buffered() {
 *           return buf.length;
 *         },
 *         takeRemaining() {
 *           const rest = buf;
 *           buf = new Uint8Array(0);
 *           return rest.length ? [rest] : [];
 *         },
 *       };
 *     },
 *     encode(msg) {
 *       if (msg.length > 255) throw new FrameTooLongError(msg.length, 255);
 *       return [Uint8Array.of(msg.length), msg];
 *     },
 *   };
 * }
 * ```
 */
export interface Framer<In, Out = In> {
  /** A short name for logs and errors (`"lines"`, `"length-prefixed"`, ...). */
  readonly name: string;
  /** The largest frame the decoder accepts, in bytes. */
  readonly maxLength: number;
  /** Makes a fresh decoder, one per connection or stream. */
  decoder(): Decoder<In>;
  /**
   * Encodes one message: one chunk, or several to avoid a copy. Throws
   * `FrameTooLongError` for a message over the limit or the length field, and
   * `TypeError` or `RangeError` for another message the framing cannot carry (a line
   * holding its delimiter, a fixed frame of the wrong size). Never truncates.
   */
  encode(msg: Out): Uint8Array | readonly Uint8Array[];
}

/** The frame type a framer decodes to. */
export type FrameOf<F> = F extends Framer<infer In, unknown> ? In : never;
/** The message type a framer encodes. */
export type MessageOf<F> = F extends Framer<unknown, infer Out> ? Out : never;
