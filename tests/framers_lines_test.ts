import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { lines } from "../lib/framers/lines.ts";
import { ByteQueue } from "../lib/framers/_byte_queue.ts";
import { FrameTooLongError, IncompleteFrameError } from "../lib/errors.ts";
import {
  assertOutcome,
  assertSameOutcome,
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

const CRLF = Uint8Array.of(13, 10);
const LF = Uint8Array.of(10);

test("lines() splits on \\n and drops a \\r just before it", () => {
  const got = decodeAll(lines(), [bytes("a\nb\r\nc\r\rd\n\n\re\n")]);
  assert.deepEqual(got.frames, ["a", "b", "c\r\rd", "", "\re"]);
  assert.deepEqual(got.errors, []);
});

test("lines() strips a \\r that arrives in another chunk than its \\n (fs2#660)", () => {
  const input = bytes("ab\r\ncd\r\n\r\nef\r\r\ng\n");
  const want = ["ab", "cd", "", "ef\r", "g"];
  for (let i = 0; i <= input.length; i++) {
    for (let j = i; j <= input.length; j++) {
      const chunks = [input.slice(0, i), input.slice(i, j), input.slice(j)];
      assert.deepEqual(decodeAll(lines(), chunks).frames, want, `split at ${i}, ${j}`);
    }
  }
});

test("lines() with delimiter \\r\\n ends lines only at \\r\\n, split anywhere", () => {
  const input = bytes("a\nb\r\nc\r\r\n\r\n\rd\r\n");
  const want = ["a\nb", "c\r", "", "\rd"];
  for (let i = 0; i <= input.length; i++) {
    for (let j = i; j <= input.length; j++) {
      const chunks = [input.slice(0, i), input.slice(i, j), input.slice(j)];
      const got = decodeAll(lines({ delimiter: "\r\n" }), chunks);
      assert.deepEqual(got.frames, want, `split at ${i}, ${j}`);
    }
  }
});

test("lines() gives no extra empty line when input ends with a delimiter (std#3075)", () => {
  assert.deepEqual(decodeAll(lines(), [bytes("a\nb\n")]).frames, ["a", "b"]);
  assert.deepEqual(decodeAll(lines(), [bytes("a\r\n")]).frames, ["a"]);
  assert.deepEqual(decodeAll(lines(), [bytes("\n")]).frames, [""]);
  assert.deepEqual(decodeAll(lines(), []).frames, []);
  assert.deepEqual(decodeAll(lines({ eof: "error" }), [bytes("a\n")]).errors, []);
});

test("lines() accepts maxLength - 1 and maxLength, refuses maxLength + 1, with and without delimiter (netty#1287, netty#10338)", () => {
  const max = 8;
  for (const delimiter of ["\n", "\r\n"] as const) {
    for (const end of delimiter === "\n" ? ["\n", "\r\n", ""] : ["\r\n", ""]) {
      for (const n of [max - 1, max, max + 1]) {
        const line = "x".repeat(n);
        const framer = lines({ maxLength: max, delimiter });
        // the whole line at once, and byte by byte
        for (const chunks of [[bytes(line + end)], split(bytes(line + end), [1])]) {
          const got = decodeAll(framer, chunks);
          const what = `${JSON.stringify(delimiter)} ${JSON.stringify(end)} n=${n}`;
          if (n <= max) {
            assert.deepEqual(got.frames, [line], what);
            assert.equal(got.errors.length, 0, what);
          } else {
            assert.deepEqual(got.frames, [], what);
            assert.ok(got.fatal instanceof FrameTooLongError, what);
            assert.equal(got.fatal.maxLength, max);
            assert.ok(got.fatal.length > max);
          }
        }
      }
    }
  }
});

test("lines() counts a trailing \\r at end of input as part of the last line", () => {
  assert.deepEqual(decodeAll(lines({ maxLength: 3 }), [bytes("abc\r")]).frames.length, 0);
  assert.deepEqual(decodeAll(lines({ maxLength: 4 }), [bytes("abc\r")]).frames, ["abc\r"]);
  assert.deepEqual(decodeAll(lines({ maxLength: 3 }), [bytes("abc\r\n")]).frames, ["abc"]);
});

test("lines() holds at most maxLength + 1 bytes of a line plus one chunk (tokio#590)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 40 }),
      fc.constantFrom("close", "skip", "split") as fc.Arbitrary<"close" | "skip" | "split">,
      fc.uint8Array({ maxLength: 400 }).map((b) => b.map((x) => [97, 13, 10][x % 3] ?? x)),
      sizesArb,
      (max, tooLong, input, sizes) => {
        const d = lines({ maxLength: max, tooLong, encoding: null }).decoder();
        for (const chunk of split(input, sizes)) {
          d.push(chunk);
          assert.ok(d.buffered <= max + 1 + chunk.length, `${d.buffered} bytes held`);
          for (;;) {
            try {
              if (d.next() === undefined) break;
            } catch (e) {
              if (!(e instanceof FrameTooLongError) || !e.recoverable) return;
            }
          }
          assert.ok(d.buffered <= max + 1, `${d.buffered} bytes held after draining`);
        }
      },
    ),
    { numRuns: 150 },
  );
});

