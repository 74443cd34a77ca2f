/**
 * The benchmark report: medians of paired runs and the Markdown tables (the SVG chart is
 * in _chart.ts). Used by scripts/bench.ts.
 *
 * Every ratio is computed within one repetition (the two servers ran back to back) and
 * then the median taken over the repetitions: tcpkit ÷ the native control of the same
 * runtime, and tcpkit or the native control ÷ the Go standard library peer
 * (bench/native/go/), which runs in every runtime's rotation. The tcpkit styles are
 * `hooks`, `iterator` and `batch` (the `messages` hook, judged by the targets of `hooks`);
 * a style's columns appear when the report has its runs.
 *
 * @module
 */

/** One load-client run against one server. */
export interface BenchRun {
  rep: number;
  runtime: string;
  variant: string;
  framer: string;
  mode: string;
  ok: boolean;
  error?: string;
  cpuUsPerMsg?: number;
  /** The same, the server's first thread only (where the runtime runs JavaScript). */
  mainCpuUsPerMsg?: number;
  msgsPerSec?: number;
  mbPerSec?: number;
  p50Us?: number;
  p99Us?: number;
  connsPerSec?: number;
  /** conns mode, second round against the same server process (absent in older results). */
  warmConnsPerSec?: number;
  /** Server CPU µs per connection in that second round. */
  warmCpuUsPerConn?: number;
  /** The same, the server's first thread only. */
  warmMainCpuUsPerConn?: number;
  /** conns mode, the fourth round against the same server process (absent in older results). */
  steadyConnsPerSec?: number;
  /** Server CPU µs per connection in that round. */
  steadyCpuUsPerConn?: number;
  /** The same, the server's first thread only. */
  steadyMainCpuUsPerConn?: number;
  rssPerConnBytes?: number;
  opened?: number;
  heldAfterSecondEcho?: number;
  [key: string]: unknown;
}

/** One figure for one runtime and server, against a control. */
export interface SummaryRow {
  runtime: string;
  /** The server measured: a tcpkit style, or (against Go) the runtime's native control. */
  variant: "hooks" | "iterator" | "batch" | "batches" | "native";
  /** The control: the runtime's native control, or the Go peer run in its rotation. */
  against: "native" | "go";
  /** e.g. `raw pipelined cpu`. */
  figure: string;
  /** The control's median. */
  control: number;
  /** The measured server's median. */
  value: number;
  /** value ÷ control: the median over repetitions of the per-repetition ratio. */
  ratio: number;
  /** `<=` or `>=` the ratio `target`. */
  better: "lower" | "higher";
  target?: number;
  pass?: boolean;
  runs: number;
}

/** What scripts/bench.ts writes to latest.json. */
export interface BenchReport {
  date: string;
  quick: boolean;
  reps: number;
  secs: number;
  warmup: number;
  conns: number;
  load: unknown;
  versions: Record<string, string>;
  runs: BenchRun[];
  summary: SummaryRow[];
}

/** One figure of the report: which runs it reads, and its target against the control. */
export interface FigureSpec {
  id: string;
  label: string;
  framer: string;
  mode: string;
  key: keyof BenchRun;
  better: "lower" | "higher";
  target(variant: string): number | undefined;
  /** The target against Go, for a runtime and a variant. */
  goTarget?(runtime: string, variant: string): number | undefined;
}

/**
 * tcpkit with hooks (or the batch hook) ÷ Go's bufio line echo, pipelined: the ratio
 * allowed per runtime.
 */
export const GO_TARGETS: Record<string, number> = { bun: 1.0, node: 1.1, deno: 1.3 };

/** The styles judged by the hooks' targets: `message` hooks and the batch hook. */
const hookLike = (variant: string) => variant === "hooks" || variant === "batch";

