/**
 * Web Streams faces of a framer: {@linkcode decoderStream} and {@linkcode encoderStream}.
 * @module
 */

import type { Framer } from "./framer.ts";
import { FramingError } from "../errors.ts";
import { checkObject, framer as isFramer, func, type Schema } from "../_options.ts";

/** Options of {@linkcode decoderStream}. */
export interface DecoderStreamOptions {
  /**
   * Called with each recoverable `FramingError` (a frame dropped by `tooLong: "skip"`);
   * decoding goes on. By default such errors are ignored. Other errors always error
   * the stream.
   */
  onError?: (error: FramingError) => void;
}

const SCHEMA = { onError: func } as const satisfies Schema<DecoderStreamOptions>;

/**
 * A `TransformStream` from bytes to the framer's frames: a bounded `DelimiterStream`
 * for any framer. At the end of input the decoder's EOF policy applies. A framing
 * error that is not recoverable errors the stream with that typed error.
 *
 * Frames may be views into the chunks written; write chunks you no longer change.
 *
 * @param framer The framer whose decoder to run.
 * @param options What to do with recoverable errors.
 * @returns A stream of frames.
 *
 * @example Lines from any byte stream
 * ```ts
 * import { decoderStream, lines } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const enc = new TextEncoder();
 * const bytes = ReadableStream.from([enc.encode("one\ntw"), enc.encode("o\n")]);
 * const got = await Array.fromAsync(bytes.pipeThrough(decoderStream(lines())));
 * assert.deepEqual(got, ["one", "two"]);
 * ```
 */
export function decoderStream<In, Out>(
  framer: Framer<In, Out>,
  options: DecoderStreamOptions = {},
): TransformStream<Uint8Array, In> {
  isFramer("decoderStream()", "framer", framer);
  checkObject("decoderStream()", options, SCHEMA);
  const decoder = framer.decoder();
  const onError = options.onError;
  const drain = (take: () => In | undefined, out: TransformStreamDefaultController<In>) => {
    for (;;) {
      let frame: In | undefined;
      try {
        frame = take();
      } catch (e) {
        if (e instanceof FramingError && e.recoverable) {
          onError?.(e);
          continue;
        }
        throw e;
      }
      if (frame === undefined) return;
      out.enqueue(frame);
    }
  };
  return new TransformStream<Uint8Array, In>({
    transform(chunk, out) {
      decoder.push(chunk);
      drain(() => decoder.next(), out);
    },
    flush(out) {
      drain(() => decoder.finish(), out);
    },
  });
}

/**
 * A `TransformStream` from messages to bytes, using the framer's encoder. A message the
 * framer refuses errors the stream with the encoder's error.
 *
 * @param framer The framer whose encoder to run.
 * @returns A stream of byte chunks.
 *
 * @example Writing length-prefixed frames
 * ```ts
 * import { encoderStream, lengthPrefixed } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const frames = ReadableStream.from([Uint8Array.of(1, 2), Uint8Array.of(3)]);
 * const chunks = await Array.fromAsync(frames.pipeThrough(encoderStream(lengthPrefixed({ size: 1 }))));
 * assert.deepEqual(chunks, [Uint8Array.of(2), Uint8Array.of(1, 2), Uint8Array.of(1), Uint8Array.of(3)]);
 * ```
 */
export function encoderStream<In, Out>(framer: Framer<In, Out>): TransformStream<Out, Uint8Array> {
  isFramer("encoderStream()", "framer", framer);
  return new TransformStream<Out, Uint8Array>({
    transform(msg, out) {
      const encoded = framer.encode(msg);
      if (encoded instanceof Uint8Array) {
        if (encoded.length !== 0) out.enqueue(encoded);
        return;
      }
      for (const chunk of encoded) if (chunk.length !== 0) out.enqueue(chunk);
    },
  });
}
