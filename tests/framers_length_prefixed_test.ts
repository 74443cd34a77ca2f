import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { lengthPrefixed, type LengthPrefixedOptions } from "../lib/framers/length_prefixed.ts";
import { CorruptFrameError, FrameTooLongError, IncompleteFrameError } from "../lib/errors.ts";
import { bytes, concat, decodeAll, encoded, plain, split } from "./_framer_helpers.ts";

test("lengthPrefixed() a declared 4 GiB frame allocates nothing and holds only what arrived (tokio#333, kivaloo#375)", () => {
  const header = Uint8Array.of(0, 0, 0, 1, 0, 0, 0, 0); // 2^32, 8-byte BE
  // within maxLength: the decoder waits, holding only the bytes it was given
  const d = lengthPrefixed({ size: 8, maxLength: 2 ** 33 }).decoder();
  d.push(header);
  assert.equal(d.next(), undefined);
  for (let i = 0; i < 16; i++) {
    d.push(new Uint8Array(64 * 1024));
    assert.equal(d.next(), undefined);
  }
  assert.equal(d.buffered, 8 + 16 * 64 * 1024);
  // over maxLength: refused at the header
  const c = lengthPrefixed({ size: 8 }).decoder();
  c.push(header);
  assert.throws(() => c.next(), FrameTooLongError);
  assert.ok(c.buffered <= 8);
});

test("lengthPrefixed() skip drops exactly the declared 4 GiB as it arrives, reports once, then goes on", () => {
  const d = lengthPrefixed({ size: 4, maxLength: 1024, tooLong: "skip" }).decoder();
  d.push(Uint8Array.of(0xff, 0xff, 0xff, 0xff)); // 2^32 - 1 payload bytes
  let errors = 0;
  try {
    d.next();
  } catch (e) {
    assert.ok(e instanceof FrameTooLongError && e.recoverable && e.length === 2 ** 32 - 1);
    errors++;
  }
  const chunk = new Uint8Array(1 << 20); // dropped at once, so pushing it again is safe
  for (let left = 2 ** 32 - 1; left > 0; left -= chunk.length) {
    const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
    d.push(part);
    assert.equal(d.next(), undefined);
    assert.equal(d.buffered, 0);
  }
  d.push(Uint8Array.of(0, 0, 0, 2, 7, 9));
  assert.deepEqual(Array.from(d.next()!), [7, 9]);
  assert.equal(errors, 1);
});

test("lengthPrefixed() maxLength applies to the payload after adjustment (tokio#4815)", () => {
  // the field counts its own 4 bytes: 4 + 10 declares a 10-byte payload
  const framer = lengthPrefixed({ adjustment: -4, maxLength: 10 });
  const ok = decodeAll(framer, [Uint8Array.of(0, 0, 0, 14), new Uint8Array(10)]);
  assert.equal(ok.frames[0]?.length, 10);
  const over = decodeAll(framer, [Uint8Array.of(0, 0, 0, 15), new Uint8Array(11)]);
  assert.ok(over.fatal instanceof FrameTooLongError && over.fatal.length === 11);
  // max-1, max, max+1
  for (const n of [9, 10, 11]) {
    const got = decodeAll(lengthPrefixed({ maxLength: 10 }), [
      Uint8Array.of(0, 0, 0, n),
      new Uint8Array(n),
    ]);
    assert.equal(got.errors.length, n > 10 ? 1 : 0, `n=${n}`);
  }
  assert.equal(lengthPrefixed({ size: 1, adjustment: 2 }).maxLength, 257);
  assert.equal(lengthPrefixed({ size: 2 }).maxLength, 65535);
});

test("lengthPrefixed() a negative adjusted length or an 8-byte length over 2^53 - 1 is corrupt", () => {
  const neg = decodeAll(lengthPrefixed({ adjustment: -4 }), [Uint8Array.of(0, 0, 0, 3)]);
  assert.ok(neg.fatal instanceof CorruptFrameError);
  const big = decodeAll(lengthPrefixed({ size: 8, maxLength: Number.MAX_SAFE_INTEGER }), [
    Uint8Array.of(0, 0x20, 0, 0, 0, 0, 0, 0),
  ]);
  assert.ok(big.fatal instanceof CorruptFrameError);
  const le = decodeAll(lengthPrefixed({ size: 8, endian: "little" }), [
    Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0x80),
  ]);
  assert.ok(le.fatal instanceof CorruptFrameError);
  // 2^53 - 1 itself is a valid length, just too long here
  const safe = decodeAll(lengthPrefixed({ size: 8 }), [
    Uint8Array.of(0, 0x1f, 255, 255, 255, 255, 255, 255),
  ]);
  assert.ok(
    safe.fatal instanceof FrameTooLongError && safe.fatal.length === Number.MAX_SAFE_INTEGER,
  );
});