/** The figures of the report, in order, with their targets (design: issue 6). */
export const FIGURES: FigureSpec[] = [
  ...["pipelined", "reqresp"].map((mode): FigureSpec => ({
    id: `raw ${mode} cpu`,
    label: `raw ${mode === "reqresp" ? "req/resp" : mode}: CPU/msg`,
    framer: "raw",
    mode,
    key: "cpuUsPerMsg",
    better: "lower",
    target: () => 1.1,
  })),
  {
    id: "raw bulk",
    label: "raw bulk: MB/s",
    framer: "raw",
    mode: "bulk",
    key: "mbPerSec",
    better: "higher",
    target: () => 0.95,
  },
  {
    id: "raw pingpong p99",
    label: "ping-pong: p99 latency",
    framer: "raw",
    mode: "pingpong",
    key: "p99Us",
    better: "lower",
    target: () => 1.1,
  },
  ...["lines", "length"].flatMap((framer) =>
    ["pipelined", "reqresp"].map((mode): FigureSpec => ({
      id: `${framer} ${mode} cpu`,
      label: `${framer} ${mode === "reqresp" ? "req/resp" : mode}: CPU/msg`,
      framer,
      mode,
      key: "cpuUsPerMsg",
      better: "lower",
      target: (v) => (hookLike(v) ? 1.15 : 1.4),
      goTarget: framer === "lines" && mode === "pipelined"
        ? (rt, v) => (hookLike(v) ? GO_TARGETS[rt] : undefined)
        : undefined,
    }))
  ),
  {
    // A fresh server process's first connections after the load client's warm-up.
    id: "conns rate",
    label: "connections/s, cold (first 10 000)",
    framer: "lines",
    mode: "conns",
    key: "connsPerSec",
    better: "higher",
    target: () => 0.9,
  },
  {
    // The same server process's second round of connections. Its per-connection code has
    // run 10 000 times by then, but on V8 the optimising compiler takes the functions run
    // once per connection only during this round (bench/load.c).
    id: "conns rate warm",
    label: "connections/s, warm (second 10 000)",
    framer: "lines",
    mode: "conns",
    key: "warmConnsPerSec",
    better: "higher",
    target: () => 0.9,
  },
  {
    // The fourth round: every runtime's compilers done with the accept path, as in a server
    // that has been accepting for a while.
    id: "conns rate steady",
    label: "connections/s, steady (fourth 10 000)",
    framer: "lines",
    mode: "conns",
    key: "steadyConnsPerSec",
    better: "higher",
    target: () => 0.9,
  },
  {
    id: "conns rss",
    label: "RSS per idle connection",
    framer: "lines",
    mode: "conns",
    key: "rssPerConnBytes",
    better: "lower",
    target: () => 1,
  },
];

/** A figure's label, with the run's connection count where it names the default 10 000. */
export function figureLabel(f: FigureSpec, report: BenchReport): string {
  const n = String(report.conns).replace(/\B(?=(\d{3})+$)/g, " ");
  return f.label.replace("10 000", n);
}

/** RSS per idle connection allowed, KiB. */
export const RSS_LIMIT_KIB: Record<string, number> = { bun: 2, deno: 8, node: 4 };

function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** What each control is compared with. */
const COMPARED: Record<SummaryRow["against"], SummaryRow["variant"][]> = {
  native: ["hooks", "iterator", "batch", "batches"],
  go: ["native", "hooks", "iterator", "batch", "batches"],
};

/** The servers compared with `against` that the report has figures for, in order. */
export function comparedIn(
  report: BenchReport,
  against: SummaryRow["against"],
): SummaryRow["variant"][] {
  return COMPARED[against].filter((v) =>
    report.summary.some((r) => r.against === against && r.variant === v)
  );
}

/** The tcpkit styles the report has runs of, in order (the absolute tables' columns). */
export function stylesIn(report: BenchReport): string[] {
  return ["hooks", "iterator", "batch", "batches"].filter((v) =>
    report.runs.some((r) => r.variant === v && r.ok)
  );
}

/**
 * Pairs every run with its control's run of the same repetition and runtime (the Go peer
 * runs once in every runtime's rotation); medians.
 */
