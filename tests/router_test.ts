// router(): Router.match() without sockets, then every matcher over real sockets.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  connect,
  type Connection,
  lines,
  perConnection,
  RejectedError,
  type RejectReason,
  type RouteInfo,
  router,
  serve,
} from "../mod.ts";
import {
  concat,
  nativeAdapter,
  portOf,
  portOfAddr,
  randomBytes,
  sleep,
  until,
  within,
} from "./_helpers.ts";

const adapter = nativeAdapter();
const enc = new TextEncoder();
const dec = new TextDecoder();
const info = (over: Partial<RouteInfo> = {}): RouteInfo => ({
  listener: "default",
  remote: "127.0.0.1",
  localPort: 7000,
  ...over,
});
const h = (name: string) => () => void name; // distinct handler functions
const picked = (r: ReturnType<ReturnType<typeof router>["match"]>) =>
  r.kind === "match" ? r.handler : r.kind;

// ------------------------------------------------------------------ Router.match, no sockets

test("Router.match: listener, local port and remote CIDR, each alone and combined", () => {
  const [admin, local, net10, v6, both, fallback] = ["admin", "local", "net10", "v6", "both", "fb"]
    .map(h);
  const r = router()
    .on({ listener: ["admin", "ops"] }, admin)
    .on({ local: [7001, 7002] }, local)
    .on({ remote: "10.0.0.0/8" }, net10)
    .on({ remote: ["2001:db8::/32", "::1"] }, v6)
    .on({ remote: "192.168.0.0/16", local: 8000 }, both)
    .otherwise(fallback);
  assert.equal(picked(r.match(info({ listener: "admin" }))), admin);
  assert.equal(
    picked(r.match(info({ listener: "ops", localPort: 7001 }))),
    admin,
    "first route wins",
  );
  assert.equal(picked(r.match(info({ localPort: 7002 }))), local);
  assert.equal(picked(r.match(info({ remote: "10.200.3.4" }))), net10);
  assert.equal(
    picked(r.match(info({ remote: "::ffff:10.1.1.1" }))),
    net10,
    "IPv4-mapped counts as IPv4",
  );
  assert.equal(picked(r.match(info({ remote: "11.0.0.1" }))), fallback);
  assert.equal(picked(r.match(info({ remote: "2001:db8:ffff::1" }))), v6);
  assert.equal(picked(r.match(info({ remote: "::1" }))), v6);
  assert.equal(picked(r.match(info({ remote: "2001:db9::1" }))), fallback);
  assert.equal(picked(r.match(info({ remote: "192.168.1.1", localPort: 8000 }))), both);
  assert.equal(
    picked(r.match(info({ remote: "192.168.1.1", localPort: 8001 }))),
    fallback,
    "every matcher must match",
  );
  assert.equal(
    picked(r.match(info({ remote: "", localPort: 0, listener: "unix" }))),
    fallback,
    "unix: no remote",
  );
});

test("Router.match: no route and no fallback is 'none'; route options travel with the match", () => {
  const framer = lines();
  const only = h("only");
  const r = router().on({ listener: "a" }, only, { framer });
  const m = r.match(info({ listener: "a" }));
  assert.equal(m.kind, "match");
  assert.equal(m.kind === "match" && m.options.framer, framer);
  assert.deepEqual(r.match(info({ listener: "b" })), { kind: "none" });
  assert.deepEqual(router().match(info()), { kind: "none" });
});

