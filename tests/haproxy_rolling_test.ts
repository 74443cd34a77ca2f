// Rolling restarts under load, through a real HAProxy (examples/deploy/haproxy.cfg, as it
// is) in front of three examples/echo.ts started with --proxy-protocol 127.0.0.1/32
// --framer lines, the first one with --workers 2. A client loop holds 200 connections,
// each a loop of numbered requests (every payload unique, every reply checked); the test
// sends SIGHUP to the workers' primary twice (waiting each time until both worker
// processes are new and the old ones have exited), then SIGTERM to the second server
// (its lame duck, HAProxy marks it DOWN, it drains and exits with 0).
//
// A server closes a connection only between two requests, so a request whose connection
// ends before any byte of its reply arrived was not served: it is sent again on a new
// connection (a retry, counted apart). A request with no reply after 3 attempts (lost), or
// any other error, or a reply that is cut or wrong (failed), fails the test. Retries are
// counted in the phase in which the client saw its connection end. Skipped, with the
// reason, without haproxy.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Connection } from "../mod.ts";
import { type Example, startExample } from "./_examples.ts";
import { type Haproxy, noHaproxy, startHaproxy } from "./_haproxy.ts";
import { alive, sleep, until } from "./_helpers.ts";

/** Client connections held through HAProxy. */
const LANES = 200;
/** The pause between a reply and the next request on a connection, in ms. */
const PACE = 50;
/** A request is sent at most this many times. */
const ATTEMPTS = 3;
/** How long a reply may take, in ms. */
const REPLY_WITHIN = 10_000;

const PHASES = ["steady", "SIGHUP 1", "SIGHUP 2", "SIGTERM app2", "after"] as const;
type Phase = typeof PHASES[number];

/** The workers' PIDs, by index, as their `ready` lines say (the last one of each index). */
function workerPids(ex: Example): { all: number[]; current: Map<number, number> } {
  const all: number[] = [];
  const current = new Map<number, number>();
  for (const m of ex.output().matchAll(/^worker (\d+) \(pid (\d+)\) ready$/gm)) {
    all.push(Number(m[2]));
    current.set(Number(m[1]), Number(m[2]));
  }
  return { all, current };
}

