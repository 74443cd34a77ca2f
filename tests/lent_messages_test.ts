// `lentMessages`: the socket lends each chunk for the `data()` call only and reads into
// the same memory again. A message handed to a hook may be a view of that memory; all
// the connection keeps past the call (partial frames, messages held while paused, bytes
// for STARTTLS, the iterator's input) must be copies, and replies gathered as spans of
// the chunk must reach the socket during the call.
//
// A socket that lends and scribbles over its buffer as soon as `data()` returns checks
// that on every runtime; the tests over real sockets check it where the adapter lends
// (Deno) and that the option changes nothing elsewhere.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Connection } from "../lib/connection/connection.ts";
import {
  connect,
  type Decoder,
  type Framer,
  lengthPrefixed,
  lines,
  type MessageBatch,
  raw,
  serve,
} from "../mod.ts";
import { encoded } from "./_framer_helpers.ts";
import { FakeSocket, GARBAGE } from "./_fake_socket.ts";
import { concat, nativeAdapter, portOf, randomBytes, sleep, within } from "./_helpers.ts";

/** A connection over a lending socket; `hooks` undefined: iteration. */
function lentConnection<In>(
  framer: Framer<In, In>,
  hooks:
    | {
      message?(c: Connection<In, In>, m: In): void | Promise<void>;
      messages?(c: Connection<In, In>, b: MessageBatch<In>): void | Promise<void>;
    }
    | undefined,
  extra: { messageBudget?: number; lentMessages?: boolean } = {},
) {
  const socket = new FakeSocket(true);
  const errors: unknown[] = [];
  const conn = new Connection<In, In>({
    socket,
    framer,
    id: 1,
    lentMessages: extra.lentMessages ?? true,
    messageBudget: extra.messageBudget,
    report: (e) => errors.push(e),
  });
  conn._start(hooks);
  return { socket, conn, errors };
}

/** Messages of 0 to 300 bytes, none holding GARBAGE, CR or LF. */
function messages(n: number, seed: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const m = randomBytes((seed * 31 + i * 97) % 301, seed + i);
    for (let j = 0; j < m.length; j++) {
      if (m[j] === GARBAGE || m[j] === 10 || m[j] === 13) m[j] = 0x41;
    }
    out.push(m);
  }
  return out;
}

/** Splits `all` at pseudo-random points into chunks of 1 to `max` bytes. */
function splits(all: Uint8Array, seed: number, max: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const sizes = randomBytes(all.length, seed);
  for (let i = 0, k = 0; i < all.length; k++) {
    const n = 1 + ((sizes[k] * 257 + sizes[(k + 1) % sizes.length]) % max);
    out.push(all.subarray(i, i + n));
    i += n;
  }
  return out;
}

const byteLines: () => Framer<Uint8Array, Uint8Array> = () => lines({ encoding: null });

const FRAMERS: [string, () => Framer<Uint8Array, Uint8Array>][] = [
  ["raw", () => raw()],
  ["lines", byteLines],
  ["lengthPrefixed", () => lengthPrefixed()],
];

const tick = () => new Promise((r) => setTimeout(r, 0));

