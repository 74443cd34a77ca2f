// Property tests of lengthPrefixed(): a naive BigInt whole-buffer reference decoder,
// random garbage, and round trips over every length-field configuration.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { lengthPrefixed, type LengthPrefixedOptions } from "../lib/framers/length_prefixed.ts";
import { FramingError } from "../lib/errors.ts";
import {
  assertOutcome,
  concat,
  decodeAll,
  encoded,
  plain,
  sizesArb,
  split,
} from "./_framer_helpers.ts";

type Size = 1 | 2 | 3 | 4 | 8 | "varint";
interface Config {
  size: Size;
  endian: "big" | "little";
  offset: number;
  adjustment: number;
  includeHeader: boolean;
  max: number;
  tooLong: "close" | "skip" | "split";
  eof: "error" | "emit" | "discard";
}

const framerOf = (c: Config) =>
  lengthPrefixed({
    size: c.size,
    endian: c.endian,
    offset: c.offset,
    adjustment: c.adjustment,
    includeHeader: c.includeHeader,
    maxLength: c.max,
    tooLong: c.tooLong,
    eof: c.eof,
  });

const configArb: fc.Arbitrary<Config> = fc
  .record({
    size: fc.constantFrom<Size>(1, 2, 3, 4, 8, "varint"),
    endian: fc.constantFrom<"big" | "little">("big", "little"),
    offset: fc.integer({ min: 0, max: 3 }),
    adjustment: fc.integer({ min: -3, max: 3 }),
    includeHeader: fc.boolean(),
    max: fc.integer({ min: 1, max: 40 }),
    tooLong: fc.constantFrom<Config["tooLong"]>("close", "skip", "split"),
    eof: fc.constantFrom<Config["eof"]>("error", "emit", "discard"),
  })
  .map((c) => (c.includeHeader && c.tooLong === "split" ? { ...c, tooLong: "skip" as const } : c));

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A naive whole-buffer decoder, written apart from the real one, with BigInt lengths. */
function reference(input: Uint8Array, c: Config) {
  const frames: Uint8Array[] = [];
  const errors: [string, boolean][] = [];
  const fieldMax = c.size === "varint" || c.size === 8 ? MAX_SAFE : (1n << BigInt(8 * c.size)) - 1n;
  const max = Math.min(c.max, Number(fieldMax + BigInt(c.adjustment)));
  const eofPartial = (bytes: Uint8Array, truncatedVarint: boolean, inFrame: boolean) => {
    if (!inFrame) return;
    if (c.eof === "emit" && bytes.length) frames.push(bytes);
    if (c.eof === "error") {
      errors.push([truncatedVarint ? "CorruptFrameError" : "IncompleteFrameError", false]);
    }
  };
  let pos = 0;
  while (pos < input.length) {
    const rest = input.length - pos;
    let value = 0n;
    let hlen = -1;
    if (c.size === "varint") {
      for (let i = 0; pos + c.offset + i < input.length; i++) {
        const b = input[pos + c.offset + i];
        value |= BigInt(b & 0x7f) << BigInt(7 * i);
        if (i === 7 && b > 0x0f) {
          errors.push(["CorruptFrameError", false]);
          return { frames, errors };
        }
        if (b < 0x80) {
          if (b === 0 && i > 0) {
            errors.push(["CorruptFrameError", false]);
            return { frames, errors };
          }
          hlen = c.offset + i + 1;
          break;
        }
      }
      if (hlen < 0) {
        eofPartial(input.slice(pos), rest > c.offset, true);
        return { frames, errors };
      }
    } else {
      hlen = c.offset + c.size;
      if (rest < hlen) {
        eofPartial(input.slice(pos), false, true);
        return { frames, errors };
      }
      for (let i = 0; i < c.size; i++) {
        const b = input[pos + c.offset + (c.endian === "big" ? i : c.size - 1 - i)];
        value = (value << 8n) | BigInt(b);
      }
      if (value > MAX_SAFE) {
        errors.push(["CorruptFrameError", false]);
        return { frames, errors };
      }
    }
    const plen = value + BigInt(c.adjustment);
    if (plen < 0n) {
      errors.push(["CorruptFrameError", false]);
      return { frames, errors };
    }
    const n = Number(plen);
    if (n > max) {
      if (c.tooLong === "close") {
        errors.push(["FrameTooLongError", false]);
        return { frames, errors };
      }
      if (c.tooLong === "skip") {
        errors.push(["FrameTooLongError", true]);
        pos += hlen + n;
        continue;
      }
      let avail = Math.min(n, input.length - pos - hlen);
      let at = pos + hlen;
      for (let left = n; left > 0;) {
        const k = Math.min(left, max);
        if (avail < k) {
          eofPartial(input.slice(at, at + avail), false, true);
          return { frames, errors };
        }
        frames.push(input.slice(at, at + k));
        at += k;
        avail -= k;
        left -= k;
      }
      pos = at;
      continue;
    }
    if (rest < hlen + n) {
      eofPartial(input.slice(pos + (c.includeHeader ? 0 : hlen)), false, true);
      return { frames, errors };
    }
    frames.push(input.slice(pos + (c.includeHeader ? 0 : hlen), pos + hlen + n));
    pos += hlen + n;
  }
  return { frames, errors };
}