/** `p`, or `otherwise` after `ms` (the timer is cleared, so nothing is left pending). */
async function orAfter<T, U>(p: Promise<T>, ms: number, otherwise: U): Promise<T | U> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<U>((r) => (timer = setTimeout(() => r(otherwise), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Stops an echo.ts: SIGTERM, and a second one that forces (no lame duck to wait out). */
async function stopEcho(ex: Example): Promise<void> {
  if (ex.child.exitCode === null && ex.child.signalCode === null) {
    const exited = new Promise((r) => ex.child.once("exit", r));
    process.kill(ex.child.pid!, "SIGTERM");
    await sleep(200);
    if (ex.child.exitCode === null) process.kill(ex.child.pid!, "SIGTERM");
    await orAfter(exited, 8000, undefined);
  }
  await ex.stop();
}

const skip = noHaproxy();
if (skip) console.log(`haproxy_rolling_test.ts skipped: ${skip}`);

test(
  "haproxy: 200 connections of requests through two rolling restarts and a stopped server: 0 failed, 0 lost",
  { skip, timeout: 60_000 },
  async () => {
    const t0 = Date.now();
    const common = ["0", "--framer", "lines", "--proxy-protocol", "127.0.0.1/32"];
    let apps: Example[] = [];
    let haproxy: Haproxy | undefined;
    const lanes: Promise<void>[] = [];
    let running = true;
    try {
      apps = await Promise.all([
        startExample("echo.ts", [...common, "--workers", "2"]),
        startExample("echo.ts", common),
        startExample("echo.ts", common),
      ]);
      const [app1, app2] = apps;
      haproxy = await startHaproxy(
        apps.map((a) => `127.0.0.1:${a.port}`) as [string, string, string],
      );
      const h = haproxy;
      await h.statusIs({ app1: "UP", app2: "UP", app3: "UP" }, 20_000, "three servers up");

      let phase: Phase = "steady";
      const count = () => Object.fromEntries(PHASES.map((p) => [p, 0])) as Record<Phase, number>;
      const served = count();
      /** Retries by what ended the connection: a clean end, or a reset. */
      const retried = { end: count(), reset: count() };
      const failures: string[] = [];
      const lost: string[] = [];
      let connects = 0;
      const encoder = new TextEncoder();
      const decoder = new TextDecoder();

      /** One connection's loop of requests; a new connection whenever one ends. */
      const lane = async (id: number) => {
        let conn: Connection<Uint8Array> | undefined;
        const drop = () => {
          conn?.close();
          conn = undefined;
        };
        try {
          for (let n = 0; running && n < 1_000_000; n++) {
            const payload = `${id}-${n}-${"x".repeat(n % 17)}`;
            let replied = false;
            for (let attempt = 1; attempt <= ATTEMPTS && !replied; attempt++) {
              if (attempt > 1) await sleep(50 * attempt);
              let got = "";
              try {
                if (!conn) {
                  conn = await connect({ hostname: "127.0.0.1", port: h.front, timeout: 5000 });
                  connects++;
                }
                const c: Connection<Uint8Array> = conn;
                await c.send(encoder.encode(`${payload}\n`));
                const deadline = Date.now() + REPLY_WITHIN;
                while (!got.endsWith("\n")) {
                  const chunk = await orAfter(c.next(), Math.max(0, deadline - Date.now()), "late");
                  if (chunk === "late") throw new Error(`no reply within ${REPLY_WITHIN} ms`);
                  if (chunk === undefined) break; // the connection ended
                  got += decoder.decode(chunk as Uint8Array);
                }
              } catch (e) {
                const reset = /reset|ECONNRESET|EPIPE|broken pipe/i.test(
                  `${(e as Error).name} ${(e as Error).message} ${(e as { code?: string }).code}`,
                );
                drop();
                if (!reset || got !== "") {
                  failures.push(
                    `${payload}: ${(e as Error).name}: ${(e as Error).message}` +
                      (got ? ` after ${JSON.stringify(got)}` : ""),
                  );
                  return;
                }
                retried.reset[phase]++;
                continue;
              }
              if (got === "") { // ended before any byte of the reply: not served
                drop();
                retried.end[phase]++;
                continue;
              }
              if (got !== `${payload}\n`) {
                failures.push(
                  `${payload}: ${got.endsWith("\n") ? "wrong" : "cut"} reply ` +
                    JSON.stringify(got.slice(0, 80)),
                );
                drop();
                return;
              }
              replied = true;
              served[phase]++;
            }
            if (!replied) {
              lost.push(payload);
              return;
            }
            await sleep(PACE);
          }
        } finally {
          drop();
        }
      };
      for (let i = 0; i < LANES; i++) lanes.push(lane(i));
      await sleep(1500);

      // Two rolling restarts of app1's workers, each one waited out: both indices have new
      // processes, and the old ones have said they stopped and have exited.
      for (const p of ["SIGHUP 1", "SIGHUP 2"] as const) {
        const before = workerPids(app1);
        const old = [...before.current.values()];
        phase = p;
        process.kill(app1.child.pid!, "SIGHUP");
        await until(
          () => workerPids(app1).all.length >= before.all.length + 2,
          20_000,
          `${p}: two new workers`,
        );
        const stopped = (pid: number) =>
          new RegExp(`^worker \\d+ \\(pid ${pid}\\) stopped after`, "m").test(app1.output());
        await until(() => old.every(stopped), 10_000, `${p}: the old workers stopped`);
        await until(() => !old.some(alive), 5_000, `${p}: the old workers exited`);
        const now = [...workerPids(app1).current.values()];
        assert.equal(now.filter((pid) => old.includes(pid)).length, 0, `${p}: ${now} ${old}`);
        // The instance stayed up for HAProxy: a rolling restart has no lame duck.
        await h.statusIs({ app1: "UP" }, 5_000, `${p}: app1 up`);
        console.log(`${p}: workers ${old.join(", ")} replaced by ${now.join(", ")}`);
      }

      // app2: SIGTERM, its lame duck until HAProxy marks it DOWN, then it drains and exits.
      phase = "SIGTERM app2";
      const app2Exit = new Promise<number | null>((r) =>
        app2.child.exitCode !== null ? r(app2.child.exitCode) : app2.child.once("exit", r)
      );
      process.kill(app2.child.pid!, "SIGTERM");
      await h.statusIs({ app2: "DOWN" }, 10_000, "app2 marked down");
      const code = await orAfter(app2Exit, 15_000, "not yet");
      assert.equal(code, 0, `app2's exit: ${app2.output()}`);

      phase = "after";
      await sleep(1000);
      running = false;
      await orAfter(Promise.all(lanes), 20_000, undefined);

      const total = (r: Record<Phase, number>) => Object.values(r).reduce((a, b) => a + b, 0);
      // HAProxy's log: how each session ended ("--" normally, "SD" the server aborted it),
      // and the aborted ones where the server had sent nothing (reset before any reply).
      const states = new Map<string, number>();
      let abortedEmpty = 0;
      for (const m of h.output().matchAll(/ (\d+) ([A-Za-z-]{2}) \d+\/\d+\/\d+\/\d+\/\d+ /g)) {
        states.set(m[2], (states.get(m[2]) ?? 0) + 1);
        if (m[2] === "SD" && m[1] === "0") abortedEmpty++;
      }
      console.log(
        `rolling restarts under load (${LANES} connections, ${Date.now() - t0} ms): ` +
          `${total(served)} requests served, ${connects} connections; by phase: ` +
          PHASES.map((p) =>
            `${p} ${served[p]} (retries: ${retried.end[p]} ended, ${retried.reset[p]} reset)`
          ).join("; ") +
          `; ${failures.length} failed, ${lost.length} lost; HAProxy's ends of session: ` +
          `${JSON.stringify(Object.fromEntries(states))} (${abortedEmpty} SD with 0 bytes)`,
      );
      assert.deepEqual(failures.slice(0, 10), [], `${failures.length} failed`);
      assert.deepEqual(lost.slice(0, 10), [], `${lost.length} lost`);
      for (const p of PHASES) assert.ok(served[p] > 0, `requests served in "${p}"`);
      assert.ok(
        !/error/i.test(apps.map((a) => a.output()).join("\n")),
        apps.map((a) => a.output()).join("\n"),
      );
    } finally {
      running = false;
      await orAfter(Promise.all(lanes), 20_000, undefined);
      await haproxy?.stop();
      const workers = apps[0] ? workerPids(apps[0]).all : [];
      await Promise.all(apps.map(stopEcho));
      for (const pid of workers) if (alive(pid)) process.kill(pid, "SIGKILL");
    }
  },
);
