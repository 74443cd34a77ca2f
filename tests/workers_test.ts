// serve({ workers: 2 }): a child process per runtime (tests/fixtures/workers_server.ts) is
// the primary; it starts two workers that share one port with reusePort. Every reply
// names the worker's index and PID. Every process is stopped by PID at the end.
import { test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { connect, type Connection, lines, serve } from "../mod.ts";
import { alive, nativeAdapter, sleep, within } from "./_helpers.ts";
import { ROOT, runCommand } from "./_examples.ts";
import { get, parse as parseMetrics } from "./_prometheus.ts";

const runtime = nativeAdapter();
const fixture = fileURLToPath(new URL("./fixtures/workers_server.ts", import.meta.url));

interface Primary {
  proc: ChildProcess;
  port: number;
  out: () => string;
  exited: Promise<{ code: number | null; signal: string | null }>;
  /** Every worker PID a reply named. */
  pids: Set<number>;
}

/** Starts the fixture under this runtime; in "serve" mode waits for "ready <port>". */
async function start(mode: "serve" | "crash", env: Record<string, string> = {}): Promise<Primary> {
  const [bin, ...flags] = runCommand();
  const proc = spawn(bin, [...flags, fixture, mode], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let out = "";
  proc.stdout!.on("data", (b) => (out += b));
  proc.stderr!.on("data", (b) => (out += b));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    proc.on("exit", (code, signal) => resolve({ code, signal }));
  });
  const primary = { proc, port: 0, out: () => out, exited, pids: new Set<number>() };
  if (mode === "crash") return primary;
  const end = Date.now() + 20_000;
  while (!/^ready (\d+)$/m.test(out)) {
    if (Date.now() > end || proc.exitCode !== null) {
      stop(primary);
      throw new Error(`fixture did not start: ${out}`);
    }
    await sleep(20);
  }
  primary.port = Number(/^ready (\d+)$/m.exec(out)![1]);
  return primary;
}

/** Kills the primary and every worker seen, by PID, if still running. */
function stop(p: Primary): void {
  for (const pid of [p.proc.pid, ...p.pids]) {
    if (pid === undefined || !alive(pid)) continue;
    try {
      process.kill(pid, "SIGKILL");
    } catch { /* already gone */ }
  }
}

/** One connection: sends `line`, returns the reply as [worker index, pid]. */
async function ask(p: Primary, line = "hi"): Promise<[number, number]> {
  const c = await connect({ hostname: "127.0.0.1", port: p.port, framer: lines(), timeout: 5000 });
  try {
    await c.send(line);
    return parse(p, await within(c.next(), 5000, "reply"), line);
  } finally {
    c.close();
  }
}

function parse(p: Primary, reply: string | undefined, line: string): [number, number] {
  const m = /^(\d+) (\d+) (.*)$/.exec(reply ?? "");
  assert.ok(m, `reply ${reply}`);
  assert.equal(m[3], line);
  p.pids.add(Number(m[2]));
  return [Number(m[1]), Number(m[2])];
}

/** The JSON the primary printed on the line that starts with `key`. */
function printed(p: Primary, key: string): unknown {
  const m = new RegExp(`^${key} (.*)$`, "m").exec(p.out());
  assert.ok(m, `no "${key}" line in: ${p.out()}`);
  return JSON.parse(m[1]);
}

test(`[${runtime}] workers: 2 both serve, and the primary's stats and metrics sum theirs`, async () => {
  const p = await start("serve");
  try {
    const seen = new Map<number, number>();
    let bytesOut = 0;
    for (let i = 0; i < 50; i++) {
      const [index, pid] = await ask(p);
      seen.set(index, (seen.get(index) ?? 0) + 1);
      bytesOut += `${index} ${pid} hi\n`.length;
    }
    assert.deepEqual([...seen.keys()].sort(), [0, 1], `split ${[...seen]}`);
    process.kill(p.proc.pid!, "SIGTERM");
    assert.deepEqual(await within(p.exited, 15_000, "primary exit"), { code: 0, signal: null });
    const stats = printed(p, "stats") as Record<string, number>;
    // Each client sent "hi\n" (3 bytes) and got "<index> <pid> hi\n".
    assert.equal(stats.accepted, 50);
    assert.equal(stats.messagesIn, 50);
    assert.equal(stats.messagesOut, 50);
    assert.equal(stats.bytesIn, 150);
    assert.equal(stats.bytesOut, bytesOut);
    assert.equal(stats.active, 0);
    const metrics = parseMetrics(printed(p, "metrics") as string); // one family, one block
    for (const [index, count] of seen) {
      const worker = String(index);
      assert.equal(get(metrics, "tcpkit_connections_accepted_total", { worker }), count);
      assert.equal(get(metrics, "tcpkit_received_messages_total", { worker }), count);
    }
  } finally {
    stop(p);
  }
});

