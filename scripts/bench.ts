// The benchmark matrix: runtimes x {tcpkit hooks, iterator, batch, native control, Go} x
// framers x load modes, interleaved (tcpkit and its controls run back to back) and
// repeated; the report takes medians. Every figure is a ratio against the native control
// of the same runtime in the same session (design.md section 6), and against the Go
// standard library peer (bench/native/go/). Go does not depend on the runtime, but it runs
// in every runtime's rotation, next to that runtime's servers: each runtime's ratio to Go
// pairs runs made a few seconds apart, as its ratio to its native control does.
//
//   node scripts/bench.ts              the whole matrix, about 16 minutes (npm run bench)
//   node scripts/bench.ts --quick      a small subset in about a minute (or BENCH_QUICK=1)
//   node scripts/bench.ts --help       this text and the flags
//   node scripts/bench.ts --runtimes bun,node --framers lines --modes pipelined --reps 1
//   node scripts/bench.ts --quick --variants native,adapter,connection,hooks --modes conns
//                                      what each layer below serve() costs
//   node scripts/bench.ts --modes pipelined --out bench/results/tmp
//                                      a subset, written where it replaces no result
//   node scripts/bench.ts --framers lines,length --modes pipelined --reps 5 \
//     --variants native,go,hooks,iterator,batch --out bench/results/batch
//                                      the batch hook next to the other styles (results/batch.md)
//
// Writes bench/results/latest.json, latest.md and chart.svg (a quick run writes
// quick.json, quick.md and quick.svg under bench/results/tmp/; --out DIR writes the
// latest.* files to DIR). Needs Linux (/proc) and a C compiler (`cc`) for the load client
// bench/load.c. The Go peer is built with `go build` when `go` is on the PATH (Debian:
// apt-get install golang-go), and skipped, saying so, when it is not. Traffic goes to
// 127.0.0.1 only; every run is bounded in time, and every child process is killed by its
// PID before this script ends.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { accessSync, constants, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import { createInterface, type Interface } from "node:readline";
import { type BenchReport, type BenchRun, renderMarkdown, summarize } from "../bench/_report.ts";
import { renderSvg } from "../bench/_chart.ts";
import { bin, compileLoad, ROOT, versions } from "../bench/_toolchain.ts";

type Runtime = "deno" | "bun" | "node";
/**
 * `adapter` and `connection` are layers below serve(), for the breakdown (bench/server.ts);
 * `go` is the Go standard library peer; `batch` is the `messages` hook echoing with
 * `sendBatch()`, `batches` the `batches()` iterator doing the same; `hooks-lent`, `iterator-lent` and `batch-lent` serve with
 * `lentMessages: true` (`--lend`).
 */
type Variant =
  | "hooks"
  | "iterator"
  | "batch"
  | "batches"
  | "native"
  | "go"
  | "connection"
  | "adapter"
  | "hooks-lent"
  | "iterator-lent"
  | "batch-lent";
type Mode = "pipelined" | "reqresp" | "pingpong" | "bulk" | "conns";

const argv = process.argv.slice(2);
const opt = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const list = <T extends string>(name: string, all: readonly T[]): T[] =>
  (opt(name)?.split(",") as T[] | undefined)?.filter((x) => all.includes(x)) ?? [...all];
const quick = argv.includes("--quick") || process.env.BENCH_QUICK === "1";
if (argv.includes("--help") || argv.includes("-h")) {
  // The usage is the comment at the top of this file.
  const head = readFileSync(new URL(import.meta.url), "utf8").split("\n");
  const usage = head.slice(0, head.findIndex((l) => !l.startsWith("//")));
  console.log(usage.map((l) => l.replace(/^\/\/ ?/, "")).join("\n"));
  console.log(
    "\nFlags: --runtimes deno,bun,node  --framers raw,lines,length  --modes " +
      "pipelined,reqresp,pingpong,bulk,conns\n  --variants native,go,hooks,iterator,batch,batches," +
      "connection,adapter,hooks-lent,iterator-lent,batch-lent\n  --reps N  --secs S  --conns N " +
      "--out DIR  --quick",
  );
  process.exit(0);
}

