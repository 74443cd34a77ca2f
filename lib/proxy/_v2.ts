/**
 * PROXY protocol v2 (the binary form): checking the fixed 16-byte part, decoding a
 * complete header (its TLVs are read by `_tlv.ts`), and encoding one. Internal:
 * {@linkcode encodeProxyV2} is re-exported by `protocol.ts`.
 *
 * ```
 * 0                           12        13        14          16
 * +---------------------------+---------+---------+-----------+---------------+------+
 * | 0D0A0D0A 000D0A51 5549540A | ver|cmd | fam|tp  | len (BE)  | address block | TLVs |
 * +---------------------------+---------+---------+-----------+---------------+------+
 *          signature           2 | 0,1   see below              <------ len bytes ----->
 *
 * fam|tp: 0x00 UNSPEC  0x11 TCP/IPv4  0x12 UDP/IPv4  0x21 TCP/IPv6  0x22 UDP/IPv6
 *         0x31 UNIX stream  0x32 UNIX dgram            (anything else is refused)
 * INET   | src 4  | dst 4  | sport 2 | dport 2 |   12 bytes
 * INET6  | src 16 | dst 16 | sport 2 | dport 2 |   36 bytes
 * UNIX   | src path 108 | dst path 108 |          216 bytes (NUL-padded)
 * TLV    | type 1 | length 2 (BE) | value, length bytes |   (see _tlv.ts)
 * ```
 *
 * @module
 */

import { crc32c } from "./_crc32c.ts";
import { addrBytes, toV6 } from "./_v1.ts";
import { ProxyProtocolError } from "../errors.ts";
import { formatIp } from "../ip.ts";
import type { ProxyHeader, ProxyTlv } from "./header.ts";
import { be16, decodeTlvs, hex, type Mutable, PROXY_TLV } from "./_tlv.ts";
import type { TcpAddr, UnixAddr } from "../types.ts";

/** The 12-byte v2 signature: `\r\n\r\n\0\r\nQUIT\n`. */
export const V2_SIGNATURE: Uint8Array = Uint8Array.from(
  "\r\n\r\n\0\r\nQUIT\n",
  (c) => c.charCodeAt(0),
);

/** Address block size per family byte of a PROXY command. */
const BLOCK: Record<number, number> = {
  0x00: 0,
  0x11: 12,
  0x12: 12,
  0x21: 36,
  0x22: 36,
  0x31: 216,
  0x32: 216,
};

/**
 * Checks the fixed part as far as `have` bytes of it are known (the signature is
 * checked elsewhere), so a bad version, command or family fails at its own byte. Once
 * all 16 bytes are known it returns the whole header's length, 16 + len; before, -1.
 */
export function checkV2Fixed(head: Uint8Array, have: number, maxHeaderBytes: number): number {
  if (have <= 12) return -1;
  const version = head[12] >> 4;
  const command = head[12] & 0x0f;
  if (version !== 2) throw new ProxyProtocolError(`PROXY v2: version ${version}, want 2`);
  if (command > 1) {
    throw new ProxyProtocolError(`PROXY v2: command ${command}, want 0 (LOCAL) or 1 (PROXY)`);
  }
  // LOCAL: the family byte is ignored (the spec says so).
  const need = command === 1 && have > 13 ? BLOCK[head[13]] : 0;
  if (need === undefined) {
    throw new ProxyProtocolError(
      `PROXY v2: address family/protocol byte ${hex(head[13])} is not defined`,
    );
  }
  if (have < 16) return -1;
  const len = (head[14] << 8) | head[15];
  if (len < need) {
    throw new ProxyProtocolError(
      `PROXY v2: length ${len} is shorter than the ${need}-byte address block of family ${
        hex(head[13])
      }`,
    );
  }
  if (16 + len > maxHeaderBytes) {
    throw new ProxyProtocolError(
      `PROXY v2: header of ${16 + len} bytes exceeds maxHeaderBytes ${maxHeaderBytes}`,
    );
  }
  return 16 + len;
}

const utf8Loose = new TextDecoder("utf-8");

