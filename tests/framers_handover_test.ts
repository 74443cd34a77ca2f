// takeRemaining() on every framer: bytes held mid-stream are handed over losslessly
// (netty#4087), so a connection can swap framers (STARTTLS, PROXY header, upgrades).
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Framer } from "../lib/framers/framer.ts";
import { delimited, fixed, lengthPrefixed, lines, raw } from "../lib/framers/mod.ts";
import { concat, decodeAll, encoded, plain, sizesArb, split } from "./_framer_helpers.ts";

const framers: [string, () => Framer<Uint8Array>][] = [
  ["lines", () => lines({ encoding: null }) as Framer<Uint8Array>],
  ["delimited", () => delimited({ delimiter: ["<>", "|"] })],
  ["lengthPrefixed", () => lengthPrefixed({ size: 2 })],
  ["lengthPrefixed varint", () => lengthPrefixed({ size: "varint", offset: 1 })],
  ["fixed", () => fixed(3)],
  ["raw", () => raw({ maxLength: 5 })],
];

for (const [name, make] of framers) {
  test(`${name}: takeRemaining() mid-stream hands over every undecoded byte, in order`, () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.uint8Array({ minLength: 3, maxLength: 3 }).map((b) => b.map((x) => 97 + (x % 26))),
          {
            maxLength: 12,
          },
        ),
        sizesArb,
        fc.nat(40),
        (msgs, sizes, cut) => {
          const framer = make();
          const input = concat(msgs.map((m) => encoded(framer.encode(m))));
          const chunks = split(input, sizes);
          const k = Math.min(cut, chunks.length);
          const d = framer.decoder();
          const frames: Uint8Array[] = [];
          for (const c of chunks.slice(0, k)) {
            d.push(c);
            for (let f = d.next(); f !== undefined; f = d.next()) frames.push(f);
          }
          const rest = d.takeRemaining();
          assert.equal(d.buffered, 0);
          // what was decoded plus what was handed over is exactly what was pushed
          const decodedBytes = name === "raw"
            ? concat(frames)
            : concat(frames.map((f) => encoded(framer.encode(f))));
          assert.deepEqual(
            Array.from(concat([decodedBytes, ...rest])),
            Array.from(concat(chunks.slice(0, k))),
          );
          // and a fresh decoder picks up where the old one stopped
          const after = decodeAll(framer, [...rest, ...chunks.slice(k)]);
          if (name === "raw") {
            assert.deepEqual(Array.from(concat([...frames, ...after.frames])), Array.from(input));
          } else assert.deepEqual(plain([...frames, ...after.frames]), plain(msgs));
        },
      ),
      { numRuns: 100 },
    );
  });
}
