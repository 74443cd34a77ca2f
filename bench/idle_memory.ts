// Memory per idle connection: a server in a child process (bench/_idle_server.ts) gets
// N connections from this process, each sends one short line and then stays idle. The
// server's RSS is read from /proc/<pid>/status before and after; the difference divided
// by N is the cost of one idle connection. Every tcpkit figure has a hand-written native
// control run in the same session (design.md section 6). Linux only (reads /proc).
//
//   node bench/idle_memory.ts                      5000 connections, deno bun node
//   node bench/idle_memory.ts --conns 2000 deno    fewer, one runtime
//   node bench/idle_memory.ts --deno-min-buffer 512 deno   try another minimum read buffer
//
// Run from the repository root with the pinned toolchain (node_modules/.bin).
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";

const args = process.argv.slice(2);
const connsAt = args.indexOf("--conns");
const conns = connsAt >= 0 ? Number(args.splice(connsAt, 2)[1]) : 5000;
const minAt = args.indexOf("--deno-min-buffer");
const denoMin = minAt >= 0 ? args.splice(minAt, 2)[1] : undefined;
const runtimes = args.length ? args : ["deno", "bun", "node"];
const bin = (name: string) => join("node_modules", ".bin", name);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Server {
  child: ChildProcess;
  port: number;
  count(): Promise<[number, number]>;
  gc(): Promise<void>;
}

function start(runtime: string, kind: string[]): Promise<Server> {
  const script = join("bench", "_idle_server.ts");
  const argv = runtime === "deno"
    ? ["run", "-A", "--v8-flags=--expose-gc", script, ...kind]
    : runtime === "node"
    ? ["--expose-gc", script, ...kind]
    : [script, ...kind];
  const child = spawn(bin(runtime), argv, { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout! });
  const waiting: ((line: string) => void)[] = [];
  lines.on("line", (line) => waiting.shift()?.(line));
  const next = () => new Promise<string>((resolve) => waiting.push(resolve));
  return next().then((line) => {
    const port = Number(/^ready (\d+)$/.exec(line)?.[1]);
    if (!port) throw new Error(`${runtime} ${kind}: unexpected "${line}"`);
    return {
      child,
      port,
      async count() {
        const reply = next();
        child.stdin!.write("count\n");
        const [open, withData] = (await reply).split(" ").map(Number);
        return [open, withData];
      },
      async gc() {
        const reply = next();
        child.stdin!.write("gc\n");
        await reply;
      },
    };
  });
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : NaN;
}

/** Opens n connections in batches; each sends one line and then idles. */
async function openIdle(port: number, n: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  for (let i = 0; i < n; i += 250) {
    const batch = Array.from(
      { length: Math.min(250, n - i) },
      () =>
        new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect({ host: "127.0.0.1", port }, () => {
            s.write("hello\n");
            resolve(s);
          });
          s.once("error", reject);
        }),
    );
    sockets.push(...await Promise.all(batch));
  }
  return sockets;
}

async function waitFor(server: Server, check: (open: number, data: number) => boolean) {
  const end = Date.now() + 60_000;
  while (Date.now() < end) {
    const [open, data] = await server.count();
    if (check(open, data)) return;
    await sleep(100);
  }
  throw new Error("server did not reach the expected connection count in 60 s");
}

async function measure(runtime: string, kind: string[]): Promise<number> {
  const server = await start(runtime, kind);
  try {
    // Warm up: the first connections pay for code paths, JIT and pools.
    const warm = await openIdle(server.port, 500);
    await waitFor(server, (_, data) => data >= 500);
    for (const s of warm) s.destroy();
    await waitFor(server, (open) => open === 0);
    await sleep(500);
    await server.gc();
    const before = rssKiB(server.child.pid!);
    const sockets = await openIdle(server.port, conns);
    await waitFor(server, (_, data) => data >= 500 + conns);
    await sleep(500);
    await server.gc();
    const after = rssKiB(server.child.pid!);
    for (const s of sockets) s.destroy();
    return (after - before) / conns;
  } finally {
    server.child.kill("SIGTERM");
  }
}

const plan: [string, string[]][] = [];
for (const rt of runtimes) {
  plan.push([rt, rt === "deno" ? ["native", "16384"] : ["native"]]);
  plan.push([rt, rt === "deno" && denoMin ? ["tcpkit", denoMin] : ["tcpkit"]]);
  if (rt !== "node") plan.push([rt, ["tcpkit-node"]]);
}
if (runtimes.includes("deno")) {
  plan.splice(runtimes.indexOf("deno") * 3 + 1, 0, ["deno", ["native", "1024"]]);
}

console.log(`RSS per idle connection, ${conns} connections on 127.0.0.1 (KiB, lower is better)`);
for (const [rt, kind] of plan) {
  const kib = await measure(rt, kind);
  const label = kind[0] === "native"
    ? `native control${kind[1] ? ` (read buffer ${kind[1]} B)` : ""}`
    : kind[0] === "tcpkit"
    ? `tcpkit (native adapter${kind[1] ? `, min buffer ${kind[1]} B` : ""})`
    : "tcpkit (node:net adapter)";
  console.log(`  ${rt.padEnd(5)} ${label.padEnd(38)} ${kib.toFixed(1).padStart(6)} KiB`);
}
