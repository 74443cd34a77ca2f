/**
 * The benchmark chart, an SVG written here (no dependencies): tcpkit ÷ the native control
 * for every figure, runtime and style; tcpkit and each native control ÷ the Go peer; and
 * the pipelined messages per second of every server. Used by scripts/bench.ts. The batch
 * style (`messages` hook) has its bars when the report has its runs: hatched in the
 * runtime's color.
 *
 * @module
 */

import {
  type BenchReport,
  comparedIn,
  figureLabel,
  FIGURES,
  findRow,
  medianOf,
  RUNTIME_NAMES,
  stylesIn,
  type SummaryRow,
} from "./_report.ts";

const COLORS: Record<string, string> = { deno: "#2f7d6d", bun: "#c77c2a", node: "#4a6fb5" };
const GO_COLOR = "#00a3cc";
/**
 * Bar opacity per server: tcpkit hooks solid, iterator light, native control (÷ Go) faint;
 * batch is solid and hatched (`fill()`).
 */
const OPACITY: Record<string, number> = { hooks: 1, iterator: 0.55, native: 0.25, batch: 1 };
/** A hatch in each runtime's color, for the batch style's bars. */
const PATTERNS = Object.entries(COLORS).map(([rt, c]) =>
  `<pattern id="hatch-${rt}" width="4" height="4" patternUnits="userSpaceOnUse" ` +
  `patternTransform="rotate(45)"><rect width="4" height="4" fill="${c}" fill-opacity="0.6"/>` +
  `<line x1="0" y1="0" x2="0" y2="4" stroke="${c}" stroke-width="2.5"/></pattern>`
);
/** The fill of a server's bar on one runtime. */
const fill = (rt: string, variant: string) =>
  variant === "batch" && COLORS[rt] ? `url(#hatch-${rt})` : COLORS[rt] ?? "#888";
const LEFT = 60, RIGHT = 20, MIN_W = 1200;
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const name = (rt: string) => RUNTIME_NAMES[rt] ?? rt;

function text(x: number, y: number, s: string, attrs = ""): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${esc(s)}</text>`;
}

function line(x1: number, x2: number, y1: number, y2: number, attrs: string): string {
  return `<line x1="${x1.toFixed(1)}" x2="${x2.toFixed(1)}" y1="${y1.toFixed(1)}" y2="${
    y2.toFixed(1)
  }" ${attrs}/>`;
}

interface Panel {
  parts: string[];
  /** The y below the panel. */
  bottom: number;
  /** The width of the plot area. */
  plotW: number;
}

/**
 * Grouped bars of the ratios against one control, one group per figure, one bar per
 * runtime and server, the target marked on each bar that has one.
 */
