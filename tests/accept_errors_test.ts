// Failed accepts: which errors are the peer's (accept again at once) and which are
// exhaustion (back off), the shared accept loop, the rate-limited reports, and a real
// reset storm with bystanders on the native adapter (plain, TLS and PROXY listeners).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as net from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { AcceptError, ConnectionError, lines, serve, type ServeOptions } from "../mod.ts";
import {
  acceptFailure,
  acceptLoop,
  arrivedDead,
  FIRST_BACKOFF_MS,
  MAX_BACKOFF_MS,
  nextBackoff,
} from "../lib/adapters/_accept.ts";
import { ACCEPT_REPORT_INTERVAL_MS, AcceptErrors } from "../lib/admission/_accept_errors.ts";
import { nativeAdapter, portOf, sleep, until, within } from "./_helpers.ts";
import { certs } from "./_tls_certs.ts";

const adapter = nativeAdapter();
const t = (name: string, fn: () => void | Promise<void>) => test(`[${adapter}] ${name}`, fn);

/** An error as a runtime throws it: a code (Node, Bun, Deno) and a class name (Deno). */
const osError = (code: string, name = "Error") => Object.assign(new Error(code), { code, name });

t(
  "acceptFailure(): the peer's errors are 'aborted', resource errors and unknown ones 'exhausted'",
  () => {
    for (const code of ["ECONNABORTED", "ECONNRESET", "ENOTCONN", "EPROTO", "ENETDOWN", "EPERM"]) {
      assert.equal(acceptFailure(osError(code)), "aborted", code);
    }
    for (const name of ["ConnectionAborted", "ConnectionReset", "NotConnected"]) {
      assert.equal(acceptFailure(Object.assign(new Error("x"), { name })), "aborted", name);
    }
    for (const code of ["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM", "EWHATEVER", ""]) {
      assert.equal(acceptFailure(osError(code)), "exhausted", code || "no code");
    }
    assert.equal(acceptFailure(undefined), "exhausted");
  },
);

t("nextBackoff(): 5 ms, doubling, capped at 1 s", () => {
  const seen: number[] = [];
  let d = 0;
  for (let i = 0; i < 12; i++) seen.push(d = nextBackoff(d));
  assert.deepEqual(seen, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000, 1000]);
  assert.equal(seen[0], FIRST_BACKOFF_MS);
  assert.equal(Math.max(...seen), MAX_BACKOFF_MS);
});

t("arrivedDead(): a TCP socket without a peer address; never a Unix one", () => {
  assert.equal(arrivedDead({ transport: "tcp", family: "IPv4", hostname: "", port: 0 }), true);
  assert.equal(
    arrivedDead({ transport: "tcp", family: "IPv4", hostname: "127.0.0.1", port: 9 }),
    false,
  );
  assert.equal(arrivedDead({ transport: "unix", path: "" }), false);
});

/** Runs acceptLoop over a scripted list of results; returns what it did, in order. */
async function script(steps: (string | Error)[]): Promise<string[]> {
  const log: string[] = [];
  let i = 0;
  let closed = false;
  await acceptLoop<string>({
    accept() {
      if (i === steps.length) {
        closed = true;
        return Promise.reject(osError("", "BadResource"));
      }
      const step = steps[i++];
      return typeof step === "string" ? Promise.resolve(step) : Promise.reject(step);
    },
    closed: () => closed,
    connection: (c) => log.push(`conn ${c}`),
    failed: (kind, e) => log.push(`${kind} ${(e as { code: string }).code}`),
    sleep(ms) {
      log.push(`sleep ${ms}`);
      return Promise.resolve();
    },
  });
  return log;
}

t("acceptLoop(): an aborted accept is retried at once, with no pause", async () => {
  const log = await script([osError("ENOTCONN"), osError("ECONNABORTED"), "a", "b"]);
  assert.deepEqual(log, ["aborted ENOTCONN", "aborted ECONNABORTED", "conn a", "conn b"]);
});

