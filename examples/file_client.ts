/**
 * File transfer client for `file_server.ts`: streams a file up or down, checking SHA-256.
 *
 *   deno run -A examples/file_client.ts put LOCAL_FILE [NAME] [--port 7002] [--host 127.0.0.1]
 *   deno run -A examples/file_client.ts get NAME [LOCAL_FILE]
 *   (or bun run / node)
 *
 * A download goes to `LOCAL_FILE.part` and is renamed once its SHA-256 matches.
 * @module
 */
import { createHash } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import { connect } from "../mod.ts";
import { args, fail, flag, port } from "./_args.ts";
import { body, fileProto, pieces } from "./_file_proto.ts";

const positional = args().filter((a, i, all) =>
  !a.startsWith("--") && !(i > 0 && all[i - 1].startsWith("--") && !all[i - 1].includes("="))
);
const [op, first, second] = positional;
const conn = await connect({
  hostname: flag("host") ?? "127.0.0.1",
  port: port(7002),
  framer: fileProto(),
});
try {
  if (op === "put" && first) {
    const file = await open(first, "r");
    const size = (await file.stat().finally(() => file.close())).size;
    const hash = createHash("sha256");
    for await (const piece of pieces(first, size)) hash.update(piece);
    await conn.send({
      op: "put",
      name: second ?? first.split("/").pop()!,
      size,
      sha256: hash.digest("hex"),
    });
    for await (const piece of pieces(first, size)) await conn.send(piece);
    const reply = await conn.next();
    if (reply instanceof Uint8Array || reply?.op !== "ok") {
      fail(`put failed: ${JSON.stringify(reply)}`);
    } else console.log(`put ${reply.name}: ${size} bytes, sha256 ${reply.sha256}`);
  } else if (op === "get" && first) {
    await conn.send({ op: "get", name: first });
    const h = await conn.next();
    if (h instanceof Uint8Array || h?.op !== "data") fail(`get failed: ${JSON.stringify(h)}`);
    else {
      const local = second ?? first;
      const file = await open(local + ".part", "w");
      const hash = createHash("sha256");
      let ok = false;
      try {
        for await (const chunk of body(() => conn.next(), h.size ?? 0)) {
          hash.update(chunk);
          for (let off = 0; off < chunk.length;) off += (await file.write(chunk, off)).bytesWritten;
        }
        const sha256 = hash.digest("hex");
        if (sha256 !== h.sha256) {
          fail(`get ${first}: sha256 mismatch: got ${sha256}, want ${h.sha256}`);
        } else {
          await file.close();
          await rename(local + ".part", local);
          ok = true;
          console.log(`got ${first}: ${h.size} bytes, sha256 ${sha256}`);
        }
      } finally {
        if (!ok) {
          await file.close().catch(() => {});
          await rm(local + ".part", { force: true });
        }
      }
    }
  } else {
    fail(
      "usage: file_client.ts put LOCAL_FILE [NAME] | get NAME [LOCAL_FILE]  [--port P] [--host H]",
    );
  }
} finally {
  conn.close();
  await conn.closed;
}