test(`[${runtime}] workers: a worker killed with SIGKILL comes back, and the port keeps answering`, async () => {
  const p = await start("serve");
  try {
    const [index, pid] = await ask(p);
    process.kill(pid, "SIGKILL");
    let back = false;
    const end = Date.now() + 15_000;
    let answered = 0;
    while (!back && Date.now() < end) {
      // The other worker answers meanwhile. A connection the kernel had queued for the
      // killed worker is reset (a listener's accept queue dies with it): retried.
      const reply = await ask(p).catch(() => undefined);
      if (reply) answered++;
      back = reply !== undefined && reply[0] === index && reply[1] !== pid;
      if (!back) await sleep(20);
    }
    assert.ok(answered > 0);
    assert.ok(back, `worker ${index} did not come back: ${p.out()}`);
    assert.match(p.out(), new RegExp(`worker ${index} exited with signal SIGKILL`));
    // A clean end, so that the primary removes its private directory.
    process.kill(p.proc.pid!, "SIGTERM");
    assert.deepEqual(await within(p.exited, 15_000, "primary exit"), { code: 0, signal: null });
  } finally {
    stop(p);
  }
});

test(`[${runtime}] workers: SIGTERM drains every worker: an open request is served, all exit`, async () => {
  const p = await start("serve");
  let c: Connection<string, string> | undefined;
  try {
    // Both workers' PIDs, so that their exit can be checked.
    for (let i = 0; i < 200 && p.pids.size < 2; i++) await ask(p);
    assert.equal(p.pids.size, 2);
    c = await connect({ hostname: "127.0.0.1", port: p.port, framer: lines() });
    await c.send("slow 800");
    await sleep(200); // the worker is in the handler
    process.kill(p.proc.pid!, "SIGTERM");
    parse(p, await within(c.next(), 10_000, "the slow reply"), "slow 800");
    assert.equal(await within(c.next().catch(() => undefined), 10_000, "end"), undefined);
    assert.deepEqual(await within(p.exited, 15_000, "primary exit"), { code: 0, signal: null });
    const end = Date.now() + 5_000;
    while ([...p.pids].some(alive) && Date.now() < end) await sleep(20);
    assert.deepEqual([...p.pids].filter(alive), [], "every worker has exited");
    const stats = printed(p, "stats") as Record<string, number>;
    assert.deepEqual([stats.messagesIn, stats.messagesOut, stats.active], [
      stats.accepted,
      stats.accepted,
      0,
    ]);
  } finally {
    c?.close();
    stop(p);
  }
});

test(`[${runtime}] workers: a second SIGTERM forces the workers before the deadline`, async () => {
  const p = await start("serve");
  let c: Connection<string, string> | undefined;
  try {
    c = await connect({ hostname: "127.0.0.1", port: p.port, framer: lines() });
    await c.send("hang");
    await sleep(200); // the worker is in the handler, which ignores the shutdown
    const t0 = Date.now();
    process.kill(p.proc.pid!, "SIGTERM");
    await sleep(300);
    process.kill(p.proc.pid!, "SIGTERM");
    assert.equal(await within(c.next().catch(() => undefined), 10_000, "end"), undefined);
    assert.deepEqual(await within(p.exited, 15_000, "primary exit"), { code: 0, signal: null });
    assert.ok(Date.now() - t0 < 4_000, `forced after ${Date.now() - t0} ms (the deadline is 5 s)`);
  } finally {
    c?.close();
    stop(p);
  }
});

test(`[${runtime}] workers: SIGHUP restarts every worker in turn; an open request is served`, async () => {
  const p = await start("serve");
  let c: Connection<string, string> | undefined;
  try {
    for (let i = 0; i < 200 && p.pids.size < 2; i++) await ask(p);
    const old = new Set(p.pids);
    assert.equal(old.size, 2);
    c = await connect({ hostname: "127.0.0.1", port: p.port, framer: lines() });
    await c.send("slow 1500");
    await sleep(200); // the worker is in the handler
    const slow = c.next();
    process.kill(p.proc.pid!, "SIGHUP");
    const renewed = new Set<number>();
    let failed = 0;
    const end = Date.now() + 20_000;
    while (renewed.size < 2 && Date.now() < end) {
      // A connection the kernel had queued on a closing listener may be reset (unless
      // net.ipv4.tcp_migrate_req is 1): counted, not retried.
      const reply = await ask(p).catch(() => void failed++);
      if (reply && !old.has(reply[1])) renewed.add(reply[0]);
      await sleep(10);
    }
    assert.equal(renewed.size, 2, `both indices have new processes: ${p.out()}`);
    assert.ok(failed <= 3, `${failed} failed connections`);
    parse(p, await within(slow, 10_000, "the slow reply"), "slow 1500");
    const gone = Date.now() + 10_000;
    while ([...old].some(alive) && Date.now() < gone) await sleep(20);
    assert.deepEqual([...old].filter(alive), [], "the old workers have exited");
    process.kill(p.proc.pid!, "SIGTERM");
    assert.deepEqual(await within(p.exited, 15_000, "primary exit"), { code: 0, signal: null });
    const stats = printed(p, "stats") as Record<string, number>;
    assert.equal(stats.messagesOut, stats.messagesIn); // the old workers' counts are kept
    assert.ok(stats.accepted >= 3, `accepted ${stats.accepted}`);
  } finally {
    c?.close();
    stop(p);
  }
});

