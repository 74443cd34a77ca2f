// Runs the transport conformance suite against the native adapter of the runtime this
// runs on, the node:net adapter (which works on all three runtimes) and memory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { detectRuntime, getTransport, memoryPair } from "../lib/adapters/mod.ts";
import { ReadBuffer } from "../lib/adapters/deno/_read_buffer.ts";
import type { RawSocketHandler } from "../lib/transport.ts";
import { UnsupportedError } from "../lib/errors.ts";
import { runAdapterCases } from "./_adapter_cases.ts";

const native = detectRuntime();
runAdapterCases(native, () => getTransport(native));
if (native !== "node") runAdapterCases("node (on " + native + ")", () => getTransport("node"));
runAdapterCases("memory", () => getTransport("memory"));

test("getTransport() names an absent runtime's adapter: UnsupportedError", () => {
  const absent = native === "deno" ? "bun" : "deno";
  assert.throws(() => getTransport(absent), (e: unknown) => {
    assert.ok(e instanceof UnsupportedError);
    assert.match(e.message, new RegExp(absent));
    return true;
  });
  assert.throws(() => getTransport("nope" as never), TypeError);
  assert.equal(getTransport().name, native);
});

test("ReadBuffer waits on a small probe, then grows while reads fill it, up to max", () => {
  const rb = new ReadBuffer({ idle: 128, min: 1024, max: 8192 });
  const sizes = [];
  for (let i = 0; i < 6; i++) {
    sizes.push(rb.buf.length);
    rb.buf.fill(i);
    rb.take(rb.buf.length);
  }
  assert.deepEqual(sizes, [128, 1024, 2048, 4096, 8192, 8192]);
});

test("ReadBuffer goes back to the probe after a partial read and shrinks to fit", () => {
  const rb = new ReadBuffer({ idle: 128, min: 1024, max: 65536 });
  const fill = () => {
    while (rb.buf.length < 65536) rb.take(rb.buf.length);
  };
  fill();
  rb.take(100); // caught up: an idle connection now pins only the probe
  assert.equal(rb.buf.length, 128);
  rb.take(128);
  assert.equal(rb.buf.length, 1024, "a small read shrank the data buffer to min");
  fill();
  rb.take(10_000); // a medium read: the data buffer shrinks to hold it twice
  assert.equal(rb.buf.length, 128);
  rb.take(128);
  assert.equal(rb.buf.length, 32768);
  fill();
  rb.take(40_000); // a large partial read keeps the size
  rb.take(128);
  assert.equal(rb.buf.length, 65536);
});

test("ReadBuffer grows the probe to hold bursts a bit bigger than it, and shrinks it back", () => {
  const rb = new ReadBuffer({ idle: 128, min: 1024, max: 65536 });
  rb.take(128); // a 1000-byte burst: the probe fills...
  assert.equal(rb.buf.length, 1024);
  rb.take(872); // ...and the rest is a partial read: next time one read must do
  assert.equal(rb.buf.length, 1024, "the probe grew to hold the whole burst");
  rb.take(1000);
  assert.equal(rb.buf.length, 1024);
  for (const size of [512, 256, 128, 128]) {
    rb.take(10); // small reads halve it, down to idle
    assert.equal(rb.buf.length, size);
  }
});

test("ReadBuffer without a probe (idle >= min) always reads into the data buffer", () => {
  const rb = new ReadBuffer({ idle: 65536, min: 65536, max: 65536 });
  assert.equal(rb.buf.length, 65536);
  rb.take(10);
  assert.equal(rb.buf.length, 65536);
});

