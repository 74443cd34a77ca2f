/**
 * The TLVs of a PROXY protocol v2 header (HAProxy's spec, section 2.2): the type
 * numbers, reading the type-length-value list that follows the address block, and
 * decoding the known types into fields of the header (ALPN, authority, the CRC32C
 * check, unique id, SSL with its sub-TLVs, network namespace). Apart from `_v2.ts`,
 * which reads the fixed part and the addresses, because this is the open-ended part of
 * the format. Internal: {@linkcode PROXY_TLV} is re-exported by `protocol.ts`.
 *
 * ```
 * TLV    | type 1 | length 2 (BE) | value, length bytes |
 * SSL    | client 1 | verify 4 (BE) | sub-TLVs (0x21 version, 0x22 CN, ...) |
 * ```
 *
 * @module
 */

import { crc32c } from "./_crc32c.ts";
import { ProxyProtocolError } from "../errors.ts";
import type { ProxyHeader, ProxySslInfo, ProxyTlv } from "./header.ts";

/**
 * The TLV types the HAProxy spec defines. Types 0xE0-0xEF are for custom use and
 * 0xF0 is experimental; every TLV, known or not, is also in `ProxyHeader.tlvs`.
 *
 * @example Sending the authority and a custom TLV
 * ```ts
 * import { encodeProxyV2, parseProxyHeader, PROXY_TLV } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const enc = new TextEncoder();
 * const bytes = encodeProxyV2({
 *   source: { transport: "tcp", hostname: "192.0.2.1", port: 5000, family: "IPv4" },
 *   destination: { transport: "tcp", hostname: "192.0.2.2", port: 443, family: "IPv4" },
 *   tlvs: [
 *     { type: PROXY_TLV.AUTHORITY, value: enc.encode("example.com") },
 *     { type: 0xe0, value: enc.encode("tenant-7") }, // 0xE0-0xEF: custom use
 *   ],
 * });
 * const tlvs = parseProxyHeader(bytes)?.tlvs ?? [];
 * assert.deepEqual(tlvs.map((t) => t.type), [PROXY_TLV.AUTHORITY, 0xe0]);
 * ```
 */
export const PROXY_TLV = {
  ALPN: 0x01,
  AUTHORITY: 0x02,
  CRC32C: 0x03,
  NOOP: 0x04,
  UNIQUE_ID: 0x05,
  SSL: 0x20,
  SSL_VERSION: 0x21,
  SSL_CN: 0x22,
  SSL_CIPHER: 0x23,
  SSL_SIG_ALG: 0x24,
  SSL_KEY_ALG: 0x25,
  NETNS: 0x30,
} as const;

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8Loose = new TextDecoder("utf-8");
const latin1 = (b: Uint8Array) => {
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
};
/** Top-level TLV types decoded into fields of the header (NOOP is known but carries nothing). */
const DECODED = new Set<number>([0x01, 0x02, 0x03, 0x05, 0x20, 0x30]);
/** The big-endian 16-bit number at `at`. */
export const be16 = (b: Uint8Array, at: number): number => (b[at] << 8) | b[at + 1];
/** A type byte as it is written in errors: `0x2a`. */
export const hex = (n: number): string => "0x" + n.toString(16).padStart(2, "0");
/** A header (or its SSL part) while it is being filled. */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type Tlv = { type: number; at: number; value: Uint8Array };

/** Reads a TLV list; throws when a TLV overruns the bytes given. */
function readTlvs(
  b: Uint8Array,
  at: number,
  end: number,
): Tlv[] {
  const out: Tlv[] = [];
  while (at < end) {
    if (end - at < 3) {
      throw new ProxyProtocolError(
        `PROXY v2: truncated TLV at offset ${at} (${end - at} bytes left)`,
      );
    }
    const type = b[at];
    const len = be16(b, at + 1);
    if (len > end - at - 3) {
      throw new ProxyProtocolError(
        `PROXY v2: TLV ${hex(type)} at offset ${at} declares ${len} bytes, only ${
          end - at - 3
        } left`,
      );
    }
    out.push({ type, at, value: b.subarray(at + 3, at + 3 + len) });
    at += 3 + len;
  }
  return out;
}

