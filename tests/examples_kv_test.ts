// examples/kv.ts and examples/resp.ts run as real processes, talked to by redis-cli,
// redis-benchmark and tcpkit's client with the example's RESP framer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../mod.ts";
import { resp, RespError, type RespValue } from "../examples/resp.ts";
import { missing, run, startExample } from "./_examples.ts";
import { sleep, within } from "./_helpers.ts";

const noRedisCli = missing("redis-cli");
const noBenchmark = missing("redis-benchmark");
const utf8 = new TextEncoder();
const cmd = (...words: string[]): RespValue => words.map((w) => utf8.encode(w));
const text = (v: RespValue | undefined) =>
  v instanceof Uint8Array ? new TextDecoder().decode(v) : v;

function cli(port: number, ...args: string[]): Promise<string> {
  return run("redis-cli", ["-p", String(port), ...args], 10_000).then((r) => {
    if (r.code !== 0) throw new Error(`redis-cli ${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
    return r.stdout.trim();
  });
}

test(
  "kv.ts with redis-cli: SET, GET, INCR, MGET, KEYS, DEL and EX expiry",
  { skip: noRedisCli, timeout: 45_000 },
  async () => {
    const ex = await startExample("kv.ts", ["0"]);
    try {
      const p = ex.port;
      assert.equal(await cli(p, "ping"), "PONG");
      assert.equal(await cli(p, "set", "counter", "41"), "OK");
      assert.equal(await cli(p, "get", "counter"), "41");
      assert.equal(await cli(p, "incr", "counter"), "42");
      assert.equal(await cli(p, "incr", "fresh"), "1");
      assert.match(await cli(p, "set", "name", "tcpkit"), /OK/);
      assert.equal(await cli(p, "incr", "name"), "ERR value is not an integer or out of range");
      assert.equal(await cli(p, "mget", "counter", "nope", "name"), "42\n\ntcpkit");
      assert.deepEqual((await cli(p, "keys", "*e*")).split("\n").sort(), [
        "counter",
        "fresh",
        "name",
      ]);
      assert.equal(await cli(p, "keys", "c?unt[a-f]r"), "counter");
      assert.equal(await cli(p, "set", "name", "other", "NX"), "");
      assert.equal(await cli(p, "set", "absent", "v", "XX"), "");
      assert.equal(await cli(p, "set", "brief", "v", "EX", "1"), "OK");
      assert.equal(await cli(p, "get", "brief"), "v");
      assert.equal(await cli(p, "exists", "brief", "counter", "nope"), "2");
      await sleep(1100);
      assert.equal(await cli(p, "get", "brief"), "");
      assert.equal(await cli(p, "exists", "brief"), "0");
      assert.equal(await cli(p, "set", "quick", "v", "PX", "50"), "OK");
      await sleep(100);
      assert.equal(await cli(p, "get", "quick"), "");
      assert.equal(await cli(p, "del", "counter", "nope"), "1");
      assert.equal(await cli(p, "dbsize"), "2");
      assert.equal(await cli(p, "flushall"), "OK");
      assert.equal(await cli(p, "dbsize"), "0");
      assert.match(await cli(p, "info"), /redis_version/);
      assert.match(await cli(p, "nosuch"), /ERR unknown command/);
    } finally {
      await ex.stop();
    }
  },
);

test("kv.ts survives redis-benchmark -t ping,set,get -P 16 -c 50 without errors", {
  skip: noBenchmark,
  timeout: 45_000,
}, async () => {
  const ex = await startExample("kv.ts", ["0"]);
  try {
    const r = await run(
      "redis-benchmark",
      ["-p", String(ex.port), "-t", "ping,set,get", "-n", "20000", "-c", "50", "-P", "16", "-q"],
      45_000,
    );
    const out = r.stdout.replace(/\r/g, "\n");
    assert.equal(r.code, 0, out + r.stderr);
    for (const t of ["PING_INLINE", "PING_MBULK", "SET", "GET"]) {
      assert.match(out, new RegExp(`${t}: [\\d.]+ requests per second`), out);
    }
    assert.doesNotMatch(out + r.stderr, /error/i);
  } finally {
    await ex.stop();
  }
});

test("kv.ts answers 2000 pipelined commands in order (tcpkit client, RESP framer)", {
  timeout: 45_000,
}, async () => {
  const ex = await startExample("kv.ts", ["0", "--max-bulk", "4096"]);
  try {
    await using conn = await connect({ port: ex.port, framer: resp() });
    const sent: Promise<void>[] = [];
    for (let i = 0; i < 1000; i++) {
      sent.push(conn.send(cmd("SET", `k${i}`, `v${i}`)), conn.send(cmd("GET", `k${i}`)));
    }
    await Promise.all(sent);
    for (let i = 0; i < 1000; i++) {
      assert.equal(await conn.next(), "OK");
      assert.equal(text(await conn.next()), `v${i}`);
    }
    await conn.send(cmd("MGET", "k1", "zz", "k999"));
    assert.deepEqual((await conn.next() as RespValue[]).map(text), ["v1", null, "v999"]);
    await conn.send(cmd("GET"));
    assert.ok(await conn.next() instanceof RespError);
    await conn.send(cmd("QUIT"));
    assert.equal(await conn.next(), "OK");
    assert.equal(await within(conn.next(), 5000, "the close after QUIT"), undefined);
  } finally {
    await ex.stop();
  }
});

test(
  "kv.ts refuses new keys past --max-keys and still overwrites old ones",
  { timeout: 45_000 },
  async () => {
    const ex = await startExample("kv.ts", ["0", "--max-keys", "2"]);
    try {
      await using conn = await connect({ port: ex.port, framer: resp() });
      for (const k of ["a", "b", "c", "a"]) await conn.send(cmd("SET", k, "1"));
      assert.equal(await conn.next(), "OK");
      assert.equal(await conn.next(), "OK");
      assert.match((await conn.next() as RespError).message, /^OOM/);
      assert.equal(await conn.next(), "OK");
    } finally {
      await ex.stop();
    }
  },
);

test(
  "kv.ts closes a connection that declares a bulk string over --max-bulk",
  { timeout: 45_000 },
  async () => {
    const ex = await startExample("kv.ts", ["0", "--max-bulk", "4096"]);
    try {
      await using conn = await connect({ port: ex.port });
      await conn.write(utf8.encode("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$999999999\r\n"));
      const end = await within(conn.next().catch(() => undefined), 5000, "the server closing");
      assert.equal(end, undefined);
    } finally {
      await ex.stop();
    }
  },
);

test(
  "resp.ts answers PING and ECHO to redis-cli and to tcpkit's client",
  { timeout: 45_000 },
  async () => {
    const ex = await startExample("resp.ts", ["0"]);
    try {
      if (!noRedisCli) {
        assert.equal(await cli(ex.port, "ping"), "PONG");
        assert.equal(await cli(ex.port, "echo", "hello world"), "hello world");
      }
      await using conn = await connect({ port: ex.port, framer: resp() });
      await conn.send(cmd("PING"));
      await conn.send(cmd("ECHO", "héllo"));
      assert.equal(await conn.next(), "PONG");
      assert.equal(text(await conn.next()), "héllo");
    } finally {
      await ex.stop();
    }
  },
);
