// What the benchmark runners (scripts/bench.ts, bench/workers.ts) share about the machine
// and the tools: the versions a report records, and the build of the C load client.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The repository's root. */
export const ROOT: string = join(import.meta.dirname ?? ".", "..");

/** A pinned tool of node_modules/.bin. */
export const bin = (name: string): string => join(ROOT, "node_modules", ".bin", name);

/** Compiles bench/load.c to `path` with `cc -O2`. */
export function compileLoad(path: string): void {
  execFileSync("cc", ["-O2", "-o", path, join(ROOT, "bench", "load.c")], { stdio: "inherit" });
}

/** The runtimes', the C compiler's and the kernel's versions, and the number of CPUs. */
export function versions(): Record<string, string> {
  const v = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: "utf8" }).split("\n")[0].trim();
    } catch {
      return "?";
    }
  };
  return {
    deno: v(bin("deno"), ["--version"]),
    bun: v(bin("bun"), ["--version"]),
    node: v(bin("node"), ["--version"]),
    cc: v("cc", ["--version"]),
    cpus: String((readFileSync("/proc/cpuinfo", "utf8").match(/^processor/gm) ?? []).length),
    kernel: v("uname", ["-r"]),
  };
}
