import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ByteQueue } from "../lib/framers/_byte_queue.ts";
import { concat, matchesAt } from "./_framer_helpers.ts";

type Op =
  | { op: "push"; bytes: Uint8Array }
  | { op: "take" | "skip" | "chunk"; n: number }
  | { op: "indexOf"; byte: number; from: number }
  | { op: "seq"; seq: Uint8Array; from: number }
  | { op: "any"; set: number[]; from: number }
  | { op: "peek" | "compare"; at: number; seq?: Uint8Array }
  | { op: "rest" };

const small = (min: number, max: number) =>
  fc.uint8Array({ minLength: min, maxLength: max }).map((b) => b.map((x) => x % 4));

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.oneof(small(0, 3), small(0, 700)).map((bytes) => ({
      op: "push" as const,
      bytes,
    })),
  },
  fc.record({
    op: fc.constantFrom("take" as const, "skip" as const, "chunk" as const),
    n: fc.nat(800),
  }),
  fc.record({ op: fc.constant("indexOf" as const), byte: fc.nat(4), from: fc.nat(800) }),
  fc.record({ op: fc.constant("seq" as const), seq: small(1, 3), from: fc.nat(800) }),
  fc.record({
    op: fc.constant("any" as const),
    set: fc.array(fc.nat(4), { maxLength: 2 }),
    from: fc.nat(800),
  }),
  fc.record({
    op: fc.constantFrom("peek" as const, "compare" as const),
    at: fc.nat(800),
    seq: small(1, 3),
  }),
  { weight: 1, arbitrary: fc.constant({ op: "rest" as const }) },
);

test("ByteQueue behaves like a plain array under any sequence of operations", () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
      const q = new ByteQueue();
      let model: number[] = [];
      const indexOfSeq = (seq: Uint8Array, from: number) => {
        const m = Uint8Array.from(model);
        for (let p = Math.max(0, from); p + seq.length <= m.length; p++) {
          if (matchesAt(m, seq, p)) return p;
        }
        return -1;
      };
      for (const o of ops) {
        switch (o.op) {
          case "push":
            q.push(o.bytes.slice());
            model.push(...o.bytes);
            break;
          case "take": {
            const n = Math.min(o.n, model.length);
            assert.deepEqual(Array.from(q.take(n)), model.splice(0, n));
            break;
          }
          case "chunk": {
            const got = q.takeChunk(o.n + 1);
            if (model.length === 0) assert.equal(got, undefined);
            else {
              assert.ok(got!.length >= 1 && got!.length <= o.n + 1);
              assert.deepEqual(Array.from(got!), model.splice(0, got!.length));
            }
            break;
          }
          case "skip": {
            const n = Math.min(o.n, model.length);
            q.skip(n);
            model.splice(0, n);
            break;
          }
          case "indexOf":
            assert.equal(
              q.indexOf(o.byte, o.from),
              model.indexOf(o.byte, o.from) >= o.from ? model.indexOf(o.byte, o.from) : -1,
            );
            break;
          case "seq":
            assert.equal(q.indexOf(o.seq, o.from), indexOfSeq(o.seq, o.from));
            break;
          case "any": {
            const table = new Uint8Array(256);
            for (const b of o.set) table[b] = 1;
            const want = model.findIndex((b, i) => i >= o.from && table[b] === 1);
            assert.equal(q.indexOfAny(table, o.from), want);
            break;
          }
          case "peek":
            assert.equal(q.peekByte(o.at), o.at < model.length ? model[o.at] : -1);
            break;
          case "compare": {
            const seq = o.seq!;
            let want: number = 1;
            for (let k = 0; k < seq.length; k++) {
              if (o.at + k >= model.length) {
                want = -1;
                break;
              }
              if (model[o.at + k] !== seq[k]) {
                want = 0;
                break;
              }
            }
            assert.equal(q.compare(seq, o.at), want);
            break;
          }
          case "rest":
            assert.deepEqual(Array.from(concat(q.takeRemaining())), model);
            model = [];
            break;
        }
        assert.equal(q.length, model.length);
      }
    }),
    { numRuns: 300 },
  );
});