const RUNTIMES = list<Runtime>("runtimes", ["deno", "bun", "node"]);
const FRAMERS = list("framers", quick ? ["raw", "lines"] : ["raw", "lines", "length"]);
const MODES = list<Mode>("modes", ["pipelined", "reqresp", "pingpong", "bulk", "conns"]);
const EXTRA: Variant[] = [
  "batches",
  "connection",
  "adapter",
  "hooks-lent",
  "iterator-lent",
  "batch-lent",
];
const ALL_VARIANTS: Variant[] = ["native", "go", "hooks", "iterator", "batch", ...EXTRA];
const VARIANTS = list<Variant>("variants", ALL_VARIANTS)
  .filter((v) => opt("variants") !== undefined || !EXTRA.includes(v));
const REPS = Number(opt("reps") ?? (quick ? 1 : 3));
const SECS = Number(opt("secs") ?? (quick ? 0.75 : 1.5));
const WARMUP = quick ? 0.25 : 0.5;
const CONNS = Number(opt("conns") ?? (quick ? 2000 : 10_000));

/** Load per mode: connections, messages in flight per connection, message size. */
const LOAD: Record<Exclude<Mode, "conns">, { conns: number; depth: number; size: number }> = {
  pipelined: { conns: 50, depth: 32, size: 32 },
  reqresp: { conns: 50, depth: 1, size: 32 },
  pingpong: { conns: 1, depth: 1, size: 32 },
  bulk: { conns: 4, depth: 16, size: 64 * 1024 },
};
/** Modes that run for every framer; the others run with raw only (conns: lines only). */
const FRAMED_MODES: Mode[] = ["pipelined", "reqresp"];

const root = ROOT;
const out = join(root, "bench", "results");
const tmp = join(out, "tmp");
mkdirSync(tmp, { recursive: true });
const outDir = opt("out");
if (outDir !== undefined) mkdirSync(outDir, { recursive: true });

const children = new Set<ChildProcess>();
function killAll(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid) {
      try {
        process.kill(c.pid, "SIGKILL");
      } catch { /* gone */ }
    }
  }
  children.clear();
}
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

/** Spawns with the soft open-files limit raised to the hard one (10 000 connections). */
function spawnTracked(cmd: string, args: string[]): ChildProcess {
  const script = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"';
  const child = spawn("sh", ["-c", script, cmd, ...args], {
    cwd: root,
    stdio: ["pipe", "pipe", "pipe"],
  });
  children.add(child);
  child.on("exit", () => children.delete(child));
  child.stderr!.on("data", (d: Buffer) => (child as { errText?: string }).errText = String(d));
  return child;
}

class Lines {
  #waiting: ((line: string | undefined) => void)[] = [];
  #held: string[] = [];
  #done = false;
  constructor(rl: Interface) {
    rl.on("line", (line) => {
      const w = this.#waiting.shift();
      if (w) w(line);
      else this.#held.push(line);
    });
    rl.on("close", () => {
      this.#done = true;
      for (const w of this.#waiting.splice(0)) w(undefined);
    });
  }
  /** The next line, or undefined at end of output or after `ms`. */
  next(ms: number): Promise<string | undefined> {
    if (this.#held.length) return Promise.resolve(this.#held.shift());
    if (this.#done) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.splice(this.#waiting.indexOf(done), 1);
        resolve(undefined);
      }, ms);
      const done = (line: string | undefined) => {
        clearTimeout(timer);
        resolve(line);
      };
      this.#waiting.push(done);
    });
  }
}

interface Server {
  child: ChildProcess;
  pid: number;
  port: number;
  lines: Lines;
}