for (const [name, make] of FRAMERS) {
  test(`lent ${name}: an echo hook under random splits sends exactly what came in`, async () => {
    for (let seed = 1; seed <= 6; seed++) {
      const framer = make();
      const msgs = messages(120, seed);
      const input = concat(msgs.map((m) => encoded(framer.encode(m))));
      const { socket, conn, errors } = lentConnection(framer, {
        message: (c, m) => void c.send(m),
      });
      await tick();
      for (const chunk of splits(input, seed, seed % 2 ? 40 : 3000)) socket.feed(chunk);
      await tick();
      assert.deepEqual(errors, []);
      if (name !== "raw") assert.equal(conn.messagesIn, msgs.length, `seed ${seed}`);
      assert.deepEqual(socket.output(), input, `seed ${seed}`);
    }
  });

  test(`lent ${name}: a messages hook echoing with sendBatch() sends exactly what came in`, async () => {
    for (let seed = 1; seed <= 6; seed++) {
      const framer = make();
      const msgs = messages(120, seed);
      const input = concat(msgs.map((m) => encoded(framer.encode(m))));
      const kept: Uint8Array[] = [];
      let batches = 0;
      const { socket, conn, errors } = lentConnection(framer, {
        messages(c, batch) {
          batches++;
          for (const m of batch) kept.push(m.slice());
          // Two calls, so that a run of spans is continued and started again.
          const half = batch.count >> 1;
          c.sendBatch(batch, 0, half);
          c.sendBatch(batch, half);
        },
      });
      await tick();
      const chunks = splits(input, seed, seed % 2 ? 40 : 3000);
      for (const chunk of chunks) socket.feed(chunk);
      await tick();
      assert.deepEqual(errors, []);
      assert.ok(batches <= chunks.length * 2, `${batches} batches for ${chunks.length} reads`);
      if (name !== "raw") {
        assert.equal(conn.messagesIn, msgs.length, `seed ${seed}`);
        assert.deepEqual(kept, msgs, `seed ${seed}`);
      } else assert.deepEqual(concat(kept), input);
      assert.deepEqual(socket.output(), input, `seed ${seed}`);
    }
  });

  test(`lent ${name}: a hook that copies what it keeps gets the right bytes`, async () => {
    const framer = make();
    const msgs = messages(200, 7);
    const input = concat(msgs.map((m) => encoded(framer.encode(m))));
    const kept: Uint8Array[] = [];
    const { socket } = lentConnection(framer, { message: (_c, m) => void kept.push(m.slice()) });
    await tick();
    for (const chunk of splits(input, 7, 500)) socket.feed(chunk);
    await tick();
    if (name === "raw") assert.deepEqual(concat(kept), concat(msgs));
    else assert.deepEqual(kept, msgs);
  });

  test(`lent ${name}: the iterator's messages stay intact across reads`, async () => {
    const framer = make();
    const msgs = messages(150, 3);
    const input = concat(msgs.map((m) => encoded(framer.encode(m))));
    const { socket, conn } = lentConnection(framer, undefined);
    assert.equal(socket.lending, false, "iteration keeps its input: the socket does not lend");
    const got: Uint8Array[] = [];
    const reading = (async () => {
      for (let i = 0; i < 10_000; i++) {
        const m = await conn.next();
        if (m === undefined) return;
        got.push(m.slice());
        await conn.send(m);
        if (i % 5 === 0) await tick(); // more reads land meanwhile
      }
    })();
    for (const chunk of splits(input, 3, 700)) {
      socket.feed(chunk);
      if (chunk.length % 3 === 0) await tick();
    }
    socket.handler.end();
    await within(reading, 5000, "iteration");
    if (name === "raw") assert.deepEqual(concat(got), concat(msgs));
    else assert.deepEqual(got, msgs);
    assert.deepEqual(socket.output(), input);
  });
}

test("lent: a slow async hook, with more reads meanwhile, sees every frame intact", async () => {
  const framer = lengthPrefixed();
  const msgs = messages(60, 11);
  const input = concat(msgs.map((m) => encoded(framer.encode(m))));
  const got: Uint8Array[] = [];
  const { socket, conn } = lentConnection(framer, {
    async message(c, m) {
      got.push(m.slice()); // before the first await
      c.send(m);
      await sleep(got.length % 4 === 0 ? 2 : 0);
    },
  });
  await tick();
  for (const chunk of splits(input, 11, 900)) {
    socket.feed(chunk);
    socket.paused = false; // a read already under way delivers despite the pause
    socket.resume();
  }
  for (let i = 0; i < 200 && got.length < msgs.length; i++) await sleep(5);
  assert.deepEqual(got, msgs);
  assert.deepEqual(socket.output(), input);
  assert.equal(conn.messagesIn, msgs.length);
});

test("lent: the fairness budget pauses mid-chunk, and the rest is delivered intact", async () => {
  const framer = byteLines();
  const msgs = messages(50, 5);
  const input = concat(msgs.map((m) => encoded(framer.encode(m))));
  const got: Uint8Array[] = [];
  const { socket } = lentConnection(framer, {
    message(c, m) {
      got.push(m.slice());
      c.send(m);
    },
  }, { messageBudget: 3 });
  await tick();
  socket.feed(input);
  for (let i = 0; i < 200 && got.length < msgs.length; i++) await tick();
  assert.deepEqual(got, msgs);
  assert.deepEqual(socket.output(), input);
});

test("lent: a hook that keeps messages without copying sees them overwritten", async () => {
  // The socket above really lends: this is what the copies guard against.
  const kept: Uint8Array[] = [];
  const { socket } = lentConnection(byteLines(), {
    message: (_c, m) => void kept.push(m),
  });
  await tick();
  socket.feed(new TextEncoder().encode("one\ntwo\n"));
  socket.feed(new TextEncoder().encode("three\n"));
  assert.equal(kept.length, 3);
  assert.ok(kept[0].every((b) => b === GARBAGE), "the first message was a view of the chunk");
});

test("lent: without the option, messages are the receiver's to keep", async () => {
  const kept: Uint8Array[] = [];
  const { socket } = lentConnection(byteLines(), {
    message: (_c, m) => void kept.push(m),
  }, { lentMessages: false });
  await tick();
  assert.equal(socket.lending, false, "lend() not called");
  socket.feed(new TextEncoder().encode("one\ntwo\n"));
  assert.deepEqual(kept.map((m) => new TextDecoder().decode(m)), ["one", "two"]);
});

