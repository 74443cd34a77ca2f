import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { crc32c } from "../lib/proxy/_crc32c.ts";
import { ProxyProtocolError } from "../lib/errors.ts";
import { canonicalIp } from "../lib/ip.ts";
import {
  encodeProxyV1,
  encodeProxyV2,
  parseProxyHeader,
  PROXY_TLV,
  type ProxyHeader,
  ProxyHeaderParser,
  type ProxyHeaderParserOptions,
  startsWithProxySignature,
} from "../lib/proxy/protocol.ts";
import type { TcpAddr } from "../lib/types.ts";

const te = new TextEncoder();
const SIG = Uint8Array.from("\r\n\r\n\0\r\nQUIT\n", (c) => c.charCodeAt(0));
const PAYLOAD = te.encode("EHLO example.com\r\nQUIT\r\n");

const bytes = (...parts: (Uint8Array | number[] | string)[]): Uint8Array => {
  const arrays = parts.map((p) =>
    typeof p === "string" ? Uint8Array.from(p, (c) => c.charCodeAt(0)) : Uint8Array.from(p)
  );
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
};
const be16 = (n: number) => [n >> 8, n & 0xff];
/** A v2 header by hand: signature, ver|cmd, fam|proto, length, body. */
const v2 = (verCmd: number, fam: number, body: number[] | Uint8Array, len = body.length) =>
  bytes(SIG, [verCmd, fam, ...be16(len)], body);
const tlv = (type: number, value: number[] | string) => {
  const v = typeof value === "string" ? [...te.encode(value)] : value;
  return [type, ...be16(v.length), ...v];
};
const INET_BLOCK = [192, 0, 2, 1, 198, 51, 100, 7, ...be16(56324), ...be16(443)];
const tcp = (hostname: string, port: number): TcpAddr => ({
  transport: "tcp",
  hostname,
  port,
  family: hostname.includes(":") ? "IPv6" : "IPv4",
});
const isProxyError = (re: RegExp) => (e: unknown) =>
  e instanceof ProxyProtocolError && e.name === "ProxyProtocolError" && re.test(e.message);
const concat = (chunks: Uint8Array[]) => bytes(...chunks);

/**
 * Feeds `header` + PAYLOAD in one chunk, then `header` byte by byte, and checks that
 * both give the same header, that the header appears exactly at its last byte, and
 * that the payload comes out untouched (as a view of the chunk, no copy).
 */
function parseBothWays(header: Uint8Array, options?: ProxyHeaderParserOptions): ProxyHeader {
  const whole = bytes(header, PAYLOAD);
  const p1 = new ProxyHeaderParser(options);
  const h1 = p1.push(whole);
  assert.ok(h1, "one chunk gives the header");
  assert.equal(h1.byteLength, header.length);
  const rest = p1.remaining();
  assert.deepEqual(concat(rest), PAYLOAD);
  assert.equal(rest[0].buffer, whole.buffer, "leftover is a view of the chunk");
  assert.deepEqual(p1.remaining(), [], "remaining() removes what it returns");

  const p2 = new ProxyHeaderParser(options);
  for (let i = 0; i < header.length - 1; i++) {
    assert.equal(p2.push(header.subarray(i, i + 1)), undefined, `byte ${i} needs more`);
  }
  const h2 = p2.push(header.subarray(header.length - 1));
  assert.deepEqual(h2, h1);
  assert.deepEqual(p2.remaining(), []);
  return h1;
}

/** Feeds byte by byte and expects the error exactly at byte `at` (default: the last). */
function rejectsAt(
  header: Uint8Array,
  re: RegExp,
  at = header.length - 1,
  options?: ProxyHeaderParserOptions,
) {
  const p = new ProxyHeaderParser(options);
  for (let i = 0; i < at; i++) {
    assert.equal(p.push(header.subarray(i, i + 1)), undefined, `byte ${i}`);
  }
  assert.throws(() => p.push(header.subarray(at, at + 1)), isProxyError(re));
  assert.throws(
    () => new ProxyHeaderParser(options).push(bytes(header, PAYLOAD)),
    isProxyError(re),
  );
}

test("crc32c matches the standard check value and chains", () => {
  const data = te.encode("123456789");
  assert.equal(crc32c(data), 0xe3069283);
  assert.equal(crc32c(data.subarray(3), crc32c(data.subarray(0, 3))), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(0)), 0);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
});

