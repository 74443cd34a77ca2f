// serve({ workers }) measured: messages per second and server CPU per message with one
// and two worker processes (and the single-process server for reference), then the
// latency a rolling restart (SIGHUP to the primary) adds. Every runtime, the same C load
// client as the echo benchmark (bench/load.c, compiled with `cc -O2`).
//
//   node bench/workers.ts                  the whole run, about 5 minutes
//   node bench/workers.ts --quick          1 repetition, 0.5 s windows, written under results/tmp/
//   node bench/workers.ts --runtimes bun --reps 8 --restart-reps 5 --secs 2 --pinned
//
// Other flags: --configs alone,1w,2w,1w@0,2w@0 and --modes pipelined,reqresp pick the
// scaling runs; --no-scaling and --no-restart leave a part out.
//
// Scaling: for each runtime, `alone` (serve() without workers: `--workers 0`, the same
// handlers in one process), `1w` and `2w` (`--workers 1|2`) are started once and stay
// up; each repetition then drives every one of them back to back, in an order that
// rotates, with the lines echo (hooks): pipelined (50 connections x 32 messages of 32 B in
// flight) and reqresp (100 connections, 1 in flight); a window where the server got under
// MIN_TICKS of CPU is not counted. `--pinned` adds `1w@0` and `2w@0`: the server (primary
// and workers) pinned to CPU 0 with taskset, the load client to CPU 1: one core for 1 or 2
// workers. Server CPU is the sum over the primary and every worker (/proc/<pid>/stat),
// read by load.c at both ends of its window; the load client's own CPU in the window is
// given too. Ratios are medians over repetitions of the ratio within one repetition.
//
// Restart: 100 connections with 1 request in flight each against `--workers 2`; after
// RESTART_BEFORE seconds the primary gets SIGHUP; the window "during" lasts until both old
// workers have exited. The client reconnects and sends again a request whose connection
// ended before its reply (bench/load.c --mode restart).
//
// Writes bench/results/workers.json and workers.md. Linux only (/proc, reusePort). Every
// process started here is ended by its PID, workers included (checked).
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { bin, compileLoad, ROOT, versions } from "./_toolchain.ts";

type Runtime = "deno" | "bun" | "node";
/** `@0`: the server (primary and workers) on CPU 0 only, the load client on CPU 1 only. */
type Config = "alone" | "1w" | "2w" | "1w@0" | "2w@0";
type Mode = "pipelined" | "reqresp";

const argv = process.argv.slice(2);
const opt = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const quick = argv.includes("--quick");
const RUNTIMES = (opt("runtimes") ?? "deno,bun,node").split(",") as Runtime[];
const CONFIGS =
  (opt("configs") ?? (argv.includes("--pinned") ? "alone,1w,2w,1w@0,2w@0" : "alone,1w,2w"))
    .split(",") as Config[];
const workerCount = (c: Config) => (c.startsWith("2") ? 2 : c.startsWith("1") ? 1 : 0);
const pinned = (c: Config) => c.endsWith("@0");
const MODES = (opt("modes") ?? "pipelined,reqresp").split(",") as Mode[];
const REPS = Number(opt("reps") ?? (quick ? 1 : 6));
const RESTART_REPS = Number(opt("restart-reps") ?? (quick ? 1 : 3));
const SECS = Number(opt("secs") ?? (quick ? 0.5 : 1.25));
const WARMUP = 0.5;
/** Fewer server CPU ticks (10 ms each) in a window than this: not counted (see below). */
const MIN_TICKS = 20;
const RESTART_BEFORE = 2; // seconds of steady load (after the warm-up) before SIGHUP
const RESTART_AFTER = 1.5; // seconds of load after the old workers are gone
const LOAD: Record<Mode, { conns: number; depth: number; size: number }> = {
  pipelined: { conns: 50, depth: 32, size: 32 },
  reqresp: { conns: 100, depth: 1, size: 32 },
};

const root = ROOT;
const out = join(root, "bench", "results");
const tmp = join(out, "tmp");
mkdirSync(tmp, { recursive: true });
const loadBin = join(tmp, "load_workers");