test("ByteQueue take() is a view inside one chunk and exactly one copy across chunks", () => {
  const a = new Uint8Array(600).fill(1);
  const b = new Uint8Array(600).fill(2);
  const q = new ByteQueue();
  q.push(a);
  q.push(b);
  const view = q.take(100);
  assert.equal(view.buffer, a.buffer);
  assert.equal(view.byteOffset, 0);
  const span = q.take(600);
  assert.notEqual(span.buffer, a.buffer);
  assert.notEqual(span.buffer, b.buffer);
  assert.deepEqual([span[0], span[499], span[500], span[599]], [1, 1, 2, 2]);
  const rest = q.take(100);
  assert.equal(rest.buffer, b.buffer);
});

test("ByteQueue copies up to 1 KiB share slabs without overlapping; a larger one is its own buffer", () => {
  const copies: Uint8Array[] = [];
  for (let i = 0; i < 40; i++) {
    // Each frame of 700 bytes spans two chunks of 600 (too large to be packed): one copy.
    const q = new ByteQueue();
    q.push(new Uint8Array(600).fill(i));
    q.push(new Uint8Array(600).fill(i));
    copies.push(q.take(700));
  }
  assert.ok(new Set(copies.map((c) => c.buffer)).size < copies.length, "slabs are shared");
  for (let i = 0; i < copies.length; i++) {
    assert.ok(copies[i].every((x) => x === i), `copy ${i} intact`); // no copy wrote over another
  }
  const byBuffer = new Map<ArrayBufferLike, [number, number][]>();
  for (const c of copies) {
    const list = byBuffer.get(c.buffer) ?? [];
    list.push([c.byteOffset, c.byteOffset + c.length]);
    byBuffer.set(c.buffer, list);
  }
  for (const list of byBuffer.values()) {
    list.sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < list.length; i++) assert.ok(list[i][0] >= list[i - 1][1], "disjoint");
  }
  const q = new ByteQueue();
  q.push(new Uint8Array(1000).fill(7));
  q.push(new Uint8Array(1000).fill(8));
  const big = q.take(1500);
  assert.equal(big.byteLength, big.buffer.byteLength); // a fresh buffer of exactly the frame
  assert.deepEqual([big[0], big[999], big[1000], big[1499]], [7, 7, 8, 8]);
});

test("ByteQueue packs a trickle of tiny chunks instead of keeping one object per byte", () => {
  const q = new ByteQueue();
  q.push(new Uint8Array(1000));
  for (let i = 0; i < 5000; i++) q.push(Uint8Array.of(i & 0xff));
  const chunks = q.takeRemaining();
  assert.ok(chunks.length < 10, `${chunks.length} chunks held`);
  const all = concat(chunks);
  assert.equal(all.length, 6000);
  for (let i = 0; i < 5000; i++) assert.equal(all[1000 + i], i & 0xff);
});

test("ByteQueue resumed searches over many chunks do not rescan (cursor)", () => {
  const q = new ByteQueue();
  const chunk = new Uint8Array(600).fill(7);
  const before = ByteQueue.work;
  let from = 0;
  for (let i = 0; i < 2000; i++) {
    q.push(chunk);
    assert.equal(q.indexOf(9, from), -1);
    from = q.length;
  }
  const work = ByteQueue.work - before;
  assert.ok(work <= 2 * 600 * 2000, `work ${work}`);
});

test("ByteQueue views a Uint8Array subclass as a plain Uint8Array over the same memory", () => {
  class Special extends Uint8Array {}
  const chunk = new Special(1000).fill(3);
  const q = new ByteQueue();
  q.push(chunk);
  const frame = q.take(10);
  assert.equal(Object.getPrototypeOf(frame), Uint8Array.prototype);
  assert.equal(frame.buffer, chunk.buffer);
  assert.equal(frame[0], 3);
});