test("ReadBuffer chunks are never reused or changed by later reads", () => {
  const rb = new ReadBuffer({ idle: 128, min: 1024, max: 4096 });
  const chunks: Uint8Array[] = [];
  const reads = [10, 128, 1024, 600, 128, 2048, 3000, 5, 128, 4096, 4096, 100];
  reads.forEach((want, i) => {
    const n = Math.min(want, rb.buf.length); // a read never returns more than the buffer
    rb.buf.fill(i + 1, 0, n);
    const chunk = rb.take(n);
    assert.equal(chunk.length, n);
    chunks.push(chunk);
    rb.buf.fill(0xee); // the next read scribbles over the buffer
  });
  chunks.forEach((chunk, i) => assert.ok(chunk.every((b) => b === i + 1), `chunk ${i} intact`));
  // Small reads are copied out, side by side in one shared slab of 16 KiB: one
  // allocation for many reads, and no view pinning a read buffer.
  assert.equal(chunks[0].buffer, chunks[1].buffer, "small reads share a slab");
  assert.equal(chunks[0].buffer.byteLength, 16 * 1024);
  assert.notEqual(chunks[0].buffer, rb.buf.buffer);
});

test("memoryPair() is a connected pair with backpressure while the reader is paused", async () => {
  const [a, b] = memoryPair(1024);
  const got: number[] = [];
  let drains = 0;
  let closed = 0;
  const handler = (onData: (c: Uint8Array) => void): RawSocketHandler => ({
    data: onData,
    end() {},
    drain: () => void drains++,
    close: () => void closed++,
  });
  a.start(handler(() => {}));
  b.start(handler((c) => got.push(c.length)));
  assert.equal(a.write(new Uint8Array(1000)), true);
  assert.equal(a.write(new Uint8Array(1000)), false);
  assert.equal(a.bufferedAmount, 2000);
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(got, [], "nothing before resume()");
  b.resume();
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(got, [1000, 1000]);
  assert.equal(drains, 1);
  assert.equal(a.bufferedAmount, 0);
  a.abort();
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(closed, 2);
});

if (native === "deno") {
  test("deno adapter: lent chunks echoed while the peer does not read stay intact", async () => {
    // The peer reads nothing for a while, so the echo's writes get stuck, reads go on
    // (see DenoSocket.gateCheck), and a lent chunk still queued must not be read over.
    const deno = getTransport("deno");
    const TOTAL = 16 * 1024 * 1024;
    const listener = deno.listen(
      { hostname: "127.0.0.1", port: 0, writeHighWaterMark: 65536 },
      (s) => {
        s.start({ data: (c) => void s.write(c), end: () => s.end(), drain() {}, close() {} });
        assert.equal(s.lend?.(), true);
        s.resume();
      },
    );
    const port = (listener.addr as { port: number }).port;
    const client = await deno.connect({ hostname: "127.0.0.1", port, writeHighWaterMark: 65536 });
    let got = 0;
    let bad = -1;
    const done = Promise.withResolvers<void>();
    client.start({
      data(c) {
        for (let i = 0; i < c.length && bad < 0; i++) if (c[i] !== (got + i) % 251) bad = got + i;
        got += c.length;
        if (got >= TOTAL || bad >= 0) done.resolve();
      },
      end: () => done.resolve(),
      drain() {},
      close: () => done.resolve(),
    });
    const piece = new Uint8Array(64 * 1024);
    for (let off = 0; off < TOTAL; off += piece.length) {
      const chunk = piece.map((_, i) => (off + i) % 251);
      client.write(chunk);
    }
    await new Promise((r) => setTimeout(r, 300)); // the server's writes back are stuck
    client.resume();
    const timer = setTimeout(() => done.resolve(), 20_000);
    await done.promise;
    clearTimeout(timer);
    client.abort();
    await listener.close();
    assert.equal(bad, -1, `byte ${bad} echoed wrong`);
    assert.equal(got, TOTAL);
  });

  test("deno adapter: reusePort without --unstable-net throws instead of exiting", () => {
    assert.throws(
      () =>
        getTransport("deno").listen({ port: 0, reusePort: true, writeHighWaterMark: 1 }, () => {}),
      UnsupportedError,
    );
  });
}
