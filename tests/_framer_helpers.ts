// Shared code for the framer tests: drive a decoder over chunks, split inputs the way
// fast-check says, and naive whole-buffer reference decoders for differential checks.
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Decoder, Framer } from "../lib/framers/framer.ts";
import { FramingError } from "../lib/errors.ts";

export const te: TextEncoder = new TextEncoder();
export const td: TextDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** UTF-8 bytes of a string. */
export function bytes(s: string): Uint8Array {
  return te.encode(s);
}

/** All chunks as one buffer. */
export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** What an encoder returned, as one buffer. */
export function encoded(out: Uint8Array | readonly Uint8Array[]): Uint8Array {
  return out instanceof Uint8Array ? out : concat(out);
}

/** The outcome of decoding a whole input. */
export interface Outcome<T> {
  frames: T[];
  /** Every error, in order: recoverable ones, then at most one fatal one (last). */
  errors: FramingError[];
  /** The fatal error that stopped decoding, if any. */
  fatal?: FramingError;
}

/**
 * Pushes every chunk, drains `next()` after each, then drains `finish()`. Recoverable
 * errors are collected and decoding goes on; a fatal one stops it. Anything thrown that
 * is not a FramingError fails the test, and so does a decoder that yields more results
 * than there are bytes (a hang).
 */
export function decodeAll<T>(
  framer: Framer<T, unknown> | (() => Decoder<T>),
  chunks: Iterable<Uint8Array>,
): Outcome<T> {
  const decoder = typeof framer === "function" ? framer() : framer.decoder();
  const out: Outcome<T> = { frames: [], errors: [] };
  let budget = 64;
  const drain = (take: () => T | undefined): boolean => {
    for (;;) {
      let frame: T | undefined;
      try {
        frame = take();
      } catch (e) {
        if (!(e instanceof FramingError)) throw e;
        out.errors.push(e);
        if (!e.recoverable) {
          out.fatal = e;
          return false;
        }
        if (--budget < 0) assert.fail("decoder keeps yielding without consuming bytes");
        continue;
      }
      if (frame === undefined) return true;
      if (--budget < 0) assert.fail("decoder keeps yielding without consuming bytes");
      out.frames.push(frame);
    }
  };
  for (const chunk of chunks) {
    budget += chunk.length * 2 + 2;
    decoder.push(chunk);
    if (!drain(() => decoder.next())) return out;
  }
  drain(() => decoder.finish());
  return out;
}

/**
 * Splits `input` into chunks whose sizes cycle through `sizes` (0 gives an empty chunk;
 * when every size is 0 the chunks are 1 byte).
 */
export function split(input: Uint8Array, sizes: readonly number[]): Uint8Array[] {
  const cycle = sizes.length && sizes.some((s) => s > 0) ? sizes : [1];
  const out: Uint8Array[] = [];
  let at = 0;
  for (let i = 0; at < input.length; i++) {
    const n = cycle[i % cycle.length];
    // copy, so chunks never share a buffer with each other or with `input`
    out.push(input.slice(at, at + n));
    at += n;
  }
  if (cycle.includes(0)) out.push(new Uint8Array(0));
  return out;
}

/** Chunk size plans: 1-byte chunks, empty chunks, and random mixes. */
export const sizesArb: fc.Arbitrary<readonly number[]> = fc.oneof<
  fc.Arbitrary<readonly number[]>[]
>(
  fc.constant([1]),
  fc.constant([0, 1]),
  fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 8 }),
  fc.array(fc.integer({ min: 0, max: 200 }), { minLength: 1, maxLength: 8 }),
);

/** Frames as plain arrays, for assert.deepEqual across views and copies. */
export function plain(frames: readonly unknown[]): unknown[] {
  return frames.map((f) => (f instanceof Uint8Array ? Array.from(f) : f));
}

/** Asserts two outcomes have the same frames and the same error kinds. */
export function assertSameOutcome<T>(a: Outcome<T>, b: Outcome<T>, what = ""): void {
  assert.deepEqual(plain(a.frames), plain(b.frames), `frames differ ${what}`);
  assert.deepEqual(
    a.errors.map((e) => [e.name, e.recoverable]),
    b.errors.map((e) => [e.name, e.recoverable]),
    `errors differ ${what}`,
  );
}

/** An outcome built by a reference decoder. */
export function outcome<T>(frames: T[], errors: [string, boolean][]): {
  frames: T[];
  errors: [string, boolean][];
} {
  return { frames, errors };
}

/** Asserts a decoder outcome equals a reference outcome. */
export function assertOutcome<T>(
  got: Outcome<T>,
  want: { frames: T[]; errors: [string, boolean][] },
): void {
  assert.deepEqual(plain(got.frames), plain(want.frames), "frames differ from the reference");
  assert.deepEqual(
    got.errors.map((e) => [e.name, e.recoverable]),
    want.errors,
    "errors differ from the reference",
  );
}

/** Whether `hay` holds `needle` at `at`. */
export function matchesAt(hay: Uint8Array, needle: Uint8Array, at: number): boolean {
  if (at + needle.length > hay.length) return false;
  for (let i = 0; i < needle.length; i++) if (hay[at + i] !== needle[i]) return false;
  return true;
}

/**
 * Naive whole-buffer delimiter framing with the same policies as the real decoders:
 * the earliest delimiter wins, then the first listed. `contentLength` says how a
 * frame's length counts toward `max`.
 */
export function referenceDelimited(
  input: Uint8Array,
  opts: {
    delimiters: Uint8Array[];
    max: number;
    tooLong: "close" | "skip" | "split";
    eof: "error" | "emit" | "discard";
    includeDelimiter?: boolean;
  },
): { frames: Uint8Array[]; errors: [string, boolean][] } {
  const frames: Uint8Array[] = [];
  const errors: [string, boolean][] = [];
  let start = 0;
  const emit = (from: number, to: number, end: number): boolean => {
    // a frame [from, to) ended by a delimiter ending at `end` (or -1 at EOF)
    let n = to - from;
    if (n > opts.max) {
      if (opts.tooLong === "close") {
        errors.push(["FrameTooLongError", false]);
        return false;
      }
      if (opts.tooLong === "skip") {
        errors.push(["FrameTooLongError", true]);
        return true;
      }
      while (n > opts.max) {
        frames.push(input.slice(from, from + opts.max));
        from += opts.max;
        n -= opts.max;
      }
    }
    if (end < 0) {
      if (n === 0) return true;
      if (opts.eof === "emit") frames.push(input.slice(from, to));
      if (opts.eof === "error") {
        errors.push(["IncompleteFrameError", false]);
        return false;
      }
      return true;
    }
    frames.push(input.slice(from, opts.includeDelimiter ? end : to));
    return true;
  };
  for (let p = 0; p < input.length; p++) {
    const d = opts.delimiters.find((d) => matchesAt(input, d, p));
    if (!d) continue;
    if (!emit(start, p, p + d.length)) return { frames, errors };
    start = p + d.length;
    p = start - 1;
  }
  emit(start, input.length, -1);
  return { frames, errors };
}