function serverCommand(rt: Runtime, variant: Variant, framer: string): [string, string[]] {
  if (variant === "go") return [goBin, ["--port", "0", "--framer", framer]];
  const script = variant === "native"
    ? join("bench", "native", `${rt}.ts`)
    : join("bench", "server.ts");
  const flags = [
    "--port",
    "0",
    "--framer",
    framer,
    ...(variant === "native" ? [] : ["--style", variant.replace(/-lent$/, "")]),
    ...(variant.endsWith("-lent") ? ["--lend"] : []),
  ];
  if (rt === "deno") {
    return [bin("deno"), ["run", "-A", "--v8-flags=--expose-gc", script, ...flags]];
  }
  if (rt === "bun") return [bin("bun"), ["run", script, ...flags]];
  return [bin("node"), ["--expose-gc", script, ...flags]];
}

async function startServer(rt: Runtime, variant: Variant, framer: string): Promise<Server> {
  const [cmd, args] = serverCommand(rt, variant, framer);
  const child = spawnTracked(cmd, args);
  const lines = new Lines(createInterface({ input: child.stdout! }));
  const first = await lines.next(20_000);
  const port = Number(/^ready (\d+)$/.exec(first ?? "")?.[1]);
  if (!port) {
    stopServer({ child, pid: child.pid!, port: 0, lines });
    throw new Error(
      `${rt} ${variant} ${framer}: no ready line (${
        (child as { errText?: string }).errText ?? first
      })`,
    );
  }
  return { child, pid: child.pid!, port, lines };
}

async function stopServer(s: Server): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  const exited = new Promise<void>((r) => s.child.once("exit", () => r()));
  s.child.kill("SIGTERM");
  const timer = setTimeout(() => s.child.kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(timer);
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : NaN;
}

/** Full GC in the server (SIGUSR2, answered with "gc"), then its RSS in KiB. */
async function rssAfterGc(s: Server): Promise<[number, number]> {
  process.kill(s.pid, "SIGUSR2");
  const reply = await s.lines.next(10_000);
  const heap = /^gc heap (\d+)$/.exec(reply ?? "");
  if (!heap) throw new Error(`server answered "${reply}" to SIGUSR2`);
  await new Promise((r) => setTimeout(r, 200));
  return [rssKiB(s.pid), Number(heap[1])];
}

const loadBin = join(tmp, "load");

const goBin = join(tmp, "echo-go");
/**
 * Builds the Go peer; its `go version`, or undefined (said why) when `go` is missing or the
 * build fails. The build needs no network; without a writable HOME, Go's caches go under
 * bench/results/tmp/.
 */
function buildGo(): string | undefined {
  let version: string;
  try {
    version = execFileSync("go", ["version"], { encoding: "utf8" }).trim();
  } catch {
    console.log("go not found: the Go peer is skipped (apt-get install golang-go)");
    return undefined;
  }
  const env: Record<string, string | undefined> = {
    ...process.env,
    GOTOOLCHAIN: "local",
    GOPROXY: "off",
  };
  try {
    accessSync(process.env.HOME ?? "/nonexistent", constants.W_OK);
  } catch {
    env.GOCACHE ??= join(tmp, "go-cache");
    env.GOPATH ??= join(tmp, "go-path");
  }
  try {
    execFileSync("go", ["build", "-o", goBin, "."], {
      cwd: join(root, "bench", "native", "go"),
      env,
      stdio: "inherit",
    });
  } catch (e) {
    console.log(`go build failed: the Go peer is skipped (${(e as Error).message})`);
    return undefined;
  }
  // Go's default GOMAXPROCS is the number of CPUs this process may run on.
  return `${version}, GOMAXPROCS ${process.env.GOMAXPROCS ?? availableParallelism()}`;
}

/**
 * One load run against `s`. For conns mode, `memory` makes it the memory run: one round, a
 * full GC and the RSS before the connections open and once they are all held. Otherwise
 * conns mode is the timed run: four rounds (cold, warm, a third, steady) with no GC forced
 * (see `memoryRun`).
 */
