// Timeouts: the Sweeper with a hand-moved clock, then firstMessage (slowloris), idle and
// writeStall over real sockets, each ending the connection with a typed TimeoutError.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Connection, lines, serve, TimeoutError, type TimeoutKind } from "../mod.ts";
import { DEFAULT_TIMEOUTS, Sweeper, type Timeouts, Watch } from "../lib/connection/_timeouts.ts";
import { nativeAdapter, portOf, sleep, until, within } from "./_helpers.ts";

// ------------------------------------------------------------------ Sweeper, no sockets

/** The counters the sweeper reads, and the abort it calls. */
interface FakeConn {
  bufferedAmount: number;
  bytesIn: number;
  bytesOut: number;
  messagesIn: number;
  aborted?: Error;
  abort(e: Error): void;
}

function fake(): FakeConn {
  return {
    bufferedAmount: 0,
    bytesIn: 0,
    bytesOut: 0,
    messagesIn: 0,
    abort(e) {
      this.aborted ??= e;
    },
  };
}

function sweeper(timeouts: Timeouts) {
  const fired: TimeoutKind[] = [];
  let extra = 0;
  const s = new Sweeper(timeouts, (_c, kind) => fired.push(kind), () => extra++);
  const watches = new Map<FakeConn, Watch>();
  const watch = (c: FakeConn) => {
    if (!watches.has(c)) watches.set(c, new Watch(c as unknown as Connection));
    return watches.get(c)!;
  };
  const add = (c: FakeConn, now: number) => s.add(watch(c), now);
  const remove = (c: FakeConn) => s.delete(watch(c));
  return { s, fired, add, remove, extras: () => extra };
}

const kindOf = (c: FakeConn) => c.aborted instanceof TimeoutError ? c.aborted.kind : c.aborted;

test("Sweeper defaults: a silent raw TCP connection is not kept forever (idle 5 min)", () => {
  assert.equal(DEFAULT_TIMEOUTS.idle, 300_000);
  assert.equal(DEFAULT_TIMEOUTS.firstMessage, 0);
  assert.equal(DEFAULT_TIMEOUTS.writeStall, 60_000);
  assert.equal(DEFAULT_TIMEOUTS.queue, 10_000);
  const { s, add, fired } = sweeper({});
  const c = fake();
  add(c, 0);
  s.sweep(299_999);
  assert.equal(c.aborted, undefined);
  s.sweep(300_000);
  assert.equal(kindOf(c), "idle");
  const err: unknown = c.aborted;
  assert.ok(err instanceof TimeoutError && err.ms === 300_000);
  assert.deepEqual(fired, ["idle"]);
});

test("Sweeper firstMessage: bytes that never make a message are cut at the deadline, however steady", () => {
  const { s, add } = sweeper({ firstMessage: 1000, idle: 300 });
  const slow = fake();
  const ok = fake();
  add(slow, 0);
  add(ok, 0);
  for (let t = 100; t < 1000; t += 100) {
    slow.bytesIn++; // one byte every 100 ms: never idle
    ok.bytesIn += 10;
    if (t === 500) ok.messagesIn = 1;
    s.sweep(t);
  }
  assert.equal(slow.aborted, undefined, "not idle, before the deadline");
  slow.bytesIn++;
  ok.bytesIn++;
  s.sweep(1000);
  assert.equal(kindOf(slow), "firstMessage");
  assert.equal(ok.aborted, undefined, "a client that sent a message is not touched");
});

test("Sweeper idle alone does not stop a slowloris client (why firstMessage exists)", () => {
  const { s, add } = sweeper({ idle: 300 });
  const slow = fake();
  add(slow, 0);
  for (let t = 100; t <= 10_000; t += 100) {
    slow.bytesIn++;
    s.sweep(t);
  }
  assert.equal(slow.aborted, undefined);
});

test("Sweeper idle: any byte in or out restarts the clock; queued bytes that do not move do not", () => {
  const { s, add } = sweeper({ idle: 500 });
  const c = fake();
  add(c, 0);
  s.sweep(400);
  c.bytesOut += 10; // sent and flushed
  s.sweep(450);
  s.sweep(900);
  assert.equal(c.aborted, undefined, "moved at 450");
  c.bytesOut += 10;
  c.bufferedAmount = 10; // handed to the socket, but the kernel never took it
  s.sweep(949);
  assert.equal(c.aborted, undefined);
  s.sweep(950);
  assert.equal(kindOf(c), "idle");
});

