import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  canonicalIp,
  cidrMatcher,
  clientKey,
  formatIp,
  parseCidr,
  parseIp,
  unmapIp,
} from "../lib/ip.ts";

test("parseIp accepts dotted-quad IPv4 and returns its bytes", () => {
  assert.deepEqual(parseIp("10.0.0.1"), { family: 4, bytes: Uint8Array.of(10, 0, 0, 1) });
  assert.deepEqual(parseIp("0.0.0.0")?.bytes, new Uint8Array(4));
  assert.deepEqual(parseIp("255.255.255.255")?.bytes, new Uint8Array(4).fill(255));
});

test("parseIp refuses leading zeros, out-of-range octets and other IPv4 shapes", () => {
  for (
    const bad of [
      "010.0.0.1",
      "10.0.0.01",
      "00.0.0.0",
      "256.0.0.1",
      "1.2.3",
      "1.2.3.4.5",
      "1.2.3.",
      ".1.2.3",
      "1..2.3",
      "1.2.3.4 ",
      " 1.2.3.4",
      "+1.2.3.4",
      "0x1.2.3.4",
      "1e2.0.0.1",
      "1.2.3.4:80",
      "",
      "1234.1.1.1",
    ]
  ) assert.equal(parseIp(bad), undefined, bad);
});

test("parseIp accepts full, compressed and embedded-IPv4 IPv6", () => {
  const full = parseIp("2001:0db8:0000:0000:0000:0000:0000:0001");
  assert.equal(full?.family, 6);
  assert.deepEqual(full?.bytes, parseIp("2001:db8::1")?.bytes);
  assert.deepEqual(parseIp("::")?.bytes, new Uint8Array(16));
  assert.equal(parseIp("::1")?.bytes[15], 1);
  assert.equal(parseIp("1::")?.bytes[1], 1);
  assert.deepEqual(
    parseIp("::ffff:1.2.3.4")?.bytes.subarray(10),
    Uint8Array.of(255, 255, 1, 2, 3, 4),
  );
  assert.deepEqual(parseIp("1:2:3:4:5:6:1.2.3.4")?.bytes.subarray(12), Uint8Array.of(1, 2, 3, 4));
  assert.equal(parseIp("1:2:3:4:5:6:7::")?.family, 6);
  assert.equal(parseIp("ABCD::EF")?.bytes[0], 0xab);
});

test("parseIp refuses malformed IPv6, zone ids and brackets", () => {
  for (
    const bad of [
      ":::",
      "1::2::3",
      ":1::",
      "1:",
      ":1",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7:8::",
      "::1:2:3:4:5:6:7:8",
      "12345::",
      "g::1",
      "::ffff:01.2.3.4",
      "::1.2.3.4.5",
      "1.2.3.4::",
      "::1.2.3.4:1",
      "1:2:3:4:5:6:7:1.2.3.4",
      "fe80::1%eth0",
      "[::1]",
      "::1 ",
    ]
  ) assert.equal(parseIp(bad), undefined, bad);
});

test("canonicalIp gives RFC 5952 text", () => {
  const cases: [string, string][] = [
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1"],
    ["2001:db8:0:0:1:0:0:0", "2001:db8:0:0:1::"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["1:0:0:1:0:0:0:1", "1:0:0:1::1"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
    ["::FFFF:7f00:1", "::ffff:127.0.0.1"],
    ["::ffff:1.2.3.4", "::ffff:1.2.3.4"],
    ["fe80::1%eth0", "fe80::1"],
    ["192.168.0.1", "192.168.0.1"],
  ];
  for (const [input, want] of cases) assert.equal(canonicalIp(input), want, input);
});

test("canonicalIp and unmapIp throw TypeError on non-addresses", () => {
  assert.throws(() => canonicalIp("localhost"), TypeError);
  assert.throws(() => unmapIp("1.2.3.04"), TypeError);
  assert.throws(() => formatIp(new Uint8Array(5)), TypeError);
});

test("unmapIp turns IPv4-mapped IPv6 into IPv4 and leaves the rest canonical", () => {
  assert.equal(unmapIp("::ffff:1.2.3.4"), "1.2.3.4");
  assert.equal(unmapIp("::FFFF:0a00:0001"), "10.0.0.1");
  assert.equal(unmapIp("::1"), "::1");
  assert.equal(unmapIp("::1.2.3.4"), "::102:304");
  assert.equal(unmapIp("8.8.8.8"), "8.8.8.8");
});

test("canonical text round-trips through parseIp for random addresses", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
      const text = formatIp(bytes);
      assert.deepEqual(parseIp(text)?.bytes, bytes);
      assert.equal(canonicalIp(text), text);
      assert.equal(canonicalIp(text.toUpperCase()), text);
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.ipV6(), (text) => {
      const canon = canonicalIp(text);
      assert.deepEqual(parseIp(canon)?.bytes, parseIp(text)?.bytes);
    }),
  );
});

