// The RESP framer of examples/resp.ts, in-process: chunk-proof, bounded, typed errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CorruptFrameError, FrameTooLongError } from "../mod.ts";
import { resp, RespError, type RespValue, RespWriter } from "../examples/resp.ts";
import { concat } from "./_helpers.ts";

const utf8 = new TextEncoder();
const bytes = (s: string) => utf8.encode(s);

/** Deterministic random numbers (xorshift32). */
function rng(seed: number): (n: number) => number {
  let x = seed || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

function randomValue(r: (n: number) => number, depth = 0): RespValue {
  switch (r(depth < 3 ? 7 : 6)) {
    case 0:
      return "simple " + r(1000);
    case 1:
      return new RespError("ERR " + r(1000));
    case 2:
      return r(2) ? r(1e9) : -r(1e9);
    case 3:
      return null;
    case 4:
    case 5: {
      const b = new Uint8Array(r(25) === 0 ? r(70_000) : r(20));
      for (let i = 0; i < b.length; i++) b[i] = r(256); // CR and LF included
      return b;
    }
    default:
      return Array.from({ length: r(5) }, () => randomValue(r, depth + 1));
  }
}

function decodeAll(chunks: Uint8Array[], options?: Parameters<typeof resp>[0]): RespValue[] {
  const d = resp(options).decoder();
  const out: RespValue[] = [];
  for (const c of chunks) {
    d.push(c);
    for (let v = d.next(); v !== undefined; v = d.next()) out.push(v);
  }
  for (let v = d.finish(); v !== undefined; v = d.finish()) out.push(v);
  return out;
}

function split(wire: Uint8Array, r: (n: number) => number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < wire.length;) {
    const n = r(4) === 0 ? 0 : r(3) === 0 ? 1 : 1 + r(3000);
    chunks.push(wire.slice(i, i + n));
    i += n;
  }
  return chunks;
}

const norm = (v: RespValue): unknown =>
  v instanceof Uint8Array
    ? { bulk: [...v].join(",") }
    : v instanceof RespError
    ? { error: v.message }
    : Array.isArray(v)
    ? v.map(norm)
    : v;

test("resp() decodes the same values however the bytes are split", { timeout: 45_000 }, () => {
  for (let seed = 1; seed <= 40; seed++) {
    const r = rng(seed);
    const values = Array.from({ length: 30 }, () => randomValue(r));
    const wire = concat(values.map((v) => new RespWriter().value(v).take()));
    const got = decodeAll(split(wire, r));
    assert.deepEqual(got.map(norm), values.map(norm), `seed ${seed}`);
    if (seed <= 5) {
      const bytewise = decodeAll(Array.from(wire, (b) => Uint8Array.of(b)));
      assert.deepEqual(bytewise.map(norm), values.map(norm), `seed ${seed}, 1-byte chunks`);
    }
  }
});

test(
  "resp() decodes inline commands, with LF or CRLF split across chunks",
  { timeout: 45_000 },
  () => {
    const got = decodeAll([
      bytes("PING\r"),
      bytes("\nECHO  a b\n"),
      bytes("\r\n"),
      bytes("SET k v\r\n"),
    ]);
    assert.deepEqual(got.map(norm), [
      [{ bulk: "80,73,78,71" }],
      [{ bulk: "69,67,72,79" }, { bulk: "97" }, { bulk: "98" }],
      [{ bulk: "83,69,84" }, { bulk: "107" }, { bulk: "118" }],
    ]);
  },
);

test(
  "resp() bounds bulk strings, arrays, lines and nesting with typed errors",
  { timeout: 45_000 },
  () => {
    const first = (wire: string, options?: Parameters<typeof resp>[0]) => {
      const d = resp(options).decoder();
      d.push(bytes(wire));
      return () => d.next();
    };
    assert.throws(
      first("*2\r\n$3\r\nGET\r\n$4294967296\r\n", { maxLength: 1024 }),
      FrameTooLongError,
    );
    assert.throws(first("*100000000\r\n", { maxArray: 1000 }), FrameTooLongError);
    assert.throws(first("*1\r\n".repeat(33) + ":1\r\n"), CorruptFrameError);
    assert.throws(first(":12x\r\n"), CorruptFrameError);
    assert.throws(first("$-2\r\n"), CorruptFrameError);
    assert.throws(first("*1\r\n?\r\n"), CorruptFrameError);
    assert.throws(first("$3\r\nabcd\r\n"), CorruptFrameError);
    assert.throws(first("PING " + "x".repeat(70_000)), FrameTooLongError);
    const many = "*60000\r\n" + "$1\r\nx\r\n".repeat(60_000);
    assert.throws(first(many, { maxLength: 100_000 }), FrameTooLongError);
  },
);

test("resp() frames stay intact after later pushes, and takeRemaining() keeps a partial frame", {
  timeout: 45_000,
}, () => {
  const d = resp().decoder();
  d.push(bytes("$5\r\nhel"));
  assert.equal(d.next(), undefined);
  d.push(bytes("lo\r\n*2\r\n$1\r\na\r\n"));
  const hello = d.next() as Uint8Array;
  assert.equal(new TextDecoder().decode(hello), "hello");
  assert.equal(d.next(), undefined);
  d.push(bytes("$1\r\n"));
  d.push(new Uint8Array(8000).fill(65));
  assert.equal(new TextDecoder().decode(hello), "hello");
  assert.deepEqual(
    d.takeRemaining().map((c) => new TextDecoder().decode(c)).join("").slice(0, 19),
    "*2\r\n$1\r\na\r\n$1\r\nAAAA",
  );
});

test(
  "RespWriter refuses a simple string with CRLF and an unsafe integer",
  { timeout: 45_000 },
  () => {
    assert.throws(() => new RespWriter().simple("a\r\nb"), TypeError);
    assert.throws(() => new RespWriter().integer(2 ** 60), TypeError);
  },
);