test("lent: a decoder of the user's own set in a hook gets copies", async () => {
  /** Holds everything pushed; one frame per call to next() once 4 bytes are held. */
  const quads = (): Framer<Uint8Array, Uint8Array> => ({
    name: "quads",
    maxLength: 4,
    decoder(): Decoder<Uint8Array> {
      let held: Uint8Array[] = [];
      const take = () => {
        if (held.reduce((n, c) => n + c.length, 0) < 4) return undefined; // held as pushed
        const all = concat(held);
        held = [all.subarray(4)];
        return all.subarray(0, 4);
      };
      return {
        push: (c) => void held.push(c),
        next: take,
        finish: take,
        get buffered() {
          return held.reduce((n, c) => n + c.length, 0);
        },
        takeRemaining() {
          const out = held;
          held = [];
          return out;
        },
      };
    },
    encode: (m) => m,
  });
  const got: string[] = [];
  const { socket, conn } = lentConnection(byteLines(), {
    message(c, m) {
      const s = new TextDecoder().decode(m);
      got.push(s);
      if (s === "SWITCH") c.setFramer(quads());
    },
  });
  await tick();
  socket.feed(new TextEncoder().encode("SWITCH\nab"));
  socket.feed(new TextEncoder().encode("cdefgh"));
  await tick();
  assert.deepEqual(got, ["SWITCH", "abcd", "efgh"]);
  assert.equal(conn.messagesIn, 3);
});

test("lent: STARTTLS hands over copies of the bytes read, and lends again", async () => {
  const { socket, conn } = lentConnection(byteLines(), {
    message(c, m) {
      if (new TextDecoder().decode(m) === "STARTTLS") {
        c.startTls({ client: {} }).catch(() => {});
      }
    },
  });
  await tick();
  socket.feed(new TextEncoder().encode("STARTTLS\n\x16\x03\x01hello"));
  await sleep(10);
  assert.deepEqual(concat(socket.head!), new TextEncoder().encode("\x16\x03\x01hello"));
  assert.equal(socket.next?.lending, true, "the new socket lends too");
  assert.ok(conn.state !== "closed");
});

test("lentMessages is checked: a value that is not a boolean is a TypeError", async () => {
  assert.throws(
    () =>
      serve({
        hostname: "127.0.0.1",
        port: 0,
        // @ts-expect-error: not a boolean
        lentMessages: 1,
        handler: () => {},
      }),
    TypeError,
  );
  await assert.rejects(
    // @ts-expect-error: not a boolean
    connect({ hostname: "127.0.0.1", port: 1, lentMessages: "yes" }),
    TypeError,
  );
});

// ------------------------------------------------------------------ real sockets

/**
 * Writes `input` to the echo server at `port` in random pieces (`splits(input, seed, max)`,
 * a turn of the event loop after each piece `pause` picks) and returns all that comes back.
 */
async function echoOver(
  port: number,
  input: Uint8Array,
  seed: number,
  max: number,
  pause: (piece: Uint8Array) => boolean,
): Promise<Uint8Array> {
  const conn = await connect({ hostname: "127.0.0.1", port });
  const back: Uint8Array[] = [];
  let n = 0;
  const reading = (async () => {
    while (n < input.length) {
      const c = await conn.next();
      if (c === undefined) break;
      back.push(c.slice());
      n += c.length;
    }
  })();
  for (const piece of splits(input, seed, max)) {
    await conn.write(piece);
    if (pause(piece)) await sleep(0);
  }
  await within(reading, 10_000, "echo");
  conn.close();
  await conn.closed;
  return concat(back);
}

for (const [name, make] of FRAMERS) {
  for (const style of ["hooks", "async hooks", "iterator"] as const) {
    test(`lent over ${nativeAdapter()}: ${name} echo (${style}) under random splits`, async () => {
      const framer = make();
      const msgs = messages(400, 21);
      const input = concat(msgs.map((m) => encoded(framer.encode(m))));
      const kept: Uint8Array[] = [];
      await using server = serve<Uint8Array, Uint8Array>({
        hostname: "127.0.0.1",
        port: 0,
        framer,
        lentMessages: true,
        handler: style === "hooks"
          ? { message: (c, m) => void (kept.push(m.slice()), c.send(m)) }
          : style === "async hooks"
          ? {
            // Delivery pauses while it sleeps; what is read meanwhile must stay intact.
            async message(c, m) {
              kept.push(m.slice());
              c.send(m);
              if (kept.length % 16 === 0) await sleep(1);
            },
          }
          : async (c) => {
            for await (const m of c) {
              kept.push(m.slice());
              await c.send(m);
            }
          },
      });
      const back = await echoOver(await portOf(server), input, 21, 1500, (c) => c.length % 4 === 0);
      assert.deepEqual(back, input);
      if (name === "raw") assert.deepEqual(concat(kept), concat(msgs));
      else assert.deepEqual(kept, msgs);
    });
  }
}

