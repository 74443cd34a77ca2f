/**
 * The benchmark report: medians of paired runs, the Markdown tables and the SVG chart
 * (written here, no dependencies). Used by scripts/bench.ts.
 *
 * Every ratio is tcpkit ÷ native, computed within one repetition (the two ran back to
 * back) and then the median taken over the repetitions.
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
  msgsPerSec?: number;
  mbPerSec?: number;
  p50Us?: number;
  p99Us?: number;
  connsPerSec?: number;
  rssPerConnBytes?: number;
  opened?: number;
  heldAfterSecondEcho?: number;
  [key: string]: unknown;
}

/** One figure for one runtime and style, against its native control. */
export interface SummaryRow {
  runtime: string;
  variant: "hooks" | "iterator";
  /** e.g. `raw pipelined cpu`. */
  figure: string;
  native: number;
  tcpkit: number;
  /** tcpkit ÷ native: the median over repetitions of the per-repetition ratio. */
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

interface FigureSpec {
  id: string;
  label: string;
  framer: string;
  mode: string;
  key: keyof BenchRun;
  better: "lower" | "higher";
  target(variant: string): number | undefined;
}

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
      target: (v) => (v === "hooks" ? 1.15 : 1.4),
    }))
  ),
  {
    id: "conns rate",
    label: "connections/s",
    framer: "lines",
    mode: "conns",
    key: "connsPerSec",
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

/** RSS per idle connection allowed, KiB. */
export const RSS_LIMIT_KIB: Record<string, number> = { bun: 2, deno: 8, node: 4 };

function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Pairs every tcpkit run with the native run of the same repetition; medians. */
export function summarize(runs: BenchRun[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  const runtimes = [...new Set(runs.map((r) => r.runtime))];
  for (const rt of runtimes) {
    for (const f of FIGURES) {
      for (const variant of ["hooks", "iterator"] as const) {
        const pick = (v: string) =>
          runs.filter((r) =>
            r.runtime === rt && r.variant === v && r.framer === f.framer && r.mode === f.mode &&
            r.ok && typeof r[f.key] === "number"
          );
        const nat = pick("native");
        const ours = pick(variant);
        if (nat.length === 0 || ours.length === 0) continue;
        const ratios: number[] = [];
        for (const o of ours) {
          const n = nat.find((x) => x.rep === o.rep);
          if (n) ratios.push((o[f.key] as number) / (n[f.key] as number));
        }
        const row: SummaryRow = {
          runtime: rt,
          variant,
          figure: f.id,
          native: median(nat.map((r) => r[f.key] as number)),
          tcpkit: median(ours.map((r) => r[f.key] as number)),
          ratio: median(ratios),
          better: f.better,
          target: f.target(variant),
          runs: ratios.length,
        };
        if (f.id === "conns rss") {
          // Absolute limit per runtime, and never above native.
          row.pass = row.tcpkit / 1024 <= (RSS_LIMIT_KIB[rt] ?? Infinity) &&
            row.tcpkit <= row.native;
        } else if (row.target !== undefined && Number.isFinite(row.ratio)) {
          row.pass = f.better === "lower" ? row.ratio <= row.target : row.ratio >= row.target;
        }
        rows.push(row);
      }
    }
  }
  return rows;
}

const RUNTIME_NAMES: Record<string, string> = { deno: "Deno", bun: "Bun", node: "Node" };
const mark = (pass: boolean | undefined) => (pass === undefined ? "" : pass ? " ✓" : " ✗");

function held(report: BenchReport, rt: string, variant: string): boolean | undefined {
  const rs = report.runs.filter((r) =>
    r.runtime === rt && r.variant === variant && r.mode === "conns"
  );
  if (rs.length === 0) return undefined;
  return rs.every((r) =>
    r.ok && r.opened === report.conns && r.heldAfterSecondEcho === report.conns
  );
}

/** The Markdown tables: ratios with targets, then absolute medians. */
export function renderMarkdown(report: BenchReport): string {
  const runtimes = [...new Set(report.summary.map((r) => r.runtime))];
  const cols = runtimes.flatMap((rt) => [[rt, "hooks"], [rt, "iterator"]] as const);
  const out: string[] = [];
  out.push(
    `tcpkit ÷ native control, same runtime, same session: median of ${report.reps} paired run(s)` +
      `${report.quick ? " (quick run)" : ""}, ${report.date.slice(0, 10)}. ` +
      "✓ meets the target, ✗ misses it.",
    "",
  );
  out.push(
    `| figure | target | ${cols.map(([rt, v]) => `${RUNTIME_NAMES[rt] ?? rt} ${v}`).join(" | ")} |`,
  );
  out.push(`|---|---|${cols.map(() => "---:").join("|")}|`);
  for (const f of FIGURES) {
    const cells = cols.map(([rt, v]) => {
      const row = report.summary.find((r) =>
        r.runtime === rt && r.variant === v && r.figure === f.id
      );
      if (!row) return "–";
      if (f.id === "conns rss") {
        return `${(row.tcpkit / 1024).toFixed(1)} KiB (native ${(row.native / 1024).toFixed(1)})${
          mark(row.pass)
        }`;
      }
      return `${row.ratio.toFixed(2)}${mark(row.pass)}`;
    });
    if (cells.every((c) => c === "–")) continue;
    const target = f.id === "conns rss"
      ? "Bun ≤ 2, Deno ≤ 8, Node ≤ 4 KiB; ≤ native"
      : f.framer !== "raw" && f.mode !== "conns"
      ? "hooks ≤ 1.15, iterator ≤ 1.40"
      : `${f.better === "lower" ? "≤" : "≥"} ${f.target("hooks")!.toFixed(2)}`;
    out.push(`| ${f.label} | ${target} | ${cells.join(" | ")} |`);
  }
  const heldCells = cols.map(([rt, v]) => {
    const h = held(report, rt, v);
    return h === undefined ? "–" : h ? "yes ✓" : "no ✗";
  });
  if (heldCells.some((c) => c !== "–")) {
    out.push(`| ${report.conns} connections held and echoed | yes | ${heldCells.join(" | ")} |`);
  }
  out.push("", "Absolute medians (native / tcpkit hooks / tcpkit iterator):", "");
  out.push(`| figure | ${runtimes.map((rt) => RUNTIME_NAMES[rt] ?? rt).join(" | ")} |`);
  out.push(`|---|${runtimes.map(() => "---:").join("|")}|`);
  const unit: Record<string, [string, number, number]> = {
    cpuUsPerMsg: ["µs/msg", 1, 3],
    mbPerSec: ["MB/s", 1, 0],
    p99Us: ["µs", 1, 0],
    connsPerSec: ["conn/s", 1, 0],
    rssPerConnBytes: ["KiB", 1 / 1024, 1],
  };
  for (const f of FIGURES) {
    const [u, scale, digits] = unit[f.key as string];
    const cells = runtimes.map((rt) => {
      const h = report.summary.find((r) =>
        r.runtime === rt && r.variant === "hooks" && r.figure === f.id
      );
      const i = report.summary.find((r) =>
        r.runtime === rt && r.variant === "iterator" && r.figure === f.id
      );
      const nat = h?.native ?? i?.native;
      if (nat === undefined) return "–";
      const fmt = (x: number | undefined) => (x === undefined ? "–" : (x * scale).toFixed(digits));
      return `${fmt(nat)} / ${fmt(h?.tcpkit)} / ${fmt(i?.tcpkit)}`;
    });
    if (cells.every((c) => c === "–")) continue;
    out.push(`| ${f.label} (${u}) | ${cells.join(" | ")} |`);
  }
  const pipe = runtimes.map((rt) => {
    const xs = ["native", "hooks", "iterator"].map((v) =>
      median(
        report.runs.filter((r) =>
          r.runtime === rt && r.variant === v && r.framer === "raw" && r.mode === "pipelined" &&
          r.ok
        ).map((r) => r.msgsPerSec as number),
      )
    );
    return xs.some(Number.isFinite) ? xs.map((x) => (x / 1e6).toFixed(2)).join(" / ") : "–";
  });
  if (pipe.some((c) => c !== "–")) {
    out.push(`| raw pipelined (million msg/s) | ${pipe.join(" | ")} |`);
  }
  out.push(...renderLayers(report, runtimes), "");
  return out.join("\n");
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

// ------------------------------------------------------------------ SVG

const COLORS: Record<string, string> = { deno: "#2f7d6d", bun: "#c77c2a", node: "#4a6fb5" };
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function text(x: number, y: number, s: string, attrs = ""): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${esc(s)}</text>`;
}

/**
 * The chart: grouped bars of tcpkit ÷ native for every figure, runtime and style (with
 * the target marked), and below it the absolute pipelined msg/s of every server.
 */
export function renderSvg(report: BenchReport): string {
  const runtimes = [...new Set(report.summary.map((r) => r.runtime))];
  const series = runtimes.flatMap((rt) => [[rt, "hooks"], [rt, "iterator"]] as const);
  const figures = FIGURES.filter((f) => report.summary.some((r) => r.figure === f.id));
  const W = 1200, left = 60, right = 20;
  const bar = 11, gap = 22;
  const groupW = series.length * bar + gap;
  const plotW = Math.max(W - left - right, figures.length * groupW);
  const width = plotW + left + right;
  const h1 = 300, top1 = 60, yMax = 3;
  const parts: string[] = [];
  const y1 = (v: number) => top1 + h1 - (Math.min(v, yMax) / yMax) * h1;
  parts.push(
    text(
      left,
      24,
      "tcpkit ÷ native control (same runtime, same session)",
      'font-size="16" font-weight="bold"',
    ),
  );
  parts.push(
    text(
      left,
      42,
      "CPU/msg and latency: lower is better (target ≤); MB/s and connections/s: higher is better (target ≥). RSS: tcpkit ÷ native.",
      'font-size="11" fill="#555"',
    ),
  );
  for (const v of [0, 0.5, 1, 1.5, 2, 2.5, 3]) {
    const y = y1(v);
    parts.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y}" y2="${y}" stroke="${
        v === 1 ? "#222" : "#ddd"
      }" stroke-width="${v === 1 ? 1.5 : 1}"/>`,
    );
    parts.push(text(left - 8, y + 4, v.toFixed(1), 'font-size="11" text-anchor="end"'));
  }
  figures.forEach((f, gi) => {
    const gx = left + gi * groupW + gap / 2;
    series.forEach(([rt, v], si) => {
      const row = report.summary.find((r) =>
        r.runtime === rt && r.variant === v && r.figure === f.id
      );
      if (!row || !Number.isFinite(row.ratio)) return;
      const x = gx + si * bar;
      const y = y1(row.ratio);
      const fill = COLORS[rt] ?? "#888";
      const op = v === "hooks" ? 1 : 0.55;
      parts.push(
        `<rect x="${x}" y="${y.toFixed(1)}" width="${bar - 2}" height="${
          (top1 + h1 - y).toFixed(1)
        }" fill="${fill}" fill-opacity="${op}" stroke="${
          row.pass === false ? "#c00" : "none"
        }"><title>${esc(`${rt} ${v} ${f.label}: ${row.ratio.toFixed(2)}`)}</title></rect>`,
      );
      if (row.ratio > yMax) {
        parts.push(
          text(x + 4, top1 - 4, row.ratio.toFixed(1), 'font-size="9" text-anchor="middle"'),
        );
      }
      const t = f.id === "conns rss" ? 1 : row.target;
      if (t !== undefined) {
        parts.push(
          `<line x1="${x - 1}" x2="${x + bar - 1}" y1="${y1(t)}" y2="${
            y1(t)
          }" stroke="#c00" stroke-width="2"/>`,
        );
      }
    });
    const lx = gx + (series.length * bar) / 2;
    const label = `${f.label}${f.better === "lower" ? " ↓" : " ↑"}`;
    parts.push(
      text(lx, top1 + h1 + 14, label.split(":")[0], 'font-size="10" text-anchor="middle"'),
    );
    if (label.includes(":")) {
      parts.push(
        text(lx, top1 + h1 + 26, label.split(":")[1].trim(), 'font-size="10" text-anchor="middle"'),
      );
    }
  });
  // legend
  let lx = left;
  const ly = top1 + h1 + 44;
  for (const [rt, v] of series) {
    parts.push(
      `<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${
        COLORS[rt] ?? "#888"
      }" fill-opacity="${v === "hooks" ? 1 : 0.55}"/>`,
    );
    parts.push(text(lx + 14, ly, `${RUNTIME_NAMES[rt] ?? rt} ${v}`, 'font-size="11"'));
    lx += 120;
  }
  parts.push(
    `<line x1="${lx}" x2="${lx + 12}" y1="${ly - 4}" y2="${
      ly - 4
    }" stroke="#c00" stroke-width="2"/>`,
  );
  parts.push(text(lx + 16, ly, "target (red outline: missed)", 'font-size="11"'));

  // Panel 2: absolute msg/s, pipelined, per runtime and framer.
  const top2 = ly + 50, h2 = 200;
  const framers = ["raw", "lines", "length"].filter((fr) =>
    report.runs.some((r) => r.framer === fr && r.mode === "pipelined")
  );
  const groups = runtimes.flatMap((rt) => framers.map((fr) => [rt, fr] as const));
  const variants = ["native", "hooks", "iterator"];
  const vals = groups.map(([rt, fr]) =>
    variants.map((v) =>
      median(
        report.runs.filter((r) =>
          r.runtime === rt && r.framer === fr && r.variant === v && r.mode === "pipelined" && r.ok
        ).map((r) => r.msgsPerSec as number),
      )
    )
  );
  const maxV = Math.max(1, ...vals.flat().filter(Number.isFinite));
  const step = Math.pow(10, Math.floor(Math.log10(maxV)));
  const top = Math.ceil(maxV / step) * step;
  parts.push(
    text(
      left,
      top2 - 20,
      "Pipelined echo, messages per second (absolute; the machine is shared, so these drift)",
      'font-size="14" font-weight="bold"',
    ),
  );
  const y2 = (v: number) => top2 + h2 - (v / top) * h2;
  for (let k = 0; k <= 4; k++) {
    const v = (top * k) / 4;
    parts.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y2(v)}" y2="${y2(v)}" stroke="#ddd"/>`,
    );
    parts.push(
      text(left - 8, y2(v) + 4, `${(v / 1e6).toFixed(1)}M`, 'font-size="11" text-anchor="end"'),
    );
  }
  const gw = plotW / Math.max(1, groups.length);
  const bw = Math.min(30, (gw - 16) / 3);
  groups.forEach(([rt, fr], gi) => {
    const gx = left + gi * gw + (gw - 3 * bw) / 2;
    vals[gi].forEach((v, vi) => {
      if (!Number.isFinite(v)) return;
      const fill = vi === 0 ? "#999" : COLORS[rt] ?? "#888";
      const op = vi === 2 ? 0.55 : 1;
      parts.push(
        `<rect x="${gx + vi * bw}" y="${y2(v).toFixed(1)}" width="${bw - 2}" height="${
          (top2 + h2 - y2(v)).toFixed(1)
        }" fill="${fill}" fill-opacity="${op}"><title>${
          esc(`${rt} ${fr} ${variants[vi]}: ${Math.round(v)} msg/s`)
        }</title></rect>`,
      );
    });
    parts.push(
      text(
        gx + 1.5 * bw,
        top2 + h2 + 14,
        `${RUNTIME_NAMES[rt] ?? rt} ${fr}`,
        'font-size="10" text-anchor="middle"',
      ),
    );
  });
  parts.push(
    text(
      left,
      top2 + h2 + 34,
      "bars: native control (grey), tcpkit hooks, tcpkit iterator (light)",
      'font-size="11" fill="#555"',
    ),
  );
  const height = top2 + h2 + 50;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="#fff"/>\n${
    parts.join("\n")
  }\n</svg>\n`;
}
