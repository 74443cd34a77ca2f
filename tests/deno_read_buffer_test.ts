// The Deno adapter's read buffers: idle probes are slots of shared slabs, given back
// by dispose(). Pure JavaScript: runs on every runtime.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ReadBuffer } from "../lib/adapters/deno/_read_buffer.ts";

const SIZES = { idle: 128, min: 1024, max: 65536 };

/** The byte range a view covers in its ArrayBuffer. */
const range = (b: Uint8Array) => [b.byteOffset, b.byteOffset + b.length];

test("ReadBuffer: idle probes of live buffers are separate slots of one shared slab", () => {
  const rbs = Array.from({ length: 200 }, () => new ReadBuffer(SIZES));
  const probes = rbs.map((rb) => rb.buf);
  for (const p of probes) assert.equal(p.length, 128);
  assert.ok(probes[0].buffer.byteLength > 128, "a probe is a view of a bigger slab");
  // No two live probes overlap: a read into one never lands in another.
  const seen = new Map<ArrayBufferLike, number[][]>();
  for (const p of probes) {
    const [a, b] = range(p);
    const taken = seen.get(p.buffer) ?? [];
    for (const [c, d] of taken) assert.ok(b <= c || d <= a, "probes overlap");
    taken.push([a, b]);
    seen.set(p.buffer, taken);
  }
  probes.forEach((p, i) => p.fill(i & 0xff));
  probes.forEach((p, i) => assert.ok(p.every((x) => x === (i & 0xff)), `probe ${i} intact`));
  for (const rb of rbs) rb.dispose();
});

test("ReadBuffer.dispose() gives the probe back for the next connection, once", () => {
  const a = new ReadBuffer(SIZES);
  const slot = a.buf;
  a.dispose();
  a.dispose(); // a second dispose gives nothing back twice
  const b = new ReadBuffer(SIZES);
  const c = new ReadBuffer(SIZES);
  assert.equal(b.buf, slot, "the slot given back is reused");
  assert.notEqual(c.buf, slot, "and handed to one buffer only");
  assert.notDeepEqual(range(c.buf), range(b.buf));
  b.dispose();
  c.dispose();
});

test("ReadBuffer: a probe that grew has its own memory, and shrinks back into a slot", () => {
  const rb = new ReadBuffer(SIZES);
  /** A read of `n` bytes: into the buffer of the moment, as the socket does. */
  const read = (n: number) => rb.take(Math.min(n, rb.buf.length));
  const first = rb.buf;
  read(128); // a burst fills the probe...
  read(300); // ...and the rest is a partial read: the probe grows to 512
  assert.equal(rb.buf.length, 512);
  assert.equal(rb.buf.buffer.byteLength, 512, "a grown probe is an array of its own");
  const other = new ReadBuffer(SIZES);
  assert.equal(other.buf, first, "the 128-byte slot went back to the pool when the probe grew");
  read(10);
  read(10); // small reads halve it back to 128: a slot again
  assert.equal(rb.buf.length, 128);
  assert.ok(rb.buf.buffer.byteLength > 128);
  assert.notDeepEqual(range(rb.buf), range(other.buf));
  rb.dispose();
  other.dispose();
});

test("ReadBuffer: bursts of one size settle on a buffer they do not fill", () => {
  // A read that fills its buffer leaves the socket marked readable, and the next read
  // then mostly finds nothing: bursts of exactly the probe's size must not keep doing it.
  const rb = new ReadBuffer(SIZES);
  /** One burst of `size` bytes, read as the socket does: again while reads fill the buffer. */
  const burst = (size: number) => {
    const reads: [number, number][] = [];
    for (let left = size; left > 0 && reads.length < 20;) {
      const room = rb.buf.length;
      const n = Math.min(left, room);
      rb.take(n);
      reads.push([n, room]);
      left -= n;
    }
    return reads;
  };
  for (let i = 0; i < 4; i++) burst(1024);
  for (const size of [1024, 1024, 700, 1024]) {
    const reads = burst(size);
    assert.equal(reads.length, 1, `a burst of ${size} bytes is one read`);
    assert.ok(reads[0][0] < reads[0][1], `a burst of ${size} bytes leaves room in its buffer`);
  }
  assert.ok(rb.buf.length <= 2 * SIZES.min, "the probe grows to twice the minimum at most");
  for (let i = 0; i < 6; i++) burst(10);
  assert.equal(rb.buf.length, SIZES.idle, "small reads shrink it back to the idle probe");
  rb.dispose();
});

