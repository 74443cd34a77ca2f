/**
 * PROXY protocol v1 (the text form): decoding one complete line and encoding one.
 * Internal: {@linkcode encodeProxyV1} is re-exported by `protocol.ts`.
 *
 * ```
 * "PROXY" SP ("TCP4" | "TCP6") SP src SP dst SP sport SP dport CRLF
 * "PROXY" SP "UNKNOWN" [SP anything] CRLF
 * at most 107 bytes, CRLF included; exactly one space between fields
 * ```
 *
 * @module
 */

import { ProxyProtocolError } from "../errors.ts";
import { formatIp, parseIp } from "../ip.ts";
import type { ProxyHeader } from "./header.ts";
import type { TcpAddr, UnixAddr } from "../types.ts";

/** The longest v1 line, CRLF included (the spec's own figure). */
export const V1_MAX_BYTES = 107;

const PORT = /^(?:0|[1-9][0-9]{0,4})$/;

function ascii(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

function field(text: string, what: string): string {
  const shown = JSON.stringify(text.length > 48 ? text.slice(0, 48) + "..." : text);
  return `PROXY v1: ${what} ${shown}`;
}

/**
 * Decodes a complete v1 header. `raw` is the whole line, CRLF included; the caller
 * has checked the `"PROXY "` signature, the length and that the line ends in CRLF.
 */
export function decodeV1(raw: Uint8Array): ProxyHeader {
  const line = ascii(raw.subarray(0, raw.length - 2));
  const base = { version: 1 as const, command: "proxy" as const, tlvs: [], byteLength: raw.length };
  if (line === "PROXY UNKNOWN" || line.startsWith("PROXY UNKNOWN ")) {
    return { ...base, family: "unspec", transport: "unspec" };
  }
  const parts = line.split(" ");
  const proto = parts[1];
  if (proto !== "TCP4" && proto !== "TCP6") {
    throw new ProxyProtocolError(
      field(proto ?? "", "unknown protocol (want TCP4, TCP6 or UNKNOWN):"),
    );
  }
  if (parts.length !== 6) {
    throw new ProxyProtocolError(
      field(line, `want 6 fields separated by single spaces, got ${parts.length}:`),
    );
  }
  const want = proto === "TCP4" ? 4 : 6;
  const addr = (host: string, port: string, side: string): TcpAddr => {
    const ip = parseIp(host);
    if (!ip || ip.family !== want) {
      throw new ProxyProtocolError(field(host, `${side} address is not a canonical IPv${want}:`));
    }
    if (!PORT.test(port) || Number(port) > 65535) {
      throw new ProxyProtocolError(
        field(port, `${side} port is not 0-65535 without leading zeros:`),
      );
    }
    return {
      transport: "tcp",
      hostname: formatIp(ip.bytes),
      port: Number(port),
      family: want === 4 ? "IPv4" : "IPv6",
    };
  };
  return {
    ...base,
    family: want === 4 ? "inet" : "inet6",
    transport: "stream",
    source: addr(parts[2], parts[4], "source"),
    destination: addr(parts[3], parts[5], "destination"),
  };
}

/** What {@linkcode encodeProxyV1} takes: both addresses, or neither for `UNKNOWN`. */
export interface ProxyV1Options {
  /** The client's address. */
  source?: TcpAddr;
  /** The address the client connected to. */
  destination?: TcpAddr;
}

/** Checks a TCP address for an encoder and returns its bytes (4 or 16). */
export function addrBytes(addr: TcpAddr | UnixAddr, what: string): Uint8Array {
  if (addr.transport !== "tcp") {
    throw new TypeError(`${what}: ${addr.transport} addresses cannot be carried here`);
  }
  const ip = parseIp(addr.hostname);
  if (!ip) throw new TypeError(`${what}: ${JSON.stringify(addr.hostname)} is not an IP address`);
  if (!Number.isInteger(addr.port) || addr.port < 0 || addr.port > 65535) {
    throw new RangeError(`${what}: port must be an integer 0-65535, got ${addr.port}`);
  }
  return ip.bytes;
}

/** Widens an IPv4 address to IPv4-mapped IPv6 (`::ffff:a.b.c.d`); 16 bytes pass through. */
export function toV6(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 16) return bytes;
  const out = new Uint8Array(16);
  out[10] = out[11] = 0xff;
  out.set(bytes, 12);
  return out;
}

/**
 * Encodes a PROXY protocol v1 header. Without addresses it is `PROXY UNKNOWN\r\n`.
 * When one address is IPv4 and the other IPv6, both are sent as IPv6 (`TCP6`), the
 * IPv4 one as `::ffff:a.b.c.d`.
 *
 * @param options Both addresses, or neither.
 * @returns The header bytes (ASCII).
 * @throws {TypeError} When only one address is given, or one is not a TCP/IP address.
 * @throws {RangeError} When a port is out of range.
 *
 * @example A TCP4 header
 * ```ts
 * import { encodeProxyV1 } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const bytes = encodeProxyV1({
 *   source: { transport: "tcp", hostname: "192.0.2.1", port: 56324, family: "IPv4" },
 *   destination: { transport: "tcp", hostname: "192.0.2.2", port: 443, family: "IPv4" },
 * });
 * assert.equal(new TextDecoder().decode(bytes), "PROXY TCP4 192.0.2.1 192.0.2.2 56324 443\r\n");
 * ```
 */
export function encodeProxyV1(options: ProxyV1Options = {}): Uint8Array {
  const { source, destination } = options;
  let line = "PROXY UNKNOWN\r\n";
  if (source || destination) {
    if (!source || !destination) {
      throw new TypeError("encodeProxyV1: give both source and destination, or neither");
    }
    let src = addrBytes(source, "encodeProxyV1 source");
    let dst = addrBytes(destination, "encodeProxyV1 destination");
    if (src.length !== dst.length) [src, dst] = [toV6(src), toV6(dst)];
    const proto = src.length === 4 ? "TCP4" : "TCP6";
    line = `PROXY ${proto} ${formatIp(src)} ${
      formatIp(dst)
    } ${source.port} ${destination.port}\r\n`;
  }
  const out = new Uint8Array(line.length);
  for (let i = 0; i < line.length; i++) out[i] = line.charCodeAt(i);
  return out;
}