test("clientKey keys IPv4 and mapped on the address and IPv6 on its /64", () => {
  assert.equal(clientKey("1.2.3.4"), "1.2.3.4");
  assert.equal(clientKey("::ffff:1.2.3.4"), "1.2.3.4");
  assert.equal(clientKey("2001:db8:1:2:aaaa::5"), "2001:db8:1:2::/64");
  assert.equal(clientKey("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
  assert.equal(clientKey("2001:db8:1:3::1"), "2001:db8:1:3::/64");
  assert.equal(clientKey("::1"), "::/64");
  assert.equal(clientKey("fe80::1%eth0"), "fe80::/64");
  assert.equal(clientKey("2001:db8::1", { ipv6Prefix: 128 }), "2001:db8::1");
  assert.equal(clientKey("10.1.2.3", { ipv4Prefix: 24 }), "10.1.2.0/24");
  assert.throws(() => clientKey("nope"), TypeError);
  assert.throws(() => clientKey("::1", { ipv6Prefix: 129 }), RangeError);
});

test("parseCidr matches inside the block and not outside, at every boundary", () => {
  const a = parseCidr("10.0.0.0/8");
  assert.equal(a.contains("10.0.0.0"), true);
  assert.equal(a.contains("10.255.255.255"), true);
  assert.equal(a.contains("9.255.255.255"), false);
  assert.equal(a.contains("11.0.0.0"), false);
  const odd = parseCidr("192.168.4.0/22");
  assert.equal(odd.contains("192.168.7.255"), true);
  assert.equal(odd.contains("192.168.8.0"), false);
  assert.equal(odd.contains("192.168.3.255"), false);
  const all4 = parseCidr("0.0.0.0/0");
  assert.equal(all4.contains("255.255.255.255"), true);
  assert.equal(all4.contains("::1"), false);
  const host = parseCidr("127.0.0.1/32");
  assert.equal(host.contains("127.0.0.1"), true);
  assert.equal(host.contains("127.0.0.2"), false);
  assert.equal(String(parseCidr("127.0.0.1")), "127.0.0.1/32");
  const v6 = parseCidr("2001:db8::/32");
  assert.equal(v6.contains("2001:db8:ffff::1"), true);
  assert.equal(v6.contains("2001:db9::"), false);
  const all6 = parseCidr("::/0");
  assert.equal(all6.contains("ffff::"), true);
  assert.equal(all6.contains("1.2.3.4"), false, "IPv6 blocks do not match IPv4");
  const one = parseCidr("::1/128");
  assert.equal(one.contains("::1"), true);
  assert.equal(one.contains("::2"), false);
  assert.equal(String(parseCidr("::1")), "::1/128");
  const pair = parseCidr("2001:db8::2/127");
  assert.equal(pair.contains("2001:db8::3"), true);
  assert.equal(pair.contains("2001:db8::4"), false);
});

test("parseCidr matches IPv4-mapped addresses against IPv4 blocks", () => {
  const lo = parseCidr("127.0.0.0/8");
  assert.equal(lo.contains("::ffff:127.0.0.1"), true);
  assert.equal(lo.contains("::ffff:128.0.0.1"), false);
  const mappedBlock = parseCidr("::ffff:10.0.0.0/104");
  assert.equal(mappedBlock.family, 4);
  assert.equal(String(mappedBlock), "10.0.0.0/8");
  assert.equal(mappedBlock.contains("10.9.9.9"), true);
});

test("parseCidr throws TypeError with a clear message for invalid blocks", () => {
  const cases: [string, RegExp][] = [
    ["10.0.0.1/8", /host bits are set \(did you mean 10\.0\.0\.0\/8\?\)/],
    ["10.0.0.0/33", /prefix length must be 0-32/],
    ["10.0.0.0/08", /prefix length/],
    ["10.0.0.0/", /prefix length/],
    ["10.0.0.0/-1", /prefix length/],
    ["::/129", /prefix length must be 0-128/],
    ["2001:db8::1/32", /host bits/],
    ["example.com/8", /not an IP address/],
    ["010.0.0.0/8", /not an IP address/],
    ["fe80::%eth0/64", /not an IP address/],
    ["", /not an IP address/],
  ];
  for (const [text, re] of cases) {
    assert.throws(
      () => parseCidr(text),
      (e: unknown) => e instanceof TypeError && re.test(e.message),
      text,
    );
  }
});

test("cidrMatcher checks the whole list at construction and matches any block", () => {
  assert.throws(() => cidrMatcher(["10.0.0.0/8", "bad"]), TypeError);
  const m = cidrMatcher(["10.0.0.0/8", "127.0.0.1", "::1", "2001:db8::/32"]);
  assert.equal(m("10.1.1.1"), true);
  assert.equal(m("::ffff:127.0.0.1"), true);
  assert.equal(m("127.0.0.2"), false);
  assert.equal(m("::1"), true);
  assert.equal(m("2001:db8::5"), true);
  assert.equal(m("2001:db9::5"), false);
  assert.equal(m("not an ip"), false);
  assert.equal(cidrMatcher("::1")("::1"), true);
  assert.equal(cidrMatcher([])("1.2.3.4"), false);
});

test("cidrMatcher agrees with a naive bit-by-bit check for random IPv4 blocks", () => {
  const bitsOf = (b: Uint8Array) => [...b].map((x) => x.toString(2).padStart(8, "0")).join("");
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 4, maxLength: 4 }),
      fc.uint8Array({ minLength: 4, maxLength: 4 }),
      fc.integer({ min: 0, max: 32 }),
      (net, addr, len) => {
        const netBits = bitsOf(net).slice(0, len).padEnd(32, "0");
        const netBytes = Uint8Array.from(
          { length: 4 },
          (_, i) => parseInt(netBits.slice(8 * i, 8 * i + 8), 2),
        );
        const block = parseCidr(`${formatIp(netBytes)}/${len}`);
        const want = bitsOf(addr).slice(0, len) === netBits.slice(0, len);
        assert.equal(block.contains(formatIp(addr)), want);
        assert.equal(block.contains(`::ffff:${formatIp(addr)}`), want);
      },
    ),
    { numRuns: 500 },
  );
});
