// Runs the whole test suite under Deno, Bun and Node, one runtime after another, and
// ends with one line that counts all three: "N passed, N failed".
//
//   node scripts/test.ts                 all runtimes, all tests
//   node scripts/test.ts deno bun        some runtimes
//   TEST_FILTER=framers node scripts/test.ts   only files whose name contains "framers"
//   TEST_FILTER=server,lines node scripts/test.ts   ... or any of several words
//
// Run with the pinned Node (npm puts node_modules/.bin first on PATH).
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

const bin = (name: string) => join("node_modules", ".bin", name);
const RUNNER_TIMEOUT_MS = 8 * 60_000;

const filters = (process.env.TEST_FILTER ?? "").split(",").map((w) => w.trim());
const files = readdirSync("tests")
  .filter((f) => f.endsWith("_test.ts") && filters.some((w) => f.includes(w)))
  .sort()
  .map((f) => join("tests", f));
// A runner given no file searches for tests itself, and would find this script.
if (files.length === 0) {
  console.error(`no test file in tests/ matches TEST_FILTER=${process.env.TEST_FILTER}`);
  process.exit(2);
}

interface Runner {
  name: string;
  cmd: string;
  args: string[];
  parse(out: string): { passed: number; failed: number } | undefined;
}

const lastMatch = (out: string, re: RegExp): RegExpMatchArray | undefined => {
  let m: RegExpMatchArray | undefined;
  for (const x of out.matchAll(re)) m = x;
  return m;
};

const runners: Runner[] = [
  {
    name: "deno",
    cmd: bin("deno"),
    args: ["test", "-A", "--no-check", ...files],
    parse(out) {
      const m = lastMatch(
        out,
        /(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/g,
      );
      return m ? { passed: +m[1], failed: +m[2] } : undefined;
    },
  },
  {
    name: "bun",
    cmd: bin("bun"),
    args: ["test", "--timeout", "30000", ...files.map((f) => "./" + f)],
    parse(out) {
      const p = lastMatch(out, /^\s*(\d+) pass$/gm);
      const f = lastMatch(out, /^\s*(\d+) fail$/gm);
      return p && f ? { passed: +p[1], failed: +f[1] } : undefined;
    },
  },
  {
    name: "node",
    cmd: bin("node"),
    args: ["--test", "--test-reporter=spec", "--test-timeout=60000", ...files],
    parse(out) {
      const p = lastMatch(out, /^ℹ pass (\d+)$/gm);
      const f = lastMatch(out, /^ℹ fail (\d+)$/gm);
      return p && f ? { passed: +p[1], failed: +f[1] } : undefined;
    },
  },
];

const ESC = String.fromCharCode(27);
const stripAnsi = (s: string) => s.replaceAll(new RegExp(`${ESC}\\[[0-9;]*m`, "g"), "");

const wanted = process.argv.slice(2);
const selected = wanted.length ? runners.filter((r) => wanted.includes(r.name)) : runners;

function run(r: Runner): Promise<{ out: string; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(r.cmd, r.args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
    });
    let out = "";
    const onData = (b: Buffer) => {
      const s = b.toString();
      out += s;
      process.stdout.write(s);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    const timer = setTimeout(() => {
      out += `\n[${r.name}: killed after ${RUNNER_TIMEOUT_MS} ms]\n`;
      child.kill("SIGKILL");
    }, RUNNER_TIMEOUT_MS);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ out, code });
    });
  });
}

let passed = 0;
let failed = 0;
const lines: string[] = [];
for (const r of selected) {
  console.log(`\n=== ${r.name}: ${r.cmd} ${r.args.join(" ")}\n`);
  const { out, code } = await run(r);
  const counts = r.parse(stripAnsi(out));
  if (!counts) {
    lines.push(`${r.name}: no test summary found (exit ${code}); counted as 1 failure`);
    failed += 1;
    continue;
  }
  // A runner that exits non-zero with every test passing still failed (a crash at exit,
  // a leaked handle, an unhandled rejection): count it.
  const extra = code !== 0 && counts.failed === 0 ? 1 : 0;
  passed += counts.passed;
  failed += counts.failed + extra;
  lines.push(
    `${r.name}: ${counts.passed} passed, ${counts.failed} failed` +
      (extra ? ` (runner exited ${code}: counted as 1 more failure)` : ""),
  );
}
console.log("\n" + lines.map((l) => "  " + l).join("\n"));
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
