/**
 * Option checks and small helpers shared by the built-in framers. Internal.
 * @module
 */

import type { EofPolicy, TooLongPolicy } from "./framer.ts";
import { checkKeys, describe, type Keys } from "../_options.ts";

/** The policies a framer accepts for frames over `maxLength`. */
const TOO_LONG: readonly TooLongPolicy[] = ["close", "skip", "split"];
/** The policies a framer accepts for a partial frame at end of stream. */
const EOF: readonly EofPolicy[] = ["error", "emit", "discard"];

/** Shared UTF-8 encoder. */
export const utf8Encoder: TextEncoder = new TextEncoder();
/**
 * Shared UTF-8 decoder: invalid bytes become U+FFFD, and a leading byte order mark is
 * kept, so every frame decodes the same wherever it sits in the stream.
 */
export const utf8Decoder: TextDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** Checks that `value` is an integer in `[min, max]`, or throws a `TypeError`/`RangeError`. */
export function checkInteger(
  framer: string,
  option: string,
  value: unknown,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(`${framer}: ${option} must be an integer, got ${describe(value)}`);
  }
  if (value < min || value > max) {
    throw new RangeError(`${framer}: ${option} must be from ${min} to ${max}, got ${value}`);
  }
  return value;
}

/** Checks that `value` is one of `allowed`, or throws a `TypeError` that lists them. */
export function checkOneOf<T>(
  framer: string,
  option: string,
  value: unknown,
  allowed: readonly T[],
): T {
  if (!allowed.includes(value as T)) {
    const list = allowed.map((a) => JSON.stringify(a)).join(", ");
    throw new TypeError(`${framer}: ${option} must be one of ${list}, got ${describe(value)}`);
  }
  return value as T;
}

/** Checks a `tooLong` option. */
export function checkTooLong(framer: string, value: unknown): TooLongPolicy {
  return checkOneOf(framer, "tooLong", value, TOO_LONG);
}

/** Checks an `eof` option. */
export function checkEof(framer: string, value: unknown): EofPolicy {
  return checkOneOf(framer, "eof", value, EOF);
}

/**
 * Checks that an options argument is an object (or absent) whose every key is one of
 * `known` (an unknown one is a `TypeError` that suggests the closest known key).
 */
export function checkOptions<T extends object>(
  framer: string,
  options: T | undefined,
  known: Keys<T>,
): T {
  if (options === undefined) return {} as T;
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${framer}: options must be an object, got ${describe(options)}`);
  }
  checkKeys(framer, options, known);
  return options;
}
