import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { delimited } from "../lib/framers/delimited.ts";
import { ByteQueue } from "../lib/framers/_byte_queue.ts";
import { FrameTooLongError, FramingError, IncompleteFrameError } from "../lib/errors.ts";
import {
  assertOutcome,
  bytes,
  concat,
  decodeAll,
  encoded,
  plain,
  referenceDelimited,
  sizesArb,
  split,
  td,
} from "./_framer_helpers.ts";

const text = (frames: Uint8Array[]) => frames.map((f) => td.decode(f));

test("delimited() finds a multi-byte delimiter split across chunks at every position", () => {
  const input = bytes("ab||cd||||e||");
  for (let i = 0; i <= input.length; i++) {
    for (let j = i; j <= input.length; j++) {
      const chunks = [input.slice(0, i), input.slice(i, j), input.slice(j)];
      const got = decodeAll(delimited({ delimiter: "||" }), chunks);
      assert.deepEqual(text(got.frames), ["ab", "cd", "", "e"], `split at ${i}, ${j}`);
    }
  }
});

test("delimited() with several delimiters: the earliest wins, then the first listed (like Netty)", () => {
  const framer = delimited({ delimiter: ["\n", "\r\n", "ab", "abc"] });
  const got = decodeAll(framer, [bytes("x\r\ny\nzabcq")]);
  assert.deepEqual(text(got.frames), ["x", "y", "z", "cq"]);
  const first = delimited({ delimiter: ["abc", "ab"] });
  assert.deepEqual(text(decodeAll(first, [bytes("1abc2ab3")]).frames), ["1", "2", "3"]);
});

test("delimited() waits while a longer delimiter could still win", () => {
  const d = delimited({ delimiter: ["\r\n\r\n", "\n"] }).decoder();
  d.push(bytes("a\r\n"));
  assert.equal(d.next(), undefined); // "\r\n\r\n" may still follow
  d.push(bytes("\r"));
  assert.equal(d.next(), undefined);
  d.push(bytes("\nb\r\nc"));
  assert.equal(td.decode(d.next()), "a");
  assert.equal(td.decode(d.next()), "b\r"); // "\r\nc" is not "\r\n\r\n", so "\n" ends "b\r"
  assert.equal(d.next(), undefined);
  assert.equal(td.decode(d.finish()), "c");
});

test("delimited() at end of input, a partial delimiter is content and later matches count", () => {
  const got = decodeAll(delimited({ delimiter: ["abc", "b"] }), [bytes("xab")]);
  assert.deepEqual(text(got.frames), ["xa"]);
});

test("delimited() includeDelimiter keeps the delimiter but maxLength does not count it", () => {
  const framer = delimited({ delimiter: ["\r\n", "\n"], includeDelimiter: true, maxLength: 2 });
  const got = decodeAll(framer, [bytes("ab\r\ncd\nef")]);
  assert.deepEqual(text(got.frames), ["ab\r\n", "cd\n", "ef"]);
});

test("delimited() accepts maxLength - 1 and maxLength, refuses maxLength + 1, with and without delimiter (netty#1288)", () => {
  const max = 6;
  for (const n of [max - 1, max, max + 1]) {
    for (const end of ["<>", ""]) {
      const input = bytes("z".repeat(n) + end);
      for (const chunks of [[input], split(input, [1])]) {
        const got = decodeAll(delimited({ delimiter: "<>", maxLength: max }), chunks);
        if (n <= max) assert.deepEqual(text(got.frames), ["z".repeat(n)]);
        else assert.ok(got.fatal instanceof FrameTooLongError);
      }
    }
  }
});

const policy = fc.record({
  max: fc.integer({ min: 1, max: 10 }),
  tooLong: fc.constantFrom("close", "skip", "split") as fc.Arbitrary<"close" | "skip" | "split">,
  eof: fc.constantFrom("error", "emit", "discard") as fc.Arbitrary<"error" | "emit" | "discard">,
  includeDelimiter: fc.boolean(),
});
// delimiters and input from a 3-letter alphabet, so that overlaps and near misses are common
const small = (min: number, max: number) =>
  fc.uint8Array({ minLength: min, maxLength: max }).map((b) => b.map((x) => 97 + (x % 3)));

test("delimited() matches a naive whole-buffer reference for any delimiters, input and split", () => {
  fc.assert(
    fc.property(
      fc.array(small(1, 4), { minLength: 1, maxLength: 3 }),
      small(0, 100),
      policy,
      sizesArb,
      (delimiters, input, { max, tooLong, eof, includeDelimiter }, sizes) => {
        const framer = delimited({
          delimiter: delimiters,
          maxLength: max,
          tooLong,
          eof,
          includeDelimiter,
        });
        const want = referenceDelimited(input, { delimiters, max, tooLong, eof, includeDelimiter });
        assertOutcome(decodeAll(framer, split(input, sizes)), want);
      },
    ),
    { numRuns: 400 },
  );
});