function tcpAddr(ip: Uint8Array, port: number): TcpAddr {
  return {
    transport: "tcp",
    hostname: formatIp(ip),
    port,
    family: ip.length === 4 ? "IPv4" : "IPv6",
  };
}

function unixAddr(raw: Uint8Array): UnixAddr {
  if (raw[0] === 0) {
    let end = raw.length;
    while (end > 1 && raw[end - 1] === 0) end--;
    return { transport: "unix", path: end > 1 ? "@" + utf8Loose.decode(raw.subarray(1, end)) : "" };
  }
  const nul = raw.indexOf(0);
  return { transport: "unix", path: utf8Loose.decode(nul < 0 ? raw : raw.subarray(0, nul)) };
}

/** Decodes a complete v2 header (`raw` is exactly 16 + len bytes, already checked). */
export function decodeV2(raw: Uint8Array): ProxyHeader {
  const byteLength = raw.length;
  const fam = raw[13];
  if ((raw[12] & 0x0f) === 0) {
    // LOCAL: the family is ignored and the whole block skipped by length (dovecot#125).
    return {
      version: 2,
      command: "local",
      family: "unspec",
      transport: "unspec",
      tlvs: [],
      byteLength,
    };
  }
  const family = (["unspec", "inet", "inet6", "unix"] as const)[fam >> 4];
  const transport = (["unspec", "stream", "dgram"] as const)[fam & 0x0f];
  if (fam === 0x00) {
    // UNSPEC: the sender does not know the addresses; use the real ones, skip the block.
    return { version: 2, command: "proxy", family, transport, tlvs: [], byteLength };
  }
  const tlvs: ProxyTlv[] = [];
  const header: Mutable<ProxyHeader> = {
    version: 2,
    command: "proxy",
    family,
    transport,
    tlvs,
    byteLength,
  };
  const size = BLOCK[fam];
  if (family === "unix") {
    header.source = unixAddr(raw.subarray(16, 124));
    header.destination = unixAddr(raw.subarray(124, 232));
  } else {
    const n = family === "inet" ? 4 : 16;
    header.source = tcpAddr(raw.subarray(16, 16 + n), be16(raw, 16 + 2 * n));
    header.destination = tcpAddr(raw.subarray(16 + n, 16 + 2 * n), be16(raw, 18 + 2 * n));
  }
  decodeTlvs(raw, 16 + size, tlvs, header);
  return header;
}

/** What {@linkcode encodeProxyV2} takes. */
export interface ProxyV2Options {
  /** `"proxy"` (default) or `"local"` (a health check: no addresses). */
  command?: "proxy" | "local";
  /** The client's address. Give both addresses or neither (then the family is UNSPEC). */
  source?: TcpAddr | UnixAddr;
  /** The address the client connected to. */
  destination?: TcpAddr | UnixAddr;
  /** `"stream"` (default, TCP) or `"dgram"` (UDP). */
  transport?: "stream" | "dgram";
  /** TLVs to send, in order. */
  tlvs?: readonly ProxyTlv[];
  /** Append a CRC32C TLV covering the whole header. Default false. */
  crc32c?: boolean;
}

function unixPath(addr: TcpAddr | UnixAddr, what: string): Uint8Array {
  if (addr.transport !== "unix") {
    throw new TypeError(`${what}: mix of unix and ${addr.transport} addresses`);
  }
  const path = addr.path.startsWith("@") ? "\0" + addr.path.slice(1) : addr.path;
  const bytes = new TextEncoder().encode(path);
  if (bytes.length > 108) {
    throw new RangeError(`${what}: unix path of ${bytes.length} bytes, at most 108`);
  }
  const out = new Uint8Array(108);
  out.set(bytes);
  return out;
}

