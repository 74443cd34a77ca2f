/**
 * What a fresh `Uint8Array` costs next to a view of existing memory, per runtime: the
 * reason small frame copies are cut from a slab (lib/_slab.ts, lib/framers/_byte_queue.ts).
 *
 *   deno run bench/alloc.ts; bun run bench/alloc.ts; node bench/alloc.ts
 *
 * Prints ns per allocation, median of 5 rounds of 200 000, for 28, 64, 65 and 1024 bytes.
 *
 * @module
 */

const ROUNDS = 5;
const N = 200_000;
let keep: Uint8Array | undefined;
const big = new Uint8Array(4096);

function time(make: (i: number, n: number) => Uint8Array, n: number): number {
  const runs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = performance.now();
    for (let i = 0; i < N; i++) keep = make(i, n);
    runs.push(((performance.now() - t) * 1e6) / N);
  }
  return runs.sort((a, b) => a - b)[ROUNDS >> 1];
}

for (const n of [28, 64, 65, 1024]) {
  const fresh = time((_i, n) => new Uint8Array(n), n);
  const view = time((i, n) => new Uint8Array(big.buffer, i & 1023, n), n);
  const sub = time((i, n) => big.subarray(i & 1023, (i & 1023) + n), n);
  console.log(
    `${n} B: new Uint8Array ${fresh.toFixed(0)} ns, view ${view.toFixed(0)} ns, subarray ${
      sub.toFixed(0)
    } ns`,
  );
}
if (keep === undefined) throw new Error("unreachable");
