// Builds the npm package `tcpkit` from the same sources JSR publishes as @tcpkit/tcpkit.
//
//   npm run pack            (= node scripts/pack.ts)  ->  dist/tcpkit-<version>.tgz
//   node scripts/pack.ts --source-maps                    ... with source maps
//
// `deno pack` names the package after deno.json (`@tcpkit/tcpkit`), cannot write types
// for modules it cannot infer quickly, and drops `[Symbol.asyncIterator]` and
// `[Symbol.asyncDispose]` from the types it writes, so `for await (const m of conn)` and
// `await using` fail in a user's type-check. This script compiles with TypeScript's own
// compiler instead (`rewriteRelativeImportExtensions` turns the `./x.ts` imports into
// `./x.js`), writes the package.json the npm registry shows, and packs with `npm pack`.
// Deno's own types (`deno types`) are given to the compiler for the Deno adapter; they are
// not part of the package.
import { execFileSync } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const dist = join(root, "dist");
const out = join(dist, "npm");
const bin = (name: string) => join(root, "node_modules", ".bin", name);
const sourceMaps = process.argv.includes("--source-maps");

const denoJson = JSON.parse(readFileSync(join(root, "deno.json"), "utf8"));
const repoPackage = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

/** Where the project lives; README links and the package's metadata point here. */
export const REPOSITORY = "https://github.com/tcpkit/tcpkit";

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

// 1. Compile mod.ts and everything it imports to ES2022 modules with declarations.
const denoTypes = join(dist, "lib.deno.d.ts");
writeFileSync(denoTypes, execFileSync(bin("deno"), ["types"]));
const tsconfig = join(dist, "tsconfig.pack.json");
writeFileSync(
  tsconfig,
  JSON.stringify(
    {
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        lib: ["ES2022", "DOM", "ESNext.Disposable", "ESNext.AsyncIterable"],
        strict: true,
        verbatimModuleSyntax: true,
        noImplicitOverride: true,
        rewriteRelativeImportExtensions: true,
        declaration: true,
        sourceMap: sourceMaps,
        declarationMap: sourceMaps,
        skipLibCheck: true,
        rootDir: root,
        outDir: out,
        types: ["node"],
        typeRoots: [join(root, "node_modules", "@types")],
      },
      files: [join(root, "mod.ts"), denoTypes],
    },
    null,
    2,
  ),
);
execFileSync(bin("tsc"), ["-p", tsconfig], { stdio: "inherit" });

// 2. The package.json users see on npm.
const pkg = {
  name: "tcpkit",
  version: denoJson.version,
  description: repoPackage.description,
  license: denoJson.license,
  keywords: [
    "tcp",
    "server",
    "socket",
    "framing",
    "protocol",
    "deno",
    "bun",
    "node",
    "proxy-protocol",
    "tls",
  ],
  homepage: `${REPOSITORY}#readme`,
  repository: { type: "git", url: `git+${REPOSITORY}.git` },
  bugs: { url: `${REPOSITORY}/issues` },
  type: "module",
  main: "./mod.js",
  types: "./mod.d.ts",
  exports: { ".": { types: "./mod.d.ts", import: "./mod.js", default: "./mod.js" } },
  sideEffects: false,
  // Tested: Node 22.12 and 24 (tests/consumer); Deno 2.9 and Bun 1.4 import it too.
  engines: { node: ">=22.12.0" },
};
writeFileSync(join(out, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
for (const file of ["README.md", "LICENSE", "CHANGELOG.md"]) {
  copyFileSync(join(root, file), join(out, file));
}

// 3. Pack.
const packed = execFileSync("npm", ["pack", "--pack-destination", dist, "--json"], {
  cwd: out,
  encoding: "utf8",
});
const [info] = JSON.parse(packed);
const tgz = join(dist, info.filename);
let files = 0;
const count = (dir: string) => {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) count(p);
    else files++;
  }
};
count(out);
console.log(
  `${relative(root, tgz)}: ${(statSync(tgz).size / 1024).toFixed(1)} KiB packed, ` +
    `${(info.unpackedSize / 1024).toFixed(1)} KiB unpacked, ${files} files`,
);
