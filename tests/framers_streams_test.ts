import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { decoderStream, encoderStream } from "../lib/framers/streams.ts";
import { delimited, lengthPrefixed, lines } from "../lib/framers/mod.ts";
import { FrameTooLongError, type FramingError, IncompleteFrameError } from "../lib/errors.ts";
import { bytes, concat, plain, sizesArb, split } from "./_framer_helpers.ts";

const collect = <T>(s: ReadableStream<T>): Promise<T[]> => Array.fromAsync(s);
const source = (chunks: Uint8Array[]) => ReadableStream.from(chunks);

test("decoderStream() turns a byte stream into lines, whatever the chunks", async () => {
  const got = await collect(
    source(split(bytes("one\r\ntwo\nthr"), [1])).pipeThrough(decoderStream(lines())),
  );
  assert.deepEqual(got, ["one", "two", "thr"]);
});

test("encoderStream() and decoderStream() round-trip length-prefixed frames through any rechunking", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.uint8Array({ maxLength: 30 }), { maxLength: 10 }),
      sizesArb,
      async (msgs, sizes) => {
        const framer = lengthPrefixed({ size: "varint" });
        const wire = await collect(ReadableStream.from(msgs).pipeThrough(encoderStream(framer)));
        const got = await collect(
          source(split(concat(wire), sizes)).pipeThrough(decoderStream(framer)),
        );
        assert.deepEqual(plain(got), plain(msgs));
      },
    ),
    { numRuns: 100 },
  );
});

test("decoderStream() errors the stream with the typed error of a fatal framing error", async () => {
  const s = source([bytes("ok\n" + "x".repeat(20) + "\n")]).pipeThrough(
    decoderStream(lines({ maxLength: 5 })),
  );
  const reader = s.getReader();
  assert.deepEqual(await reader.read(), { done: false, value: "ok" });
  await assert.rejects(reader.read(), FrameTooLongError);
});

test("decoderStream() applies the EOF policy at the end of the stream", async () => {
  const s = source([Uint8Array.of(0, 0, 0, 5, 1)]).pipeThrough(decoderStream(lengthPrefixed()));
  await assert.rejects(collect(s), IncompleteFrameError);
  const emit = source([bytes("a|b")]).pipeThrough(decoderStream(delimited({ delimiter: "|" })));
  assert.deepEqual(plain(await collect(emit)), [[97], [98]]);
});

test("decoderStream() goes on after a skipped frame and reports it to onError (redis-rs#4166)", async () => {
  const seen: FramingError[] = [];
  const s = source(split(bytes("a\n" + "y".repeat(30) + "\nb\n"), [4])).pipeThrough(
    decoderStream(lines({ maxLength: 8, tooLong: "skip" }), { onError: (e) => seen.push(e) }),
  );
  assert.deepEqual(await collect(s), ["a", "b"]);
  assert.equal(seen.length, 1);
  assert.ok(seen[0] instanceof FrameTooLongError && seen[0].recoverable);
});

test("encoderStream() errors the stream when the framer refuses a message", async () => {
  const s = ReadableStream.from(["fine", "bad\nline"]).pipeThrough(encoderStream(lines()));
  await assert.rejects(collect(s), TypeError);
});
