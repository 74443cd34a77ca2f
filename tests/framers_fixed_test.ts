import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { fixed } from "../lib/framers/fixed.ts";
import { FrameTooLongError, FramingError, IncompleteFrameError } from "../lib/errors.ts";
import { concat, decodeAll, plain, sizesArb, split } from "./_framer_helpers.ts";

test("fixed() cuts every size bytes, whatever the chunks", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 9 }),
      fc.uint8Array({ maxLength: 100 }),
      sizesArb,
      (n, input, sizes) => {
        const whole = Math.floor(input.length / n) * n;
        const want: number[][] = [];
        for (let i = 0; i < whole; i += n) want.push(Array.from(input.subarray(i, i + n)));
        const got = decodeAll(fixed(n, { eof: "discard" }), split(input, sizes));
        assert.deepEqual(plain(got.frames), want);
        for (const e of got.errors) assert.ok(e instanceof FramingError);
      },
    ),
    { numRuns: 200 },
  );
});

test("fixed() EOF policies for a partial last frame", () => {
  const input = Uint8Array.of(1, 2, 3, 4, 5);
  assert.deepEqual(plain(decodeAll(fixed(2, { eof: "emit" }), [input]).frames), [[1, 2], [3, 4], [
    5,
  ]]);
  assert.deepEqual(plain(decodeAll(fixed(2, { eof: "discard" }), [input]).frames), [[1, 2], [
    3,
    4,
  ]]);
  const err = decodeAll(fixed(2), [input]);
  assert.deepEqual(plain(err.frames), [[1, 2], [3, 4]]);
  assert.ok(err.fatal instanceof IncompleteFrameError && err.fatal.length === 1);
  for (const eof of ["error", "emit", "discard"] as const) {
    const got = decodeAll(fixed(2, { eof }), [Uint8Array.of(1, 2)]);
    assert.deepEqual(plain(got.frames), [[1, 2]], eof);
    assert.equal(got.errors.length, 0, eof);
  }
});

test("fixed() frames inside a chunk are views; across chunks, one copy", () => {
  const a = Uint8Array.of(1, 2, 3);
  const d = fixed(2).decoder();
  d.push(a);
  assert.equal(d.next()!.buffer, a.buffer);
  d.push(Uint8Array.of(4));
  const f = d.next()!;
  assert.deepEqual(Array.from(f), [3, 4]);
  assert.notEqual(f.buffer, a.buffer);
  assert.equal(d.buffered, 0);
});

test("fixed() encoder refuses messages of the wrong size", () => {
  const f = fixed(4);
  const ok = new Uint8Array(4);
  assert.equal(f.encode(ok), ok);
  assert.throws(() => f.encode(new Uint8Array(5)), FrameTooLongError);
  assert.throws(() => f.encode(new Uint8Array(3)), RangeError);
  assert.throws(() => f.encode("abcd" as unknown as Uint8Array), TypeError);
  assert.equal(f.maxLength, 4);
});

test("fixed() takeRemaining() returns the partial frame", () => {
  const d = fixed(3).decoder();
  d.push(Uint8Array.of(1, 2, 3, 4));
  d.push(Uint8Array.of(5));
  assert.deepEqual(Array.from(d.next()!), [1, 2, 3]);
  assert.equal(d.next(), undefined);
  assert.deepEqual(Array.from(concat(d.takeRemaining())), [4, 5]);
  assert.equal(d.finish(), undefined);
});

test("fixed() rejects a bad size or options", () => {
  assert.throws(() => fixed(0), RangeError);
  assert.throws(() => fixed(2.5), TypeError);
  assert.throws(() => fixed("8" as unknown as number), TypeError);
  assert.throws(() => fixed(8, { eof: "drop" as "discard" }), TypeError);
});
