/**
 * Byte helpers shared by the runtime-free core.
 * @internal
 * @module
 */

/** Joins `chunks` (whose lengths add up to `total`) into one new array. */
export function concatBytes(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
