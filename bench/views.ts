// What one frame object costs each engine, without tcpkit: the floor under any API that
// hands out each frame as a Uint8Array (the `message` hook, `for await`). For frames of 8 to
// 200 bytes cut from a 1 KiB read:
//
//   subarray       chunk.subarray(a, b): a view
//   new U8(ab)     new Uint8Array(chunk.buffer, a, n): a view, no species lookup (tcpkit's)
//   slice          chunk.slice(a, b): a copy
//   alloc          new Uint8Array(n): a fresh array, nothing copied
//   alloc+loop     a fresh array, the bytes copied by a JavaScript loop
//
// and what fresh read memory costs against moving it: `new Uint8Array(size)` and
// `ArrayBuffer.prototype.transfer()` of a buffer of that size (a reused buffer whose old
// views are detached), 1 KiB and 64 KiB.
//
// CPU ns per operation (process.cpuUsage, every thread of the process: the engine's
// collector threads too), the best of 5 rounds.
//
//   deno run bench/views.ts      bun run bench/views.ts      node bench/views.ts
import process from "node:process";

const N = 1_000_000;
const chunk = new Uint8Array(1024).map((_, i) => i & 0x7f);
const ab = chunk.buffer;
let sink = 0;

function measure(name: string, n: number, f: (i: number) => number): void {
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const before = process.cpuUsage();
    for (let i = 0; i < n; i++) sink += f(i);
    const used = process.cpuUsage(before);
    best = Math.min(best, ((used.user + used.system) * 1000) / n);
  }
  console.log(`  ${name.padEnd(22)} ${best.toFixed(1).padStart(8)}`);
}

const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
console.log(`${runtime}: CPU ns per operation (best of 5)`);
for (const size of [8, 32, 64, 200]) {
  const at = (i: number) => (i & 3) * 200; // four places in the read
  measure(`subarray ${size}`, N, (i) => chunk.subarray(at(i), at(i) + size)[3]);
  measure(`new U8(ab) ${size}`, N, (i) => new Uint8Array(ab, at(i), size)[3]);
  measure(`slice ${size}`, N, (i) => chunk.slice(at(i), at(i) + size)[3]);
  measure(`alloc ${size}`, N, () => new Uint8Array(size).length);
  measure(`alloc+loop ${size}`, N, (i) => {
    const out = new Uint8Array(size);
    for (let j = 0, o = at(i); j < size; j++) out[j] = chunk[o + j];
    return out[3];
  });
}
for (const size of [1024, 64 * 1024]) {
  let moved = new ArrayBuffer(size);
  measure(`new read ${size}`, N / 5, () => new Uint8Array(size).length);
  measure(`transfer ${size}`, N / 5, () => (moved = moved.transfer()).byteLength);
}
if (sink === -1) console.log(sink);