export function summarize(runs: BenchRun[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  const runtimes = [...new Set(runs.map((r) => r.runtime))];
  for (const rt of runtimes) {
    for (const f of FIGURES) {
      const pick = (v: string) =>
        runs.filter((r) =>
          r.runtime === rt && r.variant === v && r.framer === f.framer && r.mode === f.mode &&
          r.ok && typeof r[f.key] === "number"
        );
      for (const against of ["native", "go"] as const) {
        const controls = pick(against);
        for (const variant of COMPARED[against]) {
          const ours = pick(variant);
          if (controls.length === 0 || ours.length === 0) continue;
          const ratios: number[] = [];
          for (const o of ours) {
            const c = controls.find((x) => x.rep === o.rep);
            if (c) ratios.push((o[f.key] as number) / (c[f.key] as number));
          }
          const row: SummaryRow = {
            runtime: rt,
            variant,
            against,
            figure: f.id,
            control: median(controls.map((r) => r[f.key] as number)),
            value: median(ours.map((r) => r[f.key] as number)),
            ratio: median(ratios),
            better: f.better,
            target: against === "go" ? f.goTarget?.(rt, variant) : f.target(variant),
            runs: ratios.length,
          };
          if (f.id === "conns rss" && against === "native") {
            // Absolute limit per runtime, and never above native.
            row.pass = row.value / 1024 <= (RSS_LIMIT_KIB[rt] ?? Infinity) &&
              row.value <= row.control;
          } else if (row.target !== undefined && Number.isFinite(row.ratio)) {
            row.pass = f.better === "lower" ? row.ratio <= row.target : row.ratio >= row.target;
          }
          rows.push(row);
        }
      }
    }
  }
  return rows;
}

export const RUNTIME_NAMES: Record<string, string> = { deno: "Deno", bun: "Bun", node: "Node" };
const mark = (pass: boolean | undefined) => (pass === undefined ? "" : pass ? " ✓" : " ✗");

/** The summary row of one runtime, server, control and figure. */
export function findRow(
  report: BenchReport,
  runtime: string,
  variant: string,
  against: SummaryRow["against"],
  figure: string,
): SummaryRow | undefined {
  return report.summary.find((r) =>
    r.runtime === runtime && r.variant === variant && r.against === against &&
    r.figure === figure
  );
}

/** The median of `key` over the successful runs of one server (all runtimes' rotations). */
export function medianOf(
  report: BenchReport,
  variant: string,
  framer: string,
  mode: string,
  key: keyof BenchRun,
  runtime?: string,
): number {
  return median(
    report.runs.filter((r) =>
      r.variant === variant && r.framer === framer && r.mode === mode && r.ok &&
      (runtime === undefined || r.runtime === runtime) && typeof r[key] === "number"
    ).map((r) => r[key] as number),
  );
}

function held(report: BenchReport, rt: string, variant: string): boolean | undefined {
  const rs = report.runs.filter((r) =>
    r.runtime === rt && r.variant === variant && r.mode === "conns"
  );
  if (rs.length === 0) return undefined;
  return rs.every((r) =>
    r.ok && r.opened === report.conns && r.heldAfterSecondEcho === report.conns
  );
}

/** The Markdown tables: ratios with targets, ratios against Go, then absolute medians. */
export function renderMarkdown(report: BenchReport): string {
  const runtimes = [...new Set(report.summary.map((r) => r.runtime))];
  const name = (rt: string) => RUNTIME_NAMES[rt] ?? rt;
  const styles = comparedIn(report, "native");
  const cols = runtimes.flatMap((rt) => styles.map((v) => [rt, v] as const));
  const hookNames = styles.includes("batch") ? "hooks, batch" : "hooks";
  const out: string[] = [];
  out.push(
    `tcpkit ÷ native control, same runtime, same session: median of ${report.reps} paired run(s)` +
      `${report.quick ? " (quick run)" : ""}, ${report.date.slice(0, 10)}. ` +
      "✓ meets the target, ✗ misses it.",
    "",
  );
  out.push(`| figure | target | ${cols.map(([rt, v]) => `${name(rt)} ${v}`).join(" | ")} |`);
  out.push(`|---|---|${cols.map(() => "---:").join("|")}|`);
  for (const f of FIGURES) {
    const cells = cols.map(([rt, v]) => {
      const row = findRow(report, rt, v, "native", f.id);
      if (!row) return "–";
      if (f.id === "conns rss") {
        return `${(row.value / 1024).toFixed(1)} KiB (native ${(row.control / 1024).toFixed(1)})${
          mark(row.pass)
        }`;
      }
      return `${row.ratio.toFixed(2)}${mark(row.pass)}`;
    });
    if (cells.every((c) => c === "–")) continue;
    const target = f.id === "conns rss"
      ? "Bun ≤ 2, Deno ≤ 8, Node ≤ 4 KiB; ≤ native"
      : f.framer !== "raw" && f.mode !== "conns"
      ? `${hookNames} ≤ 1.15, iterator ≤ 1.40`
      : `${f.better === "lower" ? "≤" : "≥"} ${f.target("hooks")!.toFixed(2)}`;
    out.push(`| ${figureLabel(f, report)} | ${target} | ${cells.join(" | ")} |`);
  }
  const heldCells = cols.map(([rt, v]) => {
    const h = held(report, rt, v);
    return h === undefined ? "–" : h ? "yes ✓" : "no ✗";
  });
  if (heldCells.some((c) => c !== "–")) {
    out.push(`| ${report.conns} connections held and echoed | yes | ${heldCells.join(" | ")} |`);
  }
  out.push(...renderGoRatios(report, runtimes));
  const hasGo = report.runs.some((r) => r.variant === "go" && r.ok);
  const servers = ["native", ...stylesIn(report)];
  out.push(
    "",
    `Absolute medians (native / ${stylesIn(report).map((v) => `tcpkit ${v}`).join(" / ")}${
      hasGo ? "; Go: every runtime's rotation" : ""
    }):`,
    "",
  );
  const absCols = [...runtimes.map(name), ...(hasGo ? ["Go"] : [])];
  out.push(`| figure | ${absCols.join(" | ")} |`);
  out.push(`|---|${absCols.map(() => "---:").join("|")}|`);
  const unit: Record<string, [string, number, number]> = {
    cpuUsPerMsg: ["µs/msg", 1, 3],
    mbPerSec: ["MB/s", 1, 0],
    p99Us: ["µs", 1, 0],
    connsPerSec: ["conn/s", 1, 0],
    warmConnsPerSec: ["conn/s", 1, 0],
    steadyConnsPerSec: ["conn/s", 1, 0],
    rssPerConnBytes: ["KiB", 1 / 1024, 1],
  };
  for (const f of FIGURES) {
    const [u, scale, digits] = unit[f.key as string];
    const fmt = (x: number | undefined) =>
      x === undefined || !Number.isFinite(x) ? "–" : (x * scale).toFixed(digits);
    const cells = runtimes.map((rt) => {
      const rows = servers.slice(1).map((v) => findRow(report, rt, v, "native", f.id));
      const nat = rows.find((r) => r !== undefined)?.control;
      if (nat === undefined) return "–";
      return [nat, ...rows.map((r) => r?.value)].map(fmt).join(" / ");
    });
    if (hasGo) cells.push(fmt(medianOf(report, "go", f.framer, f.mode, f.key)));
    if (cells.every((c) => c === "–")) continue;
    out.push(`| ${figureLabel(f, report)} (${u}) | ${cells.join(" | ")} |`);
  }
  // Server CPU per connection in the connections mode's rounds, all threads and then the
  // thread that runs JavaScript alone: the difference is the runtime's compiler and collector
  // threads (the warm round and the main thread are absent from results written before they
  // were measured).
  for (
    const [round, key] of [
      ["cold", "cpuUsPerMsg"],
      ["warm", "warmCpuUsPerConn"],
      ["steady", "steadyCpuUsPerConn"],
      ["cold, main thread", "mainCpuUsPerMsg"],
      ["warm, main thread", "warmMainCpuUsPerConn"],
      ["steady, main thread", "steadyMainCpuUsPerConn"],
    ] as const
  ) {
    const cpu = (v: string, rt?: string) => medianOf(report, v, "lines", "conns", key, rt);
    const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "–");
    const cells = runtimes.map((rt) => {
      const xs = servers.map((v) => cpu(v, rt));
      return xs.some(Number.isFinite) ? xs.map(fmt).join(" / ") : "–";
    });
    // Go runs goroutines on threads of its own choosing: its first thread says nothing.
    if (hasGo) cells.push(round.includes("main") ? "–" : fmt(cpu("go")));
    if (cells.some((c) => c !== "–")) {
      out.push(`| connections, ${round}: server CPU per connection (µs) | ${cells.join(" | ")} |`);
    }
  }
  const mps = (v: string, rt?: string) =>
    medianOf(report, v, "raw", "pipelined", "msgsPerSec", rt) / 1e6;
  const pipe = runtimes.map((rt) => {
    const xs = servers.map((v) => mps(v, rt));
    return xs.some(Number.isFinite) ? xs.map((x) => x.toFixed(2)).join(" / ") : "–";
  });
  if (hasGo) pipe.push(Number.isFinite(mps("go")) ? mps("go").toFixed(2) : "–");
  if (pipe.some((c) => c !== "–")) {
    out.push(`| raw pipelined (million msg/s) | ${pipe.join(" | ")} |`);
  }
  out.push(...renderLayers(report, runtimes), "");
  return out.join("\n");
}

