/**
 * The server under test, seen from the suite: tests/stress/server.ts run by one runtime, its
 * ports, its stats (asked on stdin), a full GC (SIGUSR2) and its RSS.
 *
 * @module
 */

import type { ServerStats } from "../../mod.ts";
import type { Extra } from "./server.ts";
import { bin, Proc, rssMiB, type Runtime, sleep } from "./_proc.ts";

/** What tests/stress/server.ts answers to `stats`: `server.stats()` and the suite's counters. */
export interface Stats extends ServerStats, Extra {}

/** The command line that runs tests/stress/server.ts on a runtime. */
export function serverCommand(rt: Runtime, flags: string[]): [string, string[]] {
  const script = "tests/stress/server.ts";
  if (rt === "deno") {
    return [bin("deno"), ["run", "-A", "--v8-flags=--expose-gc", script, ...flags]];
  }
  if (rt === "bun") return [bin("bun"), ["run", script, ...flags]];
  return [bin("node"), ["--expose-gc", script, ...flags]];
}

/**
 * The glibc malloc settings the Node servers run with, as the README recommends for
 * Node on glibc. With glibc's defaults, the threshold above which malloc maps memory
 * moves up as large blocks are freed, and freed memory below it stays in the process:
 * in a 10-minute soak RSS after a full GC swung between 108 and 123 MiB while the JS
 * heap and external memory stayed flat. Fixed thresholds give freed memory back.
 * `--node-malloc default` runs Node with glibc's defaults instead.
 */
export const NODE_MALLOC: Record<string, string> = {
  MALLOC_MMAP_THRESHOLD_: "131072",
  MALLOC_TRIM_THRESHOLD_: "131072",
};

export class TestServer extends Proc {
  ports: Record<string, number> = {};
  port = 0;

  /** `mallocDefaults`: run a Node server with glibc's own malloc settings. */
  constructor(
    rt: Runtime,
    scenario: string,
    flags: (string | number)[] = [],
    mallocDefaults = false,
  ) {
    const [cmd, args] = serverCommand(rt, ["--scenario", scenario, ...flags.map(String)]);
    const env = rt === "node" && !mallocDefaults ? NODE_MALLOC : undefined;
    super(`${rt} server (${scenario})`, cmd, args, true, env);
  }

  /** Waits for `ready`; stops the process if it does not come. */
  async ready(): Promise<this> {
    try {
      const line = await this.waitLine((l) => l.startsWith("ready "), 30_000);
      this.port = Number(line.split(" ")[1]);
      const ports = this.lines.find((l) => l.startsWith("ports "));
      if (ports) this.ports = JSON.parse(ports.slice(6));
      return this;
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /** Its stats, asked on stdin. */
  async stats(): Promise<Stats> {
    const since = this.lines.length;
    this.send("stats");
    const line = await this.waitLine((l) => l.startsWith("stats "), 10_000, since);
    return JSON.parse(line.slice(6)) as Stats;
  }

  /** Polls the stats until `ok` holds or `ms` pass; returns the last stats. */
  async statsWhen(ok: (s: Stats) => boolean, ms = 5_000): Promise<Stats> {
    const deadline = performance.now() + ms;
    for (;;) {
      const s = await this.stats();
      if (ok(s) || performance.now() > deadline) return s;
      await sleep(100);
    }
  }

  /** A full GC in the server (SIGUSR2), then its RSS and JS heap in use, MiB. */
  async afterGc(): Promise<{ rss: number; heap: number }> {
    const since = this.lines.length;
    this.kill("SIGUSR2");
    const line = await this.waitLine((l) => l.startsWith("gc "), 10_000, since);
    const heap = Number(/^gc heap (\d+)$/.exec(line)?.[1] ?? NaN) / 2 ** 20;
    await sleep(200);
    return { rss: rssMiB(this.pid), heap };
  }

  /** The current RSS, MiB. */
  rss(): number {
    return rssMiB(this.pid);
  }
}