test("lengthPrefixed() varint edge cases: minimal, non-minimal, over-long, truncated (py-libp2p#1440)", () => {
  const v = lengthPrefixed({ size: "varint", maxLength: Number.MAX_SAFE_INTEGER });
  const header = (n: number) => (v.encode(new Uint8Array(n)) as Uint8Array[])[0];
  assert.deepEqual(Array.from(header(0)), [0]);
  assert.deepEqual(Array.from(header(127)), [127]);
  assert.deepEqual(Array.from(header(128)), [0x80, 1]);
  assert.deepEqual(Array.from(header(300)), [0xac, 2]);
  const run = (...b: number[]) => decodeAll(v, split(Uint8Array.from(b), [1]));
  assert.deepEqual(plain(run(0).frames), [[]]);
  assert.deepEqual(plain(run(0x81, 0x01, ...new Array(129).fill(5)).frames), [
    new Array(129).fill(5),
  ]);
  for (const bad of [[0x80, 0x00], [0x81, 0x00], [0xff, 0x80, 0x00]]) {
    assert.ok(run(...bad).fatal instanceof CorruptFrameError, `non-minimal ${bad}`);
  }
  // 2^53 - 1 is the largest: 7 x 0xff then 0x0f; it waits for its payload
  const d = v.decoder();
  d.push(Uint8Array.of(255, 255, 255, 255, 255, 255, 255, 0x0f));
  assert.equal(d.next(), undefined);
  assert.equal(d.buffered, 8);
  // 2^53, or any 9th byte, or a 10-byte u64: corrupt as soon as the 8th byte arrives
  for (
    const bad of [[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10], [
      255,
      255,
      255,
      255,
      255,
      255,
      255,
      255,
      255,
      1,
    ]]
  ) {
    const e = lengthPrefixed({ size: "varint" }).decoder();
    e.push(Uint8Array.from(bad.slice(0, 8)));
    assert.throws(() => e.next(), CorruptFrameError);
  }
  // truncated at end of input
  assert.ok(run(0x80).fatal instanceof CorruptFrameError);
  assert.ok(run(0x80, 0x80).fatal instanceof CorruptFrameError);
  assert.deepEqual(
    plain(decodeAll(lengthPrefixed({ size: "varint", eof: "emit" }), [Uint8Array.of(0x80)]).frames),
    [[0x80]],
  );
  assert.deepEqual(
    decodeAll(lengthPrefixed({ size: "varint", eof: "discard" }), [Uint8Array.of(0x80)]).frames,
    [],
  );
});

test("lengthPrefixed() EOF policy matrix: no frame, partial header, partial payload, split and skip in progress", () => {
  const cases: [
    string,
    LengthPrefixedOptions,
    Uint8Array,
    { emit: number[][]; error: string | null },
  ][] = [
    ["nothing left", {}, Uint8Array.of(0, 0, 0, 1, 9), { emit: [[9]], error: null }],
    ["partial header", {}, Uint8Array.of(0, 0), { emit: [[0, 0]], error: "IncompleteFrameError" }],
    ["partial payload", {}, Uint8Array.of(0, 0, 0, 3, 1, 2), {
      emit: [[1, 2]],
      error: "IncompleteFrameError",
    }],
    ["header only", {}, Uint8Array.of(0, 0, 0, 3), { emit: [], error: "IncompleteFrameError" }],
    ["partial payload, includeHeader", { includeHeader: true }, Uint8Array.of(0, 0, 0, 3, 1), {
      emit: [[0, 0, 0, 3, 1]],
      error: "IncompleteFrameError",
    }],
    ["split in progress", { maxLength: 2, tooLong: "split" }, Uint8Array.of(0, 0, 0, 5, 1, 2, 3), {
      emit: [[1, 2], [3]],
      error: "IncompleteFrameError",
    }],
    ["skip in progress", { maxLength: 2, tooLong: "skip" }, Uint8Array.of(0, 0, 0, 5, 1, 2, 3), {
      emit: [],
      error: null,
    }],
  ];
  for (const [what, opts, input, want] of cases) {
    for (const eof of ["error", "emit", "discard"] as const) {
      for (const sizes of [[1], [1000]]) {
        const got = decodeAll(lengthPrefixed({ ...opts, eof }), split(input, sizes));
        const fatal = got.fatal?.name ?? null;
        const emitted = plain(got.frames);
        const label = `${what}, eof ${eof}`;
        if (eof === "emit") {
          assert.deepEqual(emitted, want.emit, label);
          assert.equal(fatal, null, label);
        } else {
          const complete = want.error === null ? want.emit : want.emit.slice(0, -1);
          assert.deepEqual(emitted, complete, label);
          assert.equal(fatal, eof === "error" ? want.error : null, label);
        }
      }
    }
  }
  assert.ok(decodeAll(lengthPrefixed(), [Uint8Array.of(0)]).fatal instanceof IncompleteFrameError);
});

