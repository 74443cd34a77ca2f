/**
 * Echo server. Echoes bytes back as they come (any TCP client works: `nc 127.0.0.1 7000`),
 * or whole lines with `--framer lines`.
 *
 *   deno run --allow-net examples/echo.ts [port] [--framer raw|lines] [--host 127.0.0.1]
 *   bun run examples/echo.ts
 *   node examples/echo.ts
 *
 * The port comes from an argument, `--port`, or PORT (default 7000; 0 = any free port).
 * @module
 */
import { lines, raw, serve } from "../mod.ts";
import { flag, port } from "./_args.ts";

const mode = flag("framer") ?? "raw";
if (mode !== "raw" && mode !== "lines") {
  throw new TypeError(`--framer must be raw or lines, got "${mode}"`);
}

const options = { hostname: flag("host") ?? "127.0.0.1", port: port(7000) };
const server = mode === "lines"
  ? serve({
    ...options,
    framer: lines({ maxLength: 64 * 1024 }),
    async handler(conn) {
      for await (const line of conn) await conn.send(line);
    },
  })
  : serve({
    ...options,
    framer: raw(),
    async handler(conn) {
      for await (const chunk of conn) await conn.send(chunk);
    },
  });

await server.ready;
const a = server.addr;
console.log(
  `echo server (${mode}) on ${a.transport === "tcp" ? `${a.hostname}:${a.port}` : a.transport}`,
);