test("ProxyHeaderParser reads the spec's v1 TCP4 and TCP6 lines, addresses canonical", () => {
  const h4 = parseBothWays(te.encode("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"));
  assert.deepEqual(h4.source, tcp("192.168.0.1", 56324));
  assert.deepEqual(h4.destination, tcp("192.168.0.11", 443));
  assert.equal(h4.version, 1);
  assert.equal(h4.command, "proxy");
  assert.equal(h4.family, "inet");
  assert.equal(h4.transport, "stream");
  const max4 = parseBothWays(te.encode("PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n"));
  assert.equal(max4.source?.transport === "tcp" && max4.source.port, 65535);
  const h6 = parseBothWays(te.encode("PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::ffff:10.0.0.1 1 2\r\n"));
  assert.deepEqual(h6.source, tcp("2001:db8::1", 1));
  assert.deepEqual(h6.destination, tcp("::ffff:10.0.0.1", 2));
  assert.equal(h6.family, "inet6");
});

test("ProxyHeaderParser accepts a 107-byte v1 line and rejects 108 bytes at byte 107", () => {
  const f = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  const unknown107 = te.encode(`PROXY UNKNOWN ${f} ${f} 65535 65535\r\n`);
  assert.equal(unknown107.length, 107);
  const h = parseBothWays(unknown107);
  assert.equal(h.source, undefined);
  assert.equal(h.family, "unspec");
  const src = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
  const tcp6at107 = te.encode(
    `PROXY TCP6 ${src} ffff:ffff:ffff:ffff:ffff:fff:1.2.3.4 65535 65535\r\n`,
  );
  assert.equal(tcp6at107.length, 107);
  assert.equal(parseBothWays(tcp6at107).source?.transport, "tcp");
  const unknown108 = te.encode(`PROXY UNKNOWN ${f} ${f} 65535 655350\r\n`);
  assert.equal(unknown108.length, 108);
  rejectsAt(unknown108, /no CRLF within 107 bytes/, 106);
  const tcp6at108 = te.encode(
    `PROXY TCP6 ${src} ffff:ffff:ffff:ffff:ffff:ffff:1.2.3.4 65535 65535\r\n`,
  );
  assert.equal(tcp6at108.length, 108);
  rejectsAt(tcp6at108, /no CRLF within 107 bytes/, 106);
});

test("ProxyHeaderParser reads v1 UNKNOWN with and without the rest of the line", () => {
  const bare = parseBothWays(te.encode("PROXY UNKNOWN\r\n"));
  assert.deepEqual(bare, {
    version: 1,
    command: "proxy",
    family: "unspec",
    transport: "unspec",
    tlvs: [],
    byteLength: 15,
  });
  assert.equal(
    parseBothWays(te.encode("PROXY UNKNOWN whatever \x01 is here\r\n")).source,
    undefined,
  );
});

