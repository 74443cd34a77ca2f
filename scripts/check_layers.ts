// Checks the rules that keep lib/ in its layers (run by `npm run check` and .ci/run):
//
//   node scripts/check_layers.ts
//
// 1. No import circle among the files of lib/.
// 2. Only lib/adapters/ names `Deno`, `Bun` or `node:*`.
// 3. Only lib/server/, lib/client/ and lib/adapters/ import from lib/adapters/, and from
//    outside it only its public files (mod.ts, memory.ts, signals.ts), never a `_` file.
// 4. Files stay under 400 lines, with one exception at most (OVERSIZE), held to its
//    present length: lib/errors.ts, whose error classes each carry a JSDoc example.
//
// Prints every breach and exits 1, or prints a one-line summary.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const MAX_LINES = 400;
/** The one file allowed over the limit, with the most lines it may have. */
const OVERSIZE: Record<string, number> = {
  "lib/errors.ts": 620, // over half of it is the examples of each error class
};
const MAX_EXCEPTIONS = 1;
const ADAPTER_PUBLIC = new Set(["mod.ts", "memory.ts", "signals.ts"]);

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith(".ts") ? [p] : [];
  });
}

const files = walk(join(root, "lib")).map((p) => relative(root, p)).sort();
const problems: string[] = [];
const graph = new Map<string, string[]>();

for (const file of files) {
  const text = readFileSync(join(root, file), "utf8");
  const inAdapters = file.startsWith("lib/adapters/");
  // Code only: comments (JSDoc examples among them) may name anything.
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const imports: string[] = [];
  for (const m of code.matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)) {
    const spec = m[1];
    if (spec.startsWith("node:") && !inAdapters) {
      problems.push(`${file}: imports ${spec} (only lib/adapters/ may)`);
    }
    if (!spec.startsWith(".")) continue;
    const target = normalize(join(dirname(file), spec));
    imports.push(target);
    if (target.startsWith("lib/adapters/") && !inAdapters) {
      const layer = file.split("/")[1];
      if (layer !== "server" && layer !== "client") {
        problems.push(`${file}: imports ${target} (only server/ and client/ use the adapters)`);
      } else if (!ADAPTER_PUBLIC.has(relative("lib/adapters", target))) {
        problems.push(
          `${file}: imports ${target}, an adapter's internal file (use adapters/mod.ts)`,
        );
      }
    }
  }
  graph.set(file, imports);
  if (!inAdapters && /\b(Deno|Bun)\.[A-Za-z]/.test(code)) {
    problems.push(`${file}: names Deno or Bun (only lib/adapters/ may)`);
  }
  const lines = text.split("\n").length - 1;
  const limit = OVERSIZE[file] ?? MAX_LINES;
  if (lines > limit) {
    problems.push(
      `${file}: ${lines} lines (limit ${limit}${
        OVERSIZE[file] ? ", the documented exception" : ""
      })`,
    );
  }
}
if (Object.keys(OVERSIZE).length > MAX_EXCEPTIONS) {
  problems.push(`OVERSIZE lists ${Object.keys(OVERSIZE).length} files: at most ${MAX_EXCEPTIONS}`);
}
for (const file of Object.keys(OVERSIZE)) {
  if (!graph.has(file)) problems.push(`OVERSIZE names ${file}, which does not exist`);
}

// Circles: a depth-first search that reports each back edge's cycle once.
const state = new Map<string, "open" | "done">();
const stack: string[] = [];
const seen = new Set<string>();
function visit(file: string): void {
  state.set(file, "open");
  stack.push(file);
  for (const next of graph.get(file) ?? []) {
    if (!graph.has(next)) continue;
    if (state.get(next) === "open") {
      const cycle = stack.slice(stack.indexOf(next));
      const key = [...cycle].sort().join(" ");
      if (!seen.has(key)) {
        seen.add(key);
        problems.push(`import circle: ${[...cycle, next].join(" -> ")}`);
      }
    } else if (!state.has(next)) visit(next);
  }
  stack.pop();
  state.set(file, "done");
}
for (const file of files) if (!state.has(file)) visit(file);

if (problems.length) {
  for (const p of problems) console.error(p);
  process.exit(1);
}
console.log(
  `layers: ${files.length} files in lib/, no circles, runtimes only in adapters/, ` +
    `every file under ${MAX_LINES} lines but ${Object.keys(OVERSIZE).join(", ") || "none"}`,
);
