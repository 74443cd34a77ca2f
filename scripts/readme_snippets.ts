// Writes every ```ts block of README.md to its own file, so that a user's project can
// type-check them as they are (scripts/consumer_test.sh):
//
//   node scripts/readme_snippets.ts OUT_DIR
//
// Block N goes to OUT_DIR/snippet_NN.ts (with a first line that says where it came from).
// A block after the comment `<!-- consumer: NAME -->` is also written to OUT_DIR/NAME.ts,
// byte for byte, for the test to run. Every block must be a whole module: it imports what
// it uses from "tcpkit".
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const out = process.argv[2];
if (!out) {
  console.error("usage: node scripts/readme_snippets.ts OUT_DIR");
  process.exit(2);
}
const readme = readFileSync(fileURLToPath(new URL("../README.md", import.meta.url)), "utf8");
mkdirSync(out, { recursive: true });

const lines = readme.split("\n");
let count = 0;
let name: string | undefined;
for (let i = 0; i < lines.length; i++) {
  const marker = /^<!-- consumer: ([a-z_]+) -->$/.exec(lines[i]);
  if (marker) name = marker[1];
  if (lines[i] !== "```ts") continue;
  const start = i + 1;
  let end = start;
  while (end < lines.length && lines[end] !== "```") end++;
  const code = lines.slice(start, end).join("\n") + "\n";
  if (!/from "tcpkit"/.test(code)) {
    console.error(`README.md:${start}: a ts block that does not import from "tcpkit"`);
    process.exit(1);
  }
  count++;
  const file = `snippet_${String(count).padStart(2, "0")}.ts`;
  writeFileSync(join(out, file), `// README.md line ${start}\n${code}`);
  if (name) writeFileSync(join(out, `${name}.ts`), code);
  name = undefined;
  i = end;
}
console.log(`${count} TypeScript blocks of README.md written to ${out}`);