const children = new Set<ChildProcess>();
const serverPids = new Set<number>(); // primaries and workers, for the last-resort cleanup
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const pid of serverPids) {
    if (alive(pid)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
  }
}
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const load1 = () => Number(loadavg()[0].toFixed(2));
const median = (xs: number[]) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Times the main threads of `pids` went to sleep (voluntary context switches). */
function sleeps(pids: number[]): number {
  let n = 0;
  for (const pid of pids) {
    try {
      n += Number(
        /voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1],
      );
    } catch { /* gone */ }
  }
  return n;
}

/** Every process below `pid` (the workers of a primary), from /proc. */
function descendants(pid: number): number[] {
  const kids = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      kids.set(ppid, [...(kids.get(ppid) ?? []), Number(name)]);
    } catch { /* gone meanwhile */ }
  }
  const found: number[] = [];
  const todo = [pid];
  while (todo.length) for (const k of kids.get(todo.pop()!) ?? []) found.push(k), todo.push(k);
  return found.filter(alive);
}

interface Server {
  child: ChildProcess;
  pid: number;
  port: number;
  workers: number[];
  stderr: string[];
}

function serverCommand(rt: Runtime, config: Config): [string, string[]] {
  const flags = ["bench/server.ts", "--port", "0", "--framer", "lines", "--style", "hooks"];
  // `alone` is --workers 0: one process, with the handlers the worker runs use.
  flags.push("--workers", String(workerCount(config)));
  // --unstable-net: Deno's own listener with reusePort (else the workers use node:net).
  const [cmd, args]: [string, string[]] = rt === "deno"
    ? [bin("deno"), ["run", "-A", "--unstable-net", ...flags]]
    : rt === "bun"
    ? [bin("bun"), ["run", ...flags]]
    : [bin("node"), flags];
  // taskset execs the runtime (same pid); the workers inherit the CPU mask.
  return pinned(config) ? ["taskset", ["-c", "0", cmd, ...args]] : [cmd, args];
}