t("acceptLoop(): exhaustion backs off, doubling, and a success resets the pause", async () => {
  const emfile = osError("EMFILE");
  const log = await script([emfile, emfile, emfile, "a", emfile, osError("ENOTCONN"), "b"]);
  assert.deepEqual(log, [
    "exhausted EMFILE",
    "sleep 5",
    "exhausted EMFILE",
    "sleep 10",
    "exhausted EMFILE",
    "sleep 20",
    "conn a",
    "exhausted EMFILE",
    "sleep 5",
    "aborted ENOTCONN",
    "conn b",
  ]);
});

t("acceptLoop(): ends when the listener is closed, without reporting it", async () => {
  const log = await script(["a"]);
  assert.deepEqual(log, ["conn a"]);
});

t("AcceptErrors: counts every failure, reports once per kind per interval with the count", () => {
  let now = 1_000_000;
  const reports: AcceptError[] = [];
  const errors = new AcceptErrors((e) => reports.push(e), () => now);
  for (let i = 0; i < 50; i++) errors.add("aborted", osError("ENOTCONN"));
  errors.add("exhausted", osError("EMFILE"));
  assert.deepEqual(errors.counts, { aborted: 50, exhausted: 1 });
  assert.deepEqual(reports.map((e) => [e.kind, e.count, e.code]), [
    ["aborted", 1, "ENOTCONN"],
    ["exhausted", 1, "EMFILE"],
  ]);
  now += ACCEPT_REPORT_INTERVAL_MS;
  errors.add("aborted", osError("ECONNABORTED"));
  assert.equal(reports.length, 3);
  const last = reports[2];
  assert.ok(last instanceof AcceptError && last instanceof ConnectionError);
  assert.equal(last.name, "AcceptError");
  assert.equal(last.count, 50, "the 49 held back and this one");
  assert.equal(last.code, "ECONNABORTED");
  assert.match(last.message, /50 times: the peer was gone/);
});

// ---- a real reset storm ----

const STORM = fileURLToPath(new URL("./fixtures/reset_storm.py", import.meta.url));
/** Resets in the storm, and the longest a bystander may wait for its echo (ms). */
const RESETS = 200;
const BYSTANDER_MAX_MS = 250;

interface StormResult {
  storm_seconds: number;
  storm_errors: number;
  probes: number;
  clients: number;
  failed: string[];
  max_ms: number | null;
}

function runStorm(port: number, extra: string[] = []): Promise<StormResult> {
  return new Promise((resolve, reject) => {
    execFile(
      "python3",
      [STORM, String(port), String(RESETS), ...extra],
      { timeout: 60_000 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`reset_storm.py failed: ${err.message}\n${stderr}`));
        resolve(JSON.parse(stdout));
      },
    );
  });
}

/** A line echo server that records what it reports; shut down by `fn`'s caller. */
async function stormAgainst(options: Partial<ServeOptions<string, string>>, extra: string[] = []) {
  const reported: unknown[] = [];
  const server = serve<string, string>({
    adapter,
    hostname: "127.0.0.1",
    port: 0,
    framer: lines(),
    handler: { message: (conn, line) => conn.send(line) },
    onError: (e) => reported.push(e),
    ...options,
  });
  try {
    const port = await portOf(server);
    const result = await runStorm(port, extra);
    console.log(`[${adapter}] reset storm ${JSON.stringify(extra)}: ${JSON.stringify(result)}`);
    console.log(`[${adapter}] accept errors: ${JSON.stringify(server.stats().acceptErrors)}`);
    assert.deepEqual(result.failed, [], "every bystander got its echo");
    assert.ok(result.clients >= 20, `${result.clients} bystanders ran`);
    assert.ok(
      result.max_ms! < BYSTANDER_MAX_MS,
      `the slowest bystander waited ${result.max_ms} ms (limit ${BYSTANDER_MAX_MS})`,
    );
    await until(() => server.stats().active === 0, 5000, "every connection released");
    return { stats: server.stats(), reported, result };
  } finally {
    await server.shutdown({ timeout: 1000 });
  }
}

t(
  `${RESETS} connections reset before accept do not delay a bystander; stats count them`,
  async () => {
    const { stats, reported, result } = await stormAgainst({});
    const { aborted, exhausted } = stats.acceptErrors;
    assert.equal(exhausted, 0);
    assert.ok(aborted > 0, "the resets that beat the accept are counted");
    // Each connection made was either accepted or counted as an aborted accept.
    const made = RESETS - result.storm_errors + result.clients + result.probes;
    assert.equal(stats.accepted + aborted, made, "accepted + aborted = connections made");
    const accepts = reported.filter((e) => e instanceof AcceptError);
    assert.equal(accepts.length, 1, "one report for the whole storm");
    assert.equal((accepts[0] as AcceptError).kind, "aborted");
  },
);

