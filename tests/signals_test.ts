// shutdownOnSignals(): a child process per runtime (tests/fixtures/signal_server.ts) gets
// SIGTERM by PID; the first drains and the process exits 0 by itself, a second forces.
import { test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { connect, type Connection, lines, shutdownOnSignals } from "../mod.ts";
import { nativeAdapter, sleep, within } from "./_helpers.ts";

const runtime = nativeAdapter();
const root = fileURLToPath(new URL("..", import.meta.url));
const fixture = fileURLToPath(new URL("./fixtures/signal_server.ts", import.meta.url));

interface Child {
  proc: ChildProcess;
  port: number;
  out: () => string;
  exited: Promise<{ code: number | null; signal: string | null }>;
}

/** Starts the fixture under this runtime and waits for "ready <port>". */
async function start(mode: string): Promise<Child> {
  const bin = `${root}node_modules/.bin/${runtime}`;
  const args = runtime === "deno"
    ? ["run", "-A", fixture, mode]
    : runtime === "bun"
    ? ["run", fixture, mode]
    : [fixture, mode];
  const proc = spawn(bin, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout!.on("data", (b) => (out += b));
  proc.stderr!.on("data", (b) => (out += b));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    proc.on("exit", (code, signal) => resolve({ code, signal }));
  });
  const end = Date.now() + 20_000;
  while (!/ready (\d+)/.test(out)) {
    if (Date.now() > end || proc.exitCode !== null) {
      stop(proc);
      throw new Error(`fixture did not start: ${out}`);
    }
    await sleep(20);
  }
  return { proc, port: Number(/ready (\d+)/.exec(out)![1]), out: () => out, exited };
}

/** Kills the child by PID if it is still running. */
function stop(proc: ChildProcess): void {
  if (proc.exitCode === null && proc.signalCode === null && proc.pid) {
    try {
      process.kill(proc.pid, "SIGKILL");
    } catch { /* already gone */ }
  }
}

async function client(port: number): Promise<Connection<string, string>> {
  const c = await connect({ hostname: "127.0.0.1", port, framer: lines() });
  assert.equal(await within(c.next(), 5000, "greeting"), "hi");
  return c;
}

test(`[${runtime}] SIGTERM drains: handlers finish, clients get their last words, the process exits 0`, async () => {
  const child = await start("graceful");
  try {
    const a = await client(child.port);
    const b = await client(child.port);
    process.kill(child.proc.pid!, "SIGTERM");
    for (const c of [a, b]) {
      assert.equal(await within(c.next(), 10_000, "bye"), "bye");
      assert.equal(await within(c.next().catch(() => undefined), 10_000, "end"), undefined);
      c.close();
    }
    const { code, signal } = await within(child.exited, 15_000, "child exit");
    assert.deepEqual([code, signal], [0, null], child.out());
    assert.match(child.out(), /signal SIGTERM 1/);
    assert.match(child.out(), /finished/);
    await assert.rejects(connect({ hostname: "127.0.0.1", port: child.port, timeout: 2000 }));
  } finally {
    stop(child.proc);
  }
});

test(`[${runtime}] a second SIGTERM forces handlers that ignore the first`, async () => {
  const child = await start("stubborn");
  try {
    const c = await client(child.port);
    process.kill(child.proc.pid!, "SIGTERM");
    await sleep(300);
    assert.equal(
      child.proc.exitCode,
      null,
      "still draining after the first signal (30 s deadline)",
    );
    process.kill(child.proc.pid!, "SIGTERM");
    const { code, signal } = await within(
      child.exited,
      10_000,
      "child exit after the second signal",
    );
    assert.deepEqual([code, signal], [0, null], child.out());
    assert.match(child.out(), /signal SIGTERM 1[\s\S]*signal SIGTERM 2[\s\S]*finished/);
    assert.equal(await within(c.next().catch(() => undefined), 5000, "closed"), undefined);
    c.close();
  } finally {
    stop(child.proc);
  }
});

test(`[${runtime}] the disposer removes the listeners: SIGTERM then terminates as usual`, async () => {
  const child = await start("disposed");
  try {
    process.kill(child.proc.pid!, "SIGTERM");
    const { code, signal } = await within(child.exited, 10_000, "child exit");
    assert.ok(signal === "SIGTERM" || code === 143, `exit ${code} ${signal}: ${child.out()}`);
    assert.doesNotMatch(child.out(), /signal SIGTERM/);
  } finally {
    stop(child.proc);
  }
});

test(`[${runtime}] once the server has finished, a signal has its default effect again`, async () => {
  const child = await start("busy");
  try {
    process.kill(child.proc.pid!, "SIGTERM");
    const end = Date.now() + 10_000;
    while (!/finished/.test(child.out()) && Date.now() < end) await sleep(20);
    assert.match(child.out(), /finished/);
    await sleep(100);
    assert.equal(child.proc.exitCode, null, "other work keeps the process alive");
    process.kill(child.proc.pid!, "SIGTERM");
    const { code, signal } = await within(child.exited, 10_000, "child exit");
    assert.ok(signal === "SIGTERM" || code === 143, `exit ${code} ${signal}: ${child.out()}`);
    assert.doesNotMatch(child.out(), /signal SIGTERM 2/);
  } finally {
    stop(child.proc);
  }
});

test("shutdownOnSignals() refuses bad options and its disposer is idempotent", () => {
  const target = { shutdown: () => Promise.resolve(), finished: new Promise<void>(() => {}) };
  assert.throws(() => shutdownOnSignals(target, { signals: [] }), TypeError);
  assert.throws(() => shutdownOnSignals(target, { timeout: -1 }), RangeError);
  const dispose = shutdownOnSignals(target, { signals: ["SIGUSR2"] });
  dispose();
  dispose();
  dispose[Symbol.dispose]();
});
