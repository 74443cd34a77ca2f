// Bulk receive throughput of the Deno adapter's adaptive read buffer against a fixed
// 64 KiB buffer (same adapter, same hand-off rules) and against a hand-written native
// control (conn.read into one reused 64 KiB buffer, no copy, chunks not kept).
// A sender in a child process writes BYTES as fast as it can; this process receives.
// Reports wall-clock throughput and receiver CPU time per GiB (from /proc/self/stat)
// of the best round of each mode, and the ratios. Deno only; Linux only.
//
//   deno run -A bench/deno_read_buffers.ts              9 rounds of 512 MiB
//   deno run -A bench/deno_read_buffers.ts 15 256       15 rounds of 256 MiB
import { createDenoTransport, type ReadBufferSizes } from "../lib/adapters/deno/transport.ts";

const TICK_S = 0.01; // /proc/<pid>/stat counts CPU time in 1/100 s (USER_HZ)

if (Deno.args[0] === "--send") {
  const [port, bytes] = Deno.args.slice(1).map(Number);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.setNoDelay(true);
  const buf = new Uint8Array(64 * 1024).fill(0x61);
  let left = bytes;
  while (left > 0) left -= await conn.write(left >= buf.length ? buf : buf.subarray(0, left));
  conn.close();
  Deno.exit(0);
}

const rounds = Number(Deno.args[0] ?? 9);
const bytes = Number(Deno.args[1] ?? 512) * 1024 * 1024;

function cpuSeconds(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * TICK_S; // utime + stime
}

function sender(port: number): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, "--send", String(port), String(bytes)],
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
}

interface Run {
  seconds: number;
  cpu: number;
}

/** Receives one bulk transfer through the adapter with the given buffer sizes. */
async function viaAdapter(readBuffer?: ReadBufferSizes): Promise<Run> {
  const transport = createDenoTransport({ readBuffer });
  let t0 = 0;
  let c0 = 0;
  const done = Promise.withResolvers<Run>();
  const listener = transport.listen(
    { hostname: "127.0.0.1", port: 0, writeHighWaterMark: 65536 },
    (s) => {
      let got = 0;
      t0 = performance.now();
      c0 = cpuSeconds();
      s.start({
        data(chunk) {
          got += chunk.length;
        },
        end: () => s.close(),
        drain() {},
        close() {
          if (got !== bytes) done.reject(new Error(`got ${got} of ${bytes} bytes`));
          done.resolve({ seconds: (performance.now() - t0) / 1000, cpu: cpuSeconds() - c0 });
        },
      });
      s.resume();
    },
  );
  const child = sender((listener.addr as { port: number }).port);
  const run = await done.promise;
  await child.status;
  await listener.close();
  return run;
}

/** The hand-written control: one reused 64 KiB buffer, bytes counted and dropped. */
async function nativeControl(): Promise<Run> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const child = sender((listener.addr as Deno.NetAddr).port);
  const conn = await listener.accept();
  const t0 = performance.now();
  const c0 = cpuSeconds();
  const buf = new Uint8Array(64 * 1024);
  let got = 0;
  for (let n; (n = await conn.read(buf)) !== null;) got += n;
  const run = { seconds: (performance.now() - t0) / 1000, cpu: cpuSeconds() - c0 };
  conn.close();
  if (got !== bytes) throw new Error(`got ${got} of ${bytes} bytes`);
  await child.status;
  listener.close();
  return run;
}

const modes: [string, () => Promise<Run>][] = [
  ["adaptive (default: 128 B probe, 1..64 KiB)", () => viaAdapter()],
  ["fixed 64 KiB (same adapter)", () => viaAdapter({ idle: 65536, min: 65536, max: 65536 })],
  ["native control (reused 64 KiB)", nativeControl],
];
const results = new Map<string, Run[]>(modes.map(([name]) => [name, []]));
for (let r = 0; r < rounds; r++) {
  for (const [name, run] of modes) results.get(name)!.push(await run());
}

// The machine is shared (design.md section 6): the best round of each mode is the one
// least disturbed by other load, so the ratios use the best throughput and the least CPU.
const best = (xs: number[], pick: (a: number, b: number) => number) =>
  xs.reduce((a, b) => pick(a, b));
const summary = new Map<string, { mbps: number; cpuPerGiB: number }>();
const gib = bytes / 2 ** 30;
console.log(`Deno bulk receive, ${rounds} rounds of ${bytes / 2 ** 20} MiB (best round)`);
for (const [name, runs] of results) {
  const mbps = best(runs.map((r) => bytes / r.seconds / 1e6), Math.max);
  const cpuPerGiB = best(runs.map((r) => r.cpu / gib), Math.min);
  summary.set(name, { mbps, cpuPerGiB });
  console.log(
    `  ${name.padEnd(44)} ${mbps.toFixed(0).padStart(6)} MB/s  ${cpuPerGiB.toFixed(2)} CPU s/GiB`,
  );
}
const [adaptive, fixed, native] = [...summary.values()];
console.log(
  `  throughput ratio adaptive / fixed 64 KiB: ${(adaptive.mbps / fixed.mbps).toFixed(2)}`,
);
console.log(
  `  throughput ratio adaptive / native:       ${(adaptive.mbps / native.mbps).toFixed(2)}`,
);
console.log(
  `  CPU ratio adaptive / fixed 64 KiB:        ${
    (adaptive.cpuPerGiB / fixed.cpuPerGiB).toFixed(2)
  }`,
);