t("a reset storm on a PROXY protocol listener does not delay a bystander", async () => {
  const { stats } = await stormAgainst(
    { proxyProtocol: { trusted: ["127.0.0.1"] } },
    ["--proxy"],
  );
  assert.ok(stats.acceptErrors.aborted > 0);
});

t("a reset storm on a TLS listener does not delay a bystander", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tcpkit-storm-"));
  try {
    const ca = join(dir, "ca.pem");
    writeFileSync(ca, certs.ca);
    const { stats, reported } = await stormAgainst(
      { tls: { cert: certs.cert, key: certs.key } },
      ["--tls", ca],
    );
    assert.ok(stats.accepted >= 20);
    // A handshake the peer reset is an aborted accept, not a TLS error per connection.
    assert.ok(stats.acceptErrors.aborted > 0);
    assert.deepEqual(reported.map((e) => (e as Error).name), ["AcceptError"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- out of file descriptors ----

const root = fileURLToPath(new URL("..", import.meta.url));
const fdFixture = fileURLToPath(new URL("./fixtures/fd_limit_server.ts", import.meta.url));

t("a server out of file descriptors keeps serving once they are freed", async () => {
  if (adapter === "deno") {
    // Seen with Deno 2.9.5: a child process that runs out of descriptors panics in its
    // own signal handling ("ext/signals/lib.rs: Too many open files"), outside tcpkit.
    // The Deno accept loop's EMFILE back-off is covered by the scripted tests above.
    return console.log("[deno] skipped: Deno 2.9.5 itself panics when out of descriptors");
  }
  const bin = `${root}node_modules/.bin/${adapter}`;
  const run = adapter === "bun" ? "run " : "";
  // 64 descriptors: the runtime's own, a few dozen connections, and then EMFILE.
  const proc = spawn("bash", ["-c", `ulimit -n 64 && exec "${bin}" ${run}"${fdFixture}"`], {
    cwd: root,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout!.on("data", (b) => (out += b));
  proc.stderr!.on("data", (b) => (out += b));
  const exited = new Promise((resolve) => proc.on("exit", resolve));
  const held: net.Socket[] = [];
  try {
    await until(() => /ready \d+/.test(out), 20_000, `the fixture is ready: ${out}`);
    const port = Number(/ready (\d+)/.exec(out)![1]);
    // More connections than descriptors: the kernel completes them all, the server can't.
    for (let i = 0; i < 100; i++) {
      const s = net.connect({ host: "127.0.0.1", port });
      s.on("error", () => {});
      held.push(s);
    }
    await sleep(1500);
    for (const s of held) s.destroy();
    await sleep(300);
    // A fresh client is served: the listener did not give up, and it is not stuck backing off.
    const s = net.connect({ host: "127.0.0.1", port });
    held.push(s);
    const reply = new Promise<string>((resolve, reject) => {
      let got = "";
      s.on("data", (b) => (got += b).endsWith("\n") && resolve(got));
      s.on("error", reject);
    });
    s.write("after\n");
    assert.equal(
      await within(reply, 5000, "the echo after the descriptors were freed").catch((e) => {
        throw new Error(`${e.message}; the server said: ${out}`);
      }),
      "after\n",
    );
    proc.stdin!.write("stats\n");
    await until(() => /stats \{/.test(out), 5000, "stats");
    const stats = JSON.parse(/stats (\{.*\})/.exec(out)![1]);
    console.log(`[${adapter}] out of descriptors: ${JSON.stringify(stats.acceptErrors)}`);
    // libuv (Node) and Bun close the connections they cannot take by themselves and tell
    // no one, so nothing is counted (documented in ServerStats).
    assert.equal(stats.acceptErrors.aborted, 0);
  } finally {
    for (const s of held) s.destroy();
    proc.stdin!.end();
    await within(exited, 10_000, "the fixture exits").catch(() => proc.kill("SIGKILL"));
  }
});