test(`[${runtime}] workers: a worker that throws at start is a crash loop, reported, and ready rejects`, async () => {
  const p = await start("crash");
  try {
    const { code } = await within(p.exited, 15_000, "primary exit");
    assert.equal(code, 3, p.out());
    const reported = /^error (".*")$/m.exec(p.out());
    assert.ok(reported, p.out());
    const message = JSON.parse(reported[1]) as string;
    assert.match(message, /^tcpkit: worker 0 crashed 5 times in 60 s/);
    // The error carries the worker's last stderr lines: why it crashed.
    assert.match(message, /its last stderr lines:\n[^]*this worker fails at start/);
    assert.ok(message.split("\n").length <= 21, message);
    // The workers' stderr still reaches the primary's own.
    const raw = p.out().split("\n").filter((l) => !l.startsWith("error "));
    assert.ok(raw.some((l) => l.includes("this worker fails at start")), p.out());
    assert.match(p.out(), /^ready rejected: tcpkit: every worker is in a crash loop/m);
    assert.equal(p.out().match(/restarting in/g)?.length, 4);
  } finally {
    stop(p);
  }
});

test(`[${runtime}] workers: a count that is not allowed, or a Unix socket, is a TypeError`, () => {
  const handler = () => {};
  for (const workers of [0, -1, 1.5, "all", 2000]) {
    assert.throws(
      () => serve({ hostname: "127.0.0.1", port: 0, workers: workers as number, handler }),
      (e) => e instanceof TypeError && /workers must be an integer from 1 to 1024/.test(e.message),
    );
  }
  assert.throws(
    () => serve({ path: "/tmp/tcpkit-workers-test.sock", workers: 2, handler }),
    (e) => e instanceof TypeError && /Unix socket listener cannot be shared/.test(e.message),
  );
});

test(`[${runtime}] workers: a primary killed with SIGKILL leaves its directory; the next primary removes it, and nothing else`, async () => {
  // A temporary directory of its own: another primary starting on this machine meanwhile
  // would remove the dead primary's directory too.
  const tmp = mkdtempSync(join(tmpdir(), "workers-test-"));
  const env = { TMPDIR: tmp };
  const dead = spawnSync("true").pid!; // a process that has exited
  const keep = [
    join(tmp, `tcpkit-${process.pid}-Keep01`), // its process is alive
    join(tmp, `tcpkit-${dead}-Keep0002`), // not the pattern
    join(tmp, `tcpkit-${dead}-Keep03`), // a file, not a directory
  ];
  mkdirSync(keep[0]);
  mkdirSync(keep[1]);
  writeFileSync(keep[2], "");
  const dirsOf = (pid: number) =>
    readdirSync(tmp).filter((n) => new RegExp(`^tcpkit-${pid}-[A-Za-z0-9]{6}$`).test(n));
  const first = await start("serve", env);
  let second: Primary | undefined;
  try {
    for (let i = 0; i < 200 && first.pids.size < 2; i++) await ask(first);
    const left = dirsOf(first.proc.pid!);
    assert.equal(left.length, 1, `the primary's directory: ${left}`);
    process.kill(first.proc.pid!, "SIGKILL");
    await within(first.exited, 10_000, "primary killed");
    // Its workers see it gone and drain by themselves.
    const end = Date.now() + 10_000;
    while ([...first.pids].some(alive) && Date.now() < end) await sleep(20);
    assert.deepEqual([...first.pids].filter(alive), [], "the workers have exited");
    assert.ok(existsSync(join(tmp, left[0])), "left behind by SIGKILL");

    second = await start("serve", env);
    assert.ok(!existsSync(join(tmp, left[0])), "removed by the next primary");
    for (const path of keep) assert.ok(existsSync(path), `kept: ${path}`);
    assert.equal(dirsOf(second.proc.pid!).length, 1, "the new primary's own directory");
    process.kill(second.proc.pid!, "SIGTERM");
    assert.deepEqual(await within(second.exited, 15_000, "primary exit"), {
      code: 0,
      signal: null,
    });
    assert.deepEqual(dirsOf(second.proc.pid!), [], "removed at a clean exit");
  } finally {
    stop(first);
    if (second) stop(second);
    rmSync(tmp, { recursive: true, force: true });
  }
});
