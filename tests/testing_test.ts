// connectionPair(): a handler tested without sockets, over the in-memory link, as
// serve() would run it: hooks, iteration, half-close, close, framing errors, failures.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type Connection,
  ConnectionClosedError,
  connectionPair,
  ConnectionResetError,
  FrameTooLongError,
  lengthPrefixed,
  lines,
  perConnection,
  ShutdownError,
} from "../mod.ts";
import { sleep, within } from "./_helpers.ts";

const enc = new TextEncoder();

test("connectionPair() runs a hooks handler: frames sent from the client get its replies", async () => {
  const opened: number[] = [];
  await using pair = connectionPair(lines(), {
    data: () => ({ count: 0 }),
    handler: {
      open(conn) {
        opened.push(conn.data.count);
      },
      message(conn, line) {
        conn.data.count++;
        conn.send(`${conn.data.count}: ${line}`);
      },
    },
  });
  await pair.client.send("a");
  await pair.client.send("b");
  assert.equal(await within(pair.client.next(), 2000, "reply 1"), "1: a");
  assert.equal(await within(pair.client.next(), 2000, "reply 2"), "2: b");
  assert.deepEqual(opened, [0]);
  assert.equal(pair.server.remoteAddr.transport, "memory");
  assert.deepEqual(pair.errors, []);
});

test("connectionPair() runs an async handler, and closes the server end when it returns", async () => {
  const { client, server, errors } = connectionPair(lines(), {
    async handler(conn) {
      for await (const line of conn) {
        if (line === "quit") return;
        await conn.send(line.toUpperCase());
      }
    },
  });
  await client.send("hi");
  assert.equal(await within(client.next(), 2000, "reply"), "HI");
  await client.send("quit");
  await client.send("never read");
  assert.equal(await within(client.next(), 2000, "end of stream"), undefined);
  await within(server.closed, 2000, "server end closed");
  assert.equal(server.state, "closed");
  assert.deepEqual(errors, []);
  client.close();
  await within(client.closed, 2000, "client end closed");
});

test("connectionPair(): the client's half-close ends the handler's loop; it can still reply", async () => {
  const { client, server } = connectionPair(lengthPrefixed({ size: 2 }), {
    async handler(conn) {
      let total = 0;
      for await (const frame of conn) total += frame.length;
      assert.equal(conn.state, "half-closed-by-peer");
      await conn.send(Uint8Array.of(total));
    },
  });
  await client.send(new Uint8Array(3));
  await client.send(new Uint8Array(4));
  client.end();
  assert.equal(client.state, "half-closed-by-us");
  assert.deepEqual(await within(client.next(), 2000, "total"), Uint8Array.of(7));
  assert.equal(await within(client.next(), 2000, "end"), undefined);
  await within(Promise.all([client.closed, server.closed]), 2000, "both ends closed");
  assert.equal(client.error, undefined);
});

test("connectionPair(): hooks without an end hook end their side after the peer's half-close", async () => {
  const closes: (Error | undefined)[] = [];
  const { client, server } = connectionPair(lines(), {
    handler: {
      message: (conn, line) => void conn.send(line),
      close: (_conn, error) => void closes.push(error),
    },
  });
  await client.send("last");
  client.end();
  assert.equal(await within(client.next(), 2000, "echo"), "last");
  assert.equal(await within(client.next(), 2000, "end"), undefined);
  await within(server.closed, 2000, "server end closed");
  assert.deepEqual(closes, [undefined]);
});

test("connectionPair(): close() closes both ends, and sending afterwards is refused", async () => {
  const closed: string[] = [];
  const pair = connectionPair(lines(), {
    handler: { close: () => void closed.push("server") },
  });
  await pair.close();
  assert.equal(pair.server.state, "closed");
  assert.equal(pair.client.state, "closed");
  assert.deepEqual(closed, ["server"]);
  await assert.rejects(pair.client.send("late"), ConnectionClosedError);
  await pair.close(); // a second close is harmless
});

test("connectionPair(): a frame over maxLength reaches an async handler as FrameTooLongError", async () => {
  const caught = Promise.withResolvers<unknown>();
  const { client, errors } = connectionPair(lines({ maxLength: 4 }), {
    async handler(conn) {
      try {
        for await (const line of conn) await conn.send(line);
      } catch (e) {
        caught.resolve(e);
        throw e; // as a handler that does not catch it: serve() would report it
      }
    },
  });
  await client.send("ok");
  assert.equal(await within(client.next(), 2000, "echo"), "ok");
  await client.write(enc.encode("much too long\n"));
  const error = await within(caught.promise, 2000, "framing error in the handler");
  assert.ok(error instanceof FrameTooLongError);
  assert.equal(error.maxLength, 4);
  // The connection broke with that error itself: it is not reported again.
  await within(client.closed, 2000, "client end closed");
  assert.deepEqual(errors, []);
});