/** The table against Go: each runtime's native control and tcpkit styles ÷ the Go peer. */
function renderGoRatios(report: BenchReport, runtimes: string[]): string[] {
  if (!report.summary.some((r) => r.against === "go")) return [];
  const variants = comparedIn(report, "go");
  const cols = runtimes.flatMap((rt) => variants.map((v) => [rt, v] as const));
  const hookNames = variants.includes("batch") ? "hooks, batch" : "hooks";
  const goal = (rt: string) => `${RUNTIME_NAMES[rt] ?? rt} ≤ ${GO_TARGETS[rt]?.toFixed(1)}`;
  const out = [
    "",
    "÷ Go (the Go standard library peer, bench/native/go/, run in the same rotation as each " +
    "runtime's servers): median of the paired ratios. The native control ÷ Go is how far the " +
    "runtime itself is from Go.",
    "",
    `| figure | target | ${
      cols.map(([rt, v]) => `${RUNTIME_NAMES[rt] ?? rt} ${v}`)
        .join(" | ")
    } |`,
    `|---|---|${cols.map(() => "---:").join("|")}|`,
  ];
  for (const f of FIGURES) {
    const cells = cols.map(([rt, v]) => {
      const row = findRow(report, rt, v, "go", f.id);
      return row && Number.isFinite(row.ratio) ? `${row.ratio.toFixed(2)}${mark(row.pass)}` : "–";
    });
    if (cells.every((c) => c === "–")) continue;
    const target = f.goTarget ? `${hookNames}: ${runtimes.map(goal).join(", ")}` : "";
    out.push(`| ${figureLabel(f, report)} ÷ Go | ${target} | ${cells.join(" | ")} |`);
  }
  return out;
}

