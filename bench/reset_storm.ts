/**
 * A reset storm against a line echo server on each runtime, tcpkit beside the native
 * control: how long the storm takes, whether bystanders are served meanwhile, and what
 * the storm leaves in the server's memory.
 *
 *   node bench/reset_storm.ts [--resets 10000] [--runtimes deno,bun,node]
 *                             [--variants native,hooks] [--rounds 2]
 *
 * Each server (`bench/server.ts --framer lines --style hooks`, or `bench/native/<rt>.ts`)
 * runs as a child process. `tests/fixtures/reset_storm.py` opens `--resets` connections
 * to it, sends half a line on each and resets it (SO_LINGER 0), while a bystander
 * connects every 10 ms and waits up to 2 s for its echo. A warm-up storm of 2 000 comes
 * first; then RSS (after a full GC, read from /proc) is taken before the first measured
 * storm and after each of `--rounds` storms, with the JS heap in use after the GC (live
 * objects). Live objects that grow round after round are a leak; RSS that steps up once
 * while the heap in use does not is the runtime keeping pages it grew into.
 *
 * Loopback only; every child is stopped by its PID.
 *
 * @module
 */

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface, type Interface } from "node:readline";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const storm = join(root, "tests", "fixtures", "reset_storm.py");
const bin = (name: string) => join(root, "node_modules", ".bin", name);

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const resets = Number(flag("resets", "10000"));
const rounds = Number(flag("rounds", "2"));
const runtimes = flag("runtimes", "deno,bun,node").split(",");
const variants = flag("variants", "native,hooks").split(",");

interface Child {
  proc: ChildProcess;
  port: number;
  lines: Interface;
}

function start(rt: string, variant: string): Promise<Child> {
  const script = variant === "native" ? join("bench", "native", `${rt}.ts`) : "bench/server.ts";
  const flags = [
    "--port",
    "0",
    "--framer",
    "lines",
    ...(variant === "native" ? [] : ["--style", variant]),
  ];
  const args = rt === "deno"
    ? ["run", "-A", "--v8-flags=--expose-gc", script, ...flags]
    : rt === "bun"
    ? ["run", script, ...flags]
    : ["--expose-gc", script, ...flags];
  const proc = spawn(bin(rt), args, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: proc.stdout! });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${rt} ${variant}: no ready line`)), 20_000);
    lines.once("line", (line) => {
      clearTimeout(timer);
      const port = Number(/^ready (\d+)$/.exec(line)?.[1]);
      if (port) resolve({ proc, port, lines });
      else reject(new Error(`${rt} ${variant}: ${line}`));
    });
  });
}

/** Memory after a full GC (SIGUSR2 makes the harness collect and answer). */
interface Memory {
  /** Resident set, MiB. */
  rss: number;
  /** The JS heap in use (live objects), MiB. */
  heap: number;
}

function afterGc(c: Child): Promise<Memory> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no gc answer")), 10_000);
    c.lines.once("line", (line) => {
      clearTimeout(timer);
      const heap = Number(/^gc heap (\d+)$/.exec(line)?.[1] ?? NaN) / 2 ** 20;
      setTimeout(() => {
        const status = readFileSync(`/proc/${c.proc.pid}/status`, "utf8");
        resolve({ rss: Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024, heap });
      }, 200);
    });
    c.proc.kill("SIGUSR2");
  });
}

interface StormResult {
  storm_seconds: number;
  served_again_after_s: number | null;
  clients: number;
  failed: string[];
  max_ms: number | null;
}

function runStorm(port: number, n: number): Promise<StormResult> {
  return new Promise((resolve, reject) => {
    execFile("python3", [storm, String(port), String(n)], { timeout: 300_000 }, (err, out) => {
      if (err) reject(err);
      else resolve(JSON.parse(out));
    });
  });
}

async function stop(c: Child): Promise<void> {
  const exited = new Promise((r) => c.proc.once("exit", r));
  c.proc.kill("SIGTERM");
  const timer = setTimeout(() => c.proc.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

const rows: string[] = [];
for (const rt of runtimes) {
  for (const variant of variants) {
    const c = await start(rt, variant);
    try {
      await runStorm(c.port, 2_000); // warm-up: code paths compiled, pools grown
      const before = await afterGc(c);
      const after: Memory[] = [];
      let first: StormResult | undefined;
      for (let i = 0; i < rounds; i++) {
        const r = await runStorm(c.port, resets);
        first ??= r;
        after.push(await afterGc(c));
      }
      const r = first!;
      const pct = (a: number, b: number) =>
        `${a >= b ? "+" : ""}${((a / b - 1) * 100).toFixed(1)}%`;
      const growth = after.map((a) => `${a.rss.toFixed(1)} (${pct(a.rss, before.rss)})`);
      const heaps = after.map((a) => `${a.heap.toFixed(2)} (${pct(a.heap, before.heap)})`);
      const row = `| ${rt} | ${variant} | ${r.storm_seconds.toFixed(2)} | ` +
        `${r.served_again_after_s?.toFixed(2) ?? "never"} | ${r.clients} | ` +
        `${r.failed.length} | ${r.max_ms?.toFixed(1)} | ${before.rss.toFixed(1)} | ` +
        `${growth.join(" / ")} | ${before.heap.toFixed(2)} | ${heaps.join(" / ")} |`;
      console.log(row);
      rows.push(row);
    } finally {
      await stop(c);
    }
  }
}
console.log(
  `\nreset storm: ${resets} connections, half a line each, then reset; ${rounds} rounds\n`,
);
console.log(
  "| runtime | server | storm sent in s | served again after s | bystanders | failed | " +
    "slowest ms | RSS before MiB | after each round MiB | JS heap before MiB | after each round MiB |",
);
console.log("|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|");
for (const row of rows) console.log(row);