function ratioPanel(
  report: BenchReport,
  runtimes: string[],
  against: SummaryRow["against"],
  top: number,
  title: string,
  note: string,
): Panel {
  const variants = comparedIn(report, against);
  const series = runtimes.flatMap((rt) => variants.map((v) => [rt, v] as const));
  const figures = FIGURES.filter((f) =>
    report.summary.some((r) => r.against === against && r.figure === f.id)
  );
  const bar = 11, gap = 22, h = 300, yMax = 3;
  const groupW = series.length * bar + gap;
  const plotW = Math.max(MIN_W - LEFT - RIGHT, figures.length * groupW);
  const top1 = top + 60;
  const y = (v: number) => top1 + h - (Math.min(v, yMax) / yMax) * h;
  const parts = [
    text(LEFT, top + 24, title, 'font-size="16" font-weight="bold"'),
    text(LEFT, top + 42, note, 'font-size="11" fill="#555"'),
  ];
  for (const v of [0, 0.5, 1, 1.5, 2, 2.5, 3]) {
    parts.push(
      line(
        LEFT,
        LEFT + plotW,
        y(v),
        y(v),
        `stroke="${v === 1 ? "#222" : "#ddd"}" stroke-width="${v === 1 ? 1.5 : 1}"`,
      ),
      text(LEFT - 8, y(v) + 4, v.toFixed(1), 'font-size="11" text-anchor="end"'),
    );
  }
  figures.forEach((f, gi) => {
    const gx = LEFT + gi * groupW + gap / 2;
    series.forEach(([rt, v], si) => {
      const row = findRow(report, rt, v, against, f.id);
      if (!row || !Number.isFinite(row.ratio)) return;
      const x = gx + si * bar;
      const by = y(row.ratio);
      parts.push(
        `<rect x="${x}" y="${by.toFixed(1)}" width="${bar - 2}" height="${
          (top1 + h - by).toFixed(1)
        }" fill="${fill(rt, v)}" fill-opacity="${OPACITY[v]}" stroke="${
          row.pass === false ? "#c00" : "none"
        }"><title>${
          esc(`${name(rt)} ${v} ${figureLabel(f, report)}: ${row.ratio.toFixed(2)}`)
        }</title></rect>`,
      );
      if (row.ratio > yMax) {
        parts.push(
          text(x + 4, top1 - 4, row.ratio.toFixed(1), 'font-size="9" text-anchor="middle"'),
        );
      }
      const t = f.id === "conns rss" && against === "native" ? 1 : row.target;
      if (t !== undefined) {
        parts.push(line(x - 1, x + bar - 1, y(t), y(t), 'stroke="#c00" stroke-width="2"'));
      }
    });
    const lx = gx + (series.length * bar) / 2;
    // Two lines under the group: split at the colon, or else at the first comma.
    const label = `${figureLabel(f, report)}${f.better === "lower" ? " ↓" : " ↑"}`;
    const [, head, tail] = /^(.*?)(?:(?:: |, )(.*))?$/.exec(label)!;
    parts.push(text(lx, top1 + h + 14, head, 'font-size="10" text-anchor="middle"'));
    if (tail !== undefined) {
      parts.push(text(lx, top1 + h + 26, tail.trim(), 'font-size="10" text-anchor="middle"'));
    }
  });
  let lx = LEFT;
  const ly = top1 + h + 44;
  for (const [rt, v] of series) {
    parts.push(
      `<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${fill(rt, v)}" fill-opacity="${
        OPACITY[v]
      }"/>`,
      text(lx + 14, ly, `${name(rt)} ${v}`, 'font-size="11"'),
    );
    lx += 110;
  }
  parts.push(
    line(lx, lx + 12, ly - 4, ly - 4, 'stroke="#c00" stroke-width="2"'),
    text(lx + 16, ly, "target (red outline: missed)", 'font-size="11"'),
  );
  return { parts, bottom: ly + 10, plotW: Math.max(plotW, lx + 200 - LEFT) };
}