test("lines() skip reports one error per long line, even in 1-byte chunks, and resyncs (tokio#3555)", () => {
  const input = bytes("ok\n" + "x".repeat(50) + "\r\nnext\n" + "y".repeat(20) + "\nlast");
  for (const sizes of [[1], [0, 1], [7], [1000]]) {
    const got = decodeAll(lines({ maxLength: 10, tooLong: "skip" }), split(input, sizes));
    assert.deepEqual(got.frames, ["ok", "next", "last"], `sizes ${sizes}`);
    assert.equal(got.errors.length, 2);
    for (const e of got.errors) {
      assert.ok(e instanceof FrameTooLongError && e.recoverable && e.maxLength === 10);
    }
  }
});

test("lines() close: the error is terminal, no frame follows it (tokio#3976, netty#10417)", () => {
  const d = lines({ maxLength: 4 }).decoder();
  d.push(bytes("ab\n" + "x".repeat(10) + "\ncd\n"));
  assert.equal(d.next(), "ab");
  const first = assert.throws(() => d.next(), FrameTooLongError);
  let again: unknown;
  try {
    d.next();
  } catch (e) {
    again = e;
  }
  assert.ok(again instanceof FrameTooLongError && !again.recoverable);
  assert.throws(() => d.finish(), FrameTooLongError);
  void first;
});

test("lines() split yields maxLength pieces; string pieces end on a character boundary", () => {
  const got = decodeAll(lines({ maxLength: 4, tooLong: "split", encoding: null }), [
    bytes("abcdefghij\nxy\n"),
  ]);
  assert.deepEqual(
    plain(got.frames),
    plain([bytes("abcd"), bytes("efgh"), bytes("ij"), bytes("xy")]),
  );
  const text = "aé€😀b".repeat(3);
  for (const sizes of [[1], [1000]]) {
    const pieces =
      decodeAll(lines({ maxLength: 5, tooLong: "split" }), split(bytes(text + "\n"), sizes))
        .frames;
    assert.equal(pieces.join(""), text);
    for (const p of pieces) {
      assert.ok(!p.includes("\ufffd"), `piece ${JSON.stringify(p)}`);
      assert.ok(bytes(p).length <= 5);
    }
  }
});

const policies = fc.record({
  max: fc.integer({ min: 1, max: 12 }),
  tooLong: fc.constantFrom("close", "skip", "split") as fc.Arbitrary<"close" | "skip" | "split">,
  eof: fc.constantFrom("error", "emit", "discard") as fc.Arbitrary<"error" | "emit" | "discard">,
  strict: fc.boolean(),
});
// bytes mostly from a tiny alphabet so that \r, \n and \r\n come up often
const textish = fc.uint8Array({ maxLength: 120 }).map((b) =>
  b.map((x) => [97, 98, 13, 10, 10, 13, 0xc3, 0xa9][x % 8])
);

test("lines() matches a naive whole-buffer reference for any input, policy and split", () => {
  fc.assert(
    fc.property(policies, textish, sizesArb, ({ max, tooLong, eof, strict }, input, sizes) => {
      const framer = lines({
        maxLength: max,
        tooLong,
        eof,
        encoding: null,
        delimiter: strict ? "\r\n" : "\n",
      });
      const want = referenceDelimited(input, {
        delimiters: strict ? [CRLF] : [CRLF, LF],
        max,
        tooLong,
        eof,
      });
      assertOutcome(decodeAll(framer, split(input, sizes)), want);
    }),
    { numRuns: 300 },
  );
});

test("lines() gives the same strings for every split of the input (chunking invariance)", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.string({ unit: "grapheme", maxLength: 12 }).map((s) => s.replace(/[\r\n]/g, "")),
        {
          maxLength: 20,
        },
      ),
      fc.boolean(),
      sizesArb,
      (msgs, strict, sizes) => {
        const framer = lines({ delimiter: strict ? "\r\n" : "\n" });
        const input = concat(msgs.map((m) => encoded(framer.encode(m))));
        const whole = decodeAll(framer, [input]);
        assert.deepEqual(whole.frames, msgs);
        assertSameOutcome(decodeAll(framer, split(input, sizes)), whole);
      },
    ),
    { numRuns: 200 },
  );
});

test("lines() decodes UTF-8 leniently and keeps a byte order mark", () => {
  const got = decodeAll(lines(), [Uint8Array.of(0xef, 0xbb, 0xbf, 0x61, 10, 0xff, 0x62, 10)]);
  assert.deepEqual(got.frames, ["\ufeffa", "\ufffdb"]);
});

