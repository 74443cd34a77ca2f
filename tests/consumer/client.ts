// A user's client against echo.ts: sends lines, checks every echo, exits 0 on success.
//   <runtime> client.ts PORT
import process from "node:process";
import { connect, lines } from "tcpkit";

const port = Number(process.argv[2]);
const sent = ["Hello, server!", "ünïcödé ✓", "x".repeat(10_000)];
{
  await using conn = await connect({ hostname: "127.0.0.1", port, framer: lines() });
  for (const line of sent) await conn.send(line);
  const got: string[] = [];
  for await (const line of conn) {
    got.push(line);
    if (got.length === sent.length) break;
  }
  if (JSON.stringify(got) !== JSON.stringify(sent)) {
    console.error("client: wrong echo", got.map((l) => l.slice(0, 40)));
    process.exit(1);
  }
}
console.log(`client: ${sent.length} lines echoed`);
