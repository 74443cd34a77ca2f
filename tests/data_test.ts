// serve({ data }) and connect({ data }): per-connection state made before the handler
// runs, one object per connection, typed by inference.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, lines, serve } from "../mod.ts";
import { nativeAdapter, portOf, until, within } from "./_helpers.ts";

const adapter = nativeAdapter();
const t = (name: string, fn: () => Promise<void>) => test(`[${adapter}] ${name}`, fn);

t("serve({ data }): each connection gets its own state before open() runs", async () => {
  const seenInOpen: number[] = [];
  const server = serve({
    adapter,
    hostname: "127.0.0.1",
    port: 0,
    framer: lines(),
    data: () => ({ count: 0 }),
    handler: {
      open(conn) {
        seenInOpen.push(conn.data.count);
      },
      message(conn, line) {
        conn.data.count++; // typed: { count: number }
        conn.send(`${conn.data.count} ${line}`);
      },
    },
  });
  try {
    const port = await portOf(server);
    await using a = await connect({ adapter, port, framer: lines() });
    await using b = await connect({ adapter, port, framer: lines() });
    await a.send("x");
    await a.send("y");
    await b.send("z");
    assert.equal(await within(a.next(), 5000, "a1"), "1 x");
    assert.equal(await within(a.next(), 5000, "a2"), "2 y");
    assert.equal(await within(b.next(), 5000, "b1"), "1 z", "b has its own counter");
    assert.deepEqual(seenInOpen, [0, 0]);
  } finally {
    await server.shutdown({ timeout: 1000 });
  }
});

t("serve({ data }) that throws: reported, the connection closed, the server goes on", async () => {
  const errors: unknown[] = [];
  let calls = 0;
  const server = serve({
    adapter,
    hostname: "127.0.0.1",
    port: 0,
    framer: lines(),
    data: () => {
      if (calls++ === 0) throw new Error("no state for you");
      return { ok: true };
    },
    onError: (e) => errors.push(e),
    async handler(conn) {
      for await (const line of conn) await conn.send(`${conn.data.ok} ${line}`);
    },
  });
  try {
    const port = await portOf(server);
    // The server aborts the first connection: the client sees a reset, during its connect
    // (Node, Bun) or on its first read.
    const first = await connect({ adapter, port, framer: lines() }).catch(() => undefined);
    if (first) {
      await within(first.next().catch(() => undefined), 5000, "the first is closed");
      first.close();
    }
    await until(() => errors.length === 1, 5000, "the failure reported");
    await using second = await connect({ adapter, port, framer: lines() });
    await second.send("hi");
    assert.equal(await within(second.next(), 5000, "second"), "true hi");
    assert.equal((errors[0] as Error).message, "no state for you");
    await until(() => server.stats().active === 1, 5000, "the first slot released");
  } finally {
    await server.shutdown({ timeout: 1000 });
  }
});

t(
  "connect({ data }): the client's state is made before hooks.open; a throw closes it",
  async () => {
    const server = serve({
      adapter,
      hostname: "127.0.0.1",
      port: 0,
      framer: lines(),
      handler: { message: (conn, line) => conn.send(line) },
    });
    try {
      const port = await portOf(server);
      let inOpen: string[] | undefined;
      await using conn = await connect({
        adapter,
        port,
        framer: lines(),
        data: () => ({ log: [] as string[] }),
        hooks: {
          open(c) {
            inOpen = c.data.log;
          },
          message(c, line) {
            c.data.log.push(line);
          },
        },
      });
      assert.equal(inOpen, conn.data.log);
      await conn.send("ping");
      await until(() => conn.data.log.length === 1, 5000, "the echo");
      assert.deepEqual(conn.data.log, ["ping"]);
      await assert.rejects(
        connect({
          adapter,
          port,
          framer: lines(),
          data: () => {
            throw new RangeError("bad");
          },
        }),
        RangeError,
      );
      await until(() => server.stats().active === 1, 5000, "the failed client's socket closed");
    } finally {
      await server.shutdown({ timeout: 1000 });
    }
  },
);
