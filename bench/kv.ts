// kv vs redis-server: examples/kv.ts on Bun, Deno and Node against a real redis-server,
// all driven by the same redis-benchmark in the same session, rounds interleaved.
//
//   node bench/kv.ts                       -n 200000 -c 50 -P 16, 5 rounds
//   node bench/kv.ts --requests 50000 --rounds 1 --runtimes bun
//
// Needs redis-server and redis-benchmark (Debian: apt-get install redis-server redis-tools).
// Every server listens on 127.0.0.1 on a free port and is stopped by its PID at the end.
// Reported per test: the median requests/s, the ratio to redis-server, and the server's
// CPU time per request (utime + stime from /proc/<pid>/stat over the run).
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

const argv = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
};
const REQUESTS = Number(opt("requests", "200000"));
const ROUNDS = Number(opt("rounds", "5"));
const RUNTIMES = opt("runtimes", "bun,deno,node").split(",");
const TESTS = ["PING_INLINE", "PING_MBULK", "SET", "GET"];
const TICK = 100; // clock ticks per second for /proc/<pid>/stat (getconf CLK_TCK)

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

interface Target {
  name: string;
  child: ChildProcess;
  port: number;
}

async function start(name: string, cmd: string, args: string[], port: number): Promise<Target> {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (b) => (out += b));
  child.stderr!.on("data", (b) => (out += b));
  for (let i = 0; i < 200; i++) { // wait until it answers PING, at most 20 s
    try {
      execFileSync("redis-cli", ["-p", String(port), "ping"], { stdio: "pipe", timeout: 2000 });
      return { name, child, port };
    } catch {
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  child.kill("SIGKILL");
  throw new Error(`${name} did not start:\n${out}`);
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / TICK; // utime, stime
}

/** One redis-benchmark run: requests/s and server CPU µs per request, by test. */
function bench(t: Target): Record<string, { rps: number; cpu: number }> {
  const out: Record<string, { rps: number; cpu: number }> = {};
  for (const test of ["ping", "set", "get"]) {
    const before = cpuSeconds(t.child.pid!);
    const csv = execFileSync(
      "redis-benchmark",
      ["-p", String(t.port), "-t", test, "-n", String(REQUESTS), "-c", "50", "-P", "16", "--csv"],
      { encoding: "utf8", timeout: 300_000 },
    );
    const cpu = cpuSeconds(t.child.pid!) - before;
    const rows = csv.trim().split("\n").slice(1).map((l) =>
      l.split(",").map((c) => c.replace(/"/g, ""))
    );
    for (const [name, rps] of rows) {
      out[name] = { rps: Number(rps), cpu: (cpu / (REQUESTS * rows.length)) * 1e6 };
    }
  }
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const loadBefore = loadavg();
const targets: Target[] = [];
try {
  const rsPort = await freePort();
  targets.push(
    await start("redis-server", "redis-server", [
      "--bind",
      "127.0.0.1",
      "--port",
      String(rsPort),
      "--save",
      "",
      "--appendonly",
      "no",
    ], rsPort),
  );
  for (const rt of RUNTIMES) {
    const port = await freePort();
    const bin = `node_modules/.bin/${rt}`;
    const args = rt === "deno"
      ? ["run", "-A", "examples/kv.ts"]
      : rt === "bun"
      ? ["run", "examples/kv.ts"]
      : ["examples/kv.ts"];
    targets.push(await start(`kv.ts on ${rt}`, bin, [...args, String(port)], port));
  }
  const results = new Map<string, Record<string, { rps: number; cpu: number }>[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of targets) {
      const r = bench(t);
      results.set(t.name, [...(results.get(t.name) ?? []), r]);
      console.error(
        `round ${round + 1} ${t.name}: ${TESTS.map((x) => `${x} ${r[x]?.rps}`).join(", ")}`,
      );
    }
  }
  const cell = (name: string, test: string) => {
    const runs = results.get(name)!;
    return { rps: median(runs.map((r) => r[test].rps)), cpu: median(runs.map((r) => r[test].cpu)) };
  };
  const version = execFileSync("redis-server", ["--version"], { encoding: "utf8" }).split(" ")[2]
    .slice(2);
  console.log(
    `redis-benchmark -t ping,set,get -n ${REQUESTS} -c 50 -P 16; median of ${ROUNDS} interleaved rounds; ` +
      `redis-server ${version}; load average ${loadBefore} before, ${loadavg()} after; ` +
      `requests/s (ratio to redis-server), server CPU µs/request\n`,
  );
  console.log(`| test | ${targets.map((t) => t.name).join(" | ")} |`);
  console.log(`|---|${targets.map(() => "---:").join("|")}|`);
  for (const test of TESTS) {
    const base = cell("redis-server", test);
    const cells = targets.map((t) => {
      const c = cell(t.name, test);
      const ratio = t.name === "redis-server" ? "" : ` (${(c.rps / base.rps).toFixed(2)}×)`;
      return `${Math.round(c.rps).toLocaleString("en-US")}${ratio}, ${c.cpu.toFixed(2)} µs`;
    });
    console.log(`| ${test} | ${cells.join(" | ")} |`);
  }
} finally {
  for (const t of targets) if (t.child.exitCode === null) process.kill(t.child.pid!, "SIGKILL");
}
