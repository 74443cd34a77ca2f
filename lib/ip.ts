/**
 * IP address utilities: strict parsing, canonical text (RFC 5952), IPv4-mapped
 * addresses, CIDR matching and the per-client limit key. Pure functions, no sockets.
 *
 * Byte layouts used throughout:
 *
 * ```
 * IPv4          | a | b | c | d |                                   4 bytes
 * IPv6          | g0 | g1 | g2 | g3 | g4 | g5 | g6 | g7 |           16 bytes, 8 big-endian groups
 * IPv4-mapped   | 0 0 0 0 0 0 0 0 0 0 | ff ff | a | b | c | d |     ::ffff:a.b.c.d
 * ```
 *
 * Zone ids (`fe80::1%eth0`): {@linkcode parseIp} rejects them, because a zone is
 * not part of an address and is never valid on the wire (PROXY v1) or in a CIDR.
 * The functions meant for addresses that a runtime reports ({@linkcode canonicalIp},
 * {@linkcode unmapIp}, {@linkcode clientKey} and the matcher of {@linkcode cidrMatcher})
 * strip a zone id from IPv6 text first.
 *
 * @module
 */

/** A parsed IP address: the family and the address bytes (4 or 16, network order). */
export interface ParsedIp {
  /** 4 for IPv4, 6 for IPv6. */
  readonly family: 4 | 6;
  /** The address in network byte order: 4 bytes for IPv4, 16 for IPv6. */
  readonly bytes: Uint8Array;
}

const DEC_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseV4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!DEC_OCTET.test(parts[i])) return undefined;
    const n = Number(parts[i]);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

/** Parses one side of a `::` into 16-bit groups; undefined when malformed. */
function groupsOf(text: string, mayEndWithV4: boolean): number[] | undefined {
  if (text === "") return [];
  const out: number[] = [];
  const parts = text.split(":");
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (HEX_GROUP.test(p)) {
      out.push(parseInt(p, 16));
    } else if (mayEndWithV4 && i === parts.length - 1 && p.includes(".")) {
      const v4 = parseV4(p);
      if (!v4) return undefined;
      out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    } else {
      return undefined;
    }
  }
  return out;
}

function parseV6(text: string): Uint8Array | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const head = groupsOf(halves[0], false);
    const tail = groupsOf(halves[1], true);
    if (!head || !tail || head.length + tail.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = groupsOf(text, true);
    if (!all || all.length !== 8) return undefined;
    groups = all;
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = groups[i] >> 8;
    out[2 * i + 1] = groups[i] & 0xff;
  }
  return out;
}

/**
 * Parses an IP address strictly. IPv4 must be a dotted quad of decimal numbers
 * 0-255 without leading zeros (`010.0.0.1` is refused: it reads as octal elsewhere).
 * IPv6 may be full, compressed (one `::`) or end in an embedded IPv4 address; groups
 * are 1-4 hex digits in any case. Zone ids, brackets, ports and spaces are refused.
 *
 * @param text The address text.
 * @returns The family and bytes, or `undefined` when `text` is not an IP address.
 *
 * @example Parsing
 * ```ts
 * import { parseIp } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseIp("10.0.0.1"), { family: 4, bytes: Uint8Array.of(10, 0, 0, 1) });
 * assert.equal(parseIp("::ffff:1.2.3.4")?.family, 6);
 * assert.equal(parseIp("010.0.0.1"), undefined);
 * assert.equal(parseIp("fe80::1%eth0"), undefined);
 * ```
 */
export function parseIp(text: string): ParsedIp | undefined {
  if (typeof text !== "string" || text.length === 0 || text.length > 45) return undefined;
  if (text.includes(":")) {
    const bytes = parseV6(text);
    return bytes ? { family: 6, bytes } : undefined;
  }
  const bytes = parseV4(text);
  return bytes ? { family: 4, bytes } : undefined;
}

