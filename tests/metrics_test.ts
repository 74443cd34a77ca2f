// server.metrics(): the Prometheus text exposition (0.0.4) of stats(). The parser in
// _prometheus.ts checks every line's syntax (HELP, TYPE, samples, label escapes) and the
// families' order, and the parsed values are compared with stats() after real traffic.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, lines, serve, type ServerStats } from "../mod.ts";
import { nativeAdapter, portOf, until, within } from "./_helpers.ts";
import { type Exposition, get, parse } from "./_prometheus.ts";

const adapter = nativeAdapter();

/** Every value of the exposition equals the stats, with `base` labels on every sample. */
function assertMatches(
  e: Exposition,
  stats: ServerStats,
  held: number,
  base: Record<string, string>,
): void {
  const at = (name: string, more: Record<string, string> = {}) =>
    get(e, `tcpkit_${name}`, { ...base, ...more });
  assert.equal(at("connections_accepted_total"), stats.accepted);
  for (const [reason, n] of Object.entries(stats.rejected)) {
    assert.equal(at("rejected_total", { reason }), n, reason);
  }
  for (const [kind, n] of Object.entries(stats.timeouts)) {
    assert.equal(at("timeouts_total", { kind }), n, kind);
  }
  for (const [kind, n] of Object.entries(stats.acceptErrors)) {
    assert.equal(at("accept_errors_total", { kind }), n, kind);
  }
  assert.equal(at("received_bytes_total"), stats.bytesIn);
  assert.equal(at("sent_bytes_total"), stats.bytesOut);
  assert.equal(at("received_messages_total"), stats.messagesIn);
  assert.equal(at("sent_messages_total"), stats.messagesOut);
  assert.equal(at("errors_total"), stats.errors);
  assert.equal(at("connections_active"), stats.active);
  assert.equal(at("connections_queued"), stats.queued);
  assert.equal(at("connections_held"), held);
  const counts = Object.keys(stats.rejected).length + Object.keys(stats.timeouts).length +
    Object.keys(stats.acceptErrors).length + 9;
  assert.equal(e.samples.length, counts, "no sample beyond these");
  for (const s of e.samples) {
    const type = e.types.get(s.name);
    assert.ok(type, `a TYPE for ${s.name}`);
    assert.ok(e.helps.get(s.name), `a HELP for ${s.name}`);
    assert.equal(type, s.name.endsWith("_total") ? "counter" : "gauge", s.name);
    for (const [k, v] of Object.entries(base)) assert.equal(s.labels[k], v);
  }
}

test(`[${adapter}] metrics() parses and equals stats() after traffic, a rejection and a timeout`, {
  timeout: 30_000,
}, async () => {
  const gate = Promise.withResolvers<void>();
  const server = serve<string, string>({
    hostname: "127.0.0.1",
    port: 0,
    framer: lines(),
    maxConnections: 1,
    backlog: 0,
    timeouts: { firstMessage: 300 },
    rejectMessage: "busy\n",
    async handler(conn) {
      for await (const line of conn) {
        await conn.send(line);
        if (line === "wait") await gate.promise;
      }
    },
  });
  try {
    const port = await portOf(server);
    const empty = parse(server.metrics());
    assertMatches(empty, server.stats(), 0, {});

    const one = await connect({ hostname: "127.0.0.1", port, framer: lines() });
    for (const m of ["a", "bb", "wait"]) await one.send(m);
    for (let i = 0; i < 3; i++) await within(one.next(), 5000, "echo");
    const two = await connect({ hostname: "127.0.0.1", port, framer: lines() });
    assert.equal(await within(two.next(), 5000, "rejection"), "busy");
    two.close();
    await until(() => server.stats().rejected.capacity === 1, 5000, "capacity counted");
    const mid = server.stats();
    const e = parse(server.metrics({ worker: "1" }));
    assertMatches(e, mid, server.connections, { worker: "1" });
    assert.equal(get(e, "tcpkit_connections_active", { worker: "1" }), 1);
    gate.resolve();
    one.close();
    await until(() => server.stats().active === 0, 5000, "one gone");

    // A silent client: its first-message deadline passes.
    const silent = await connect({ hostname: "127.0.0.1", port, framer: lines() });
    assert.equal(await within(silent.next().catch(() => undefined), 5000, "timeout"), undefined);
    silent.close();
    await until(() => server.connections === 0, 5000, "all gone");
    const stats = server.stats();
    assert.equal(stats.timeouts.firstMessage, 1);
    const last = parse(server.metrics());
    assertMatches(last, stats, 0, {});
    assert.equal(get(last, "tcpkit_timeouts_total", { kind: "firstMessage" }), 1);
    assert.equal(get(last, "tcpkit_rejected_total", { reason: "capacity" }), 1);
    assert.equal(get(last, "tcpkit_sent_bytes_total"), stats.bytesOut);
    assert.ok(stats.bytesIn >= 8 && stats.messagesIn === 3, JSON.stringify(stats));
  } finally {
    gate.resolve();
    await server.shutdown({ timeout: 1000 });
  }
});

test(`[${adapter}] metrics() escapes label values and refuses bad label names`, async () => {
  const server = serve({ hostname: "127.0.0.1", port: 0, handler: (conn) => conn.close() });
  try {
    await server.ready;
    const odd = { service: 'say "hi"\\\nbye', zone: "ü-1", _x: "" };
    const text = server.metrics(odd);
    assert.match(text, /service="say \\"hi\\"\\\\\\nbye"/);
    assert.ok(!text.slice(0, -1).split("\n").some((l) => l === ""), "no empty line");
    assertMatches(parse(text), server.stats(), 0, odd);
    for (const bad of ["1x", "a-b", "__name", "reason", "kind", "", "é"]) {
      assert.throws(() => server.metrics({ [bad]: "v" }), TypeError, bad);
    }
    assert.throws(() => server.metrics({ a: 1 as unknown as string }), TypeError);
    assert.throws(() => server.metrics("x" as unknown as Record<string, string>), TypeError);
  } finally {
    await server.shutdown();
  }
});

test("the parser refuses what the format does not allow", () => {
  const ok = "# HELP a_total x\n# TYPE a_total counter\na_total 1\n";
  assert.equal(parse(ok).samples.length, 1);
  for (
    const bad of [
      "a_total 1", // no final newline
      'a{b="c\\x"} 1\n', // bad escape
      'a{b="c} 1\n', // unterminated
      'a{1b="c"} 1\n', // label name
      "a 1\n# TYPE a counter\n", // TYPE after samples
      "a 1\nb 1\na 2\n", // family not contiguous
      "a 1\na 2\n", // the same series twice
      "# TYPE a countr\n", // type
      "a one\n", // value
      "a-b 1\n", // metric name
    ]
  ) {
    assert.throws(() => parse(bad), assert.AssertionError, JSON.stringify(bad));
  }
});