test("Sweeper writeStall: bytes wait and the kernel takes none; a slowly draining queue is fine", () => {
  const { s, add } = sweeper({ idle: 0, writeStall: 300 });
  const stuck = fake();
  const slow = fake();
  const small = fake();
  add(stuck, 0);
  add(slow, 0);
  add(small, 0);
  stuck.bytesOut = stuck.bufferedAmount = 5000;
  slow.bytesOut = slow.bufferedAmount = 5000;
  // A partial write left a little held, below any high-water mark: still a stall.
  small.bytesOut = 70_000;
  small.bufferedAmount = 2048;
  s.sweep(100); // the stalls start
  for (let t = 200; t <= 1000; t += 100) {
    stuck.bytesOut += 100; // more queued, nothing taken: still stalled
    stuck.bufferedAmount += 100;
    slow.bufferedAmount -= 100; // the kernel takes a little: moving
    s.sweep(t);
    if (t < 400) assert.equal(stuck.aborted, undefined, `at ${t}`);
  }
  assert.equal(kindOf(stuck), "writeStall");
  assert.equal(kindOf(small), "writeStall");
  assert.equal(slow.aborted, undefined);
  const empty = fake();
  add(empty, 1000);
  empty.bytesOut = 10;
  s.sweep(5000);
  assert.equal(empty.aborted, undefined, "nothing waiting: no stall, however long");
});

test("Sweeper fires each connection once, forgets deleted ones, runs the queue expiry each sweep", () => {
  const { s, add, remove, fired, extras } = sweeper({ idle: 100 });
  const a = fake();
  const b = fake();
  const c = fake();
  add(a, 0);
  add(b, 0);
  add(c, 50);
  remove(b);
  remove(b); // twice: nothing more happens
  assert.equal(s.size, 2);
  s.sweep(100);
  s.sweep(200);
  assert.deepEqual(fired, ["idle", "idle"]);
  assert.equal(b.aborted, undefined);
  assert.equal(s.size, 0, "timed-out connections are no longer watched");
  assert.equal(extras(), 2);
});

test("Sweeper watches nothing when no timeout applies per connection (only the queue's)", () => {
  const { s, add, extras } = sweeper({ firstMessage: 0, idle: 0, writeStall: 0, queue: 50 });
  const a = fake();
  add(a, 0);
  assert.equal(s.size, 0);
  s.sweep(1e9);
  assert.equal(a.aborted, undefined);
  assert.equal(extras(), 1);
});

test("Sweeper checks at a tenth of the shortest timeout (5 ms to 1 s) and refuses bad values", () => {
  assert.equal(sweeper({ idle: 0, writeStall: 0, queue: 0 }).s.interval, 100);
  assert.equal(sweeper({ firstMessage: 500 }).s.interval, 50);
  assert.equal(sweeper({ idle: 20, writeStall: 0, queue: 0 }).s.interval, 5);
  assert.equal(sweeper({}).s.interval, 1000);
  assert.throws(() => sweeper({ idle: -1 }), RangeError);
  assert.throws(() => sweeper({ firstMessage: Number.NaN }), RangeError);
});

// ------------------------------------------------------------------ over sockets

const adapter = nativeAdapter();
const t = (name: string, fn: () => Promise<void>) => test(`[${adapter}] ${name}`, fn);
const enc = new TextEncoder();

t(
  "slowloris: 1 byte every 100 ms is cut by firstMessage while a normal client is served",
  async () => {
    const closes: { port: number; error?: Error; at: number }[] = [];
    await using server = serve<string, string>({
      adapter,
      hostname: "127.0.0.1",
      port: 0,
      framer: lines(),
      timeouts: { firstMessage: 600 },
      onClose(conn, error) {
        closes.push({
          port: conn.remoteAddr.transport === "tcp" ? conn.remoteAddr.port : 0,
          error,
          at: Date.now(),
        });
      },
      async handler(conn) {
        for await (const line of conn) await conn.send(`echo ${line}`);
      },
    });
    const port = await portOf(server);
    const slow = await connect({ adapter, hostname: "127.0.0.1", port });
    const started = Date.now();
    const stop = new AbortController();
    const trickle = (async () => {
      for (let i = 0; i < 100 && !stop.signal.aborted && slow.state === "open"; i++) {
        await slow.write(enc.encode("x")).catch(() => {});
        await sleep(100);
      }
    })();
    await using good = await connect({ adapter, hostname: "127.0.0.1", port, framer: lines() });
    let served = 0;
    while (Date.now() - started < 1500) {
      await good.send(`n${served}`);
      assert.equal(await within(good.next(), 5000, "echo"), `echo n${served}`);
      served++;
      await sleep(50);
    }
    await within(slow.next().catch(() => undefined), 5000, "slow client cut");
    stop.abort();
    await trickle;
    slow.close();
    const cut = closes.find((c) => c.error instanceof TimeoutError);
    assert.ok(cut, "the slow connection closed with a TimeoutError");
    assert.equal((cut.error as TimeoutError).kind, "firstMessage");
    const after = cut.at - started;
    assert.ok(after >= 550 && after < 1800, `cut after ${after} ms (deadline 600 ms)`);
    assert.ok(served >= 5, `the normal client was served throughout (${served} round trips)`);
    assert.equal(server.stats().timeouts.firstMessage, 1);
    assert.equal(server.connections, 1, "the normal client is still connected");
  },
);