/** True for the 16 bytes of an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`). */
function isMapped(bytes: Uint8Array): boolean {
  if (bytes.length !== 16 || bytes[10] !== 0xff || bytes[11] !== 0xff) return false;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * Formats address bytes as canonical text: dotted quad for 4 bytes, RFC 5952 for 16
 * (lowercase, no leading zeros, the longest run of two or more zero groups written
 * `::` (the first one on a tie), and `::ffff:a.b.c.d` for IPv4-mapped addresses).
 *
 * @param bytes 4 or 16 bytes in network order.
 * @returns The canonical text.
 * @throws {TypeError} When `bytes` is not 4 or 16 bytes long.
 *
 * @example Formatting
 * ```ts
 * import { formatIp } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * assert.equal(formatIp(new Uint8Array([127, 0, 0, 1])), "127.0.0.1");
 * assert.equal(formatIp(new Uint8Array(16)), "::");
 * ```
 */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) {
    throw new TypeError(`an IP address has 4 or 16 bytes, got ${bytes.length}`);
  }
  if (isMapped(bytes)) return `::ffff:${formatIp(bytes.subarray(12))}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[2 * i] << 8) | bytes[2 * i + 1]);
  let bestAt = -1;
  let bestLen = 1; // a single zero group is never compressed (RFC 5952 4.2.2)
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [bestAt, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (from: number, to: number) =>
    groups.slice(from, to).map((g) => g.toString(16)).join(":");
  if (bestAt < 0) return hex(0, 8);
  return `${hex(0, bestAt)}::${hex(bestAt + bestLen, 8)}`;
}

/** Drops an IPv6 zone id (`fe80::1%eth0` -> `fe80::1`); other text is unchanged. */
function stripZone(text: string): string {
  const at = text.indexOf("%");
  return at > 0 && at < text.length - 1 && text.includes(":") ? text.slice(0, at) : text;
}

function mustParse(text: string, what: string): ParsedIp {
  const ip = parseIp(stripZone(text));
  if (!ip) throw new TypeError(`${what}: ${JSON.stringify(text)} is not an IPv4 or IPv6 address`);
  return ip;
}

/**
 * The canonical text of an address (see {@linkcode formatIp}). A zone id is dropped.
 *
 * @param text An IPv4 or IPv6 address.
 * @returns Its canonical form; IPv4-mapped addresses stay IPv6 (`::ffff:1.2.3.4`).
 * @throws {TypeError} When `text` is not an IP address.
 *
 * @example Canonical forms
 * ```ts
 * import { canonicalIp } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * assert.equal(canonicalIp("2001:DB8:0:0:0:0:0:1"), "2001:db8::1");
 * assert.equal(canonicalIp("::FFFF:7f00:1"), "::ffff:127.0.0.1");
 * ```
 */
export function canonicalIp(text: string): string {
  return formatIp(mustParse(text, "canonicalIp").bytes);
}

/**
 * Like {@linkcode canonicalIp}, but an IPv4-mapped IPv6 address becomes plain IPv4.
 *
 * @param text An IPv4 or IPv6 address.
 * @returns `1.2.3.4` for `::ffff:1.2.3.4`; the canonical text otherwise.
 * @throws {TypeError} When `text` is not an IP address.
 *
 * @example Unmapping
 * ```ts
 * import { unmapIp } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * assert.equal(unmapIp("::ffff:10.1.2.3"), "10.1.2.3");
 * assert.equal(unmapIp("::1"), "::1");
 * ```
 */
export function unmapIp(text: string): string {
  return formatIp(toV4IfMapped(mustParse(text, "unmapIp")).bytes);
}

function toV4IfMapped(ip: ParsedIp): ParsedIp {
  return ip.family === 6 && isMapped(ip.bytes) ? { family: 4, bytes: ip.bytes.slice(12) } : ip;
}

/** A parsed CIDR block. */
export interface Cidr {
  /** 4 or 6. An IPv6 block inside `::ffff:0:0/96` is turned into the IPv4 block it maps. */
  readonly family: 4 | 6;
  /** The network address, canonical. */
  readonly address: string;
  /** The prefix length: 0-32 for IPv4, 0-128 for IPv6. */
  readonly prefixLength: number;
  /** Whether the block holds `ip` (IPv4-mapped addresses count as IPv4; invalid text is false). */
  contains(ip: string): boolean;
  /** `address/prefixLength`. */
  toString(): string;
}

function withinPrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[whole] & mask) === (b[whole] & mask);
}

function masked(bytes: Uint8Array, bits: number): Uint8Array {
  const out = bytes.slice();
  for (let i = 0; i < out.length; i++) {
    const left = bits - 8 * i;
    out[i] &= left >= 8 ? 0xff : left <= 0 ? 0 : (0xff << (8 - left)) & 0xff;
  }
  return out;
}

/**
 * Parses a CIDR block (`10.0.0.0/8`, `2001:db8::/32`) or a single address, which is
 * a /32 or /128. The prefix length is decimal without leading zeros. Host bits must be
 * zero: `10.0.0.1/8` is refused, since it is usually a typo.
 *
 * Families stay apart: IPv4 blocks match IPv4 and IPv4-mapped addresses, and IPv6
 * blocks match IPv6 addresses that are not IPv4-mapped. To allow every address, list both
 * `0.0.0.0/0` and `::/0`. An IPv6 block inside `::ffff:0:0/96` becomes the IPv4 block it maps.
 *
 * @param text The block.
 * @returns A {@linkcode Cidr}.
 * @throws {TypeError} When `text` is not a valid block; the message says why.
 *
 * @example Matching
 * ```ts
 * import { parseCidr } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const lan = parseCidr("10.0.0.0/8");
 * assert.ok(lan.contains("10.20.30.40"));
 * assert.ok(lan.contains("::ffff:10.0.0.1"));
 * assert.ok(!lan.contains("192.168.0.1"));
 * assert.ok(parseCidr("::1").contains("::1"));
 * ```
 */
export function parseCidr(text: string): Cidr {
  if (typeof text !== "string") throw new TypeError(`CIDR must be a string, got ${typeof text}`);
  const slash = text.indexOf("/");
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const parsed = parseIp(addrText);
  if (!parsed) {
    throw new TypeError(
      `invalid CIDR ${JSON.stringify(text)}: ${JSON.stringify(addrText)} is not an IP address` +
        " (use e.g. 10.0.0.0/8 or 2001:db8::/32)",
    );
  }
  const max = parsed.family === 4 ? 32 : 128;
  let bits = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > max) {
      throw new TypeError(
        `invalid CIDR ${
          JSON.stringify(text)
        }: prefix length must be 0-${max} without leading zeros`,
      );
    }
    bits = Number(p);
  }
  const net = masked(parsed.bytes, bits);
  if (!withinPrefix(net, parsed.bytes, max)) {
    const fix = `${formatIp(net)}/${bits}`;
    throw new TypeError(
      `invalid CIDR ${JSON.stringify(text)}: host bits are set (did you mean ${fix}?)`,
    );
  }
  let family = parsed.family;
  let bytes = net;
  if (family === 6 && bits >= 96 && isMapped(net)) {
    family = 4;
    bytes = net.slice(12);
    bits -= 96;
  }
  const address = formatIp(bytes);
  return {
    family,
    address,
    prefixLength: bits,
    contains(ip: string): boolean {
      const p = typeof ip === "string" ? parseIp(stripZone(ip)) : undefined;
      if (!p) return false;
      const v = toV4IfMapped(p);
      return v.family === family && withinPrefix(v.bytes, bytes, bits);
    },
    toString: () => `${address}/${bits}`,
  };
}

/**
 * Builds a matcher over one CIDR block or a list of them. Every block is checked when
 * the matcher is built, so a bad configuration fails at start-up, not on traffic. The
 * matcher returns false for text that is not an IP address; an empty list matches nothing.
 *
 * @param list One block or a list (see {@linkcode parseCidr}).
 * @returns `(ip) => boolean`.
 * @throws {TypeError} When a block is invalid.
 *
 * @example Trusted proxies
 * ```ts
 * import { cidrMatcher } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const trusted = cidrMatcher(["10.0.0.0/8", "127.0.0.1", "::1"]);
 * assert.equal(trusted("::ffff:127.0.0.1"), true);
 * assert.equal(trusted("192.168.0.1"), false);
 * ```
 */
export function cidrMatcher(list: string | readonly string[]): (ip: string) => boolean {
  const blocks = (typeof list === "string" ? [list] : [...list]).map(parseCidr);
  return (ip) => blocks.some((b) => b.contains(ip));
}

/** Options of {@linkcode clientKey}. */
export interface ClientKeyOptions {
  /** Prefix length that IPv4 clients are grouped by. Default 32 (one key per address). */
  ipv4Prefix?: number;
  /** Prefix length that IPv6 clients are grouped by. Default 64 (one key per subnet). */
  ipv6Prefix?: number;
}

/**
 * The key that per-client limits count under. IPv4 and IPv4-mapped addresses key on
 * the IPv4 address; IPv6 keys on its /64, since one host usually owns a whole /64.
 *
 * @param ip The client's address (a zone id is dropped).
 * @param options Grouping prefixes.
 * @returns `"1.2.3.4"`, or the block such as `"2001:db8:1:2::/64"`.
 * @throws {TypeError} When `ip` is not an IP address.
 * @throws {RangeError} When a prefix is out of range.
 *
 * @example Keys
 * ```ts
 * import { clientKey } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * assert.equal(clientKey("::ffff:1.2.3.4"), "1.2.3.4");
 * assert.equal(clientKey("2001:db8:1:2:aaaa::5"), "2001:db8:1:2::/64");
 * ```
 */
export function clientKey(ip: string, options: ClientKeyOptions = {}): string {
  const { ipv4Prefix = 32, ipv6Prefix = 64 } = options;
  const v = toV4IfMapped(mustParse(ip, "clientKey"));
  const max = v.family === 4 ? 32 : 128;
  const bits = v.family === 4 ? ipv4Prefix : ipv6Prefix;
  if (!Number.isInteger(bits) || bits < 0 || bits > max) {
    throw new RangeError(
      `clientKey: IPv${v.family} prefix must be an integer 0-${max}, got ${bits}`,
    );
  }
  const text = formatIp(masked(v.bytes, bits));
  return bits === max ? text : `${text}/${bits}`;
}