for (const sendBack of [false, true]) {
  const how = sendBack ? "sent back" : "answered with a copy";
  test(`lent over ${nativeAdapter()}: a message kept without copying (${how}) never shows later bytes`, async () => {
    const framer = lengthPrefixed();
    const msgs = messages(300, 5);
    const input = concat(msgs.map((m) => encoded(framer.encode(m))));
    const kept: Uint8Array[] = [];
    const copies: Uint8Array[] = [];
    await using server = serve<Uint8Array, Uint8Array>({
      hostname: "127.0.0.1",
      port: 0,
      framer,
      lentMessages: true,
      handler: {
        message(c, m) {
          kept.push(m); // the mistake the option warns about
          copies.push(m.slice());
          c.send(sendBack ? m : m.slice());
        },
      },
    });
    // A pause after every piece: more reads, so that the server's buffers are read into again.
    assert.deepEqual(await echoOver(await portOf(server), input, 9, 4000, () => true), input);
    assert.deepEqual(copies, msgs);
    const isDetached = (m: Uint8Array) =>
      (m.buffer as ArrayBuffer & { detached: boolean }).detached;
    let detached = 0;
    kept.forEach((m, i) => {
      if (isDetached(m)) {
        detached++;
        assert.equal(m.length, 0);
      } else assert.deepEqual(m, msgs[i], `kept message ${i} shows other bytes`);
    });
    if (nativeAdapter() === "deno") {
      // The adapter lends: the memory of every message not still queued is taken back.
      assert.ok(detached > 0, "no kept message was detached");
      if (!sendBack) assert.ok(detached > kept.length / 2, `only ${detached} detached`);
      assert.throws(() => kept.find(isDetached)!.slice(), TypeError);
    } else assert.equal(detached, 0, "messages stay the receiver's where the adapter cannot lend");
  });
}

test(`lent over ${nativeAdapter()}: bulk echo of 4 MiB to a peer that reads late`, async () => {
  const big = randomBytes(4 * 1024 * 1024, 99);
  await using server = serve({
    hostname: "127.0.0.1",
    port: 0,
    lentMessages: true,
    handler: { message: (c, m) => void c.send(m) },
  });
  const port = await portOf(server);
  const conn = await connect({ hostname: "127.0.0.1", port, maxOutbound: 8 * 1024 * 1024 });
  conn.pause(); // not reading: the server's replies queue, its reads pause
  const writing = (async () => {
    for (let i = 0; i < big.length; i += 100_000) await conn.write(big.subarray(i, i + 100_000));
  })();
  await sleep(200);
  conn.resume();
  const back: Uint8Array[] = [];
  let n = 0;
  while (n < big.length) {
    const c = await within(conn.next(), 10_000, `bulk at ${n}`);
    if (c === undefined) break;
    back.push(c.slice());
    n += c.length;
  }
  await writing;
  assert.equal(n, big.length);
  assert.ok(concat(back).every((b, i) => b === big[i]), "the echo is the input");
  conn.close();
  await conn.closed;
});

test(`lent over ${nativeAdapter()}: a lent message relayed to another connection arrives intact`, async () => {
  // A's reads are lent; each one is relayed to B as it is. B's client reads only once A
  // has sent everything, so B's writes queue while A's buffer is read into again.
  const big = randomBytes(4 * 1024 * 1024, 7);
  let sink: Connection<Uint8Array, Uint8Array> | undefined;
  let sinkReady!: () => void;
  const sinkSeen = new Promise<void>((r) => sinkReady = r);
  await using server = serve({
    hostname: "127.0.0.1",
    port: 0,
    lentMessages: true,
    maxOutbound: 8 * 1024 * 1024,
    handler: {
      open(c) {
        if (sink === undefined) {
          sink = c;
          sinkReady();
        }
      },
      message(c, m) {
        if (c !== sink) sink!.send(m);
      },
    },
  });
  const port = await portOf(server);
  const b = await connect({ hostname: "127.0.0.1", port });
  await within(sinkSeen, 5000, "B served");
  b.pause();
  const a = await connect({ hostname: "127.0.0.1", port });
  for (let i = 0; i < big.length; i += 100_000) await a.write(big.subarray(i, i + 100_000));
  await sleep(200);
  b.resume();
  const back: Uint8Array[] = [];
  let n = 0;
  while (n < big.length) {
    const c = await within(b.next(), 10_000, `relay at ${n}`);
    if (c === undefined) break;
    back.push(c.slice());
    n += c.length;
  }
  assert.equal(n, big.length);
  assert.ok(concat(back).every((x, i) => x === big[i]), "B got what A sent");
  a.close();
  b.close();
  await Promise.all([a.closed, b.closed]);
});
