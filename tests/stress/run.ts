/**
 * The stress suite's runner: `node scripts/stress.ts [options]`, or
 * `npm run stress -- [options]`.
 *
 *   --short                 the CI form: every scenario on every runtime, scaled down
 *                           (under 5 minutes in all on 2 cores; see `sizes()`)
 *   --runtimes deno,bun,node
 *   --scenarios slowloris,flood,nonreader,reset,fuzz,drain,proxy,soak,tls
 *   --soak 10m              the soak's length (`90s`, `10m`; `0` skips it). Default: 10 min
 *                           in the long form, 20 s in the short one
 *   --seed 1                the fuzzer's seed
 *   --node-malloc default   run the Node servers with glibc's default malloc settings, not
 *                           the fixed thresholds the README recommends (see NODE_MALLOC in
 *                           _server.ts); their rows are labelled "node (glibc malloc defaults)"
 *
 * Prints one line per scenario and runtime (PASS/FAIL and its figures), then the failed
 * checks. Writes a Markdown table: the long form merges its results into
 * bench/results/stress.json and writes bench/results/stress.md (runs of some runtimes or
 * scenarios update their rows only); the short form writes bench/results/tmp/stress-short.md.
 * Exits 1 when a check failed.
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bin, killAll, root, type Runtime, RUNTIMES } from "./_proc.ts";
import { type Check, type Context, CRITERIA, SCENARIOS } from "./scenarios.ts";

/** One scenario on one runtime. */
export interface Result {
  scenario: string;
  /** `deno`, `bun`, `node`, or `deno (adapter node)`. */
  runtime: string;
  status: "PASS" | "FAIL";
  figures: string;
  checks: Check[];
  notes: string[];
  seconds: number;
  date: string;
  form: "short" | "long";
}

function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(s.trim());
  if (!m) throw new TypeError(`--soak: want a duration like 90s or 10m, got "${s}"`);
  return Number(m[1]) * (m[2] === "h" ? 3600 : m[2] === "m" ? 60 : 1);
}

function options(argv: string[]) {
  const opt = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith("--")) throw new TypeError(`--${name} needs a value`);
    return v;
  };
  const list = (name: string, all: readonly string[]) => {
    const v = opt(name);
    if (v === undefined) return [...all];
    const picked = v.split(",").map((x) => x.trim()).filter(Boolean);
    const unknown = picked.filter((x) => !all.includes(x));
    if (unknown.length) {
      throw new TypeError(`--${name}: unknown ${unknown.join(", ")} (known: ${all.join(", ")})`);
    }
    return picked;
  };
  const known = ["--short", "--runtimes", "--scenarios", "--soak", "--seed", "--node-malloc"];
  for (const a of argv) {
    if (a.startsWith("--") && !known.includes(a)) throw new TypeError(`unknown option ${a}`);
  }
  const short = argv.includes("--short");
  const soak = opt("soak");
  return {
    short,
    runtimes: list("runtimes", RUNTIMES) as Runtime[],
    scenarios: list("scenarios", Object.keys(SCENARIOS)),
    soakSeconds: soak !== undefined ? parseDuration(soak) : short ? 40 : 600,
    seed: Number(opt("seed") ?? 1),
    mallocDefaults: mallocOption(opt("node-malloc")),
  };
}

function mallocOption(v: string | undefined): boolean {
  if (v === undefined || v === "tuned") return false;
  if (v === "default") return true;
  throw new TypeError(`--node-malloc: want "default" or "tuned", got "${v}"`);
}

function version(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8" }).split("\n")[0].trim();
  } catch {
    return "?";
  }
}

function machine(): string {
  const cpus = (readFileSync("/proc/cpuinfo", "utf8").match(/^processor/gm) ?? []).length;
  return `${version(bin("deno"), ["--version"])}, Bun ${version(bin("bun"), ["--version"])}, ` +
    `Node ${version(bin("node"), ["--version"])}, ${version("python3", ["--version"])}; ` +
    `${cpus} CPUs, Linux ${version("uname", ["-r"])}`;
}

const LABEL: Record<string, string> = {
  slowloris: "1. slowloris",
  flood: "2. flood",
  nonreader: "3. non-reader",
  reset: "4. reset storm",
  fuzz: "5. fuzz over sockets",
  drain: "6. drain loses nothing",
  proxy: "7. PROXY header abuse",
  soak: "8. soak",
  tls: "9. TLS abuse",
};

const cellText = (s: string) => s.replaceAll("|", "\\|").replaceAll("\n", " ");

