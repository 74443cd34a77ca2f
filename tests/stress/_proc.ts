/**
 * Child processes of the stress suite: the server under test and its clients. Every
 * process is spawned with the open-files limit raised to the hard limit, tracked, and
 * stopped by its PID (SIGTERM, then SIGKILL), also when the suite fails or is
 * interrupted.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const root: string = fileURLToPath(new URL("../..", import.meta.url));
/** A pinned tool from node_modules/.bin. */
export const bin = (name: string): string => join(root, "node_modules", ".bin", name);

export type Runtime = "deno" | "bun" | "node";
export const RUNTIMES: readonly Runtime[] = ["deno", "bun", "node"];

const children = new Set<Proc>();

/** Kills every child still running (SIGKILL, by PID). */
export function killAll(): void {
  for (const c of children) c.kill("SIGKILL");
  children.clear();
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A child process whose stdout is kept as lines. */
export class Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly name: string;
  readonly lines: string[] = [];
  #stderr = "";
  #waiters: (() => void)[] = [];
  #exited = false;
  readonly exit: Promise<{ code: number | null; signal: string | null; at: number }>;

  constructor(
    name: string,
    cmd: string,
    args: string[],
    stdin = false,
    env?: Record<string, string>,
  ) {
    this.name = name;
    const script = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"';
    this.child = spawn("sh", ["-c", script, cmd, ...args], {
      cwd: root,
      env: env ? { ...process.env, ...env } : process.env,
      stdio: [stdin ? "pipe" : "ignore", "pipe", "pipe"],
    });
    this.pid = this.child.pid!;
    children.add(this);
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      this.lines.push(line);
      for (const w of this.#waiters.splice(0)) w();
    });
    this.child.stderr!.on("data", (d: Buffer) => {
      this.#stderr = (this.#stderr + String(d)).slice(-8000);
    });
    this.exit = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => {
        this.#exited = true;
        children.delete(this);
        resolve({ code, signal, at: performance.now() });
        for (const w of this.#waiters.splice(0)) w();
      });
    });
  }

  /** Whether the process is still running. */
  get running(): boolean {
    return !this.#exited;
  }

  /** The last 8 000 characters of its stderr. */
  get stderr(): string {
    return this.#stderr;
  }

  /**
   * The first line at index `since` or later that matches; rejects after `ms` or when
   * the process ends without one.
   */
  async waitLine(match: (line: string) => boolean, ms: number, since = 0): Promise<string> {
    const deadline = performance.now() + ms;
    for (;;) {
      for (let i = since; i < this.lines.length; i++) {
        if (match(this.lines[i])) return this.lines[i];
      }
      since = this.lines.length;
      if (!this.running) {
        throw new Error(`${this.name} ended without the line expected (${this.tail()})`);
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`${this.name}: no line expected within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The last stdout and stderr lines, for error messages. */
  tail(): string {
    const err = this.#stderr.trim().split("\n").slice(-6).join(" | ");
    return `stdout: ${this.lines.slice(-3).join(" | ")}; stderr: ${err}`;
  }

  /** Writes a line to its stdin. */
  send(line: string): void {
    this.child.stdin?.write(line + "\n");
  }

  /** Sends a signal to the PID, if it still runs. */
  kill(signal: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      process.kill(this.pid, signal);
    } catch { /* gone */ }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.running) return;
    this.kill("SIGTERM");
    const timer = setTimeout(() => this.kill("SIGKILL"), graceMs);
    await this.exit;
    clearTimeout(timer);
  }
}

/** The resident set of a process, MiB (from /proc/<pid>/status). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Samples a process's RSS every `everyMs` until stopped; gives the peak, MiB. */
export function rssSampler(pid: number, everyMs = 20): { stop(): number } {
  let peak = 0;
  const take = () => {
    try {
      peak = Math.max(peak, rssMiB(pid));
    } catch { /* exited */ }
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return peak;
    },
  };
}

/** A Python client of tests/stress/clients/ (or another script), run to its end. */
export class Client extends Proc {
  constructor(script: string, args: (string | number)[]) {
    const path = script.includes("/") ? script : join("tests", "stress", "clients", script);
    super(script, "python3", [resolve(root, path), ...args.map(String)]);
  }

  /** Its result: the last stdout line that is a JSON object. Kills it after `ms`. */
  async result<T = Record<string, unknown>>(ms: number): Promise<T> {
    const timer = setTimeout(() => this.kill("SIGKILL"), ms);
    const { code, signal } = await this.exit;
    clearTimeout(timer);
    const last = [...this.lines].reverse().find((l) => l.startsWith("{"));
    if (!last) {
      throw new Error(
        `${this.name} gave no result (exit ${code ?? signal}${
          signal === "SIGKILL" ? `, killed after ${ms} ms` : ""
        }; ${this.tail()})`,
      );
    }
    return JSON.parse(last) as T;
  }
}
