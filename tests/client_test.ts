// connect() errors, request() and reconnecting(), over the native adapter and memory.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type AdapterName,
  connect,
  ConnectError,
  type Connection,
  lines,
  OutboundOverflowError,
  reconnecting,
  request,
  serve,
  TimeoutError,
} from "../mod.ts";
import { nativeAdapter, portOf, sleep, until, within } from "./_helpers.ts";

const HOST = "127.0.0.1";

function upperServer(adapter: AdapterName, port = 0, delayFor = "") {
  return serve({
    adapter,
    hostname: HOST,
    port,
    framer: lines(),
    async handler(conn) {
      for await (const line of conn) {
        if (line === delayFor) await sleep(300);
        await conn.send(line.toUpperCase());
      }
    },
  });
}

for (const adapter of [nativeAdapter(), "memory"] as AdapterName[]) {
  const t = (name: string, fn: () => Promise<void>) => test(`[${adapter}] ${name}`, fn);

  t("connect() to a port nobody listens on fails with ConnectError refused", async () => {
    const server = upperServer(adapter);
    const port = await portOf(server);
    await server.shutdown();
    await assert.rejects(connect({ adapter, hostname: HOST, port }), (e: unknown) => {
      assert.ok(e instanceof ConnectError, String(e));
      assert.equal(e.reason, "refused");
      return true;
    });
  });

  t("connect() with an aborted signal fails with ConnectError aborted", async () => {
    await using server = upperServer(adapter);
    const port = await portOf(server);
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(
      connect({ adapter, hostname: HOST, port, signal: ac.signal }),
      (e: unknown) => {
        assert.ok(e instanceof ConnectError && e.reason === "aborted", String(e));
        return true;
      },
    );
  });

  t("request() pipelines requests and matches replies in order", async () => {
    await using server = upperServer(adapter);
    const port = await portOf(server);
    await using conn = await connect({ adapter, hostname: HOST, port, framer: lines() });
    const words = Array.from({ length: 50 }, (_, i) => `w${i}`);
    const replies = await within(Promise.all(words.map((w) => request(conn, w))), 5000, "replies");
    assert.deepEqual(replies, words.map((w) => w.toUpperCase()));
  });

  t("request() times out with TimeoutError request and ends the connection", async () => {
    await using server = upperServer(adapter, 0, "slow");
    const port = await portOf(server);
    const conn: Connection<string, string> = await connect({
      adapter,
      hostname: HOST,
      port,
      framer: lines(),
    });
    await assert.rejects(request(conn, "slow", { timeout: 50 }), (e: unknown) => {
      assert.ok(e instanceof TimeoutError && e.kind === "request", String(e));
      return true;
    });
    await within(conn.closed, 5000, "connection closed after timeout");
  });

  t(
    "reconnecting() buffers while down, bounds the buffer, and delivers after reconnect",
    async () => {
      const first = upperServer(adapter);
      const port = await portOf(first);
      const client = reconnecting({
        adapter,
        hostname: HOST,
        port,
        framer: lines(),
        maxBuffered: 64,
        backoff: { initial: 20, max: 100, jitter: 0 },
      });
      const got: string[] = [];
      const delays: number[] = [];
      let opens = 0;
      client.on("message", (m) => got.push(m));
      client.on("open", () => opens++);
      client.on("reconnecting", ({ delay }) => delays.push(delay));
      try {
        await until(() => opens === 1, 5000, "first open");
        await client.send("one");
        await until(() => got.length === 1, 5000, "first reply");
        await first.shutdown({ timeout: 100 });
        await until(() => client.connection === undefined, 5000, "disconnect seen");
        await client.send("two"); // buffered
        await assert.rejects(client.send("x".repeat(100)), OutboundOverflowError);
        await until(() => delays.length >= 3, 5000, "a few failed attempts");
        assert.ok(delays[1] > delays[0] && delays[2] > delays[1], `backoff grows: ${delays}`);
        const second = upperServer(adapter, port);
        try {
          await second.ready;
          await until(() => got.length === 2, 10_000, "buffered message delivered after reconnect");
          assert.deepEqual(got, ["ONE", "TWO"]);
          assert.equal(opens, 2);
        } finally {
          client.close(); // before the server's shutdown, which would wait for this connection
          await second.shutdown({ timeout: 1000 });
        }
      } finally {
        client.close();
      }
    },
  );

  t("reconnecting() gives up after maxRetries and fires closed", async () => {
    const server = upperServer(adapter);
    const port = await portOf(server);
    await server.shutdown();
    const client = reconnecting({
      adapter,
      hostname: HOST,
      port,
      maxRetries: 2,
      backoff: { initial: 5, jitter: 0 },
    });
    const errors: Error[] = [];
    client.on("error", (e) => errors.push(e));
    const closed = new Promise<void>((r) => client.on("closed", () => r()));
    await within(closed, 5000, "closed after retries");
    assert.equal(errors.length, 3);
    assert.ok(errors.every((e) => e instanceof ConnectError));
    await assert.rejects(client.send(new Uint8Array(1)));
  });
}