/** Absolute pipelined messages per second: every runtime's servers per framer, then Go. */
function throughputPanel(report: BenchReport, runtimes: string[], top: number): Panel {
  const h = 200, top2 = top + 50;
  const framers = ["raw", "lines", "length"].filter((fr) =>
    report.runs.some((r) => r.framer === fr && r.mode === "pipelined")
  );
  const hasGo = report.runs.some((r) => r.variant === "go" && r.mode === "pipelined" && r.ok);
  const groups = [...runtimes, ...(hasGo ? ["go"] : [])].flatMap((rt) =>
    framers.map((fr) => [rt, fr] as const)
  );
  const variants = ["native", ...stylesIn(report)];
  const vals = groups.map(([rt, fr]) =>
    rt === "go"
      ? [medianOf(report, "go", fr, "pipelined", "msgsPerSec")]
      : variants.map((v) => medianOf(report, v, fr, "pipelined", "msgsPerSec", rt))
  );
  const maxV = Math.max(1, ...vals.flat().filter(Number.isFinite));
  const step = Math.pow(10, Math.floor(Math.log10(maxV)));
  const yTop = Math.ceil(maxV / step) * step;
  const plotW = MIN_W - LEFT - RIGHT;
  const y = (v: number) => top2 + h - (v / yTop) * h;
  const parts = [
    text(
      LEFT,
      top2 - 20,
      "Pipelined echo, messages per second (absolute; the machine is shared, so these drift)",
      'font-size="14" font-weight="bold"',
    ),
  ];
  for (let k = 0; k <= 4; k++) {
    const v = (yTop * k) / 4;
    parts.push(
      line(LEFT, LEFT + plotW, y(v), y(v), 'stroke="#ddd"'),
      text(LEFT - 8, y(v) + 4, `${(v / 1e6).toFixed(1)}M`, 'font-size="11" text-anchor="end"'),
    );
  }
  const gw = plotW / Math.max(1, groups.length);
  const bw = Math.min(30, (gw - 16) / variants.length);
  groups.forEach(([rt, fr], gi) => {
    const n = vals[gi].length;
    const gx = LEFT + gi * gw + (gw - n * bw) / 2;
    vals[gi].forEach((v, vi) => {
      if (!Number.isFinite(v)) return;
      const server = rt === "go" ? "Go" : `${name(rt)} ${variants[vi]}`;
      const color = rt === "go" ? GO_COLOR : vi === 0 ? "#999" : fill(rt, variants[vi]);
      parts.push(
        `<rect x="${gx + vi * bw}" y="${y(v).toFixed(1)}" width="${bw - 2}" height="${
          (top2 + h - y(v)).toFixed(1)
        }" fill="${color}" fill-opacity="${
          rt === "go" || vi === 0 ? 1 : OPACITY[variants[vi]] ?? 1
        }"><title>${esc(`${server} ${fr}: ${Math.round(v)} msg/s`)}</title></rect>`,
      );
    });
    const label = `${rt === "go" ? "Go" : name(rt)} ${fr}`;
    parts.push(
      text(gx + (n * bw) / 2, top2 + h + 14, label, 'font-size="10" text-anchor="middle"'),
    );
  });
  parts.push(
    text(
      LEFT,
      top2 + h + 34,
      `bars: native control (grey), tcpkit hooks, tcpkit iterator (light)${
        variants.includes("batch") ? ", tcpkit batch (hatched)" : ""
      }${hasGo ? "; Go standard library (blue)" : ""}`,
      'font-size="11" fill="#555"',
    ),
  );
  return { parts, bottom: top2 + h + 50, plotW };
}

/** The whole chart. */
export function renderSvg(report: BenchReport): string {
  const runtimes = [...new Set(report.summary.map((r) => r.runtime))];
  const panels = [
    ratioPanel(
      report,
      runtimes,
      "native",
      0,
      "tcpkit ÷ native control (same runtime, same session)",
      "CPU/msg and latency: lower is better (target ≤); MB/s and connections/s: higher is better (target ≥). RSS: tcpkit ÷ native.",
    ),
  ];
  if (report.summary.some((r) => r.against === "go")) {
    panels.push(
      ratioPanel(
        report,
        runtimes,
        "go",
        panels[0].bottom + 10,
        "÷ Go standard library peer (run in each runtime's rotation, same session)",
        "Faint: the runtime's native control ÷ Go; solid: tcpkit hooks; light: tcpkit iterator; hatched: tcpkit batch. Same directions as above.",
      ),
    );
  }
  panels.push(throughputPanel(report, runtimes, panels[panels.length - 1].bottom));
  const width = Math.max(...panels.map((p) => p.plotW)) + LEFT + RIGHT;
  const height = panels[panels.length - 1].bottom;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">\n<defs>${
    PATTERNS.join("")
  }</defs>\n<rect width="100%" height="100%" fill="#fff"/>\n${
    panels.flatMap((p) => p.parts).join("\n")
  }\n</svg>\n`;
}
