/**
 * What every benchmark server shares, tcpkit and native controls alike: the flags, the
 * `ready <port>` line, a full GC on SIGUSR2 (answered with a `gc` line, so the runner can
 * read the RSS of live objects only; the line also gives the JS heap in use), and a clean
 * exit on SIGTERM. Outside the measured
 * path: nothing here runs per message.
 *
 * Flags: `--port P` (0 = any), `--framer raw|lines|length`,
 * `--style iterator|hooks|batch|connection|adapter`.
 *
 * @module
 */

import process from "node:process";

/** The job a benchmark server does. */
export interface BenchFlags {
  /** Port to listen on, 127.0.0.1; 0 = any free port. */
  port: number;
  /** `raw` echoes bytes, `lines` whole lines, `length` whole 4-byte-BE-prefixed frames. */
  framer: "raw" | "lines" | "length";
  /**
   * tcpkit only: `for await` over the connection, `message` hooks, or the `messages`
   * hook (`batch`: the whole frames of one read per call, echoed with `sendBatch()`). Two more take
   * layers away, to show what each costs: `connection` is a `Connection` with hooks on
   * the runtime's adapter, without `serve()`; `adapter` is the adapter alone, echoing
   * each chunk as it comes, whatever the framer.
   */
  style: "iterator" | "hooks" | "batch" | "batches" | "connection" | "adapter";
}

/** The longest line the lines servers accept, in bytes (tcpkit's `lines()` default). */
export const MAX_LINE = 64 * 1024;
/** The longest frame payload the length servers accept, in bytes (tcpkit's default). */
export const MAX_FRAME = 8 * 1024 * 1024;
/** Enough connections that the benchmark never meets a limit. */
export const MAX_CONNECTIONS = 20_000;
/** The listen backlog, where the runtime lets it be set (Bun always uses 512). */
export const BACKLOG = 4096;

function flag(name: string): string | undefined {
  const argv = process.argv.slice(2);
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

function oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
  const v = flag(name) ?? fallback;
  if (!(allowed as readonly string[]).includes(v)) {
    throw new TypeError(`--${name} must be one of ${allowed.join(", ")}, got "${v}"`);
  }
  return v as T;
}

/** Parses the command line. */
export function benchFlags(): BenchFlags {
  const port = Number(flag("port") ?? "0");
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`--port must be 0 to 65535, got "${flag("port")}"`);
  }
  return {
    port,
    framer: oneOf("framer", ["raw", "lines", "length"] as const, "raw"),
    style: oneOf(
      "style",
      ["iterator", "hooks", "batch", "batches", "connection", "adapter"] as const,
      "hooks",
    ),
  };
}

interface Globals {
  Deno?: {
    addSignalListener(signal: string, fn: () => void): void;
    exit(code: number): never;
  };
  Bun?: { gc(full: boolean): void };
  gc?: (options?: { type: "major"; execution: "sync"; flavor: "last-resort" }) => void;
}
const g = globalThis as unknown as Globals;

function onSignal(signal: "SIGTERM" | "SIGUSR2", fn: () => void): void {
  if (g.Deno) g.Deno.addSignalListener(signal, fn);
  else process.on(signal, fn);
}

/**
 * Runs a full garbage collection where the runtime allows it. On V8 (Deno, Node) it is
 * the memory-reducing kind: a plain `gc()` leaves the young generation at the size it
 * grew to while connections were opening (empty, but committed: 3 to 4 KiB per
 * connection of RSS that no live object holds, and a step that moves between runs).
 */
function collect(): boolean {
  if (g.Bun) {
    g.Bun.gc(true);
    return true;
  }
  if (typeof g.gc === "function") {
    const full = { type: "major", execution: "sync", flavor: "last-resort" } as const;
    g.gc(full);
    g.gc(full);
    return true;
  }
  return false;
}

/**
 * Prints `ready <port>` and installs the signal handlers: SIGUSR2 runs a full GC and
 * prints `gc heap <bytes in use>` (or `gc unavailable`); SIGTERM runs `stop` (bounded to
 * 2 s) and exits 0.
 *
 * @param port The bound port.
 * @param stop Closes the server.
 */
export function ready(port: number, stop: () => unknown): void {
  onSignal("SIGUSR2", () => {
    if (!collect()) return console.log("gc unavailable");
    console.log(`gc heap ${process.memoryUsage().heapUsed}`);
  });
  onSignal("SIGTERM", () => {
    const exit = () => (g.Deno ? g.Deno.exit(0) : process.exit(0));
    setTimeout(exit, 2000);
    Promise.resolve().then(stop).then(exit, exit);
  });
  console.log(`ready ${port}`);
}
