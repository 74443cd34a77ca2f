/**
 * Processes for `serve({ workers })`, on Deno, Bun and Node: starting this same script
 * again as a worker, the environment that tells a worker who it is, a private directory
 * for the control socket, and whether this platform and runtime can share a port with
 * `reusePort`. `node:child_process`, `node:fs` and `node:process` behave alike on the
 * three runtimes for what is used here, so there is one implementation. Apart from the
 * transports because it is about processes, not sockets; the supervisor that uses it
 * (`server/_workers.ts`) stays runtime-free.
 * @module
 */

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import type { AdapterName } from "../transport.ts";

/** The environment variable that marks a worker; its value is the worker's index. */
const WORKER = "TCPKIT_WORKER";
const CONTROL = "TCPKIT_WORKER_CONTROL";
const PORTS = "TCPKIT_WORKER_PORTS";
const ID = "TCPKIT_WORKER_ID";

/** What a worker is told by the primary that started it. */
export interface WorkerEnv {
  /** The worker's index, 0 to workers - 1. */
  index: number;
  /** The process's number, unique among those the primary started. */
  id: number;
  /** The primary's control socket. */
  control: string;
  /** The port of each listener, in order (0 where worker 0 has not bound yet). */
  ports: number[];
}

/** Where this process is a worker: what the primary said; `undefined` in any other process. */
export function workerEnv(): WorkerEnv | undefined {
  const index = process.env[WORKER];
  const control = process.env[CONTROL];
  if (index === undefined || control === undefined || !/^\d+$/.test(index)) return undefined;
  let ports: number[] = [];
  try {
    ports = JSON.parse(process.env[PORTS] ?? "[]");
  } catch { /* no ports: bind as asked */ }
  return { index: Number(index), id: Number(process.env[ID] ?? index), control, ports };
}

/** A worker process, as the supervisor sees it. */
export interface WorkerProcess {
  readonly pid: number | undefined;
  /** Sends `signal`; does nothing once the process is gone. */
  kill(signal: "SIGTERM" | "SIGKILL"): void;
  /** Resolves with how the process ended (`code` null when a signal ended it). */
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
}

/**
 * The command line this process was started with: `/proc/self/cmdline` where it exists
 * (it holds the runtime's own flags, such as Deno's permissions and `--unstable-net`,
 * which `process.execArgv` does not give on Deno), else the executable and `argv`.
 */
function ownCommand(): string[] {
  try {
    const args = readFileSync("/proc/self/cmdline", "utf8").split("\0");
    if (args.at(-1) === "") args.pop();
    if (args.length > 1) return [process.execPath, ...args.slice(1)];
  } catch { /* not Linux */ }
  return [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
}

/**
 * Starts this script again as worker `env.index`, with stdin closed and stdout and stderr
 * shared with this process.
 */
export function spawnSelf(env: WorkerEnv): WorkerProcess {
  const [cmd, ...args] = ownCommand();
  const child = spawn(cmd, args, {
    stdio: ["ignore", "inherit", "inherit"],
    env: {
      ...process.env,
      [WORKER]: String(env.index),
      [CONTROL]: env.control,
      [ID]: String(env.id),
      [PORTS]: JSON.stringify(env.ports),
    },
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", () => resolve({ code: -1, signal: null })); // could not start
  });
  let gone = false;
  exited.then(() => (gone = true));
  return {
    pid: child.pid,
    kill(signal) {
      if (!gone) {
        try {
          child.kill(signal);
        } catch { /* already gone */ }
      }
    },
    exited,
  };
}

/** A new directory only this user can enter, and a function that removes it. */
export function privateDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), "tcpkit-"));
  return {
    path,
    remove: () => {
      try {
        rmSync(path, { recursive: true, force: true });
      } catch { /* already gone */ }
    },
  };
}

/** The number of CPUs this process may use (at least 1). */
export function cpuCount(): number {
  const n = (globalThis.navigator as { hardwareConcurrency?: number } | undefined)
    ?.hardwareConcurrency;
  return typeof n === "number" && n >= 1 ? Math.floor(n) : 1;
}

/**
 * Whether workers can share a port here, and with which adapter: `reusePort` spreads
 * connections only on Linux; Deno's own listener needs `--unstable-net` for it, while
 * its `node:net` (the `"node"` adapter) needs no flag.
 *
 * @param adapter The adapter the options ask for, if any.
 * @returns `{ ok: false }` where ports cannot be shared; otherwise the adapter to use
 *   (`undefined`: the one asked for or detected) and a note when it was changed.
 */
export function reusePortSupport(
  adapter: AdapterName | undefined,
): { ok: boolean; adapter?: AdapterName; note?: string } {
  if (process.platform !== "linux") return { ok: false };
  const deno = (globalThis as { Deno?: { listenDatagram?: unknown } }).Deno;
  if (deno && (adapter === undefined || adapter === "deno")) {
    if (typeof deno.listenDatagram !== "function") {
      return {
        ok: true,
        adapter: "node",
        note:
          'Deno without --unstable-net: workers use the "node" adapter (node:net) for reusePort',
      };
    }
  }
  return { ok: true };
}

/**
 * `net.ipv4.tcp_migrate_req` (Linux 5.14+): when it is `"1"`, connections queued on a
 * closing `reusePort` listener move to another listener of the group instead of being
 * reset. `undefined` where it cannot be read.
 */
export function tcpMigrateReq(): string | undefined {
  try {
    return readFileSync("/proc/sys/net/ipv4/tcp_migrate_req", "utf8").trim();
  } catch {
    return undefined;
  }
}