test("Router.match: sniff asks for bytes, then decides on true, false and 'need more'", () => {
  const [tls, text, fb] = ["tls", "text", "fb"].map(h);
  const seen: number[] = [];
  const r = router()
    .on({ sniff: (head) => (seen.push(head.length), head[0] === 0x16) }, tls)
    .on({
      sniff: (head) => head.length < 4 ? undefined : dec.decode(head.subarray(0, 4)) === "PING",
    }, text)
    .otherwise(fb);
  assert.equal(r.sniffs, true);
  assert.deepEqual(r.match(info()), { kind: "more" }, "before any peeking");
  assert.deepEqual(r.match(info(), new Uint8Array(0)), { kind: "more" }, "no bytes yet");
  assert.equal(picked(r.match(info(), Uint8Array.of(0x16, 3, 1))), tls);
  assert.deepEqual(
    r.match(info(), enc.encode("PI")),
    { kind: "more" },
    "second predicate needs 4 bytes",
  );
  assert.equal(picked(r.match(info(), enc.encode("PING"))), text);
  assert.equal(picked(r.match(info(), enc.encode("PONG"))), fb);
  assert.equal(
    picked(r.match(info(), enc.encode("PI"), true)),
    fb,
    "need-more at the end counts as no",
  );
  assert.equal(
    picked(r.match(info(), new Uint8Array(0), true)),
    fb,
    "end of stream before any byte",
  );
  assert.ok(seen.every((n) => n > 0 || seen.length > 0));
});

test("Router.match: routes before a sniffing route decide without bytes", () => {
  const [first, sniffed] = ["first", "sniffed"].map(h);
  const r = router().on({ listener: "plain" }, first).on({ sniff: () => true }, sniffed);
  assert.equal(picked(r.match(info({ listener: "plain" }))), first);
  assert.deepEqual(r.match(info({ listener: "other" })), { kind: "more" });
  const noSniff = router().on({ listener: "x" }, first);
  assert.equal(noSniff.sniffs, false);
});

test("router() refuses bad matchers and bounds", () => {
  assert.throws(() => router().on({ port: 1 } as never, h("x")), TypeError);
  assert.throws(() => router().on({ local: 70000 }, h("x")), RangeError);
  assert.throws(() => router().on({ remote: "10.0.0.1/8" }, h("x")), TypeError);
  assert.throws(() => router().on({ remote: "not an ip" }, h("x")), TypeError);
  assert.throws(() => router().on({ sniff: "yes" as never }, h("x")), TypeError);
  assert.throws(() => router({ sniffBytes: 0 }), RangeError);
  assert.throws(() => router({ sniffTimeout: 0 }), RangeError);
});

test("perConnection() makes a fresh handler per connection", () => {
  let made = 0;
  const f = perConnection(() => ({ open: () => void made++ }));
  const r = router().otherwise(f);
  const m = r.match(info());
  assert.equal(m.kind === "match" && m.handler, f);
  assert.equal(made, 0, "nothing is made while matching");
});

// ------------------------------------------------------------------ over sockets

/** Connects, sends `send` (if any), and reads everything until the server closes. */
async function exchange(
  port: number,
  hostname: string,
  send?: Uint8Array | string,
  end = true,
): Promise<string> {
  const c = await connect({ adapter, hostname, port });
  try {
    if (send !== undefined) {
      await c.write(typeof send === "string" ? enc.encode(send) : send);
      if (end) c.end();
    }
    const chunks: Uint8Array[] = [];
    for (;;) {
      const chunk = await within(c.next(), 5000, "server reply").catch(() => undefined);
      if (!chunk) break;
      chunks.push(chunk);
    }
    return dec.decode(concat(chunks));
  } finally {
    c.close();
  }
}

/** A handler that writes `name` and closes. */
const says = (name: string) => (conn: Connection) => void conn.write(enc.encode(name));

test(`[${adapter}] router over sockets: by listener name and by local port`, async () => {
  const r = router().on({ listener: "a" }, says("A")).on({ listener: "b" }, says("B"));
  await using server = serve({
    adapter,
    listen: [
      { name: "a", hostname: "127.0.0.1", port: 0 },
      { name: "b", hostname: "127.0.0.1", port: 0 },
      { name: "c", hostname: "127.0.0.1", port: 0 },
    ],
    handler: r.otherwise(says("other")),
  });
  await server.ready;
  const [pa, pb, pc] = server.addrs.map((l) => portOfAddr(l.addr));
  // Routes may be added while running: here, one on listener c's real port.
  r.on({ local: pc }, says("C"));
  assert.equal(await exchange(pa, "127.0.0.1"), "A");
  assert.equal(await exchange(pb, "127.0.0.1"), "B");
  assert.equal(await exchange(pc, "127.0.0.1"), "C");
  r.on({ local: [1, 2] }, says("never"));
  assert.equal(server.stats().rejected["no-route"], 0);
});

