// The reliability ("stress") suite: misbehaving peers against a real server
// process on Deno, Bun and Node, with Python clients in separate processes, on
// 127.0.0.1 only. `npm run stress` (the long form, soak included),
// `node scripts/stress.ts --short` (CI), `--soak 10m`, `--runtimes`, `--scenarios`:
// see tests/stress/run.ts. Needs Linux (/proc), python3 and openssl (test certificates).
import { main } from "../tests/stress/run.ts";

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof TypeError)) throw e;
  console.error(`stress: ${e.message}`);
  process.exitCode = 2;
}
