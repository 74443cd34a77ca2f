/**
 * CRC32c (Castagnoli), table-driven, as used by the PROXY protocol v2 CRC32C TLV.
 * Reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF.
 * Internal: not exported from `mod.ts`.
 *
 * @module
 */

const TABLE = /* @__PURE__ */ (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * Computes CRC32c. Pass the result of a previous call as `previous` to continue
 * over more bytes: `crc32c(b, crc32c(a))` equals `crc32c(a + b)`.
 *
 * @param bytes The data.
 * @param previous The CRC of the bytes before `bytes`, or 0 to start.
 * @returns The CRC as an unsigned 32-bit number.
 *
 * @example The standard check value
 * ```ts
 * import { crc32c } from "./_crc32c.ts";
 * crc32c(new TextEncoder().encode("123456789")); // 0xe3069283
 * ```
 */
export function crc32c(bytes: Uint8Array, previous = 0): number {
  let c = ~previous >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
