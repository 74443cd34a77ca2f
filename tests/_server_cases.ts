// The serve()/connect() conformance cases, run against every adapter by server_test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type AdapterName,
  connect,
  type Connection,
  ConnectionError,
  lines,
  OutboundOverflowError,
  serve,
  ShutdownError,
  TimeoutError,
} from "../mod.ts";
import { concat, portOf, randomBytes, sleep, until, within } from "./_helpers.ts";

const HOST = "127.0.0.1";

/** Reads raw chunks until `n` bytes have arrived or the stream ends. */
async function readBytes(conn: Connection, n: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let got = 0;
  while (got < n) {
    const c = await conn.next();
    if (!c) break;
    chunks.push(c);
    got += c.length;
  }
  return concat(chunks);
}

/** Registers the cases for one adapter. */
export function runServerCases(adapter: AdapterName): void {
  const t = (name: string, fn: () => Promise<void>) => test(`[${adapter}] ${name}`, fn);

  t("serve() echoes raw bytes back and server.addr has the real port", async () => {
    await using server = serve({
      adapter,
      hostname: HOST,
      port: 0,
      async handler(conn) {
        for await (const chunk of conn) await conn.send(chunk);
      },
    });
    const port = await portOf(server);
    assert.ok(port > 0);
    await using conn = await connect({ adapter, hostname: HOST, port });
    const msg = new TextEncoder().encode("Hello, server!");
    await conn.send(msg);
    assert.deepEqual(await within(readBytes(conn, msg.length), 5000, "echo"), msg);
    assert.equal(conn.remoteAddr.transport === "unix" ? 0 : conn.remoteAddr.port, port);
  });

  t("lines() echo: a message split across many writes and many messages in one write", async () => {
    await using server = serve({
      adapter,
      hostname: HOST,
      port: 0,
      framer: lines(),
      async handler(conn) {
        for await (const line of conn) await conn.send(`${line}!`);
      },
    });
    const port = await portOf(server);
    await using conn = await connect({ adapter, hostname: HOST, port, framer: lines() });
    const enc = new TextEncoder();
    for (const ch of "split across writes\n") {
      await conn.write(enc.encode(ch));
      await sleep(0);
    }
    assert.equal(await within(conn.next(), 5000, "split line"), "split across writes!");
    const many = Array.from({ length: 500 }, (_, i) => `m${i}`);
    await conn.write(enc.encode(many.join("\n") + "\n"));
    for (const m of many) assert.equal(await within(conn.next(), 5000, m), `${m}!`);
  });

  t("200 concurrent clients each get exactly their own bytes back", async () => {
    await using server = serve({
      adapter,
      hostname: HOST,
      port: 0,
      async handler(conn) {
        for await (const chunk of conn) await conn.send(chunk);
      },
    });
    const port = await portOf(server);
    const one = async (i: number) => {
      await using conn = await connect({ adapter, hostname: HOST, port });
      const payload = randomBytes(2000 + i * 37, i + 1);
      for (let o = 0; o < payload.length; o += 700) await conn.send(payload.subarray(o, o + 700));
      assert.deepEqual(await readBytes(conn, payload.length), payload, `client ${i}`);
    };
    await within(Promise.all(Array.from({ length: 200 }, (_, i) => one(i))), 20_000, "200 clients");
    await until(() => server.connections === 0, 5000, "all server connections closed");
    assert.equal(server.accepted, 200);
  });

  t(
    "half-close: the client ends, the handler sees the end, replies, the client reads it",
    async () => {
      await using server = serve({
        adapter,
        hostname: HOST,
        port: 0,
        framer: lines(),
        async handler(conn) {
          const got: string[] = [];
          for await (const line of conn) got.push(line);
          assert.equal(conn.state, "half-closed-by-peer");
          await conn.send(`got ${got.length}: ${got.join(",")}`);
        },
      });
      const port = await portOf(server);
      await using conn = await connect({ adapter, hostname: HOST, port, framer: lines() });
      await conn.send("a");
      await conn.send("b");
      conn.end();
      assert.equal(conn.state, "half-closed-by-us");
      assert.equal(await within(conn.next(), 5000, "reply after half-close"), "got 2: a,b");
      assert.equal(await within(conn.next(), 5000, "end of stream"), undefined);
    },
  );

  t("peer reset mid-stream ends the handler's iteration with a typed error", async () => {
    let seen: unknown = "nothing";
    let after: unknown;
    const done = Promise.withResolvers<void>();
    await using server = serve({
      adapter,
      hostname: HOST,
      port: 0,
      onError() {},
      async handler(conn) {
        // Fill the client's receive buffer so that its close is a reset.
        conn.send(new Uint8Array(1024 * 1024)).catch(() => {});
        try {
          for await (const _ of conn) { /* keep reading */ }
          seen = "clean end";
        } catch (e) {
          seen = e;
        }
        // Deno reports a reset seen by a read as end of stream; the next write fails.
        await conn.send(new Uint8Array(10)).catch(() => {});
        await within(conn.closed, 5000, "server side closed");
        after = conn.error;
        done.resolve();
      },
    });
    const port = await portOf(server);
    const conn = await connect({ adapter, hostname: HOST, port });
    conn.pause(); // leave the server's bytes unread: closing now is a reset
    await conn.send(new Uint8Array(10));
    await sleep(100);
    conn.abort();
    await within(done.promise, 5000, "handler to finish");
    if (adapter === "deno") {
      assert.ok(seen === "clean end" || seen instanceof ConnectionError, String(seen));
      assert.ok(
        after instanceof ConnectionError,
        `expected a ConnectionError after a write, got ${after}`,
      );
    } else {
      assert.ok(seen instanceof ConnectionError, `expected a ConnectionError, got ${String(seen)}`);
    }
  });

  t("a client that never reads: awaited sends stall and queued bytes stay bounded", async () => {
    const maxOutbound = 256 * 1024;
    let maxSeen = 0;
    let sent = 0;
    const stop = new AbortController();
    await using server = serve({
      adapter,
      hostname: HOST,
      port: 0,
      maxOutbound,
      onError() {},
      async handler(conn) {
        const chunk = new Uint8Array(16 * 1024);
        while (!stop.signal.aborted && sent < 64 * 1024 * 1024) {
          await conn.send(chunk);
          sent += chunk.length;
          maxSeen = Math.max(maxSeen, conn.bufferedAmount);
        }
      },
    });
    const port = await portOf(server);
    const client = await connect({ adapter, hostname: HOST, port });
    client.pause();
    await sleep(500);
    const sentAt = sent;
    await sleep(300);
    assert.ok(sent < 64 * 1024 * 1024, "sending stalled");
    assert.equal(sent, sentAt, "no progress while the peer does not read");
    assert.ok(maxSeen <= maxOutbound, `queued ${maxSeen} > ${maxOutbound}`);
    stop.abort();
    client.abort();
  });

  t("a client that never reads: fire-and-forget sends hit maxOutbound and abort", async () => {
    const maxOutbound = 128 * 1024;
    const closed = Promise.withResolvers<Error | undefined>();
    await using server = serve({
      adapter,
      hostname: HOST,
      port: 0,
      maxOutbound,
      onError() {},
      handler: {
        open(conn) {
          const chunk = new Uint8Array(8 * 1024);
          const tick = () => {
            if (conn.state !== "open") return;
            for (let i = 0; i < 16; i++) conn.send(chunk).catch(() => {});
            setTimeout(tick, 5);
          };
          tick();
        },
        close(_conn, err) {
          closed.resolve(err);
        },
      },
    });
    const port = await portOf(server);
    const client = await connect({ adapter, hostname: HOST, port });
    client.pause();
    const err = await within(closed.promise, 10_000, "overflow close");
    assert.ok(err instanceof OutboundOverflowError, `got ${String(err)}`);
    assert.ok(err.queued > maxOutbound && err.queued <= maxOutbound + 8 * 1024);
    client.abort();
  });

  t("closing the listeners leaves established connections working", async () => {
    await using server = serve({
      adapter,
      hostname: HOST,
      port: 0,
      framer: lines(),
      async handler(conn) {
        for await (const line of conn) await conn.send(line);
      },
    });
    const port = await portOf(server);
    await using conn = await connect({ adapter, hostname: HOST, port, framer: lines() });
    await conn.send("before");
    assert.equal(await within(conn.next(), 5000, "before"), "before");
    await server.closeListeners();
    await assert.rejects(
      connect({ adapter, hostname: HOST, port, timeout: 2000 }).then((c) => c.abort()),
      ConnectionError,
    );
    await conn.send("after");
    assert.equal(await within(conn.next(), 5000, "after"), "after");
  });

  t(
    "shutdown({ timeout }) aborts conn.signal, then force-closes a handler that never finishes",
    async () => {
      let signalReason: unknown;
      const closedWith = Promise.withResolvers<Error | undefined>();
      const server = serve({
        adapter,
        hostname: HOST,
        port: 0,
        onClose(_c, err) {
          closedWith.resolve(err);
        },
        async handler(conn) {
          conn.signal.addEventListener("abort", () => (signalReason = conn.signal.reason));
          await new Promise(() => {}); // never finishes
        },
      });
      const port = await portOf(server);
      const client = await connect({ adapter, hostname: HOST, port });
      await until(() => server.connections === 1, 5000, "connection accepted");
      const started = Date.now();
      await within(server.shutdown({ timeout: 300 }), 5000, "shutdown");
      assert.ok(Date.now() - started >= 250, "waited for the deadline");
      assert.ok(signalReason instanceof ShutdownError);
      const err = await closedWith.promise;
      assert.ok(err instanceof TimeoutError && err.kind === "shutdown");
      assert.equal(server.connections, 0);
      // The client sees the end of the stream (or a reset, where the runtime sends one).
      await within(client.next().catch(() => undefined), 5000, "client sees the close");
      client.close();
    },
  );

  t("a handler that throws closes its own connection and the server keeps serving", async () => {
    const errors: unknown[] = [];
    await using server = serve({
      adapter,
      hostname: HOST,
      port: 0,
      framer: lines(),
      onError(e) {
        errors.push(e);
      },
      async handler(conn) {
        const first = await conn.next();
        if (first === "boom") throw new Error("handler failed");
        await conn.send(`ok ${first}`);
      },
    });
    const port = await portOf(server);
    const bad = await connect({ adapter, hostname: HOST, port, framer: lines() });
    await bad.send("boom");
    await within(bad.next().catch(() => undefined), 5000, "bad connection closed");
    bad.close();
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /handler failed/);
    await using good = await connect({ adapter, hostname: HOST, port, framer: lines() });
    await good.send("hi");
    assert.equal(await within(good.next(), 5000, "good reply"), "ok hi");
  });

  t("hooks: open, message, end and close run in order with per-connection data", async () => {
    const events: string[] = [];
    await using server = serve<string, string, { n: number }>({
      adapter,
      hostname: HOST,
      port: 0,
      framer: lines(),
      handler: {
        open(conn) {
          conn.data = { n: 0 };
          events.push("open");
        },
        message(conn, line) {
          conn.data.n++;
          conn.send(`${conn.data.n}:${line}`);
        },
        end(conn) {
          events.push("end");
          conn.send("bye");
          conn.end();
        },
        close() {
          events.push("close");
        },
      },
    });
    const port = await portOf(server);
    await using conn = await connect({ adapter, hostname: HOST, port, framer: lines() });
    await conn.send("x");
    await conn.send("y");
    conn.end();
    const replies: string[] = [];
    for await (const r of conn) replies.push(r);
    assert.deepEqual(replies, ["1:x", "2:y", "bye"]);
    await until(() => events.length === 3, 5000, "close hook");
    assert.deepEqual(events, ["open", "end", "close"]);
  });
}