test(`[${adapter}] router over sockets: remote CIDR with 127.0.0.1, ::ffff:127.0.0.1 and ::1 clients`, async () => {
  const remotes: string[] = [];
  await using server = serve({
    adapter,
    listen: [{ name: "v4", hostname: "127.0.0.1", port: 0 }, {
      name: "dual",
      hostname: "::",
      port: 0,
    }],
    onConnection(conn) {
      if (conn.remoteAddr.transport === "tcp") remotes.push(conn.remoteAddr.hostname);
    },
    handler: router()
      .on({ remote: "127.0.0.0/8" }, says("v4"))
      .on({ remote: "::1" }, says("v6"))
      .otherwise(says("other")),
  });
  await server.ready;
  const [v4, dual] = server.addrs.map((l) => portOfAddr(l.addr));
  assert.equal(await exchange(v4, "127.0.0.1"), "v4");
  assert.equal(
    await exchange(dual, "127.0.0.1"),
    "v4",
    "a mapped IPv4 client matches an IPv4 block",
  );
  assert.equal(await exchange(dual, "::1"), "v6");
  assert.equal(remotes[0], "127.0.0.1");
  assert.ok(remotes[1] === "::ffff:127.0.0.1" || remotes[1] === "127.0.0.1", remotes[1]);
  assert.equal(remotes[2], "::1");
});

test(`[${adapter}] router sniff: the chosen handler sees every byte, sent in any pieces`, async () => {
  const echo = async (conn: Connection) => {
    for await (const chunk of conn) await conn.write(chunk);
  };
  await using server = serve({
    adapter,
    hostname: "127.0.0.1",
    port: 0,
    handler: router({ sniffBytes: 64, sniffTimeout: 2000 })
      .on(
        { sniff: (head) => head[0] === 0x16 ? true : head.length < 5 ? undefined : false },
        async (conn) => {
          await conn.write(enc.encode("T:"));
          await echo(conn);
        },
      )
      .on({
        sniff: (head) => head.length < 5 ? undefined : dec.decode(head.subarray(0, 5)) === "HELLO",
      }, async (conn) => {
        await conn.write(enc.encode("H:"));
        await echo(conn);
      })
      .otherwise(async (conn) => {
        await conn.write(enc.encode("F:"));
        await echo(conn);
      }),
  });
  const port = await portOf(server);
  const roundTrip = async (payload: Uint8Array, pieces: number[]) => {
    const c = await connect({ adapter, hostname: "127.0.0.1", port });
    try {
      let o = 0;
      for (const n of pieces) {
        await c.write(payload.subarray(o, o + n));
        o += n;
        await sleep(15);
      }
      await c.write(payload.subarray(o));
      const want = 2 + payload.length;
      const got: Uint8Array[] = [];
      let n = 0;
      while (n < want) {
        const chunk = await within(c.next(), 5000, "echo");
        if (!chunk) break;
        got.push(chunk);
        n += chunk.length;
      }
      return concat(got);
    } finally {
      c.close();
    }
  };
  const big = randomBytes(100_000, 7);
  big[0] = 0x16;
  const tls = await roundTrip(big, [1, 1, 1]);
  assert.equal(dec.decode(tls.subarray(0, 2)), "T:");
  assert.deepEqual(tls.subarray(2), big, "every byte, the peeked ones included");
  const hello = enc.encode("HELLO world, and then some more bytes");
  const h1 = await roundTrip(hello, [2, 2]);
  assert.equal(dec.decode(h1), "H:" + dec.decode(hello));
  const other = enc.encode("GET / HTTP/1.0\r\n\r\n");
  assert.equal(dec.decode(await roundTrip(other, [3])), "F:" + dec.decode(other));
});