/** The layers below serve() (`--variants native,adapter,connection,hooks`): what each costs. */
const LAYERS = ["native", "adapter", "connection", "hooks"];

function renderLayers(report: BenchReport, runtimes: string[]): string[] {
  const layered = report.runs.filter((r) => r.variant === "adapter" || r.variant === "connection");
  if (layered.length === 0) return [];
  const out = [
    "",
    "Layers: server CPU per message (per connection in the connections mode), µs, medians. " +
    "native control / the adapter alone, echoing chunks / + a Connection with hooks / " +
    "serve() with hooks:",
    "",
    `| load | ${runtimes.map((rt) => RUNTIME_NAMES[rt] ?? rt).join(" | ")} |`,
    `|---|${runtimes.map(() => "---:").join("|")}|`,
  ];
  const loads = [...new Set(layered.map((r) => `${r.framer} ${r.mode}`))];
  const row = (
    label: string,
    framer: string,
    mode: string,
    value: (r: BenchRun) => number,
    fmt = (x: number) => x.toFixed(x < 10 ? 3 : 1),
  ) => {
    const cells = runtimes.map((rt) => {
      const xs = LAYERS.map((v) =>
        median(
          report.runs.filter((r) =>
            r.runtime === rt && r.variant === v && r.framer === framer && r.mode === mode && r.ok
          ).map(value),
        )
      );
      return xs.some(Number.isFinite)
        ? xs.map((x) => (Number.isFinite(x) ? fmt(x) : "–")).join(" / ")
        : "–";
    });
    out.push(`| ${label} | ${cells.join(" | ")} |`);
  };
  for (const load of loads) {
    const [framer, mode] = load.split(" ");
    row(load, framer, mode, (r) => r.cpuUsPerMsg as number);
    if (mode === "conns") {
      row(
        `${load}: RSS KiB per idle connection`,
        framer,
        mode,
        (r) => (r.rssPerConnBytes as number) / 1024,
        (x) => x.toFixed(2),
      );
    }
  }
  return out;
}