test("connectionPair(): a framing error reaches hooks in close(), a skipped frame in error()", async () => {
  const skipped: Error[] = [];
  const skipping = connectionPair(lines({ maxLength: 4, tooLong: "skip" }), {
    handler: {
      message: (conn, line) => void conn.send(line),
      error: (_conn, e) => void skipped.push(e),
    },
  });
  await skipping.client.write(enc.encode("too long\nok\n"));
  assert.equal(await within(skipping.client.next(), 2000, "echo after skip"), "ok");
  assert.equal(skipped.length, 1);
  assert.ok(skipped[0] instanceof FrameTooLongError);
  assert.equal(skipped[0].recoverable, true);
  await skipping.close();

  const closedWith = Promise.withResolvers<Error | undefined>();
  const closing = connectionPair(lines({ maxLength: 4 }), {
    handler: { close: (_conn, e) => closedWith.resolve(e) },
  });
  await closing.client.write(enc.encode("too long\n"));
  const error = await within(closedWith.promise, 2000, "close hook");
  assert.ok(error instanceof FrameTooLongError);
  assert.equal(error.recoverable, false);
  await within(closing.client.closed, 2000, "client end closed");
});

test("connectionPair(): a skipped frame with no error hook goes to errors", async () => {
  await using pair = connectionPair(lines({ maxLength: 4, tooLong: "skip" }), {
    handler: { message: (conn, line) => void conn.send(line) },
  });
  await pair.client.write(enc.encode("too long\nok\n"));
  assert.equal(await within(pair.client.next(), 2000, "echo"), "ok");
  assert.equal(pair.errors.length, 1);
  assert.ok(pair.errors[0] instanceof FrameTooLongError);
});

test("connectionPair(): a handler that throws is in errors, and the client sees a reset", async () => {
  const boom = new Error("boom");
  const { client, errors } = connectionPair(lines(), {
    handler: {
      message() {
        throw boom;
      },
    },
  });
  await client.send("x");
  await assert.rejects(within(client.next(), 2000, "reset"), ConnectionResetError);
  assert.deepEqual(errors, [boom]);
});

test("connectionPair(): signal aborts the server end's conn.signal, as a shutdown does", async () => {
  const ac = new AbortController();
  const { client, server } = connectionPair(lines(), {
    signal: ac.signal,
    async handler(conn) {
      for await (const line of conn) {
        if (conn.signal.aborted) break;
        await conn.send(line);
      }
      await conn.send("bye");
    },
  });
  await client.send("a");
  assert.equal(await within(client.next(), 2000, "echo"), "a");
  ac.abort(new ShutdownError());
  assert.ok(server.signal.reason instanceof ShutdownError);
  await client.send("b");
  assert.equal(await within(client.next(), 2000, "goodbye"), "bye");
  assert.equal(await within(client.next(), 2000, "end"), undefined);
  client.close();
});

test("connectionPair() without a handler: both ends are for the test to drive", async () => {
  await using pair = connectionPair(lines(), { data: () => "state" });
  assert.equal(pair.server.data, "state");
  await pair.client.send("ping");
  assert.equal(await within(pair.server.next(), 2000, "server reads"), "ping");
  await pair.server.send("pong");
  assert.equal(await within(pair.client.next(), 2000, "client reads"), "pong");
});

test("connectionPair() takes a perConnection() factory", async () => {
  let made = 0;
  const handler = perConnection(() => {
    made++;
    return { message: (conn: Connection<string, string>, line: string) => void conn.send(line) };
  });
  await using pair = connectionPair(lines(), { handler });
  await pair.client.send("x");
  assert.equal(await within(pair.client.next(), 2000, "echo"), "x");
  assert.equal(made, 1);
});

test("connectionPair(): a server end that does not read pushes back on the client", async () => {
  const pair = connectionPair(lengthPrefixed(), { highWaterMark: 1024, maxOutbound: 1 << 20 });
  pair.server.pause();
  let waited = false;
  const sent = pair.client.send(new Uint8Array(4096)).then(() => (waited = true));
  await sleep(20);
  assert.equal(waited, false, "send() waits while the server end does not read");
  pair.server.resume();
  assert.equal((await within(pair.server.next(), 2000, "frame"))?.length, 4096);
  await within(sent, 2000, "send() resolves once read");
  await within(pair.close(), 2000, "close");
});

test("connectionPair(): close() resets the link when each end holds bytes the other never read", async () => {
  const pair = connectionPair(lengthPrefixed(), { highWaterMark: 1024 });
  for (let i = 0; i < 4; i++) {
    pair.server.send(new Uint8Array(1000)).catch(() => {});
    pair.client.send(new Uint8Array(1000)).catch(() => {});
  }
  await sleep(20); // both ends read ahead to their high-water mark, then stop
  await within(pair.close(), 2000, "close");
  assert.ok(pair.server.error instanceof ConnectionResetError);
  assert.equal(pair.client.state, "closed");
});