function decodeSsl(v: Uint8Array): ProxySslInfo | undefined {
  if (v.length < 5) return undefined;
  const verify = ((v[1] << 24) | (v[2] << 16) | (v[3] << 8) | v[4]) >>> 0;
  const info: Mutable<ProxySslInfo> = { client: v[0], verify, verified: verify === 0 };
  const names: Record<
    number,
    "version" | "commonName" | "cipher" | "signatureAlgorithm" | "keyAlgorithm"
  > = {
    0x21: "version",
    0x22: "commonName",
    0x23: "cipher",
    0x24: "signatureAlgorithm",
    0x25: "keyAlgorithm",
  };
  try {
    for (const t of readTlvs(v, 5, v.length)) {
      if (names[t.type]) info[names[t.type]] = utf8Loose.decode(t.value);
    }
  } catch {
    // best effort: keep the sub-TLVs read before the malformed one
  }
  return info;
}

/**
 * Decodes the TLVs of a complete v2 header, from `at` to its end: each goes to `tlvs`,
 * and the known types also into their fields of `header`; a known type twice is refused.
 *
 * @throws {ProxyProtocolError} When a TLV overruns the header, a known type appears
 *   twice, or a known TLV is malformed (the CRC32C check among them).
 */
export function decodeTlvs(
  raw: Uint8Array,
  at: number,
  tlvs: ProxyTlv[],
  header: Mutable<ProxyHeader>,
): void {
  const seen = new Set<number>();
  for (const t of readTlvs(raw, at, raw.length)) {
    tlvs.push({ type: t.type, value: t.value });
    if (!DECODED.has(t.type)) continue; // NOOP and unknown types: kept raw, otherwise ignored
    if (seen.has(t.type)) {
      throw new ProxyProtocolError(`PROXY v2: TLV ${hex(t.type)} appears twice`);
    }
    seen.add(t.type);
    decodeKnown(raw, t, header);
  }
}

function decodeKnown(
  raw: Uint8Array,
  t: Tlv,
  header: Mutable<ProxyHeader>,
): void {
  const v = t.value;
  switch (t.type) {
    case PROXY_TLV.ALPN:
      header.alpn = latin1(v);
      break;
    case PROXY_TLV.AUTHORITY:
      try {
        header.authority = utf8.decode(v);
      } catch {
        throw new ProxyProtocolError("PROXY v2: AUTHORITY TLV is not valid UTF-8");
      }
      break;
    case PROXY_TLV.CRC32C: {
      if (v.length !== 4) {
        throw new ProxyProtocolError(`PROXY v2: CRC32C TLV has ${v.length} bytes, want 4`);
      }
      const sent = ((v[0] << 24) | (v[1] << 16) | (v[2] << 8) | v[3]) >>> 0;
      const start = t.at + 3;
      let c = crc32c(raw.subarray(0, start));
      c = crc32c(new Uint8Array(4), c);
      c = crc32c(raw.subarray(start + 4), c);
      if (c !== sent) {
        throw new ProxyProtocolError(
          `PROXY v2: CRC32C mismatch: header says ${sent.toString(16)}, computed ${c.toString(16)}`,
        );
      }
      header.crc32c = sent;
      break;
    }
    case PROXY_TLV.UNIQUE_ID:
      if (v.length > 128) {
        throw new ProxyProtocolError(`PROXY v2: UNIQUE_ID TLV has ${v.length} bytes, at most 128`);
      }
      header.uniqueId = v;
      break;
    case PROXY_TLV.SSL:
      header.ssl = decodeSsl(v);
      break;
    case PROXY_TLV.NETNS:
      header.netns = latin1(v);
      break;
  }
}