async function startServer(rt: Runtime, config: Config): Promise<Server> {
  const [cmd, args] = serverCommand(rt, config);
  const child = spawn(cmd, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  serverPids.add(child.pid!);
  const stderr: string[] = [];
  child.stderr!.on("data", (d: Buffer) => stderr.length < 50 && stderr.push(String(d).trim()));
  const port = await new Promise<number>((resolve) => {
    let text = "";
    const timer = setTimeout(() => resolve(0), 30_000);
    child.stdout!.on("data", (d: Buffer) => {
      text += d;
      const m = /^ready (\d+)$/m.exec(text);
      if (m) clearTimeout(timer), resolve(Number(m[1]));
    });
    child.once("exit", () => (clearTimeout(timer), resolve(0)));
  });
  const s: Server = { child, pid: child.pid!, port, workers: [], stderr };
  const want = workerCount(config);
  for (let i = 0; i < 100 && s.workers.length < want; i++) {
    s.workers = descendants(s.pid);
    if (s.workers.length < want) await sleep(20);
  }
  s.workers.forEach((p) => serverPids.add(p));
  if (!port || s.workers.length !== want) {
    await stopServer(s);
    throw new Error(
      `${rt} ${config}: not ready (${stderr.join(" ") || `${s.workers.length} workers`})`,
    );
  }
  return s;
}

/** SIGTERM to the primary (it drains its workers), then checks that every worker is gone. */
async function stopServer(s: Server): Promise<number> {
  const all = new Set([...s.workers, ...descendants(s.pid)]);
  if (s.child.exitCode === null && s.child.signalCode === null) {
    const exited = new Promise<void>((r) => s.child.once("exit", () => r()));
    s.child.kill("SIGTERM");
    const timer = setTimeout(() => s.child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }
  let left = [...all].filter(alive);
  for (let i = 0; i < 150 && left.length; i++) await sleep(20), left = left.filter(alive);
  for (const pid of left) process.kill(pid, "SIGKILL"); // counted as a failure below
  children.delete(s.child);
  return left.length;
}

/** Runs load.c to the end; its JSON line. */
function runLoad(
  args: string[],
  cpuList: number[],
  input?: (c: ChildProcess) => void,
  cpu1 = false,
) {
  const all = [...args, "--pid", cpuList.join(",")];
  const child = cpu1
    ? spawn("taskset", ["-c", "1", loadBin, ...all], { stdio: ["pipe", "pipe", "pipe"] })
    : spawn(loadBin, all, { stdio: ["pipe", "pipe", "pipe"] });
  children.add(child);
  let text = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (text += d));
  child.stderr!.on("data", (d: Buffer) => (err += d));
  input?.(child);
  return new Promise<Record<string, unknown>>((resolve) => {
    child.once("exit", () => {
      children.delete(child);
      try {
        resolve(JSON.parse(text.trim().split("\n").at(-1)!));
      } catch {
        resolve({ ok: false, error: `load client: ${err || text || "no output"}` });
      }
    });
  });
}

interface ScaleRun {
  rep: number;
  runtime: Runtime;
  config: Config;
  mode: Mode;
  ok: boolean;
  error?: string;
  msgsPerSec?: number;
  cpuUsPerMsg?: number;
  msgs?: number;
  cpuSecs?: number;
  /** How often the server's event loops went to sleep, per 1000 messages (approximate). */
  sleptPerKMsg?: number;
  serverCores?: number;
  clientCores?: number;
  workers?: number;
  load1: number;
}

/**
 * For each runtime, one server per configuration is started and stays up (idle between
 * its windows); then each repetition runs every configuration's windows back to back, in
 * an order that rotates, so the pairs compared are seconds apart on this shared machine.
 */
async function scaling(started: number): Promise<ScaleRun[]> {
  const runs: ScaleRun[] = [];
  const rotate = <T>(xs: T[], k: number) => xs.map((_, i) => xs[(i + k) % xs.length]);
  for (const rt of RUNTIMES) {
    const servers = new Map<Config, Server>();
    try {
      for (const config of CONFIGS) {
        try {
          servers.set(config, await startServer(rt, config));
        } catch (e) {
          console.log((e as Error).message);
          for (let rep = 0; rep < REPS; rep++) {
            for (const mode of MODES) {
              runs.push({
                rep,
                runtime: rt,
                config,
                mode,
                ok: false,
                error: String(e),
                load1: load1(),
              });
            }
          }
        }
      }
      for (let rep = 0; rep < REPS; rep++) {
        for (const config of rotate(CONFIGS, rep)) {
          const s = servers.get(config);
          if (!s) continue;
          for (const mode of MODES) {
            const l = LOAD[mode];
            const sleeps0 = sleeps([s.pid, ...s.workers]);
            const r = await runLoad(
              [
                ...["--mode", mode, "--framer", "lines", "--port", String(s.port)],
                ...[
                  "--conns",
                  String(l.conns),
                  "--depth",
                  String(l.depth),
                  "--size",
                  String(l.size),
                ],
                ...["--warmup", String(WARMUP), "--secs", String(SECS)],
              ],
              [s.pid, ...s.workers],
              undefined,
              pinned(config),
            );
            const secs = Number(r.secs);
            // Over the whole run (warm-up, window, drain), against the window's rate.
            const sleptPerKMsg = (sleeps([s.pid, ...s.workers]) - sleeps0) * 1000 /
              (Number(r.msgsPerSec) * (WARMUP + secs));
            // CPU times come in 10 ms ticks: a window where the server got less than
            // MIN_TICKS of them (the other jobs on the machine took the cores) says nothing.
            const starved = r.ok === true && Number(r.cpuTicks) < MIN_TICKS;
            const run: ScaleRun = {
              rep,
              runtime: rt,
              config,
              mode,
              ok: r.ok === true && !starved,
              ...(r.ok ? {} : { error: String(r.error) }),
              ...(starved ? { error: `starved: the server had ${r.cpuTicks} CPU ticks` } : {}),
              msgsPerSec: Number(r.msgsPerSec),
              cpuUsPerMsg: Number(r.cpuUsPerMsg),
              msgs: Number(r.msgs),
              cpuSecs: Number(r.cpuSecs),
              sleptPerKMsg,
              serverCores: Number(r.cpuSecs) / secs,
              clientCores: Number(r.clientCpuSecs) / secs,
              workers: s.workers.length,
              load1: load1(),
            };
            runs.push(run);
            console.log(
              `[${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] rep ${
                rep + 1
              }/${REPS} ${rt.padEnd(4)} ${config.padEnd(5)} ${mode.padEnd(9)} ${
                run.ok
                  ? `${(run.msgsPerSec! / 1e3).toFixed(0)} k msg/s, ${
                    run.cpuUsPerMsg!.toFixed(3)
                  } us/msg, server ${run.serverCores!.toFixed(2)} cores, client ${
                    run.clientCores!.toFixed(2)
                  }, load ${run.load1}`
                  : `FAILED: ${run.error}`
              }`,
            );
          }
        }
      }
    } finally {
      for (const [config, s] of servers) {
        const left = await stopServer(s);
        if (left > 0) {
          const error = `${left} workers left after SIGTERM`;
          console.log(`${rt} ${config}: ${error}`);
          runs.push({
            rep: -1,
            runtime: rt,
            config,
            mode: "pipelined",
            ok: false,
            error,
            load1: load1(),
          });
        }
      }
    }
  }
  return runs;
}

interface Phase {
  fromSec: number;
  toSec: number;
  count: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}
interface RestartRun {
  rep: number;
  runtime: Runtime;
  ok: boolean;
  error?: string;
  restartMs?: number;
  newWorkersMs?: number[];
  oldGoneMs?: number[];
  phases?: Phase[];
  reconnects?: number;
  resent?: number;
  connectErrors?: number;
  clientCores?: number;
  timeline?: number[][];
  marksSec?: number[];
  load1: number;
  warnings?: string[];
}

async function restartOnce(rt: Runtime, rep: number): Promise<RestartRun> {
  const s = await startServer(rt, "2w");
  const run: RestartRun = { rep, runtime: rt, ok: false, load1: load1() };
  try {
    const old = [...s.workers];
    const hupAt: number[] = [];
    const newSeen: number[] = [];
    const oldGone = new Map<number, number>();
    const r = await runLoad(
      [
        "--mode",
        "restart",
        "--framer",
        "lines",
        "--port",
        String(s.port),
        ...["--conns", "100", "--size", "32", "--warmup", String(WARMUP), "--secs", "30"],
      ],
      [s.pid],
      (client) => {
        void (async () => {
          await sleep((WARMUP + RESTART_BEFORE) * 1000);
          client.stdin!.write("mark\n");
          const t0 = performance.now();
          hupAt.push(t0);
          process.kill(s.pid, "SIGHUP");
          // Until both old workers have exited (at most 20 s): polled every 5 ms.
          for (let i = 0; i < 4000 && oldGone.size < old.length; i++) {
            await sleep(5);
            const now = performance.now() - t0;
            for (const p of old) if (!oldGone.has(p) && !alive(p)) oldGone.set(p, now);
            if (newSeen.length < old.length) { // when each new process appears
              for (const p of descendants(s.pid)) {
                if (old.includes(p) || newSeen.includes(p)) continue;
                newSeen.push(p);
                serverPids.add(p);
                (run.newWorkersMs ??= []).push(Math.round(now));
              }
            }
          }
          run.restartMs = performance.now() - t0;
          client.stdin!.write("mark\n");
          await sleep(RESTART_AFTER * 1000);
          client.stdin!.end("stop\n");
        })();
      },
    );
    run.oldGoneMs = old.map((p) => Math.round(oldGone.get(p) ?? NaN));
    run.phases = r.phases as Phase[];
    run.timeline = (r.timeline as { buckets: number[][] } | undefined)?.buckets;
    run.marksSec = r.marksSec as number[];
    run.reconnects = Number(r.reconnects);
    run.resent = Number(r.resent);
    run.connectErrors = Number(r.connectErrors);
    run.clientCores = Number(r.clientCpuSecs) / Number(r.secs);
    run.ok = r.ok === true && oldGone.size === old.length && newSeen.length >= old.length;
    if (!run.ok) {
      run.error = String(r.error || `old workers gone ${oldGone.size}, new ${newSeen.length}`);
    }
    s.workers = [...old, ...newSeen];
  } finally {
    const left = await stopServer(s);
    if (left) run.ok = false, run.error = `${left} workers left after SIGTERM`;
    run.warnings = s.stderr;
  }
  return run;
}

async function restarts(started: number): Promise<RestartRun[]> {
  const runs: RestartRun[] = [];
  for (let rep = 0; rep < RESTART_REPS; rep++) {
    for (const rt of RUNTIMES) {
      let run: RestartRun;
      try {
        run = await restartOnce(rt, rep);
      } catch (e) {
        run = { rep, runtime: rt, ok: false, error: String(e), load1: load1() };
      }
      runs.push(run);
      const [before, during] = run.phases ?? [];
      console.log(
        `[${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] restart ${
          rep + 1
        }/${RESTART_REPS} ${rt.padEnd(4)} ${
          run.ok
            ? `p99 before ${(before.p99Us / 1000).toFixed(2)} ms, during ${
              (during.p99Us / 1000).toFixed(2)
            } ms (max ${(during.maxUs / 1000).toFixed(1)} ms), restart ${
              run.restartMs!.toFixed(0)
            } ms, ${run.resent} resent, ${run.connectErrors} connect errors, load ${run.load1}`
            : `FAILED: ${run.error}`
        }`,
      );
    }
  }
  return runs;
}

function migrateReq(): string {
  const p = "/proc/sys/net/ipv4/tcp_migrate_req";
  return existsSync(p) ? readFileSync(p, "utf8").trim() : "absent";
}

// ---------------------------------------------------------------- report

const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "–");
const k = (x: number) => (Number.isFinite(x) ? `${(x / 1000).toFixed(0)} k` : "–");
const NAMES: Record<Config, string> = {
  alone: "alone (no workers)",
  "1w": "1 worker",
  "2w": "2 workers",
  "1w@0": "1 worker on CPU 0, client on CPU 1",
  "2w@0": "2 workers on CPU 0, client on CPU 1",
};
const RT: Record<Runtime, string> = { deno: "Deno", bun: "Bun", node: "Node" };

