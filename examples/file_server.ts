/**
 * File transfer server: uploads (`put`) and downloads (`get`) in one directory, streamed in
 * chunks with backpressure, so a 1 GiB file costs the same memory as a 1 KiB one.
 *
 *   deno run -A examples/file_server.ts [port] [--dir ./files]
 *   bun run examples/file_server.ts    node examples/file_server.ts
 *
 * The protocol is in `_file_proto.ts`: a length-prefixed JSON header, then raw bytes.
 * - Names are plain file names: `../x`, `/etc/passwd` and `.hidden` get an error reply.
 * - An upload goes to a temporary name and is renamed only once all its bytes arrived and
 *   their SHA-256 matches the header: a client that disconnects midway leaves nothing.
 * - Files and hashes use `node:fs/promises` and `node:crypto`, which Deno, Bun and Node all have.
 * @module
 */
import { createHash, randomUUID } from "node:crypto";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { type Connection, formatAddr, serve } from "../mod.ts";
import { flag, port } from "./_args.ts";
import { body, fileProto, type Frame, type Header, pieces, safeName } from "./_file_proto.ts";

type Conn = Connection<Frame>;
const dir = flag("dir") ?? "./files";
/** A path in the directory; `name` is a checked plain name (see `safeName`). */
const inDir = (name: string) => `${dir}/${name}`;
await mkdir(dir, { recursive: true });

async function put(conn: Conn, h: Header): Promise<Header> {
  const size = h.size ?? 0;
  const bad = !safeName(h.name)
    ? "bad file name"
    : !/^[0-9a-f]{64}$/.test(h.sha256 ?? "")
    ? "bad sha256"
    : "";
  const chunks = body(() => conn.next(), size);
  if (bad) {
    for await (const _ of chunks); // read past the body so the reply arrives and the connection lives on
    return { op: "error", error: bad };
  }
  const tmp = inDir(`.${randomUUID()}.part`);
  const file = await open(tmp, "wx");
  let done = false;
  try {
    const hash = createHash("sha256");
    for await (const chunk of chunks) {
      hash.update(chunk);
      for (let off = 0; off < chunk.length;) off += (await file.write(chunk, off)).bytesWritten;
    }
    await file.sync();
    const sha256 = hash.digest("hex");
    if (sha256 !== h.sha256) return { op: "error", error: `sha256 mismatch: got ${sha256}` };
    await rename(tmp, inDir(h.name!));
    done = true;
    return { op: "ok", name: h.name, sha256 };
  } finally {
    await file.close();
    if (!done) await rm(tmp, { force: true });
  }
}

async function get(conn: Conn, h: Header): Promise<Header | undefined> {
  if (!safeName(h.name)) return { op: "error", error: "bad file name" };
  const path = inDir(h.name);
  let size: number;
  try {
    const file = await open(path, "r");
    const st = await file.stat().finally(() => file.close());
    if (!st.isFile()) throw new Error("not a file");
    size = st.size;
  } catch {
    return { op: "error", error: `no such file: ${h.name}` };
  }
  const hash = createHash("sha256");
  for await (const piece of pieces(path, size)) hash.update(piece);
  await conn.send({ op: "data", name: h.name, size, sha256: hash.digest("hex") });
  for await (const piece of pieces(path, size)) await conn.send(piece);
  return undefined;
}

const server = serve<Frame>({
  hostname: flag("host") ?? "127.0.0.1",
  port: port(7002),
  framer: fileProto(),
  async handler(conn) {
    try {
      for (let h = await conn.next(); h !== undefined; h = await conn.next()) {
        if (h instanceof Uint8Array) throw new Error("body bytes without a header");
        const reply = h.op === "put"
          ? await put(conn, h)
          : h.op === "get"
          ? await get(conn, h)
          : { op: "error" as const, error: h.error ?? `unknown op ${JSON.stringify(h.op)}` };
        if (reply) await conn.send(reply);
        if (reply?.op === "error" && h.op !== "put" && h.op !== "get") return; // the stream is lost
      }
    } catch (e) {
      console.log(`file server: connection ${conn.id}: ${(e as Error).message}`);
    }
  },
});
await server.ready;
console.log(`file server on ${formatAddr(server.addr)}, dir ${dir}`);
