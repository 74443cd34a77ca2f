// Full duplex under pressure: a server that uploads and downloads at once keeps reading
// while its own writes are stuck behind a peer that reads only after it has written
// everything. (The Deno adapter waits for a write before its next read; a write that
// stays stuck must not stop reading, or both sides would wait forever.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, raw, serve } from "../mod.ts";
import { nativeAdapter, portOf, randomBytes, within } from "./_helpers.ts";

const SIZE = 8 * 1024 * 1024;
const BLOCK = 64 * 1024;

test(`[${nativeAdapter()}] a server reads an upload while its download waits for the peer`, async () => {
  const down = randomBytes(SIZE, 5);
  let received = 0;
  const serverDone = Promise.withResolvers<number>();
  await using server = serve({
    hostname: "127.0.0.1",
    port: 0,
    framer: raw(),
    maxOutbound: 2 * SIZE,
    async handler(conn) {
      const sending = (async () => {
        for (let at = 0; at < SIZE; at += BLOCK) await conn.write(down.subarray(at, at + BLOCK));
        conn.end();
      })();
      for await (const chunk of conn) received += chunk.length;
      await sending;
      serverDone.resolve(received);
    },
  });
  const port = await portOf(server);
  await using conn = await connect({ hostname: "127.0.0.1", port, framer: raw() });
  const up = randomBytes(SIZE, 6);
  // Write everything before reading anything: the server's download is stuck meanwhile.
  await within(
    (async () => {
      for (let at = 0; at < SIZE; at += BLOCK) await conn.write(up.subarray(at, at + BLOCK));
      conn.end();
    })(),
    30_000,
    "the upload (the server must keep reading)",
  );
  let got = 0;
  let mismatch = -1;
  await within(
    (async () => {
      for await (const chunk of conn) {
        for (let i = 0; i < chunk.length && mismatch < 0; i++) {
          if (chunk[i] !== down[got + i]) mismatch = got + i;
        }
        got += chunk.length;
      }
    })(),
    30_000,
    "the download",
  );
  assert.equal(mismatch, -1, `download differs at byte ${mismatch}`);
  assert.equal(got, SIZE);
  assert.equal(await within(serverDone.promise, 10_000, "server end"), SIZE);
});