test(`[${adapter}] router sniff: a route's framer gets the peeked bytes; timeout and end decide on the head so far`, async () => {
  await using server = serve({
    adapter,
    hostname: "127.0.0.1",
    port: 0,
    handler: router({ sniffBytes: 16, sniffTimeout: 300 })
      // Needs 4 bytes: while fewer have come, no later route is tried.
      .on({
        sniff: (head) => head.length < 4 ? undefined : dec.decode(head.subarray(0, 4)) === "PING",
      }, says("PING"))
      .on({ sniff: (head) => head[0] === 0x41 }, says("A"))
      .on(
        { sniff: (head) => head[0] === 0x4c },
        async (conn) => {
          for await (const line of conn as unknown as Connection<string>) {
            await conn.write(enc.encode(`[${line}]`));
          }
        },
        { framer: lines() },
      )
      .otherwise(says("fallback")),
  });
  const port = await portOf(server);
  // "AB" then silence: at the timeout the first route gives up and the second sees "AB".
  const started = Date.now();
  assert.equal(await exchange(port, "127.0.0.1", "AB", false), "A");
  assert.ok(Date.now() - started >= 250, "decided at the sniff timeout");
  assert.equal(await exchange(port, "127.0.0.1", "PINGPONG"), "PING");
  // Nothing at all, then end of stream: the fallback at once.
  const c = await connect({ adapter, hostname: "127.0.0.1", port });
  c.end();
  const got: Uint8Array[] = [];
  for (;;) {
    const chunk = await within(c.next(), 5000, "fallback").catch(() => undefined);
    if (!chunk) break;
    got.push(chunk);
  }
  c.close();
  assert.equal(dec.decode(concat(got)), "fallback");
  // A route with its own framer: the peeked bytes are decoded by it.
  assert.equal(await exchange(port, "127.0.0.1", "L1\nL2\n"), "[L1][L2]");
  await until(() => server.connections === 0, 5000, "all closed");
});

test(`[${adapter}] router with no match and no fallback closes the connection and reports it`, async () => {
  const rejects: RejectReason[] = [];
  const errors: unknown[] = [];
  await using server = serve({
    adapter,
    hostname: "127.0.0.1",
    port: 0,
    rejectMessage: (_i, reason) => `no: ${reason}\n`,
    onReject(_info, reason) {
      rejects.push(reason);
    },
    onError(e) {
      errors.push(e);
    },
    handler: router().on({ remote: "10.0.0.0/8" }, says("ten")),
  });
  const port = await portOf(server);
  assert.equal(await exchange(port, "127.0.0.1"), "no: no-route\n");
  assert.deepEqual(rejects, ["no-route"]);
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof RejectedError && errors[0].reason === "no-route");
  const s = server.stats();
  assert.equal(s.rejected["no-route"], 1);
  // A route is chosen after the slot is given: it is freed once the socket is gone.
  await until(
    () => server.connections === 0 && server.stats().active === 0,
    5000,
    "the rejected connection is gone and its slot free",
  );
});

test(`[${adapter}] perConnection(): each connection gets its own state`, async () => {
  let made = 0;
  await using server = serve<string, string>({
    adapter,
    hostname: "127.0.0.1",
    port: 0,
    framer: lines(),
    handler: router().otherwise(perConnection(() => {
      made++;
      let count = 0;
      return {
        message(conn: Connection<string, string>, line: string) {
          count++;
          conn.send(`${line}#${count}`);
        },
      };
    })),
  });
  const port = await portOf(server);
  const one = async () => {
    await using c = await connect({ adapter, hostname: "127.0.0.1", port, framer: lines() });
    const out: string[] = [];
    for (const m of ["a", "b", "c"]) {
      await c.send(m);
      out.push(String(await within(c.next(), 5000, "reply")));
    }
    return out;
  };
  assert.deepEqual(await Promise.all([one(), one()]), [["a#1", "b#2", "c#3"], [
    "a#1",
    "b#2",
    "c#3",
  ]]);
  assert.equal(made, 2);
});