test("lengthPrefixed() split yields the payload in maxLength pieces as bytes arrive", () => {
  const framer = lengthPrefixed({ size: 1, maxLength: 3, tooLong: "split" });
  const input = Uint8Array.of(7, 1, 2, 3, 4, 5, 6, 7, 2, 8, 9);
  for (const sizes of [[1], [2], [100]]) {
    assert.deepEqual(plain(decodeAll(framer, split(input, sizes)).frames), [[1, 2, 3], [4, 5, 6], [
      7,
    ], [8, 9]]);
  }
});

test("lengthPrefixed() encoder refuses what does not fit, never truncates (tokio#5080)", () => {
  assert.throws(() => lengthPrefixed({ size: 1 }).encode(new Uint8Array(256)), FrameTooLongError);
  assert.ok(lengthPrefixed({ size: 1 }).encode(new Uint8Array(255)));
  assert.ok(lengthPrefixed({ size: 1, adjustment: 1 }).encode(new Uint8Array(256)));
  assert.throws(() => lengthPrefixed({ size: 2 }).encode(new Uint8Array(65536)), FrameTooLongError);
  assert.throws(
    () => lengthPrefixed({ maxLength: 4 }).encode(new Uint8Array(5)),
    FrameTooLongError,
  );
  assert.throws(() => lengthPrefixed({ adjustment: 2 }).encode(new Uint8Array(1)), RangeError);
  assert.throws(
    () => lengthPrefixed({ includeHeader: true }).encode(new Uint8Array(3)),
    RangeError,
  );
  assert.throws(
    () => lengthPrefixed({ size: "varint", includeHeader: true }).encode(Uint8Array.of(0x80, 0)),
    RangeError,
  );
  assert.throws(() => lengthPrefixed().encode([1] as unknown as Uint8Array), TypeError);
  // the payload is passed on, not copied
  const payload = new Uint8Array(10);
  const out = lengthPrefixed({ size: 2, endian: "little" }).encode(payload) as Uint8Array[];
  assert.deepEqual(Array.from(out[0]), [10, 0]);
  assert.equal(out[1], payload);
});

test("lengthPrefixed() a frame inside one chunk is a view; one across chunks is a single copy (harper#2080)", () => {
  const chunk = Uint8Array.of(0, 0, 0, 2, 1, 2, 0, 0, 0, 3, 4);
  const d = lengthPrefixed().decoder();
  d.push(chunk);
  const view = d.next()!;
  assert.equal(view.buffer, chunk.buffer); // pins the chunk: .slice() frames you keep long
  const tail = Uint8Array.of(5, 6);
  d.push(tail);
  const copy = d.next()!;
  assert.deepEqual(Array.from(copy), [4, 5, 6]);
  assert.notEqual(copy.buffer, chunk.buffer);
  assert.notEqual(copy.buffer, tail.buffer);
});

test("lengthPrefixed() takeRemaining() hands over buffered bytes, a parsed header included", () => {
  const d = lengthPrefixed({ size: 2 }).decoder();
  d.push(Uint8Array.of(0, 1, 7, 0, 3, 1));
  assert.deepEqual(Array.from(d.next()!), [7]);
  assert.equal(d.next(), undefined);
  assert.deepEqual(Array.from(concat(d.takeRemaining())), [0, 3, 1]);
  d.push(Uint8Array.of(0, 0));
  assert.deepEqual(Array.from(d.next()!), []);
});

