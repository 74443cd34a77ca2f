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
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
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
  kill(signal: "SIGTERM" | "SIGKILL" | "SIGUSR1" | "SIGUSR2"): void;
  /** Resolves with how the process ended (`code` null when a signal ended it), once its stderr is read to the end. */
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  /** The last lines it wrote to stderr (at most {@linkcode TAIL_LINES} lines and {@linkcode TAIL_BYTES} characters). */
  stderrTail(): string;
}

/** How much of a worker's stderr is kept for the crash-loop error: lines, and characters. */
const TAIL_LINES = 20;
const TAIL_BYTES = 4096;
/** Terminal colour codes, left out of the tail (it goes into an error message). */
// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

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
 * Starts this script again as worker `env.index`, with stdin closed, stdout shared with
 * this process, and stderr passed on to this process's stderr as it comes while its last
 * lines are kept (a bounded tail: why a worker crashed).
 */
export function spawnSelf(env: WorkerEnv): WorkerProcess {
  const [cmd, ...args] = ownCommand();
  const child = spawn(cmd, args, {
    stdio: ["ignore", "inherit", "pipe"],
    env: {
      ...process.env,
      [WORKER]: String(env.index),
      [CONTROL]: env.control,
      [ID]: String(env.id),
      [PORTS]: JSON.stringify(env.ports),
    },
  });
  let tail = "";
  const decoder = new TextDecoder();
  child.stderr?.on("data", (chunk: Uint8Array) => {
    try {
      process.stderr.write(chunk);
    } catch { /* this process's stderr is gone: the tail is still kept */ }
    tail = (tail + decoder.decode(chunk, { stream: true })).slice(-TAIL_BYTES);
  });
  // "close": the process has exited and its stderr has been read to the end.
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.once("close", (code, signal) => resolve({ code, signal }));
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
    stderrTail: () =>
      tail.replace(ANSI, "").split("\n").filter((l) => l.trim() !== "").slice(-TAIL_LINES)
        .join("\n"),
  };
}

/** The private directories of primaries: `tcpkit-<pid>-<6 characters>` in the temporary directory. */
const PRIVATE_DIR = /^tcpkit-(\d+)-[A-Za-z0-9]{6}$/;

/** Whether process `pid` exists (one of another user counts: it cannot be signalled, but is there). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code !== "ESRCH";
  }
}

/**
 * Removes the private directories left by primaries that died without removing theirs
 * (killed with SIGKILL): only directories named as {@linkcode privateDir} names them,
 * owned by this user, whose primary process no longer exists.
 * @returns The paths removed.
 */
export function removeStaleDirs(dir: string = tmpdir()): string[] {
  const removed: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  const uid = typeof process.getuid === "function" ? process.getuid() : undefined;
  for (const name of names) {
    const m = PRIVATE_DIR.exec(name);
    if (!m || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
    const path = join(dir, name);
    try {
      const st = statSync(path);
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    } catch { /* gone meanwhile, or not ours to remove */ }
  }
  return removed;
}

/**
 * A new directory only this user can enter (`tcpkit-<pid>-XXXXXX`, so that a later primary
 * can tell it was left by a dead one), and a function that removes it. Stale directories
 * of dead primaries are removed first.
 */
export function privateDir(): { path: string; remove(): void } {
  removeStaleDirs();
  const path = mkdtempSync(join(tmpdir(), `tcpkit-${process.pid}-`));
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