/** The Markdown report: the table (one cell per runtime), then every check. */
export function renderMarkdown(results: Result[], title: string, header: string): string {
  const cols = ["deno", "bun", "node"];
  const lines = [`# ${title}`, "", header, ""];
  lines.push(
    "| scenario | what must hold | Deno | Bun | Node |",
    "| --- | --- | --- | --- | --- |",
  );
  for (const sc of Object.keys(SCENARIOS)) {
    const row = results.filter((r) => r.scenario === sc);
    if (row.length === 0) continue;
    const cell = (rt: string) => {
      const rs = row.filter((r) => r.runtime === rt || r.runtime.startsWith(`${rt} (`));
      if (rs.length === 0) return "not run";
      return rs.map((r) => {
        const na = r.checks.filter((c) => c.ok === "n/a").map((c) => c.what);
        const tag = r.runtime === rt ? "" : ` (${r.runtime.slice(rt.length + 2, -1)})`;
        return `**${r.status}**${tag}: ${r.figures}` +
          (na.length ? ` — cannot: ${na.join("; ")}` : "");
      }).join("<br>");
    };
    lines.push(
      `| ${LABEL[sc]} | ${CRITERIA[sc]} | ${cols.map((c) => cellText(cell(c))).join(" | ")} |`,
    );
  }
  lines.push("", "## Every check", "");
  for (const r of results) {
    lines.push(
      `- **${r.status}** ${LABEL[r.scenario]} on ${r.runtime} (${r.form} form, ${r.date}, ${
        r.seconds.toFixed(0)
      } s)`,
    );
    for (const c of r.checks) {
      const mark = c.ok === true ? "ok" : c.ok === "n/a" ? "cannot (runtime)" : "FAILED";
      lines.push(`  - ${mark}: ${c.what}: ${c.detail}`);
    }
    for (const n of r.notes) lines.push(`  - note: ${n}`);
  }
  return lines.join("\n") + "\n";
}

/** Runs the suite. Returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const o = options(argv);
  const started = performance.now();
  const form = o.short ? "short" : "long";
  const results: Result[] = [];
  console.log(
    `stress (${form} form): ${o.scenarios.join(", ")} on ${o.runtimes.join(", ")}` +
      (o.scenarios.includes("soak") ? `; soak ${o.soakSeconds} s` : ""),
  );
  for (const scenario of o.scenarios) {
    if (scenario === "soak" && o.soakSeconds <= 0) continue;
    for (const rt of o.runtimes) {
      const variants: Context[] = [{
        rt,
        short: o.short,
        soakSeconds: o.soakSeconds,
        seed: o.seed,
        mallocDefaults: o.mallocDefaults && rt === "node",
      }];
      // Deno cannot cut a TLS handshake; the README's way around it is node:tls.
      if (scenario === "tls" && rt === "deno") variants.push({ ...variants[0], adapter: "node" });
      for (const ctx of variants) {
        const runtime = ctx.adapter
          ? `${rt} (adapter ${ctx.adapter})`
          : ctx.mallocDefaults
          ? `${rt} (glibc malloc defaults)`
          : rt;
        const t0 = performance.now();
        let r: Result;
        try {
          const out = await SCENARIOS[scenario](ctx);
          r = {
            scenario,
            runtime,
            status: out.checks.every((c) => c.ok !== false) ? "PASS" : "FAIL",
            figures: out.figures,
            checks: out.checks,
            notes: out.notes ?? [],
            seconds: 0,
            date: new Date().toISOString().slice(0, 10),
            form,
          };
        } catch (e) {
          r = {
            scenario,
            runtime,
            status: "FAIL",
            figures: `error: ${(e as Error).message}`,
            checks: [{
              what: "the scenario ran",
              ok: false,
              detail: String((e as Error).stack ?? e),
            }],
            notes: [],
            seconds: 0,
            date: new Date().toISOString().slice(0, 10),
            form,
          };
        }
        killAll(); // a client a failed scenario left running, by its PID
        r.seconds = (performance.now() - t0) / 1000;
        results.push(r);
        const elapsed = ((performance.now() - started) / 1000).toFixed(0).padStart(4);
        console.log(
          `[${elapsed}s] ${r.status} ${scenario.padEnd(9)} ${runtime.padEnd(6)} ${r.figures} (${
            r.seconds.toFixed(1)
          } s)`,
        );
        for (const c of r.checks.filter((c) => c.ok !== true)) {
          console.log(`         ${c.ok === false ? "FAILED" : "cannot"}: ${c.what}: ${c.detail}`);
        }
      }
    }
  }
  killAll();
  const total = (performance.now() - started) / 1000;
  const failed = results.filter((r) => r.status === "FAIL");
  const header = `Measured by \`node scripts/stress.ts${o.short ? " --short" : ""}\`` +
    ` (${form} form) on ${new Date().toISOString().slice(0, 10)}: ${machine()}.`;
  const dir = join(root, "bench", "results");
  let path: string;
  if (o.short) {
    mkdirSync(join(dir, "tmp"), { recursive: true });
    path = join(dir, "tmp", "stress-short.md");
    writeFileSync(
      path,
      renderMarkdown(
        results,
        "tcpkit stress suite, short form",
        `${header} Total ${total.toFixed(0)} s.`,
      ),
    );
  } else {
    // Long runs may cover some runtimes or scenarios: their rows replace the old ones.
    const jsonPath = join(dir, "stress.json");
    const old: Result[] = existsSync(jsonPath) ? JSON.parse(readFileSync(jsonPath, "utf8")) : [];
    const key = (r: Result) => `${r.scenario}|${r.runtime}`;
    const fresh = new Set(results.map(key));
    const merged = [...old.filter((r) => !fresh.has(key(r))), ...results];
    writeFileSync(jsonPath, `[\n${merged.map((r) => `  ${JSON.stringify(r)}`).join(",\n")}\n]\n`);
    path = join(dir, "stress.md");
    writeFileSync(
      path,
      renderMarkdown(
        merged,
        "tcpkit stress suite, long form",
        `${header} Each row gives the date it was measured; rows of other runs are kept.`,
      ),
    );
  }
  console.log(
    `\n${results.length - failed.length} passed, ${failed.length} failed in ${
      total.toFixed(0)
    } s; ` +
      `wrote ${path}`,
  );
  return failed.length ? 1 : 0;
}