test("lengthPrefixed() rejects bad options with what is allowed", () => {
  assert.throws(
    () => lengthPrefixed({ size: 5 as 4 }),
    /size must be one of 1, 2, 3, 4, 8, "varint"/,
  );
  assert.throws(() => lengthPrefixed({ endian: "middle" as "big" }), TypeError);
  assert.throws(() => lengthPrefixed({ offset: -1 }), RangeError);
  assert.throws(() => lengthPrefixed({ adjustment: 0.5 }), TypeError);
  assert.throws(() => lengthPrefixed({ maxLength: 0 }), RangeError);
  assert.throws(() => lengthPrefixed({ size: 1, adjustment: -256 }), RangeError);
  assert.throws(() => lengthPrefixed({ includeHeader: true, tooLong: "split" }), TypeError);
  assert.throws(() => lengthPrefixed({ includeHeader: "yes" as unknown as boolean }), TypeError);
  assert.equal(lengthPrefixed().maxLength, 8 * 1024 * 1024);
  assert.equal(lengthPrefixed().name, "length-prefixed");
});

/** One of the BEFORE/AFTER diagrams in lengthPrefixed()'s JSDoc, read from the source. */
interface Diagram {
  options: LengthPrefixedOptions | undefined;
  before: Uint8Array;
  after: Uint8Array;
  text: string;
}

/**
 * The diagrams as written: the call on the first line (its options as JSON once the keys
 * are quoted), the byte counts in the titles, and the second row of each box, whose cells
 * are hex bytes in wire order or a quoted ASCII string, maybe `× n` times.
 */
function docDiagrams(): Diagram[] {
  const source = readFileSync(
    new URL("../lib/framers/length_prefixed.ts", import.meta.url),
    "utf8",
  );
  const doc = source.slice(0, source.indexOf("export function lengthPrefixed("));
  const blocks = [...doc.matchAll(/\* ```text\n([\s\S]*?) \* ```/g)]
    .map((m) => m[1].split("\n").map((line) => line.replace(/^ \*( |$)/, "")))
    .filter((lines) => lines.some((line) => line.startsWith("BEFORE DECODE")));
  const cell = (text: string): number[] => {
    if (/^[0-9A-F]{2}( [0-9A-F]{2})*$/.test(text)) {
      return text.split(" ").map((h) => parseInt(h, 16));
    }
    const m = /^"([^"]*)"(?: × (\d+))?$/.exec(text);
    assert.ok(m, `a diagram cell is hex bytes or a quoted string: ${text}`);
    return Array.from(bytes(m[1].repeat(Number(m[2] ?? 1))));
  };
  return blocks.map((lines) => {
    const text = lines.join("\n");
    const call = /^lengthPrefixed\((.*)\)$/.exec(lines[0]);
    assert.ok(call, `a diagram starts with the call: ${lines[0]}`);
    const options = call[1] === "" ? undefined : JSON.parse(call[1].replace(/(\w+):/g, '"$1":'));
    const title = lines.findIndex((line) => line.startsWith("BEFORE DECODE"));
    const counts = /^BEFORE DECODE \((\d+) bytes\) +AFTER DECODE \((\d+) bytes\)$/.exec(
      lines[title],
    );
    assert.ok(counts, text);
    // border, names, values, border: the values row, split into its two boxes
    const cells = lines[title + 3].split("|").slice(1, -1).map((c) => c.trim());
    const gap = cells.indexOf("");
    assert.ok(gap > 0, text);
    const before = Uint8Array.from(cells.slice(0, gap).flatMap(cell));
    const after = Uint8Array.from(cells.slice(gap + 1).flatMap(cell));
    assert.equal(before.length, Number(counts[1]), `BEFORE byte count of\n${text}`);
    assert.equal(after.length, Number(counts[2]), `AFTER byte count of\n${text}`);
    return { options, before, after, text };
  });
}

test("lengthPrefixed() the BEFORE/AFTER diagrams of its documentation are true, both ways", () => {
  const diagrams = docDiagrams();
  assert.equal(diagrams.length, 8, "every diagram was found");
  for (const { options, before, after, text } of diagrams) {
    const framer = lengthPrefixed(options);
    // decode: in one chunk, and a byte at a time
    for (const chunks of [[before], split(before, [1])]) {
      const d = framer.decoder();
      for (const c of chunks) d.push(c);
      assert.deepEqual(Array.from(d.next() ?? []), Array.from(after), `decoding\n${text}`);
      assert.equal(d.next(), undefined);
      assert.equal(d.buffered, 0);
    }
    // encode: the bytes on the wire again, with zeros for offset bytes the frame lacks
    const wire = Uint8Array.from(before);
    if (!options?.includeHeader) wire.fill(0, 0, options?.offset ?? 0);
    assert.deepEqual(
      Array.from(encoded(framer.encode(after))),
      Array.from(wire),
      `encoding\n${text}`,
    );
  }
});