/** Wire bytes: valid frames mixed with short runs of random bytes. */
const wireArb = (c: Config) =>
  fc
    .array(
      fc.oneof(
        { weight: 4, arbitrary: fc.uint8Array({ maxLength: 50 }).map((p) => ({ p })) },
        { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 4 }).map((g) => ({ g })) },
      ),
      { maxLength: 8 },
    )
    .map((parts) => {
      const enc = lengthPrefixed({
        ...optionsOf(c),
        includeHeader: false,
        maxLength: 1 << 20,
        tooLong: "close",
      });
      return concat(
        parts.map((part) => {
          if ("g" in part) return part.g;
          const p = part.p.length >= c.adjustment ? part.p : new Uint8Array(c.adjustment);
          return encoded(enc.encode(p));
        }),
      );
    });

const optionsOf = (c: Config): LengthPrefixedOptions => ({
  size: c.size,
  endian: c.endian,
  offset: c.offset,
  adjustment: c.adjustment,
});

test("lengthPrefixed() matches a naive BigInt reference for any header layout, policy, input and split", () => {
  fc.assert(
    fc.property(
      configArb.chain((c) => fc.tuple(fc.constant(c), wireArb(c), sizesArb)),
      ([c, input, sizes]) => {
        assertOutcome(decodeAll(framerOf(c), split(input, sizes)), reference(input, c));
      },
    ),
    { numRuns: 400 },
  );
});

test("lengthPrefixed() random garbage gives only FramingErrors and never hangs", () => {
  fc.assert(
    fc.property(configArb, fc.uint8Array({ maxLength: 300 }), sizesArb, (c, input, sizes) => {
      const got = decodeAll(framerOf(c), split(input, sizes));
      for (const e of got.errors) assert.ok(e instanceof FramingError);
      assertOutcome(got, reference(input, c));
    }),
    { numRuns: 300 },
  );
});

test("lengthPrefixed() round-trips over every length-field configuration", () => {
  fc.assert(
    fc.property(
      configArb,
      fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 10 }),
      fc.uint8Array({ minLength: 3, maxLength: 3 }),
      sizesArb,
      (c0, payloads, prefix, sizes) => {
        const c = { ...c0, max: 64 };
        const framer = framerOf(c);
        const plainFramer = framerOf({ ...c, includeHeader: false });
        const sent: Uint8Array[] = [];
        const wire: Uint8Array[] = [];
        for (const p0 of payloads) {
          const p = p0.length >= c.adjustment ? p0 : new Uint8Array(c.adjustment);
          const [header, payload] = plainFramer.encode(p) as Uint8Array[];
          header.set(prefix.subarray(0, c.offset)); // the bytes before the length field
          const frame = concat([header, payload]);
          wire.push(frame);
          sent.push(c.includeHeader ? frame : p);
          // re-encoding what the decoder yields gives the same bytes
          assert.deepEqual(
            Array.from(encoded(framer.encode(c.includeHeader ? frame : p))),
            Array.from(
              c.includeHeader
                ? frame
                : concat([new Uint8Array(c.offset), frame.subarray(c.offset)]),
            ),
          );
        }
        const got = decodeAll(framer, split(concat(wire), sizes));
        assert.deepEqual(got.errors, []);
        assert.deepEqual(plain(got.frames), plain(sent));
      },
    ),
    { numRuns: 300 },
  );
});