t(
  "idle: a silent connection ends with TimeoutError('idle'), seen by the handler; a chatty one stays",
  async () => {
    const handlerSaw: unknown[] = [];
    const closed: (Error | undefined)[] = [];
    await using server = serve<string, string>({
      adapter,
      hostname: "127.0.0.1",
      port: 0,
      framer: lines(),
      timeouts: { idle: 300 },
      onClose(_conn, error) {
        closed.push(error);
      },
      async handler(conn) {
        try {
          for await (const line of conn) await conn.send(line);
        } catch (e) {
          handlerSaw.push(e);
          throw e;
        }
      },
    });
    const port = await portOf(server);
    const quiet = await connect({ adapter, hostname: "127.0.0.1", port, framer: lines() });
    await using chatty = await connect({ adapter, hostname: "127.0.0.1", port, framer: lines() });
    await quiet.send("hello");
    assert.equal(await within(quiet.next(), 5000, "reply"), "hello");
    const lastActive = Date.now();
    let endedAt = 0;
    const ended = quiet.next().catch(() => undefined).then((v) => (endedAt = Date.now(), v));
    for (let i = 0; i < 12; i++) {
      await chatty.send(`c${i}`);
      assert.equal(await within(chatty.next(), 5000, "chatty"), `c${i}`);
      await sleep(100);
    }
    assert.equal(await within(ended, 5000, "quiet cut"), undefined);
    quiet.close();
    const after = endedAt - lastActive;
    assert.ok(after >= 280 && after < 1200, `cut ${after} ms after the last byte (idle 300 ms)`);
    await until(() => closed.length === 1, 5000, "onClose");
    assert.ok(closed[0] instanceof TimeoutError && closed[0].kind === "idle", String(closed[0]));
    assert.equal(handlerSaw.length, 1);
    assert.ok(handlerSaw[0] instanceof TimeoutError && handlerSaw[0].kind === "idle");
    assert.equal(server.stats().timeouts.idle, 1);
    assert.equal(
      server.stats().errors,
      0,
      "the handler letting the timeout through is not an error",
    );
    assert.equal(chatty.state, "open");
  },
);

t(
  "writeStall: a client that never reads is cut with TimeoutError('writeStall'); send() rejects with it",
  async () => {
    let sendError: unknown;
    let closedWith: Error | undefined;
    let sent = 0;
    const done = Promise.withResolvers<void>();
    await using server = serve({
      adapter,
      hostname: "127.0.0.1",
      port: 0,
      timeouts: { idle: 0, writeStall: 300 },
      onClose(_conn, error) {
        closedWith = error;
        done.resolve();
      },
      async handler(conn) {
        const chunk = new Uint8Array(64 * 1024);
        try {
          while (sent < 256 * 1024 * 1024) {
            await conn.send(chunk);
            sent += chunk.length;
          }
        } catch (e) {
          sendError = e;
        }
      },
    });
    const port = await portOf(server);
    const client = await connect({ adapter, hostname: "127.0.0.1", port });
    client.pause(); // never reads: the kernel buffers fill, then tcpkit's queue
    try {
      await within(done.promise, 15_000, "writeStall");
    } finally {
      client.abort();
    }
    assert.ok(
      closedWith instanceof TimeoutError && closedWith.kind === "writeStall",
      String(closedWith),
    );
    assert.ok(
      sendError instanceof TimeoutError && sendError.kind === "writeStall",
      String(sendError),
    );
    assert.ok(sent < 256 * 1024 * 1024, "sending stopped long before the cap");
    assert.equal(server.stats().timeouts.writeStall, 1);
  },
);
