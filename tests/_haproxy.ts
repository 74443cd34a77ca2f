// Helpers for the tests that run a real HAProxy with examples/deploy/haproxy.cfg as it is:
// whether haproxy is there, a free port, HAProxy started and stopped by PID, and the
// status of each server from its stats socket. Not a test file.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./_examples.ts";
import { sleep } from "./_helpers.ts";

/** The configuration the tests run, as it is. */
export const CONFIG: string = `${ROOT}examples/deploy/haproxy.cfg`;

/** Why haproxy cannot be used here, or `undefined`. */
export function noHaproxy(): string | undefined {
  const r = spawnSync("haproxy", ["-v"], { stdio: "ignore" });
  return r.error || r.status !== 0
    ? "haproxy is not installed (apt-get install haproxy, or see .ci/run)"
    : undefined;
}

/** A port nobody listens on at the moment (bound to 0 on 127.0.0.1, then closed). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Asks HAProxy's stats socket: each server of `backend` and its status (UP, DOWN, ...). */
export function serverStatus(socket: string, backend: string): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    let text = "";
    const c = createConnection({ path: socket }, () => c.end("show stat\n"));
    c.setTimeout(3000, () => c.destroy(new Error("stats socket: no answer in 3 s")));
    c.on("data", (b: Uint8Array) => (text += new TextDecoder().decode(b)));
    c.once("error", reject);
    c.once("close", () => {
      const [head, ...rows] = text.trim().split("\n").map((l) => l.split(","));
      if (!head) return resolve({});
      const col = (name: string) => head.indexOf(name);
      const px = col("# pxname"), sv = col("svname"), st = col("status");
      resolve(Object.fromEntries(
        rows.filter((r) => r[px] === backend && r[sv] !== "BACKEND").map((r) => [r[sv], r[st]]),
      ));
    });
  });
}

/** A running HAProxy. */
export interface Haproxy {
  /** The port of its frontend, on 127.0.0.1. */
  front: number;
  /** Everything it printed so far (its log goes to stderr). */
  output(): string;
  /** Polls the stats socket until every server named has its status (else fails, with the log). */
  statusIs(want: Record<string, string>, ms: number, what: string): Promise<Record<string, string>>;
  /** Stops it by PID (SIGTERM, SIGKILL after 3 s) and removes its stats socket. */
  stop(): Promise<void>;
}

/**
 * Starts haproxy in the foreground with the config, a new frontend port, a stats socket
 * in a new private directory, and `servers` as TCPKIT_APP1..3.
 */
export async function startHaproxy(servers: [string, string, string]): Promise<Haproxy> {
  const front = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "tcpkit-haproxy-test-"));
  const socket = join(dir, "stats.sock");
  const child: ChildProcess = spawn("haproxy", ["-db", "-f", CONFIG], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      TCPKIT_FRONTEND: `127.0.0.1:${front}`,
      TCPKIT_APP1: servers[0],
      TCPKIT_APP2: servers[1],
      TCPKIT_APP3: servers[2],
      TCPKIT_STATS_SOCKET: socket,
    },
  });
  let out = "";
  const add = (b: Uint8Array) => void (out += new TextDecoder().decode(b));
  child.stdout!.on("data", add);
  child.stderr!.on("data", add);
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return {
    front,
    output: () => out,
    async statusIs(want, ms, what) {
      let status: Record<string, string> = {};
      const end = Date.now() + ms;
      while (Date.now() < end) {
        status = await serverStatus(socket, "app_servers").catch(() => ({}));
        if (Object.entries(want).every(([k, v]) => status[k] === v)) return status;
        await sleep(100);
      }
      throw new Error(`${what}: ${JSON.stringify(status)}\n${out}`);
    },
    async stop(): Promise<void> {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid!, "SIGTERM");
        const timer = setTimeout(() => child.exitCode === null && child.kill("SIGKILL"), 3000);
        await exited;
        clearTimeout(timer);
      }
      child.stdout!.destroy();
      child.stderr!.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
