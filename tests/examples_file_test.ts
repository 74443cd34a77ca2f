// examples/file_server.ts and file_client.ts run as real processes: a 50 MiB round trip,
// path traversal refused, and a cut-short upload that leaves no file behind.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "../mod.ts";
import { fileProto, type Frame, type Header } from "../examples/_file_proto.ts";
import { runExample, startExample } from "./_examples.ts";
import { until } from "./_helpers.ts";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

test("file_client.ts uploads and downloads a random 50 MiB file; SHA-256 matches", {
  timeout: 45_000,
}, async () => {
  const dir = await mkdtemp(join(tmpdir(), "tcpkit-files-"));
  const ex = await startExample("file_server.ts", ["0", "--dir", join(dir, "server")]);
  try {
    const data = randomBytes(50 * 1024 * 1024);
    await writeFile(join(dir, "up.bin"), data);
    const port = ["--port", String(ex.port)];
    const put = await runExample("file_client.ts", [
      "put",
      join(dir, "up.bin"),
      "stored.bin",
      ...port,
    ]);
    assert.equal(put.code, 0, put.stdout + put.stderr);
    assert.match(put.stdout, new RegExp(sha256(data)));
    const get = await runExample("file_client.ts", [
      "get",
      "stored.bin",
      join(dir, "down.bin"),
      ...port,
    ]);
    assert.equal(get.code, 0, get.stdout + get.stderr);
    assert.equal(sha256(await readFile(join(dir, "down.bin"))), sha256(data));
    assert.deepEqual(await readdir(join(dir, "server")), ["stored.bin"]);
  } finally {
    await ex.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test("file_server.ts refuses path traversal and absolute names with an error reply", {
  timeout: 45_000,
}, async () => {
  const dir = await mkdtemp(join(tmpdir(), "tcpkit-files-"));
  const ex = await startExample("file_server.ts", ["0", "--dir", join(dir, "server")]);
  try {
    await using conn = await connect<Frame>({ port: ex.port, framer: fileProto() });
    const body = new TextEncoder().encode("pwned");
    for (const name of ["../evil", "../../tmp/evil", "/tmp/evil", "sub/evil", ".hidden", ".."]) {
      await conn.send({ op: "put", name, size: body.length, sha256: sha256(body) });
      await conn.send(body);
      const reply = await conn.next() as Header;
      assert.equal(reply.op, "error", `put ${name}`);
      assert.match(reply.error!, /bad file name/);
    }
    for (const name of ["../../../../etc/passwd", "/etc/passwd"]) {
      await conn.send({ op: "get", name });
      assert.equal((await conn.next() as Header).op, "error", `get ${name}`);
    }
    await conn.send({ op: "put", name: "fine.txt", size: body.length, sha256: sha256(body) });
    await conn.send(body);
    assert.equal((await conn.next() as Header).op, "ok");
    assert.deepEqual(await readdir(join(dir, "server")), ["fine.txt"]);
    assert.deepEqual((await readdir(dir)).sort(), ["server"]);
  } finally {
    await ex.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test("file_server.ts: an upload cut short or with a wrong SHA-256 leaves no file", {
  timeout: 45_000,
}, async () => {
  const dir = await mkdtemp(join(tmpdir(), "tcpkit-files-"));
  const server = join(dir, "server");
  const ex = await startExample("file_server.ts", ["0", "--dir", server]);
  try {
    const conn = await connect<Frame>({ port: ex.port, framer: fileProto() });
    await conn.send({ op: "put", name: "partial.bin", size: 4 << 20, sha256: "0".repeat(64) });
    // In 64 KiB pieces: on Deno one send() of more than maxOutbound (1 MiB) aborts at once.
    for (let i = 0; i < 16; i++) await conn.send(randomBytes(64 * 1024));
    conn.close();
    await conn.closed;
    await until(
      () => /connection \d+: stream ended/.test(ex.output()),
      10_000,
      "the server noticing the cut",
    );
    assert.deepEqual(await readdir(server), []);

    await using again = await connect<Frame>({ port: ex.port, framer: fileProto() });
    const body = randomBytes(1000);
    await again.send({ op: "put", name: "wrong.bin", size: body.length, sha256: "0".repeat(64) });
    await again.send(body);
    const reply = await again.next() as Header;
    assert.equal(reply.op, "error");
    assert.match(reply.error!, /sha256 mismatch/);
    assert.deepEqual(await readdir(server), []);
  } finally {
    await ex.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