async function runLoad(
  s: Server,
  mode: Mode,
  framer: string,
  memory = false,
): Promise<Record<string, unknown>> {
  const args = [
    "--mode",
    mode,
    "--framer",
    framer,
    "--port",
    String(s.port),
    "--pid",
    String(s.pid),
  ];
  // conns: a cold round (the server's first connections after the warm-up), then a warm
  // one and two more against the same process, the last reported as steady; or the memory
  // run's one round.
  if (mode === "conns") {
    args.push("--conns", String(CONNS), "--size", "32", "--rounds", memory ? "1" : "4");
  } else {
    const l = LOAD[mode];
    args.push("--conns", String(l.conns), "--depth", String(l.depth), "--size", String(l.size));
    args.push("--warmup", String(WARMUP), "--secs", String(SECS));
  }
  const child = spawnTracked(loadBin, args);
  const lines = new Lines(createInterface({ input: child.stdout! }));
  const extra: Record<string, unknown> = {};
  let result: Record<string, unknown> | undefined;
  for (;;) {
    const line = await lines.next(mode === "conns" ? 120_000 : (WARMUP + SECS) * 1000 + 30_000);
    if (line === undefined) break;
    if (memory && line === "warm") [extra.rssBaseKiB, extra.heapBase] = await rssAfterGc(s);
    else if (memory && line === "held") [extra.rssHeldKiB, extra.heapHeld] = await rssAfterGc(s);
    else if (line.startsWith("{")) result = JSON.parse(line);
    if (line === "warm" || line === "held" || line === "closed") child.stdin!.write("go\n");
  }
  await new Promise<void>((r) => (child.exitCode !== null ? r() : child.once("exit", () => r())));
  if (!result) {
    return {
      ok: false,
      error: `load client gave no result (${(child as { errText?: string }).errText ?? ""})`,
    };
  }
  if (typeof extra.rssHeldKiB === "number" && typeof extra.rssBaseKiB === "number") {
    extra.rssPerConnBytes = ((extra.rssHeldKiB - extra.rssBaseKiB) * 1024) / CONNS;
    extra.heapPerConnBytes = ((extra.heapHeld as number) - (extra.heapBase as number)) / CONNS;
  }
  return { ...result, ...extra };
}

/**
 * The conns mode's memory figures, from a server process of their own: a forced full GC
 * is the memory-reducing kind on V8 (see bench/_harness.ts), and V8 then keeps the heap
 * small, so connections opened after one pay for extra mark-compacts (each walking every
 * held connection). Forced in the timed process, that cost landed in its warm round (6
 * mark-compacts in the second round instead of one or none; results/conns.md). This process
 * repeats the first round: warm-up, GC and RSS, the connections opened and held, GC and RSS.
 */
async function memoryRun(rt: Runtime, variant: Variant): Promise<Record<string, unknown>> {
  const server = await startServer(rt, variant, "lines");
  try {
    const r = await runLoad(server, "conns", "lines", true);
    if (r.ok !== true) return { ok: false, error: `memory run: ${r.error}` };
    const keys = [
      "rssBaseKiB",
      "rssHeldKiB",
      "heapBase",
      "heapHeld",
      "rssPerConnBytes",
      "heapPerConnBytes",
    ];
    return Object.fromEntries(keys.map((k) => [k, r[k]]));
  } finally {
    await stopServer(server);
  }
}

function modesFor(framer: string): Mode[] {
  return MODES.filter((m) => m !== "conns" && (framer === "raw" || FRAMED_MODES.includes(m)));
}