/** Per repetition, a / b of one figure; the median over repetitions. */
function ratio(
  runs: ScaleRun[],
  rt: Runtime,
  mode: Mode,
  a: Config,
  b: Config,
  key: keyof ScaleRun,
) {
  const rs: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    const pick = (c: Config) =>
      runs.find((r) =>
        r.ok && r.rep === rep && r.runtime === rt && r.mode === mode && r.config === c
      )?.[key] as
        | number
        | undefined;
    const x = pick(a), y = pick(b);
    if (x !== undefined && y !== undefined) rs.push(x / y);
  }
  return { median: median(rs), all: rs };
}

function renderMd(report: Report): string {
  const { scale, restart } = report;
  const L: string[] = [];
  const loads = [...scale.map((r) => r.load1), ...restart.map((r) => r.load1)];
  L.push(`# serve({ workers }): scaling and rolling restart`, "");
  L.push("Reproduce: `node bench/workers.ts` (from the repository root; about 5 minutes).", "");
  L.push(
    `${report.date}; ${report.versions.deno}, Bun ${report.versions.bun}, Node ${report.versions.node}; ` +
      `${report.versions.cpus} cores, kernel ${report.versions.kernel}; ` +
      `net.ipv4.tcp_migrate_req = ${report.tcpMigrateReq}. Load average (1 min) during the runs: ` +
      `${f(Math.min(...loads), 1)} to ${f(Math.max(...loads), 1)}. ${REPS} repetitions of ` +
      `${SECS} s windows (after ${WARMUP} s of warm-up), medians; ${RESTART_REPS} restart run(s) per runtime.`,
    "",
  );
  if (scale.length > 0) {
    L.push("## Scaling: lines echo (hooks), the load client on the same 2 cores", "");
    L.push(
      "Server cores: CPU seconds of the primary and every worker per second of the window. CPU/msg: " +
        "those CPU seconds per message echoed. msg per server core-s: messages per CPU second of the " +
        "server (1 / CPU per message), the figure that carries to a machine with free cores. Sleeps " +
        "per 1k msg: how often the server's event loop threads went idle (voluntary context " +
        "switches of the main threads, /proc/<pid>/status) per 1000 messages, over the whole run: " +
        "a loop that sleeps more often reads fewer messages per wake-up.",
      "",
    );
    for (const mode of MODES) {
      const l = LOAD[mode];
      L.push(`### ${mode}: ${l.conns} connections x ${l.depth} in flight x ${l.size} B`, "");
      L.push(
        "| runtime | server | msg/s | server cores | CPU µs/msg | msg per server core-s | sleeps per 1k msg | client cores | load |",
      );
      L.push("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
      for (const rt of RUNTIMES) {
        for (const c of CONFIGS) {
          const rs = scale.filter((r) =>
            r.ok && r.runtime === rt && r.mode === mode && r.config === c
          );
          const m = (key: keyof ScaleRun) => median(rs.map((r) => r[key] as number));
          L.push(
            `| ${RT[rt]} | ${NAMES[c]} | ${k(m("msgsPerSec"))} | ${f(m("serverCores"))} | ${
              f(m("cpuUsPerMsg"), 3)
            } | ${k(1e6 / m("cpuUsPerMsg"))} | ${f(m("sleptPerKMsg"), 1)} | ${
              f(m("clientCores"))
            } | ${f(m("load1"), 1)} |`,
          );
        }
      }
      L.push("");
    }
  }
  const both = (a: Config, b: Config) => CONFIGS.includes(a) && CONFIGS.includes(b);
  const pairs: [Config, Config, Mode, string][] = both("2w", "1w")
    ? MODES.map((m) => ["2w", "1w", m, m])
    : [];
  if (both("2w@0", "1w@0")) {
    for (const m of MODES) pairs.push(["2w@0", "1w@0", m, `${m}, server on CPU 0`]);
  }
  if (pairs.length > 0 && scale.length > 0) {
    L.push("### Ratios, 2 workers ÷ 1 worker (median of the per-repetition ratios)", "");
    L.push(
      "Efficiency: CPU per message with 2 workers ÷ with 1 (target ≤ 1.05); pooled: the same from " +
        "every window's CPU seconds and messages added up. Scaling: msg/s with 2 " +
        "workers ÷ with 1, measured here with the client sharing the 2 cores. On N free cores: N ÷ " +
        "efficiency, what N workers would give if each had a core of its own (target ≥ 0.9 × N).",
      "",
    );
    L.push(
      "| runtime | load | efficiency (≤ 1.05) | pooled | scaling measured (2 cores, client included) | on N free cores | 1 worker: server cores |",
    );
    L.push("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for (const rt of RUNTIMES) {
      for (const [two, one, mode, label] of pairs) {
        const eff = ratio(scale, rt, mode, two, one, "cpuUsPerMsg");
        const sc = ratio(scale, rt, mode, two, one, "msgsPerSec");
        const cores1 = median(
          scale.filter((r) => r.ok && r.runtime === rt && r.mode === mode && r.config === one).map(
            (r) => r.serverCores!,
          ),
        );
        // Every window's CPU seconds over every window's messages, per configuration.
        const pool = (c: Config) => {
          const rs = scale.filter((r) =>
            r.ok && r.runtime === rt && r.mode === mode && r.config === c
          );
          return rs.reduce((a, r) => a + r.cpuSecs!, 0) / rs.reduce((a, r) => a + r.msgs!, 0);
        };
        L.push(
          `| ${RT[rt]} | ${label} | ${f(eff.median)} ${eff.median <= 1.05 ? "✓" : "✗"} (${
            eff.all.map((x) => f(x)).join(", ")
          }) | ${f(pool(two) / pool(one))} | ${f(sc.median)} (${
            sc.all.map((x) => f(x)).join(", ")
          }) | ${f(1 / eff.median)} × N ${1 / eff.median >= 0.9 ? "✓" : "✗"} | ${f(cores1)} |`,
        );
      }
    }
    L.push("");
  }
  if (restart.length > 0) {
    L.push("## Rolling restart: latency while SIGHUP replaces both workers", "");
    L.push(
      "100 connections, 1 request (32 B line) in flight each, against 2 workers. before: the " +
        `${RESTART_BEFORE} s before SIGHUP; during: from SIGHUP until both old workers have exited; after: ` +
        `the ${RESTART_AFTER} s after. A request whose connection ended before its reply is sent again on a ` +
        "new connection (resent); its latency counts from its first send.",
      "",
    );
    L.push(
      "| runtime | run | old workers exited at (ms) | p50 before / during (ms) | p99 before / during / after (ms) | p99 during ÷ before | max before / during (ms) | reconnects | resent | connect errors | load |",
    );
    L.push("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const rt of RUNTIMES) {
      for (const r of restart.filter((x) => x.runtime === rt)) {
        if (!r.ok || !r.phases) {
          L.push(`| ${RT[rt]} | ${r.rep + 1} | failed: ${r.error} | | | | | | | | |`);
          continue;
        }
        const [b, d, a] = r.phases;
        const ms = (x: number, dd = 2) => f(x / 1000, dd);
        L.push(
          `| ${RT[rt]} | ${r.rep + 1} | ${r.oldGoneMs!.join(", ")} | ${ms(b.p50Us)} / ${
            ms(d.p50Us)
          } | ${ms(b.p99Us)} / ${ms(d.p99Us)} / ${a ? ms(a.p99Us) : "–"} | ${
            f(d.p99Us / b.p99Us, 1)
          } | ${ms(b.maxUs, 1)} / ${
            ms(d.maxUs, 1)
          } | ${r.reconnects} | ${r.resent} | ${r.connectErrors} | ${f(r.load1, 1)} |`,
        );
      }
      const ok = restart.filter((x) => x.runtime === rt && x.ok && x.phases);
      if (ok.length > 1) {
        const med = (fn: (ph: Phase[]) => number) => median(ok.map((x) => fn(x.phases!)));
        L.push(
          `| ${RT[rt]} | median | | ${f(med((p) => p[0].p50Us) / 1000)} / ${
            f(med((p) => p[1].p50Us) / 1000)
          } | ${f(med((p) => p[0].p99Us) / 1000)} / ${f(med((p) => p[1].p99Us) / 1000)} / ${
            f(med((p) => p[2]?.p99Us ?? NaN) / 1000)
          } | ${f(med((p) => p[1].p99Us / p[0].p99Us), 1)} | | | | | |`,
        );
      }
    }
    L.push("");
  }
  return L.join("\n");
}

interface Report {
  date: string;
  versions: Record<string, string>;
  tcpMigrateReq: string;
  reps: number;
  secs: number;
  warmup: number;
  load: typeof LOAD;
  scale: ScaleRun[];
  restart: RestartRun[];
}

async function main(): Promise<void> {
  compileLoad(loadBin);
  const started = Date.now();
  const scale = argv.includes("--no-scaling") ? [] : await scaling(started);
  const restart = argv.includes("--no-restart") ? [] : await restarts(started);
  const report: Report = {
    date: new Date().toISOString(),
    versions: versions(),
    tcpMigrateReq: migrateReq(),
    reps: REPS,
    secs: SECS,
    warmup: WARMUP,
    load: LOAD,
    scale,
    restart,
  };
  const dir = quick ? tmp : out;
  const rows = (xs: unknown[]) =>
    `[\n${xs.map((x) => `    ${JSON.stringify(x)}`).join(",\n")}\n  ]`;
  const json = JSON.stringify({ ...report, scale: 0, restart: 0 }, null, 2)
    .replace('"scale": 0', `"scale": ${rows(scale)}`)
    .replace('"restart": 0', `"restart": ${rows(restart)}`);
  writeFileSync(join(dir, "workers.json"), json + "\n");
  const md = renderMd(report);
  writeFileSync(join(dir, "workers.md"), md);
  console.log("\n" + md);
  console.log(
    `wrote ${join(dir, "workers.json")} and workers.md in ${
      ((Date.now() - started) / 1000).toFixed(0)
    } s`,
  );
}

try {
  await main();
} finally {
  killAll();
}
