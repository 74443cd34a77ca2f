/**
 * Echo client: sends each argument (or "Hello, server!") and prints the reply.
 *
 *   deno run --allow-net examples/echo_client.ts [--port 7000] [--framer raw|lines] [words...]
 *   bun run examples/echo_client.ts
 *   node examples/echo_client.ts
 * @module
 */
import { connect, lines } from "../mod.ts";
import { args, flag, port } from "./_args.ts";

const hostname = flag("host") ?? "127.0.0.1";
const p = port(7000);
const mode = flag("framer") ?? "raw";
const words = args().filter((a, i, all) =>
  !a.startsWith("--") && !(i > 0 && all[i - 1].startsWith("--") && !all[i - 1].includes("="))
);
const messages = words.length ? words : ["Hello, server!"];

if (mode === "lines") {
  await using conn = await connect({ hostname, port: p, framer: lines() });
  for (const m of messages) {
    await conn.send(m);
    console.log(await conn.next());
  }
} else {
  await using conn = await connect({ hostname, port: p });
  const decoder = new TextDecoder();
  for (const m of messages) {
    const bytes = new TextEncoder().encode(m);
    await conn.send(bytes);
    let got = "";
    let n = 0;
    while (n < bytes.length) {
      const chunk = await conn.next();
      if (!chunk) break;
      n += chunk.length;
      got += decoder.decode(chunk, { stream: true });
    }
    console.log(got);
  }
}
