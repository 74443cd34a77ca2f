import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { raw } from "../lib/framers/raw.ts";
import { concat, decodeAll, sizesArb, split } from "./_framer_helpers.ts";

test("raw() passes each chunk through as it is", () => {
  const a = Uint8Array.of(1, 2, 3);
  const b = Uint8Array.of(4);
  const d = raw().decoder();
  d.push(a);
  assert.equal(d.next(), a);
  d.push(new Uint8Array(0));
  assert.equal(d.next(), undefined);
  d.push(b);
  assert.equal(d.next(), b);
  assert.equal(d.finish(), undefined);
});

test("raw() yields a chunk over maxLength as views of maxLength bytes", () => {
  const big = new Uint8Array(10).map((_, i) => i);
  const got = decodeAll(raw({ maxLength: 4 }), [big]);
  assert.deepEqual(got.frames.map((f) => f.length), [4, 4, 2]);
  for (const f of got.frames) assert.equal(f.buffer, big.buffer);
  assert.equal(raw().maxLength, 65536);
});

test("raw() loses and reorders nothing, whatever the chunks", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 2000 }),
      sizesArb,
      fc.integer({ min: 1, max: 50 }),
      (input, sizes, max) => {
        const got = decodeAll(raw({ maxLength: max }), split(input, sizes));
        assert.deepEqual(Array.from(concat(got.frames)), Array.from(input));
        for (const f of got.frames) assert.ok(f.length >= 1 && f.length <= max);
        assert.equal(got.errors.length, 0);
      },
    ),
    { numRuns: 150 },
  );
});

test("raw() encoder sends bytes as they are and refuses anything else", () => {
  const m = Uint8Array.of(9);
  assert.equal(raw().encode(m), m);
  assert.throws(() => raw().encode("x" as unknown as Uint8Array), TypeError);
  assert.throws(() => raw({ maxLength: 0 }), RangeError);
});

test("raw() takeRemaining() returns what was not read", () => {
  const d = raw().decoder();
  d.push(Uint8Array.of(1));
  assert.deepEqual(Array.from(d.next()!), [1]);
  d.push(Uint8Array.of(2, 3));
  d.push(Uint8Array.of(4));
  assert.deepEqual(Array.from(concat(d.takeRemaining())), [2, 3, 4]);
  assert.equal(d.buffered, 0);
});
