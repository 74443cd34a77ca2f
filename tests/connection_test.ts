// Connection behaviour with framers over real sockets (native adapter) and memory:
// length-prefixed end to end, framer swap without loss, skip policy, fairness,
// inbound backpressure, no frames after close.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type AdapterName,
  connect,
  FrameTooLongError,
  lengthPrefixed,
  lines,
  serve,
} from "../mod.ts";
import { concat, nativeAdapter, portOf, randomBytes, sleep, until, within } from "./_helpers.ts";

const HOST = "127.0.0.1";
const enc = new TextEncoder();

function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length);
  out.set(payload, 4);
  return out;
}

for (const adapter of [nativeAdapter(), "memory"] as AdapterName[]) {
  const t = (name: string, fn: () => Promise<void>) => test(`[${adapter}] ${name}`, fn);

  t("lengthPrefixed() frames round-trip end to end, whatever their size", async () => {
    await using server = serve({
      adapter,
      hostname: HOST,
      port: 0,
      framer: lengthPrefixed({ maxLength: 1 << 20 }),
      maxOutbound: 4 << 20,
      handler: { message: (conn, f) => void conn.send(f) },
    });
    const port = await portOf(server);
    await using conn = await connect({
      adapter,
      hostname: HOST,
      port,
      framer: lengthPrefixed({ maxLength: 1 << 20 }),
      maxOutbound: 4 << 20,
    });
    const sizes = [0, 1, 3, 100, 4096, 65_535, 65_536, 300_000, 1 << 20];
    const payloads = sizes.map((n, i) => randomBytes(n, i + 7));
    for (const p of payloads) conn.send(p);
    for (const p of payloads) {
      assert.deepEqual(await within(conn.next(), 10_000, `frame ${p.length}`), p);
    }
  });

  t("one message larger than maxOutbound goes out whole when the peer reads", async () => {
    await using server = serve({
      adapter,
      hostname: HOST,
      port: 0,
      framer: lengthPrefixed(),
      maxOutbound: 256 * 1024,
      async handler(conn) {
        for await (const f of conn) await conn.send(f);
      },
    });
    const port = await portOf(server);
    await using conn = await connect({
      adapter,
      hostname: HOST,
      port,
      framer: lengthPrefixed(),
      maxOutbound: 256 * 1024,
    });
    const big = randomBytes(2 * 1024 * 1024, 3);
    await conn.send(big);
    assert.deepEqual(await within(conn.next(), 10_000, "2 MiB echo"), big);
  });

  t("a frame over maxLength closes the connection with FrameTooLongError by default", async () => {
    const closed = Promise.withResolvers<Error | undefined>();
    await using server = serve({
      adapter,
      hostname: HOST,
      port: 0,
      framer: lengthPrefixed({ maxLength: 100 }),
      handler: { message() {}, close: (_c, e) => closed.resolve(e) },
    });
    const port = await portOf(server);
    await using conn = await connect({ adapter, hostname: HOST, port });
    await conn.send(frame(new Uint8Array(101)));
    const err = await within(closed.promise, 5000, "close");
    assert.ok(
      err instanceof FrameTooLongError && err.length === 101 && err.maxLength === 100,
      String(err),
    );
  });

  t("tooLong skip reports once through the error hook and carries on", async () => {
    const errors: unknown[] = [];
    const got: string[] = [];
    await using server = serve({
      adapter,
      hostname: HOST,
      port: 0,
      framer: lines({ maxLength: 8, tooLong: "skip" }),
      handler: {
        message: (_c, line) => void got.push(line),
        error: (_c, e) => void errors.push(e),
      },
    });
    const port = await portOf(server);
    await using conn = await connect({ adapter, hostname: HOST, port });
    await conn.write(enc.encode("ok1\n" + "x".repeat(5000) + "\nok2\n"));
    await until(() => got.length === 2, 5000, "both short lines");
    assert.deepEqual(got, ["ok1", "ok2"]);
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof FrameTooLongError && errors[0].recoverable);
  });

  t("setFramer() hands the bytes already read to the new framer (protocol upgrade)", async () => {
    await using server = serve({
      adapter,
      hostname: HOST,
      port: 0,
      framer: lines(),
      async handler(conn) {
        const hello = await conn.next();
        const bin = conn.setFramer(lengthPrefixed());
        const frames: Uint8Array[] = [];
        for await (const f of bin) frames.push(f);
        await bin.send(enc.encode(`${hello}:${frames.map((f) => f.length).join(",")}`));
      },
    });
    const port = await portOf(server);
    await using conn = await connect({ adapter, hostname: HOST, port, framer: lengthPrefixed() });
    // The line and the frames after it go out in one write, so they arrive in one chunk.
    await conn.write(
      concat([enc.encode("UPGRADE\n"), frame(new Uint8Array(3)), frame(new Uint8Array(700))]),
    );
    conn.end();
    const reply = await within(conn.next(), 5000, "reply");
    assert.equal(new TextDecoder().decode(reply), "UPGRADE:3,700");
  });

  t("one read with thousands of messages yields to the event loop (fairness)", async () => {
    const order: string[] = [];
    let seen = 0;
    const n = 5000;
    await using server = serve({
      adapter,
      hostname: HOST,
      port: 0,
      framer: lines(),
      messageBudget: 256,
      handler: {
        message() {
          if (seen++ === 0) setTimeout(() => order.push(`timer after ${seen}`), 0);
          if (seen === n) order.push("last message");
        },
      },
    });
    const port = await portOf(server);
    await using conn = await connect({ adapter, hostname: HOST, port });
    await conn.write(enc.encode("m\n".repeat(n)));
    await until(() => order.length === 2, 5000, "all messages and the timer");
    assert.match(order[0], /^timer after \d+$/, `the timer ran before the last message: ${order}`);
    assert.equal(order[1], "last message");
  });

  t("a handler that does not read pauses the socket: the sender sees backpressure", async () => {
    const release = Promise.withResolvers<void>();
    let count = 0;
    await using server = serve({
      adapter,
      hostname: HOST,
      port: 0,
      framer: lengthPrefixed(),
      async handler(conn) {
        await release.promise;
        for await (const _ of conn) count++;
      },
    });
    const port = await portOf(server);
    await using conn = await connect({ adapter, hostname: HOST, port, maxOutbound: 1 << 30 });
    const chunk = frame(new Uint8Array(64 * 1024));
    let sent = 0;
    let blocked = false;
    for (let i = 0; i < 2000 && !blocked; i++) {
      const p = conn.write(chunk);
      sent++;
      blocked = await Promise.race([p.then(() => false), sleep(200).then(() => true)]);
    }
    assert.ok(blocked, "writes stalled while the handler did not read");
    assert.ok(sent < 2000);
    release.resolve();
    conn.end();
    await until(
      () => count === sent,
      20_000,
      `all ${sent} frames read after the handler caught up`,
    );
  });

  t("no message is delivered after the handler closed the connection", async () => {
    const after: number[] = [];
    let closedAt = -1;
    await using server = serve({
      adapter,
      hostname: HOST,
      port: 0,
      framer: lines(),
      handler: {
        message(conn, line) {
          if (closedAt >= 0) after.push(Number(line));
          if (line === "10") {
            closedAt = 10;
            conn.close();
          }
        },
      },
    });
    const port = await portOf(server);
    await using conn = await connect({ adapter, hostname: HOST, port });
    await conn.write(enc.encode(Array.from({ length: 100 }, (_, i) => `${i}\n`).join("")));
    await within(conn.next().then(() => conn.next()), 5000, "server closes");
    await sleep(20);
    assert.equal(closedAt, 10);
    assert.deepEqual(after, []);
  });
}