test("ProxyHeaderParser rejects a v1 line ending in a lone LF at the LF", () => {
  rejectsAt(te.encode("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), /lone LF/);
  rejectsAt(te.encode("PROXY UNKNOWN\n"), /lone LF/);
  rejectsAt(te.encode("PROXY \n"), /lone LF/);
  rejectsAt(te.encode("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rx\n"), /lone LF/);
});

test("ProxyHeaderParser rejects non-canonical v1 fields: leading zeros, ranges, spacing, case", () => {
  const bad: [string, RegExp][] = [
    ["PROXY TCP4 010.0.0.1 10.0.0.2 1 2", /source address is not a canonical IPv4/],
    ["PROXY TCP4 10.0.0.1 10.0.0.02 1 2", /destination address/],
    ["PROXY TCP4 10.0.0.1 10.0.0.2 080 2", /source port/],
    ["PROXY TCP4 10.0.0.1 10.0.0.2 1 00", /destination port/],
    ["PROXY TCP4 10.0.0.1 10.0.0.2 65536 2", /source port/],
    ["PROXY TCP4 10.0.0.1 10.0.0.2 -1 2", /source port/],
    ["PROXY TCP4 256.0.0.1 10.0.0.2 1 2", /source address/],
    ["PROXY TCP4 ::1 10.0.0.2 1 2", /source address is not a canonical IPv4/],
    ["PROXY TCP6 10.0.0.1 ::1 1 2", /source address is not a canonical IPv6/],
    ["PROXY TCP6 ::1 fe80::1%eth0 1 2", /destination address/],
    ["PROXY TCP4  10.0.0.1 10.0.0.2 1 2", /6 fields/],
    ["PROXY TCP4 10.0.0.1 10.0.0.2 1 2 ", /6 fields/],
    ["PROXY TCP4 10.0.0.1 10.0.0.2 1", /6 fields/],
    ["PROXY tcp4 10.0.0.1 10.0.0.2 1 2", /unknown protocol/],
    ["PROXY UDP4 10.0.0.1 10.0.0.2 1 2", /unknown protocol/],
    ["PROXY UNKNOWNX", /unknown protocol/],
    ["PROXY ", /unknown protocol/],
    ["PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r", /destination port/],
  ];
  for (const [line, re] of bad) rejectsAt(te.encode(line + "\r\n"), re);
});

test("ProxyHeaderParser rejects anything without a signature as soon as the first bytes show it", () => {
  rejectsAt(te.encode("GET / HTTP/1.1\r\n"), /first byte 0x47/, 0);
  rejectsAt(te.encode("PROXX TCP4"), /v1 signature mismatch at byte 4/, 4);
  rejectsAt(te.encode("proxy TCP4"), /first byte/, 0);
  rejectsAt(bytes(SIG.subarray(0, 7), "X"), /v2 signature mismatch at byte 7/, 7);
  rejectsAt(new Uint8Array([0x16, 3, 1]), /first byte 0x16/, 0); // a TLS ClientHello
});

test("ProxyHeaderParser reads v2 INET stream with payload after it", () => {
  const h = parseBothWays(v2(0x21, 0x11, INET_BLOCK));
  assert.deepEqual(h, {
    version: 2,
    command: "proxy",
    family: "inet",
    transport: "stream",
    source: tcp("192.0.2.1", 56324),
    destination: tcp("198.51.100.7", 443),
    tlvs: [],
    byteLength: 28,
  });
});

test("ProxyHeaderParser reads all four v2 families", () => {
  const six = [
    ...new Uint8Array(15),
    1,
    0x20,
    0x01,
    0x0d,
    0xb8,
    ...new Uint8Array(11),
    2,
    ...be16(1),
    ...be16(2),
  ];
  const h6 = parseBothWays(v2(0x21, 0x22, six));
  assert.equal(h6.family, "inet6");
  assert.equal(h6.transport, "dgram");
  assert.deepEqual(h6.source, tcp("::1", 1));
  assert.deepEqual(h6.destination, tcp("2001:db8::2", 2));

  const unix = new Uint8Array(216);
  unix.set(te.encode("/run/haproxy.sock"));
  unix.set(te.encode("\0abstract"), 108);
  const hu = parseBothWays(v2(0x21, 0x31, unix));
  assert.equal(hu.family, "unix");
  assert.deepEqual(hu.source, { transport: "unix", path: "/run/haproxy.sock" });
  assert.deepEqual(hu.destination, { transport: "unix", path: "@abstract" });

  const hu2 = parseBothWays(v2(0x21, 0x32, new Uint8Array(216)));
  assert.equal(hu2.transport, "dgram");
  assert.deepEqual(hu2.source, { transport: "unix", path: "" });

  const unspec = parseBothWays(v2(0x21, 0x00, []));
  assert.equal(unspec.family, "unspec");
  assert.equal(unspec.source, undefined);
  const unspecBody = parseBothWays(v2(0x21, 0x00, [1, 2, 3, 4, 5]));
  assert.equal(unspecBody.byteLength, 21, "UNSPEC skips its block by length");
});

test("ProxyHeaderParser skips a v2 LOCAL header with TLVs by its length", () => {
  const local = parseBothWays(v2(0x20, 0x00, [...tlv(PROXY_TLV.NOOP, [0, 0]), ...tlv(0xe0, "x")]));
  assert.deepEqual(local, {
    version: 2,
    command: "local",
    family: "unspec",
    transport: "unspec",
    tlvs: [],
    byteLength: 16 + 9,
  });
  const withBlock = parseBothWays(v2(0x20, 0x11, [...INET_BLOCK, ...tlv(0x04, [])]));
  assert.equal(withBlock.command, "local");
  assert.equal(withBlock.source, undefined);
  assert.equal(withBlock.byteLength, 16 + 15);
  assert.equal(
    parseBothWays(v2(0x20, 0x77, [9, 9, 9])).command,
    "local",
    "LOCAL ignores the family",
  );
});

test("ProxyHeaderParser ignores an unknown TLV but returns it raw", () => {
  const h = parseBothWays(
    v2(0x21, 0x11, [...INET_BLOCK, ...tlv(0xe5, [1, 2, 3]), ...tlv(0x21, "x")]),
  );
  assert.deepEqual(h.tlvs, [
    { type: 0xe5, value: Uint8Array.of(1, 2, 3) },
    { type: 0x21, value: te.encode("x") },
  ]);
  assert.equal(h.ssl, undefined);
});

test("ProxyHeaderParser decodes the known v2 TLVs", () => {
  const ssl = [
    0x07,
    0,
    0,
    0,
    0,
    ...tlv(0x21, "TLSv1.3"),
    ...tlv(0x22, "client.example"),
    ...tlv(0x23, "AES"),
  ];
  const h = parseBothWays(v2(0x21, 0x11, [
    ...INET_BLOCK,
    ...tlv(PROXY_TLV.ALPN, "h2"),
    ...tlv(PROXY_TLV.AUTHORITY, "bücher.example"),
    ...tlv(PROXY_TLV.NOOP, [0, 0, 0]),
    ...tlv(PROXY_TLV.UNIQUE_ID, [...new Uint8Array(128).fill(7)]),
    ...tlv(PROXY_TLV.SSL, ssl),
    ...tlv(PROXY_TLV.NETNS, "blue"),
  ]));
  assert.equal(h.alpn, "h2");
  assert.equal(h.authority, "bücher.example");
  assert.deepEqual(h.uniqueId, new Uint8Array(128).fill(7));
  assert.equal(h.netns, "blue");
  assert.deepEqual(h.ssl, {
    client: 7,
    verify: 0,
    verified: true,
    version: "TLSv1.3",
    commonName: "client.example",
    cipher: "AES",
  });
  assert.equal(h.tlvs.length, 6);
  const partial = parseBothWays(
    v2(0x21, 0x11, [...INET_BLOCK, ...tlv(0x20, [1, 0, 0, 0, 5, 0x21, 0, 9])]),
  );
  assert.deepEqual(partial.ssl, { client: 1, verify: 5, verified: false }, "SSL is best effort");
});

test("ProxyHeaderParser rejects malformed known TLVs and duplicates", () => {
  const v = (extra: number[]) => v2(0x21, 0x11, [...INET_BLOCK, ...extra]);
  rejectsAt(v(tlv(PROXY_TLV.UNIQUE_ID, [...new Uint8Array(129)])), /UNIQUE_ID TLV has 129 bytes/);
  rejectsAt(v(tlv(PROXY_TLV.AUTHORITY, [0xff, 0xfe])), /AUTHORITY TLV is not valid UTF-8/);
  rejectsAt(v([...tlv(2, "a"), ...tlv(2, "b")]), /TLV 0x02 appears twice/);
  rejectsAt(v(tlv(PROXY_TLV.CRC32C, [0, 0, 0])), /CRC32C TLV has 3 bytes/);
});

test("ProxyHeaderParser verifies a CRC32C TLV and rejects a bad one", () => {
  const good = encodeProxyV2({
    source: tcp("192.0.2.1", 56324),
    destination: tcp("198.51.100.7", 443),
    tlvs: [{ type: PROXY_TLV.AUTHORITY, value: te.encode("example.com") }],
    crc32c: true,
  });
  const h = parseBothWays(good);
  const crcValue = good.subarray(good.length - 4);
  assert.equal(h.crc32c, new DataView(crcValue.buffer, crcValue.byteOffset).getUint32(0));
  const zeroed = good.slice();
  zeroed.fill(0, good.length - 4);
  assert.equal(crc32c(zeroed), h.crc32c, "computed over the whole header with the field zeroed");
  const flipped = good.slice();
  flipped[good.length - 12] ^= 1; // a byte of the AUTHORITY value
  rejectsAt(flipped, /CRC32C mismatch/);
  const badSum = good.slice();
  badSum[good.length - 1] ^= 0x80;
  rejectsAt(badSum, /CRC32C mismatch/);
});

test("ProxyHeaderParser rejects a bad v2 version or command at byte 12, family at byte 13", () => {
  rejectsAt(v2(0x11, 0x11, INET_BLOCK), /version 1, want 2/, 12);
  rejectsAt(v2(0x31, 0x11, INET_BLOCK), /version 3, want 2/, 12);
  rejectsAt(v2(0x22, 0x11, INET_BLOCK), /command 2, want 0 \(LOCAL\) or 1 \(PROXY\)/, 12);
  rejectsAt(v2(0x2f, 0x11, INET_BLOCK), /command 15/, 12);
});

test("ProxyHeaderParser rejects undefined v2 family/protocol bytes", () => {
  for (const fam of [0x01, 0x10, 0x13, 0x23, 0x30, 0x41, 0xff]) {
    rejectsAt(v2(0x21, fam, new Uint8Array(216)), /family\/protocol byte .* is not defined/, 13);
  }
});

test("ProxyHeaderParser rejects a v2 length shorter than the address block (truncated block)", () => {
  rejectsAt(
    v2(0x21, 0x11, INET_BLOCK.slice(0, 11)),
    /length 11 is shorter than the 12-byte address block/,
    15,
  );
  rejectsAt(v2(0x21, 0x21, new Uint8Array(35)), /length 35 is shorter than the 36-byte/, 15);
  rejectsAt(v2(0x21, 0x31, new Uint8Array(215)), /length 215 is shorter than the 216-byte/, 15);
  rejectsAt(v2(0x21, 0x11, []), /length 0 is shorter/, 15);
});

test("ProxyHeaderParser rejects a v2 length overflow at byte 16 without waiting", () => {
  const huge = v2(0x21, 0x11, INET_BLOCK, 65535);
  rejectsAt(huge.subarray(0, 17), /header of 65551 bytes exceeds maxHeaderBytes 4096/, 15);
  const body = [...INET_BLOCK, ...tlv(0xe0, [...new Uint8Array(100)])];
  const exact = v2(0x21, 0x11, body);
  parseBothWays(exact, { maxHeaderBytes: exact.length });
  rejectsAt(exact, /exceeds maxHeaderBytes/, 15, { maxHeaderBytes: exact.length - 1 });
  const biggest = v2(0x21, 0x11, [...INET_BLOCK, ...tlv(0xe0, [...new Uint8Array(65535 - 15)])]);
  assert.equal(biggest.length, 65551);
  assert.equal(parseProxyHeader(biggest, { maxHeaderBytes: 65551 })?.byteLength, 65551);
});

test("ProxyHeaderParser rejects TLVs that overrun the header", () => {
  rejectsAt(
    v2(0x21, 0x11, [...INET_BLOCK, 0xe0, 0, 5, 1, 2]),
    /TLV 0xe0 at offset 28 declares 5 bytes, only 2 left/,
  );
  rejectsAt(v2(0x21, 0x11, [...INET_BLOCK, 0xe0, 0]), /truncated TLV at offset 28/);
  rejectsAt(v2(0x21, 0x11, [...INET_BLOCK, 0xe0]), /truncated TLV/);
});

test("ProxyHeaderParser errors are terminal and misuse is a TypeError", () => {
  const p = new ProxyHeaderParser();
  let first: unknown;
  assert.throws(() => p.push(te.encode("X")), (e) => (first = e) instanceof ProxyProtocolError);
  assert.throws(() => p.push(te.encode("PROXY UNKNOWN\r\n")), (e) => e === first);
  assert.throws(() => p.finish(), (e) => e === first);

  const ok = new ProxyHeaderParser();
  assert.throws(() => ok.remaining(), TypeError);
  assert.equal(ok.push(new Uint8Array(0)), undefined);
  ok.push(te.encode("PROXY UNKNOWN\r\n"));
  assert.equal(ok.done, true);
  assert.equal(ok.header?.version, 1);
  assert.throws(() => ok.push(te.encode("more")), TypeError);
  ok.finish();
});

test("ProxyHeaderParser.finish() reports a missing or incomplete header", () => {
  assert.throws(() => new ProxyHeaderParser().finish(), isProxyError(/missing/));
  const p = new ProxyHeaderParser();
  p.push(SIG);
  assert.equal(p.buffered, 12);
  assert.throws(() => p.finish(), isProxyError(/incomplete: the stream ended after 12 bytes/));
});

test("ProxyHeaderParser options: versions and maxHeaderBytes are checked", () => {
  rejectsAt(te.encode("PROXY UNKNOWN\r\n"), /v1 header received, only v2 is accepted/, 0, {
    versions: [2],
  });
  rejectsAt(v2(0x21, 0x00, []), /v2 header received, only v1/, 0, { versions: [1] });
  assert.throws(() => new ProxyHeaderParser({ maxHeaderBytes: 15 }), RangeError);
  assert.throws(() => new ProxyHeaderParser({ maxHeaderBytes: 65552 }), RangeError);
  assert.throws(() => new ProxyHeaderParser({ versions: [] }), RangeError);
  rejectsAt(te.encode("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), /no CRLF within 20 bytes/, 19, {
    maxHeaderBytes: 20,
  });
});

test("ProxyHeaderParser holds at most maxHeaderBytes while waiting", () => {
  const header = v2(0x21, 0x11, [...INET_BLOCK, ...tlv(0xe0, [...new Uint8Array(3000)])]);
  const p = new ProxyHeaderParser();
  let most = 0;
  for (let i = 0; i < header.length - 1; i++) {
    p.push(header.subarray(i, i + 1));
    most = Math.max(most, p.buffered);
  }
  assert.equal(most, header.length - 1);
  assert.ok(p.push(header.subarray(header.length - 1)));
  assert.equal(p.buffered, 0);
});

test("startsWithProxySignature tells headers, non-headers and too-short input apart", () => {
  assert.equal(startsWithProxySignature(te.encode("PROXY TCP4")), true);
  assert.equal(startsWithProxySignature(SIG), true);
  assert.equal(startsWithProxySignature(te.encode("GET /")), false);
  assert.equal(startsWithProxySignature(te.encode("PROX")), undefined);
  assert.equal(startsWithProxySignature(SIG.subarray(0, 11)), undefined);
  assert.equal(startsWithProxySignature(new Uint8Array(0)), undefined);
});

test("encodeProxyV1 writes TCP4, TCP6 (mapping mixed families) and UNKNOWN", () => {
  const td = new TextDecoder();
  assert.equal(
    td.decode(
      encodeProxyV1({ source: tcp("192.0.2.1", 56324), destination: tcp("192.0.2.2", 443) }),
    ),
    "PROXY TCP4 192.0.2.1 192.0.2.2 56324 443\r\n",
  );
  assert.equal(
    td.decode(encodeProxyV1({ source: tcp("10.0.0.1", 1), destination: tcp("2001:DB8::1", 2) })),
    "PROXY TCP6 ::ffff:10.0.0.1 2001:db8::1 1 2\r\n",
  );
  assert.equal(td.decode(encodeProxyV1()), "PROXY UNKNOWN\r\n");
  assert.throws(() => encodeProxyV1({ source: tcp("10.0.0.1", 1) }), TypeError);
  assert.throws(
    () => encodeProxyV1({ source: tcp("10.0.0.1", 1), destination: tcp("x", 2) }),
    TypeError,
  );
  assert.throws(
    () => encodeProxyV1({ source: tcp("10.0.0.1", 65536), destination: tcp("::1", 2) }),
    RangeError,
  );
});

test("encodeProxyV2 refuses what it cannot carry", () => {
  const a = tcp("10.0.0.1", 1);
  assert.throws(() => encodeProxyV2({ source: a }), TypeError);
  assert.throws(() => encodeProxyV2({ command: "local", source: a, destination: a }), TypeError);
  assert.throws(
    () => encodeProxyV2({ source: a, destination: { transport: "unix", path: "/x" } }),
    TypeError,
  );
  const long = { transport: "unix" as const, path: "/" + "x".repeat(108) };
  assert.throws(() => encodeProxyV2({ source: long, destination: long }), RangeError);
  assert.throws(
    () => encodeProxyV2({ tlvs: [{ type: 256, value: new Uint8Array(0) }] }),
    RangeError,
  );
  const big = new Uint8Array(40000);
  assert.throws(
    () => encodeProxyV2({ tlvs: [{ type: 0xe0, value: big }, { type: 0xe1, value: big }] }),
    RangeError,
  );
  assert.deepEqual(encodeProxyV2({ command: "local" }), v2(0x20, 0x00, []));
  assert.deepEqual(encodeProxyV2(), v2(0x21, 0x00, []));
});

const arbAddrPair = fc.oneof(
  fc.tuple(fc.ipV4(), fc.ipV4()),
  fc.tuple(fc.ipV6(), fc.ipV6()),
  fc.tuple(fc.ipV4(), fc.ipV6()),
);
const arbPorts = fc.tuple(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }));
/** Splits `data` at random cut points. */
const arbChunks = (data: Uint8Array) =>
  fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, data.length - 1) }), { maxLength: 12 }).map(
    (cuts) => {
      const points = [0, ...cuts.filter((c) => c < data.length).sort((x, y) => x - y), data.length];
      return points.slice(1).map((end, i) => data.subarray(points[i], end));
    },
  );

