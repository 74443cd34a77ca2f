/**
 * The header of `lengthPrefixed()` frames, in memory: how long it is, writing it, and
 * checking that bytes already in memory are the header `encode()` would write (for
 * zero-copy replies). Shared by the framer's `encode()` and its wire-span method; the
 * decoder reads headers from its byte queue instead. Internal.
 *
 * @module
 */

import { Slab } from "../_slab.ts";

/** Where the length field sits and how it is written. */
export interface HeaderLayout {
  /** The length field's bytes, or 0 for an unsigned LEB128 varint. */
  size: 0 | 1 | 2 | 3 | 4 | 8;
  /** Little-endian (fixed sizes only). */
  little: boolean;
  /** Bytes of header before the length field. */
  offset: number;
}

/** The bytes of the varint that holds `value`. */
function varintSize(value: number): number {
  let n = 1;
  for (let v = value; v >= 128; v = Math.floor(v / 128)) n++;
  return n;
}

/** The bytes of the header that carries `value`: the offset bytes and the length field. */
export function headerLength(layout: HeaderLayout, value: number): number {
  return layout.offset + (layout.size === 0 ? varintSize(value) : layout.size);
}

/** Whether `bytes` at `at` hold the header {@linkcode writeHeader} writes for `value`. */
export function headerMatches(
  layout: HeaderLayout,
  bytes: Uint8Array,
  at: number,
  value: number,
): boolean {
  const { size, little, offset } = layout;
  for (let i = 0; i < offset; i++) if (bytes[at + i] !== 0) return false;
  at += offset;
  if (size === 0) {
    let v = value;
    for (; v >= 128; at++, v = Math.floor(v / 128)) {
      if (bytes[at] !== ((v % 128) | 0x80)) return false;
    }
    return bytes[at] === v;
  }
  if (size === 4 && !little) {
    return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>>
        0 ===
      value;
  }
  for (let i = 0, v = value; i < size; i++, v = Math.floor(v / 256)) {
    if (bytes[at + (little ? i : size - 1 - i)] !== v % 256) return false;
  }
  return true;
}

/**
 * Headers are carved from shared slabs (see `_slab.ts`): a small typed array of its own
 * costs about 0.3 µs on Deno, a view of a slab a tenth of that. A header is written once
 * and never changed, so sharing is safe; it keeps its 8 KiB slab alive while it lives.
 */
const HEADERS = new Slab(8192);

/**
 * A new header carrying `value`: `prefix` (the offset bytes; zeros without it), then
 * the length field.
 */
export function writeHeader(
  layout: HeaderLayout,
  prefix: Uint8Array | undefined,
  value: number,
): Uint8Array {
  const { size, little, offset } = layout;
  const n = headerLength(layout, value);
  const header = n <= 64 ? HEADERS.take(n) : new Uint8Array(n);
  if (prefix) header.set(prefix);
  if (size === 0) {
    let v = value;
    for (let i = offset; v >= 128; i++, v = Math.floor(v / 128)) header[i] = (v % 128) | 0x80;
    header[n - 1] = v;
  } else {
    for (let i = 0, v = value; i < size; i++, v = Math.floor(v / 256)) {
      header[offset + (little ? i : size - 1 - i)] = v % 256;
    }
  }
  return header;
}

/** The length of the varint at `at` in `bytes`, or -1 when it is not a valid one. */
export function varintLength(bytes: Uint8Array, at: number): number {
  for (let i = 0; i < 8 && at + i < bytes.length; i++) {
    const b = bytes[at + i];
    if (b < 0x80) return (b === 0 && i > 0) || (i === 7 && b > 0x0f) ? -1 : i + 1;
  }
  return -1;
}