test("lines() encoder appends the delimiter and refuses what would not decode back", () => {
  assert.deepEqual(Array.from(encoded(lines().encode("hé"))), [104, 0xc3, 0xa9, 10]);
  assert.deepEqual(Array.from(encoded(lines({ delimiter: "\r\n" }).encode("a"))), [97, 13, 10]);
  assert.deepEqual(Array.from(encoded(lines().encode(Uint8Array.of(1, 2)))), [1, 2, 10]);
  assert.throws(() => lines().encode("a\nb"), TypeError);
  assert.throws(() => lines().encode("a\r"), TypeError);
  assert.throws(() => lines().encode(Uint8Array.of(97, 10)), TypeError);
  assert.throws(() => lines().encode(Uint8Array.of(97, 13)), TypeError);
  assert.throws(() => lines({ delimiter: "\r\n" }).encode("a\r\nb"), TypeError);
  assert.throws(() => lines({ delimiter: "\r\n" }).encode(Uint8Array.of(13, 10)), TypeError);
  // strict mode may carry lone \n and a trailing \r
  assert.deepEqual(
    decodeAll(lines({ delimiter: "\r\n" }), [
      encoded(lines({ delimiter: "\r\n" }).encode("a\nb\r")),
    ])
      .frames,
    ["a\nb\r"],
  );
  assert.throws(() => lines({ maxLength: 3 }).encode("abcd"), FrameTooLongError);
  assert.throws(() => lines({ maxLength: 3 }).encode("abé"), FrameTooLongError); // 3 chars, 4 bytes
  assert.ok(lines({ maxLength: 3 }).encode("abc"));
  assert.throws(() => lines({ maxLength: 3 }).encode(new Uint8Array(4)), FrameTooLongError);
  assert.throws(() => lines().encode(42 as unknown as string), TypeError);
});

test("lines() EOF policies: emit, discard and error for a last line without delimiter", () => {
  const input = bytes("a\nrest");
  assert.deepEqual(decodeAll(lines(), [input]).frames, ["a", "rest"]);
  assert.deepEqual(decodeAll(lines({ eof: "emit" }), [input]).frames, ["a", "rest"]);
  assert.deepEqual(decodeAll(lines({ eof: "discard" }), [input]).frames, ["a"]);
  const err = decodeAll(lines({ eof: "error" }), [input]);
  assert.deepEqual(err.frames, ["a"]);
  assert.ok(err.fatal instanceof IncompleteFrameError && err.fatal.length === 4);
  for (const eof of ["error", "emit", "discard"] as const) {
    assert.deepEqual(decodeAll(lines({ eof }), [bytes("a\n")]).frames, ["a"], eof);
    assert.deepEqual(decodeAll(lines({ eof }), []).frames, [], eof);
  }
});

test("lines() decodes an 8 MiB line in 1-byte chunks in linear work (std#7231, netty#7202)", () => {
  const n = 8 * 1024 * 1024;
  const d = lines({ maxLength: n, encoding: null }).decoder();
  const one = Uint8Array.of(120);
  const before = ByteQueue.work;
  for (let i = 0; i < n; i++) {
    d.push(one); // the queue packs 1-byte chunks, so reusing one is fine here
    if (d.next() !== undefined) assert.fail("no line yet");
  }
  d.push(Uint8Array.of(13));
  assert.equal(d.next(), undefined);
  d.push(Uint8Array.of(10));
  const line = d.next();
  const work = ByteQueue.work - before;
  assert.equal(line?.length, n);
  assert.ok(line!.every((b) => b === 120));
  // each byte is searched once, plus a small constant per push
  assert.ok(work <= 3 * n, `work ${work} for ${n} bytes`);
});

test("lines() takeRemaining() hands over exactly the bytes not yet decoded (netty#4087)", () => {
  const d = lines().decoder();
  d.push(bytes("one\ntw"));
  d.push(bytes("o\r"));
  d.push(bytes("\nthree\r"));
  assert.equal(d.next(), "one");
  assert.equal(d.next(), "two");
  assert.equal(d.next(), undefined);
  assert.equal(d.buffered, 6);
  assert.equal(td.decode(concat(d.takeRemaining())), "three\r");
  assert.equal(d.buffered, 0);
  d.push(bytes("x\n"));
  assert.equal(d.next(), "x");
});

test("lines() rejects bad options with what is allowed", () => {
  assert.throws(() => lines({ maxLength: 0 }), RangeError);
  assert.throws(() => lines({ maxLength: 1.5 }), TypeError);
  assert.throws(
    () => lines({ delimiter: "\r" as "\n" }),
    /delimiter must be one of "\\n", "\\r\\n"/,
  );
  assert.throws(() => lines({ encoding: "latin1" as "utf-8" }), TypeError);
  assert.throws(() => lines({ tooLong: "drop" as "skip" }), /"close", "skip", "split"/);
  assert.throws(() => lines({ eof: "keep" as "emit" }), /"error", "emit", "discard"/);
  assert.throws(() => lines(7 as unknown as undefined), TypeError);
  assert.equal(lines().maxLength, 65536);
  assert.equal(lines().name, "lines");
});