/**
 * Encodes a PROXY protocol v2 header. Mixed IPv4/IPv6 addresses are sent as IPv6,
 * the IPv4 one as `::ffff:a.b.c.d`. A unix path starting with `@` is sent as a Linux
 * abstract socket name.
 *
 * @param options Command, addresses, transport, TLVs and whether to add a CRC32C TLV.
 * @returns The header bytes.
 * @throws {TypeError} When addresses are missing, mixed (unix with IP) or given to LOCAL.
 * @throws {RangeError} When a port, TLV or the total length is out of range.
 *
 * @example A TCP/IPv6 header with ALPN and a checksum
 * ```ts
 * import { encodeProxyV2, PROXY_TLV } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const header = encodeProxyV2({
 *   source: { transport: "tcp", hostname: "2001:db8::1", port: 40000, family: "IPv6" },
 *   destination: { transport: "tcp", hostname: "2001:db8::2", port: 443, family: "IPv6" },
 *   tlvs: [{ type: PROXY_TLV.ALPN, value: new TextEncoder().encode("h2") }],
 *   crc32c: true,
 * });
 * assert.equal(header.length, 16 + 36 + 5 + 7); // signature and size, addresses, ALPN, CRC
 * ```
 */
export function encodeProxyV2(options: ProxyV2Options = {}): Uint8Array {
  const { command = "proxy", source, destination, transport = "stream", tlvs = [] } = options;
  if (command !== "proxy" && command !== "local") {
    throw new TypeError(`encodeProxyV2: unknown command ${command}`);
  }
  if (transport !== "stream" && transport !== "dgram") {
    throw new TypeError(`encodeProxyV2: unknown transport ${transport}`);
  }
  if (!source !== !destination) {
    throw new TypeError("encodeProxyV2: give both source and destination, or neither");
  }
  if (command === "local" && source) {
    throw new TypeError("encodeProxyV2: a LOCAL header carries no addresses");
  }
  let fam = 0x00;
  let block = new Uint8Array(0);
  if (source && destination) {
    const tp = transport === "stream" ? 1 : 2;
    if (source.transport === "unix" || destination.transport === "unix") {
      fam = 0x30 | tp;
      block = new Uint8Array(216);
      block.set(unixPath(source, "encodeProxyV2 source"));
      block.set(unixPath(destination, "encodeProxyV2 destination"), 108);
    } else {
      let src = addrBytes(source, "encodeProxyV2 source");
      let dst = addrBytes(destination, "encodeProxyV2 destination");
      if (src.length !== dst.length) [src, dst] = [toV6(src), toV6(dst)];
      fam = (src.length === 4 ? 0x10 : 0x20) | tp;
      block = new Uint8Array(2 * src.length + 4);
      block.set(src);
      block.set(dst, src.length);
      const ports = new DataView(block.buffer, 2 * src.length);
      ports.setUint16(0, source.port);
      ports.setUint16(2, destination.port);
    }
  }
  let len = block.length + (options.crc32c ? 7 : 0);
  for (const t of tlvs) {
    if (!Number.isInteger(t.type) || t.type < 0 || t.type > 255) {
      throw new RangeError(`encodeProxyV2: TLV type ${t.type} is not 0-255`);
    }
    if (t.value.length > 65535) {
      throw new RangeError(
        `encodeProxyV2: TLV ${hex(t.type)} value of ${t.value.length} bytes, at most 65535`,
      );
    }
    len += 3 + t.value.length;
  }
  if (len > 65535) {
    throw new RangeError(`encodeProxyV2: header body of ${len} bytes, at most 65535`);
  }
  const out = new Uint8Array(16 + len);
  out.set(V2_SIGNATURE);
  out[12] = command === "proxy" ? 0x21 : 0x20;
  out[13] = fam;
  out[14] = len >> 8;
  out[15] = len & 0xff;
  out.set(block, 16);
  let at = 16 + block.length;
  for (const t of tlvs) {
    out[at] = t.type;
    out[at + 1] = t.value.length >> 8;
    out[at + 2] = t.value.length & 0xff;
    out.set(t.value, at + 3);
    at += 3 + t.value.length;
  }
  if (options.crc32c) {
    out.set([PROXY_TLV.CRC32C, 0, 4], at);
    new DataView(out.buffer).setUint32(at + 3, crc32c(out));
  }
  return out;
}