async function main(): Promise<void> {
  compileLoad(loadBin);
  const go = VARIANTS.includes("go") ? buildGo() : undefined;
  const variants = VARIANTS.filter((v) => v !== "go" || go !== undefined);
  const runs: BenchRun[] = [];
  const started = Date.now();
  const loadBefore = loadavg()[0];
  const rotate = <T>(xs: T[], k: number) => xs.map((_, i) => xs[(i + k) % xs.length]);
  for (let rep = 0; rep < REPS; rep++) {
    for (const rt of RUNTIMES) {
      const jobs: [string, Mode[]][] = FRAMERS.map((f) => [f, modesFor(f)]);
      if (MODES.includes("conns")) jobs.push(["lines", ["conns"]]);
      for (const [framer, modes] of jobs) {
        if (modes.length === 0) continue;
        for (const variant of rotate(variants, rep)) {
          let server: Server | undefined;
          try {
            server = await startServer(rt, variant, framer);
            for (const mode of modes) {
              let r = await runLoad(server, mode, framer);
              if (mode === "conns" && r.ok === true) {
                await stopServer(server);
                r = { ...r, ...(await memoryRun(rt, variant)) };
              }
              runs.push({ rep, runtime: rt, variant, framer, mode, ...r } as BenchRun);
              const fig = mode === "conns"
                ? `${Number(r.connsPerSec).toFixed(0)} conn/s (warm ${
                  Number(r.warmConnsPerSec).toFixed(0)
                }, steady ${Number(r.steadyConnsPerSec).toFixed(0)}), ${
                  (Number(r.rssPerConnBytes) / 1024).toFixed(1)
                } KiB/conn`
                : mode === "bulk"
                ? `${Number(r.mbPerSec).toFixed(0)} MB/s`
                : mode === "pingpong"
                ? `p99 ${Number(r.p99Us).toFixed(0)} us`
                : `${Number(r.cpuUsPerMsg).toFixed(3)} us/msg`;
              console.log(
                `[${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] rep ${
                  rep + 1
                }/${REPS} ${rt.padEnd(4)} ${variant.padEnd(10)} ${framer.padEnd(6)} ${
                  mode.padEnd(9)
                } ${r.ok ? fig : `FAILED: ${r.error}`}`,
              );
            }
          } catch (e) {
            console.log(`${rt} ${variant} ${framer}: ${(e as Error).message}`);
            for (const mode of modes) {
              runs.push({ rep, runtime: rt, variant, framer, mode, ok: false, error: String(e) });
            }
          } finally {
            if (server) await stopServer(server);
          }
        }
      }
    }
  }
  const report: BenchReport = {
    date: new Date().toISOString(),
    quick,
    reps: REPS,
    secs: SECS,
    warmup: WARMUP,
    conns: CONNS,
    load: LOAD,
    versions: {
      ...versions(),
      ...(go ? { go } : {}),
      load: `${loadBefore.toFixed(1)} -> ${loadavg()[0].toFixed(1)}`,
    },
    runs,
    summary: [],
  };
  report.summary = summarize(runs);
  const dir = outDir ?? (quick ? tmp : out);
  const prefix = quick && outDir === undefined ? "quick" : "latest";
  // One run or summary row per line: readable, and small diffs between runs.
  const rows = (xs: unknown[]) =>
    `[\n${xs.map((x) => `    ${JSON.stringify(x)}`).join(",\n")}\n  ]`;
  const head = JSON.stringify({ ...report, runs: 0, summary: 0 }, null, 2);
  const json = head.replace('"runs": 0', `"runs": ${rows(runs)}`)
    .replace('"summary": 0', `"summary": ${rows(report.summary)}`);
  writeFileSync(join(dir, `${prefix}.json`), json + "\n");
  const md = renderMarkdown(report);
  writeFileSync(join(dir, `${prefix}.md`), md);
  const svg = prefix === "quick" ? "quick.svg" : "chart.svg";
  writeFileSync(join(dir, svg), renderSvg(report));
  console.log("\n" + md);
  console.log(
    `wrote ${join(dir, `${prefix}.json`)}, ${prefix}.md, ${svg} in ${
      ((Date.now() - started) / 1000).toFixed(0)
    } s`,
  );
}

try {
  await main();
} finally {
  killAll();
}