test("ReadBuffer: chunks taken from a probe are copies, not views of the slot", () => {
  const rb = new ReadBuffer(SIZES);
  rb.buf.fill(7, 0, 20);
  const chunk = rb.take(20);
  rb.buf.fill(0xee);
  assert.ok(chunk.every((x) => x === 7));
  assert.notEqual(chunk.buffer, rb.buf.buffer);
  rb.dispose();
});

test("ReadBuffer: small reads are copied into shared slabs, side by side, each kept intact", () => {
  const rb = new ReadBuffer({ idle: 1024, min: 1024, max: 65536 }); // no probe: the data buffer
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < 100; i++) {
    const n = 1 + (i * 37) % 700;
    rb.buf.fill(i, 0, n);
    chunks.push(rb.take(n));
  }
  const total = chunks.reduce((sum, c) => sum + c.length, 0);
  const slabs = new Set(chunks.map((c) => c.buffer));
  assert.ok(slabs.size <= Math.ceil(total / 16384) + 1, "one array per slab, not per read");
  for (let i = 1; i < chunks.length; i++) {
    const [a, b] = [chunks[i - 1], chunks[i]];
    if (a.buffer === b.buffer) assert.equal(b.byteOffset, a.byteOffset + a.length, "side by side");
  }
  chunks.forEach((c, i) => assert.ok(c.every((x) => x === i), `chunk ${i} intact`));
  rb.dispose();
});

test("ReadBuffer.lend(): chunks are views of the buffer read into; detach() keeps them", () => {
  const rb = new ReadBuffer(SIZES);
  rb.lend();
  rb.buf.fill(1, 0, 20);
  const fromSlot = rb.take(20);
  assert.notEqual(fromSlot.buffer, rb.buf.buffer, "a read into a pooled probe is copied");
  rb.take(128); // a burst fills the probe...
  const data = rb.buf;
  data.fill(2, 0, 600);
  const lent = rb.take(600); // ...the rest goes into the data buffer: lent, not copied
  assert.equal(lent.buffer, data.buffer);
  assert.equal(rb.buf.length, 1024, "the probe grew to hold the burst");
  const probe = rb.buf;
  probe.fill(3, 0, 500);
  const again = rb.take(500);
  assert.equal(again.buffer, probe.buffer, "a grown probe is lent too");
  assert.equal(rb.buf, probe, "and read into again");
  rb.detach();
  assert.notEqual(rb.buf.buffer, again.buffer, "detach(): the next read goes into new memory");
  rb.buf.fill(0xee);
  assert.ok(again.every((x) => x === 3), "the chunk lent last is intact");
  assert.ok(fromSlot.every((x) => x === 1));
  rb.dispose();
});

test("ReadBuffer.reclaim(): the chunk lent last is detached, and its memory read into again", () => {
  const rb = new ReadBuffer({ idle: 1024, min: 1024, max: 65536 }); // no pooled probe
  rb.lend();
  const buf = rb.buf;
  const size = buf.length;
  buf.fill(5, 0, 300);
  const lent = rb.take(300);
  assert.equal(lent.buffer, buf.buffer, "lent, not copied");
  const kept = lent.subarray(10, 20); // a view the receiver made of it
  rb.reclaim();
  assert.equal(lent.length, 0, "the lent chunk reads as empty");
  assert.equal(kept.length, 0, "and so does every view of it");
  assert.throws(() => lent.slice(), TypeError);
  const next = rb.buf;
  assert.notEqual(next.buffer, buf.buffer, "a new ArrayBuffer...");
  assert.equal(buf.length, 0, "(the old one detached)");
  assert.equal(next.length, size);
  assert.ok(next.subarray(0, 300).every((x) => x === 5), "...over the same memory (not zeroed)");
  rb.reclaim(); // nothing lent since: a no-op
  assert.equal(rb.buf, next);
  next.fill(6, 0, 40);
  const second = rb.take(40);
  rb.detach(); // a reply still holds it: reads go into new memory instead
  rb.reclaim();
  assert.equal(second.length, 40, "a chunk left by detach() stays intact");
  assert.ok(second.every((x) => x === 6));
  rb.dispose();
});
