// Pools the pipelined runs of several `npm run bench` result files: for each runtime,
// framer and variant, the median over every repetition of (variant ÷ native) and of
// (variant ÷ Go), each pair taken from the same file and the same repetition, with the
// range of the ÷ native ratios.
//
//   node bench/pool.ts bench/results/latest.json bench/results/pipelined-5/latest.json
import { readFileSync } from "node:fs";
import process from "node:process";

interface Run {
  rep: number;
  runtime: string;
  variant: string;
  framer: string;
  mode: string;
  cpuUsPerMsg: number;
  ok: boolean;
}

const files = process.argv.slice(2);
if (files.length === 0) throw new TypeError("usage: pool.ts RESULTS.json [RESULTS.json ...]");
const runs = files.map((f) => (JSON.parse(readFileSync(f, "utf8")) as { runs: Run[] }).runs);

const median = (x: number[]) => {
  const s = [...x].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const cost = (list: Run[], runtime: string, framer: string, variant: string, rep: number) =>
  list.find((r) =>
    r.ok && r.mode === "pipelined" && r.runtime === runtime && r.framer === framer &&
    r.variant === variant && r.rep === rep
  )?.cpuUsPerMsg;

const runtimes = ["deno", "bun", "node"];
const variants = [...new Set(runs.flat().map((r) => r.variant))].filter((v) => v !== "go");
console.log("pipelined CPU per message: median ÷ native [range] ÷ Go (pairs)");
for (const framer of ["raw", "lines", "length"]) {
  for (const variant of variants) {
    const cells: string[] = [];
    for (const runtime of runtimes) {
      const toNative: number[] = [];
      const toGo: number[] = [];
      for (const list of runs) {
        for (const rep of new Set(list.map((r) => r.rep))) {
          const v = cost(list, runtime, framer, variant, rep);
          const n = cost(list, runtime, framer, "native", rep);
          const g = cost(list, runtime, framer, "go", rep);
          if (v !== undefined && n !== undefined) toNative.push(v / n);
          if (v !== undefined && g !== undefined) toGo.push(v / g);
        }
      }
      if (toNative.length === 0) continue;
      const range = `${Math.min(...toNative).toFixed(2)}–${Math.max(...toNative).toFixed(2)}`;
      const go = toGo.length ? median(toGo).toFixed(2) : "-";
      cells.push(
        `${runtime} ${median(toNative).toFixed(2)} [${range}] ${go} (${toNative.length})`,
      );
    }
    if (cells.length) console.log(`${framer.padEnd(6)} ${variant.padEnd(9)} ${cells.join(" | ")}`);
  }
}
