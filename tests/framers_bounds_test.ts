// Every framer, fed random bytes in random chunks: only FramingErrors come out, nothing
// hangs, and the bytes held stay below the documented bound (tokio#590).
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Decoder } from "../lib/framers/framer.ts";
import { delimited, fixed, lengthPrefixed, lines, raw } from "../lib/framers/mod.ts";
import { FramingError } from "../lib/errors.ts";
import { sizesArb, split } from "./_framer_helpers.ts";

const tooLongArb = fc.constantFrom("close", "skip", "split") as fc.Arbitrary<
  "close" | "skip" | "split"
>;
const eofArb = fc.constantFrom("error", "emit", "discard") as fc.Arbitrary<
  "error" | "emit" | "discard"
>;
// garbage, with newlines and small length bytes common enough to make frames
const garbage = fc.uint8Array({ maxLength: 400 }).map((b) =>
  b.map((x) => (x < 64 ? x % 8 : x < 96 ? 10 : x))
);

interface Subject {
  decoder: () => Decoder<unknown>;
  /** Bytes a decoder may hold once next() returned undefined. */
  bound: number;
}

const subjects: [string, fc.Arbitrary<Subject>][] = [
  [
    "lines",
    fc.record({
      max: fc.integer({ min: 1, max: 30 }),
      tooLong: tooLongArb,
      eof: eofArb,
      strict: fc.boolean(),
      text: fc.boolean(),
    }).map((o) => ({
      decoder: () =>
        lines({
          maxLength: o.max,
          tooLong: o.tooLong,
          eof: o.eof,
          delimiter: o.strict ? "\r\n" : "\n",
          encoding: o.text ? "utf-8" : null,
        }).decoder(),
      bound: o.max + 1,
    })),
  ],
  [
    "delimited",
    fc.record({
      max: fc.integer({ min: 1, max: 30 }),
      tooLong: tooLongArb,
      eof: eofArb,
      delimiters: fc.array(
        fc.uint8Array({ minLength: 1, maxLength: 4 }).map((b) => b.map((x) => x % 8)),
        { minLength: 1, maxLength: 3 },
      ),
    }).map((o) => ({
      decoder: () =>
        delimited({ delimiter: o.delimiters, maxLength: o.max, tooLong: o.tooLong, eof: o.eof })
          .decoder(),
      bound: o.max + Math.max(...o.delimiters.map((d) => d.length)) - 1,
    })),
  ],
  [
    "lengthPrefixed",
    fc.record({
      max: fc.integer({ min: 1, max: 300 }),
      tooLong: tooLongArb,
      eof: eofArb,
      size: fc.constantFrom<1 | 2 | 3 | 4 | 8 | "varint">(1, 2, 3, 4, 8, "varint"),
      offset: fc.integer({ min: 0, max: 2 }),
      adjustment: fc.integer({ min: -2, max: 2 }),
    }).map((o) => ({
      decoder: () =>
        lengthPrefixed({
          maxLength: o.max,
          tooLong: o.tooLong,
          eof: o.eof,
          size: o.size,
          offset: o.offset,
          adjustment: o.adjustment,
        }).decoder(),
      bound: o.offset + (o.size === "varint" ? 8 : o.size) + o.max,
    })),
  ],
  [
    "fixed",
    fc.record({ n: fc.integer({ min: 1, max: 20 }), eof: eofArb }).map((o) => ({
      decoder: () => fixed(o.n, { eof: o.eof }).decoder(),
      bound: o.n - 1,
    })),
  ],
  [
    "raw",
    fc.integer({ min: 1, max: 20 }).map((max) => ({
      decoder: () => raw({ maxLength: max }).decoder(),
      bound: 0,
    })),
  ],
];

for (const [name, arb] of subjects) {
  test(`${name}: random bytes give only FramingErrors, no hang, and bounded bytes held`, () => {
    fc.assert(
      fc.property(arb, garbage, sizesArb, (subject, input, sizes) => {
        const d = subject.decoder();
        let results = 0;
        const drain = (take: () => unknown): boolean => {
          for (;;) {
            try {
              if (take() === undefined) return true;
            } catch (e) {
              assert.ok(e instanceof FramingError, `${e}`);
              if (!e.recoverable) return false;
            }
            assert.ok(++results <= input.length + 2, "more results than bytes: a hang");
          }
        };
        for (const chunk of split(input, sizes)) {
          d.push(chunk);
          assert.ok(
            d.buffered <= subject.bound + chunk.length,
            `${d.buffered} held, bound ${subject.bound} + ${chunk.length}`,
          );
          if (!drain(() => d.next())) return;
          assert.ok(
            d.buffered <= subject.bound,
            `${d.buffered} held after next(), bound ${subject.bound}`,
          );
        }
        drain(() => d.finish());
      }),
      { numRuns: 200 },
    );
  });
}