test("delimited() round-trips every message its encoder accepts, for any split", () => {
  fc.assert(
    fc.property(
      fc.array(small(1, 3), { minLength: 1, maxLength: 3 }),
      fc.array(small(0, 8), { maxLength: 12 }),
      sizesArb,
      (delimiters, msgs, sizes) => {
        const framer = delimited({ delimiter: delimiters });
        const sent: Uint8Array[] = [];
        const wire: Uint8Array[] = [];
        for (const m of msgs) {
          try {
            wire.push(encoded(framer.encode(m)));
            sent.push(m);
          } catch (e) {
            assert.ok(e instanceof TypeError);
          }
        }
        const got = decodeAll(framer, split(concat(wire), sizes));
        assert.deepEqual(plain(got.frames), plain(sent));
      },
    ),
    { numRuns: 300 },
  );
});

test("delimited() encoder refuses a message that contains or runs into a delimiter", () => {
  const framer = delimited({ delimiter: "aab" });
  assert.throws(() => framer.encode(bytes("xaaby")), TypeError);
  assert.ok(framer.encode(bytes("xa"))); // "xa" + "aab" = "xaaab": the match is at 2
  // "xab" + "aba" = "xababa": the delimiter would match at 1 and cut the message short
  assert.throws(() => delimited({ delimiter: "aba" }).encode(bytes("xab")), TypeError);
  assert.deepEqual(Array.from(encoded(framer.encode(bytes("xb")))), Array.from(bytes("xbaab")));
  assert.throws(
    () => delimited({ delimiter: "|", maxLength: 2 }).encode(bytes("abc")),
    FrameTooLongError,
  );
  assert.throws(() => framer.encode("abc" as unknown as Uint8Array), TypeError);
  // the first delimiter is the one written
  const two = delimited({ delimiter: ["\r\n", "\n"] });
  assert.deepEqual(Array.from(encoded(two.encode(bytes("a")))), [97, 13, 10]);
});

test("delimited() skip drops a long frame up to its delimiter and reports it once", () => {
  const input = bytes("ok<>" + "x".repeat(40) + "<>fine<><>");
  for (const sizes of [[1], [0, 3], [1000]]) {
    const got = decodeAll(
      delimited({ delimiter: "<>", maxLength: 8, tooLong: "skip" }),
      split(input, sizes),
    );
    assert.deepEqual(text(got.frames), ["ok", "fine", ""]);
    assert.equal(got.errors.length, 1);
    assert.ok(got.errors[0].recoverable);
  }
});

test("delimited() searches in linear work: a 1 MiB frame in 1-byte chunks", () => {
  const n = 1024 * 1024;
  const d = delimited({ delimiter: ["\r\n\r\n", "\n\n"], maxLength: n }).decoder();
  const before = ByteQueue.work;
  const one = bytes("\r");
  const two = bytes("x");
  for (let i = 0; i < n; i++) {
    d.push(i % 2 ? one : two);
    if (d.next() !== undefined) assert.fail("no frame yet");
  }
  d.push(bytes("\n\r\n")); // with the last "\r": "\r\n\r\n"
  assert.equal(d.next()?.length, n - 1);
  const work = ByteQueue.work - before;
  assert.ok(work <= 4 * n, `work ${work} for ${n} bytes`);
});

test("delimited() random garbage gives only FramingErrors", () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }),
      fc.uint8Array({ maxLength: 300 }),
      policy,
      sizesArb,
      (delimiters, input, { max, tooLong, eof }, sizes) => {
        const got = decodeAll(
          delimited({ delimiter: delimiters, maxLength: max, tooLong, eof }),
          split(input, sizes),
        );
        for (const e of got.errors) assert.ok(e instanceof FramingError);
      },
    ),
    { numRuns: 200 },
  );
});

test("delimited() EOF policies", () => {
  const input = bytes("a|b");
  const emit = decodeAll(delimited({ delimiter: "|" }), [input]);
  assert.deepEqual(text(emit.frames), ["a", "b"]);
  assert.deepEqual(text(decodeAll(delimited({ delimiter: "|", eof: "discard" }), [input]).frames), [
    "a",
  ]);
  const err = decodeAll(delimited({ delimiter: "|", eof: "error" }), [input]);
  assert.deepEqual(text(err.frames), ["a"]);
  assert.ok(err.fatal instanceof IncompleteFrameError);
  for (const eof of ["error", "emit", "discard"] as const) {
    const got = decodeAll(delimited({ delimiter: "|", eof }), [bytes("a|")]);
    assert.deepEqual(text(got.frames), ["a"]);
    assert.equal(got.errors.length, 0);
  }
});

test("delimited() rejects bad options", () => {
  assert.throws(() => delimited({ delimiter: "" }), RangeError);
  assert.throws(() => delimited({ delimiter: [] }), TypeError);
  assert.throws(() => delimited({ delimiter: 10 as unknown as string }), TypeError);
  assert.throws(() => delimited({ delimiter: "|", maxLength: -1 }), RangeError);
  assert.throws(
    () => delimited({ delimiter: "|", includeDelimiter: 1 as unknown as boolean }),
    TypeError,
  );
  assert.throws(() => delimited(undefined as unknown as { delimiter: string }), TypeError);
});