/** Feeds chunks until the header; returns it and everything after it. */
function feed(chunks: Uint8Array[]): { header?: ProxyHeader; after: Uint8Array } {
  const p = new ProxyHeaderParser({ maxHeaderBytes: 65551 });
  for (let i = 0; i < chunks.length; i++) {
    const header = p.push(chunks[i]);
    if (header) return { header, after: concat([...p.remaining(), ...chunks.slice(i + 1)]) };
  }
  return { after: new Uint8Array(0) };
}

test("encoded headers round-trip through any chunking with the payload untouched", () => {
  fc.assert(
    fc.property(
      arbAddrPair,
      arbPorts,
      fc.boolean(),
      fc.array(
        fc.record({
          type: fc.integer({ min: 0xe0, max: 0xff }),
          value: fc.uint8Array({ maxLength: 40 }),
        }),
      ),
      fc.boolean(),
      fc.uint8Array({ maxLength: 64 }),
      fc.nat(),
      ([s, d], [sp, dp], version2, tlvs, crc, payload, seed) => {
        const source = tcp(s, sp);
        const destination = tcp(d, dp);
        const header = version2
          ? encodeProxyV2({ source, destination, tlvs, crc32c: crc })
          : encodeProxyV1({ source, destination });
        const wire = bytes(header, payload);
        const chunks = fc.sample(arbChunks(wire), { numRuns: 1, seed })[0];
        const got = feed(chunks);
        assert.ok(got.header);
        assert.deepEqual(got.after, payload);
        assert.equal(got.header.byteLength, header.length);
        const mixed = s.includes(":") !== d.includes(":");
        const src = got.header.source as TcpAddr;
        assert.equal(src.port, sp);
        assert.equal(src.family, s.includes(":") || mixed ? "IPv6" : "IPv4");
        const want = (ip: string) => canonicalIp(mixed && !ip.includes(":") ? "::ffff:" + ip : ip);
        assert.equal(src.hostname, want(s));
        assert.equal((got.header.destination as TcpAddr).hostname, want(d));
        assert.equal((got.header.destination as TcpAddr).port, dp);
        const plain = tlvs.map((t) => ({ type: t.type, value: t.value }));
        if (version2) assert.deepEqual(got.header.tlvs.slice(0, tlvs.length), plain);
        if (version2 && crc) assert.equal(typeof got.header.crc32c, "number");
      },
    ),
    { numRuns: 300 },
  );
});

test("random garbage only ever raises ProxyProtocolError and never hangs", () => {
  const prefixes = [
    new Uint8Array(0),
    te.encode("PROXY "),
    te.encode("PROXY TCP4 "),
    SIG,
    bytes(SIG, [0x21]),
  ];
  fc.assert(
    fc.property(
      fc.constantFrom(...prefixes),
      fc.uint8Array({ maxLength: 300 }),
      fc.integer({ min: 1, max: 40 }),
      (prefix, junk, step) => {
        const data = bytes(prefix, junk);
        const p = new ProxyHeaderParser();
        try {
          for (let i = 0; i < data.length && !p.done; i += step) p.push(data.subarray(i, i + step));
          p.finish();
        } catch (e) {
          if (!(e instanceof ProxyProtocolError)) throw e;
        }
      },
    ),
    { numRuns: 2000 },
  );
});
