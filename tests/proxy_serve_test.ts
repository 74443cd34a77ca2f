// serve({ proxyProtocol }): the PROXY header from trusted proxies, before admission,
// on the native adapter.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type AdapterName,
  connect,
  type Connection,
  encodeProxyV1,
  encodeProxyV2,
  lines,
  ProxyProtocolError,
  type ProxyProtocolOptions,
  type RejectReason,
  router,
  serve,
  type ServeOptions,
  type TcpAddr,
  TimeoutError,
  UnsupportedError,
} from "../mod.ts";
import { concat, nativeAdapter, portOf, sleep, until, within } from "./_helpers.ts";
import { certs } from "./_tls_certs.ts";

const adapter: AdapterName = nativeAdapter();
const HOST = "127.0.0.1";
const t = (name: string, fn: () => Promise<void>) => test(`[${adapter}] ${name}`, fn);
const enc = new TextEncoder();

const v4 = (hostname: string, port: number): TcpAddr => ({
  transport: "tcp",
  hostname,
  port,
  family: "IPv4",
});
const CLIENT = v4("192.0.2.10", 40000);
const FRONT = v4("198.51.100.1", 443);

/** A line server that reports what it knows of each connection. */
function who(extra: Partial<ServeOptions<string, string>> = {}) {
  const rejects: RejectReason[] = [];
  const errors: unknown[] = [];
  const server = serve<string, string>({
    adapter,
    hostname: HOST,
    port: 0,
    framer: lines(),
    proxyProtocol: { trusted: ["127.0.0.1", "::1"] },
    onReject: (_i, reason) => void rejects.push(reason),
    onError: (e) => void errors.push(e),
    async handler(conn: Connection<string, string>) {
      for await (const line of conn) {
        await conn.send(
          JSON.stringify({
            line,
            remote: conn.remoteAddr,
            local: conn.localAddr,
            via: conn.proxiedBy ?? null,
          }),
        );
      }
    },
    ...extra,
  });
  return { server, rejects, errors };
}

async function open(port: number) {
  return await connect({ adapter, hostname: HOST, port, framer: lines() });
}

async function reply(conn: Connection<string, string>) {
  return JSON.parse(String(await within(conn.next(), 5000, "reply")));
}

t(
  "v2 header and payload in one write: real client, destination, proxiedBy; payload untouched",
  async () => {
    const { server } = who();
    const port = await portOf(server);
    await using conn = await open(port);
    const header = encodeProxyV2({ command: "proxy", source: CLIENT, destination: FRONT });
    await conn.write(concat([header, enc.encode("first\nsecond\n")]));
    const a = await reply(conn);
    assert.deepEqual(a.remote, CLIENT);
    assert.deepEqual(a.local, FRONT);
    assert.equal(a.via.hostname, "127.0.0.1");
    assert.equal(a.via.port, conn.localAddr.transport === "tcp" ? conn.localAddr.port : -1);
    assert.equal(a.line, "first");
    assert.equal((await reply(conn)).line, "second");
    conn.close();
    await server.shutdown();
  },
);

t("v1 header sent byte by byte, then the payload", async () => {
  const { server } = who();
  const port = await portOf(server);
  await using conn = await open(port);
  const header = encodeProxyV1({ source: CLIENT, destination: FRONT });
  for (let i = 0; i < header.length; i++) {
    await conn.write(header.subarray(i, i + 1));
    if (i % 8 === 0) await sleep(1);
  }
  await conn.send("hello");
  const a = await reply(conn);
  assert.deepEqual([a.remote, a.local, a.line], [CLIENT, FRONT, "hello"]);
  conn.close();
  await server.shutdown();
});

t("LOCAL and UNKNOWN headers keep the socket's own addresses", async () => {
  const { server } = who();
  const port = await portOf(server);
  for (const header of [encodeProxyV2({ command: "local" }), enc.encode("PROXY UNKNOWN\r\n")]) {
    await using conn = await open(port);
    await conn.write(concat([header, enc.encode("hc\n")]));
    const a = await reply(conn);
    assert.equal(a.remote.hostname, "127.0.0.1");
    assert.equal(a.via, null);
    assert.equal(a.line, "hc");
    conn.close();
  }
  await server.shutdown();
});

t("per-client limits and remote routes apply to the real client, not the proxy", async () => {
  const rejects: RejectReason[] = [];
  await using server = serve<string, string>({
    adapter,
    hostname: HOST,
    port: 0,
    framer: lines(),
    proxyProtocol: { trusted: "127.0.0.1" },
    perClient: { maxConnections: 1 },
    onReject: (_i, r) => void rejects.push(r),
    handler: router()
      .on({ remote: "192.0.2.0/24" }, async (c) => {
        for await (const l of c) await c.send(`doc ${l}`);
      })
      .otherwise(async (c) => {
        for await (const l of c) await c.send(`other ${l}`);
      }),
  });
  const port = await portOf(server);
  const via = async (source: TcpAddr) => {
    const conn = await open(port);
    await conn.write(encodeProxyV2({ command: "proxy", source, destination: FRONT }));
    return conn;
  };
  await using a = await via(CLIENT);
  await a.send("1");
  assert.equal(await within(a.next(), 5000, "a"), "doc 1");
  await using b = await via(v4("203.0.113.5", 1000)); // another client through the same proxy
  await b.send("2");
  assert.equal(await within(b.next(), 5000, "b"), "other 2");
  await using c = await via(v4(CLIENT.hostname, 40001)); // the first client again
  await until(() => rejects.length === 1, 5000, "the same client twice");
  assert.deepEqual(rejects, ["per-client"]);
  for (const x of [a, b, c]) x.close();
  await server.shutdown({ timeout: 1000 });
});

t(
  "a malformed header or none from a trusted peer: rejected with proxy, reported, server goes on",
  async () => {
    const { server, rejects, errors } = who({ rejectMessage: "-ERR proxy\n" });
    const port = await portOf(server);
    for (const bad of ["PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "GET / HTTP/1.0\r\n\r\n"]) {
      await using conn = await open(port);
      await conn.write(enc.encode(bad));
      assert.equal(await within(conn.next(), 5000, "reject message"), "-ERR proxy");
      conn.close();
    }
    assert.deepEqual(rejects, ["proxy", "proxy"]);
    assert.equal(errors.length, 2);
    assert.ok(errors.every((e) => e instanceof ProxyProtocolError), String(errors));
    assert.equal(server.stats().rejected.proxy, 2);
    await using ok = await open(port);
    await ok.write(
      concat([encodeProxyV1({ source: CLIENT, destination: FRONT }), enc.encode("x\n")]),
    );
    assert.equal((await reply(ok)).line, "x");
    ok.close();
    await server.shutdown();
  },
);

t("a trusted peer that sends nothing is cut after the header timeout (3 s)", async () => {
  const { server, rejects, errors } = who({ proxyProtocol: { trusted: [HOST], timeout: 3000 } });
  const port = await portOf(server);
  await using silent = await open(port);
  const started = Date.now();
  await within(silent.next().catch(() => undefined), 6000, "cut");
  assert.ok(Date.now() - started >= 2900, `after ${Date.now() - started} ms`);
  await until(() => errors.length === 1, 2000, "reported");
  assert.ok(
    errors[0] instanceof TimeoutError && errors[0].kind === "proxyHeader",
    String(errors[0]),
  );
  assert.deepEqual(rejects, ["proxy"]);
  assert.equal(server.stats().timeouts.proxyHeader, 1);
  await server.shutdown();
});

t("proxyProtocol options are checked: timeout >= 3000 ms, trusted required", () => {
  const bad: unknown[] = [{ trusted: [HOST], timeout: 500 }, { trusted: [HOST], timeout: 2999 }];
  for (const proxyProtocol of bad) {
    assert.throws(
      () =>
        serve({
          adapter,
          port: 0,
          proxyProtocol: proxyProtocol as ProxyProtocolOptions,
          handler() {},
        }),
      RangeError,
    );
  }
  assert.throws(
    () => serve({ adapter, port: 0, proxyProtocol: {} as ProxyProtocolOptions, handler() {} }),
    TypeError,
  );
  assert.throws(
    () => serve({ adapter, port: 0, proxyProtocol: { trusted: ["10.0.0.1/8"] }, handler() {} }),
    TypeError,
  );
  return Promise.resolve();
});

t("an untrusted peer: served as is without a header, rejected with one", async () => {
  const { server, rejects, errors } = who({ proxyProtocol: { trusted: ["10.0.0.0/8"] } });
  const port = await portOf(server);
  await using plain = await open(port);
  await plain.send("direct");
  const a = await reply(plain);
  assert.equal(a.remote.hostname, "127.0.0.1");
  assert.equal(a.via, null);
  plain.close();
  await using spoof = await open(port);
  await spoof.write(
    concat([encodeProxyV1({ source: CLIENT, destination: FRONT }), enc.encode("x\n")]),
  );
  await within(spoof.next().catch(() => undefined), 5000, "closed");
  await until(() => rejects.length === 1, 5000, "rejected");
  assert.deepEqual(rejects, ["proxy"]);
  assert.ok(errors.some((e) => e instanceof ProxyProtocolError), String(errors));
  await server.shutdown();
});

t("per listener: one listener takes PROXY headers, the other plain clients", async () => {
  await using server = serve<string, string>({
    adapter,
    framer: lines(),
    proxyProtocol: { trusted: [HOST] },
    listen: [
      { name: "behind-lb", hostname: HOST, port: 0 },
      { name: "direct", hostname: HOST, port: 0, proxyProtocol: false },
    ],
    async handler(conn) {
      for await (const l of conn) {
        await conn.send(`${l} ${conn.remoteAddr.transport === "tcp" && conn.remoteAddr.hostname}`);
      }
    },
  });
  await server.ready;
  const [lb, direct] = server.addrs.map((a) => a.addr.transport === "tcp" ? a.addr.port : 0);
  await using a = await open(lb);
  await a.write(concat([encodeProxyV1({ source: CLIENT, destination: FRONT }), enc.encode("a\n")]));
  assert.equal(await within(a.next(), 5000, "lb"), `a ${CLIENT.hostname}`);
  await using b = await open(direct);
  await b.send("b");
  assert.equal(await within(b.next(), 5000, "direct"), "b 127.0.0.1");
  a.close();
  b.close();
  await server.shutdown();
});

t("a Unix socket listener: local peers are trusted, so the header is required", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tcpkit-pp-"));
  try {
    const path = join(dir, "pp.sock");
    const { server, rejects } = who({ hostname: undefined, port: undefined, path });
    await server.ready;
    await using conn = await connect({ adapter, path, framer: lines() });
    await conn.write(
      concat([
        encodeProxyV2({ command: "proxy", source: CLIENT, destination: FRONT }),
        enc.encode("u\n"),
      ]),
    );
    const a = await reply(conn);
    assert.deepEqual([a.remote, a.via.transport], [CLIENT, "unix"]);
    conn.close();
    await using none = await connect({ adapter, path, framer: lines() });
    await none.send("no header");
    await within(none.next().catch(() => undefined), 5000, "rejected");
    await until(() => rejects.length === 1, 5000, "rejected");
    await server.shutdown();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t("shutdown does not wait for connections still sending their header", async () => {
  const { server } = who();
  const port = await portOf(server);
  await using silent = await open(port);
  await sleep(50);
  await within(server.shutdown({ timeout: 2000 }), 1500, "shutdown");
  await within(silent.next().catch(() => undefined), 3000, "closed");
});

if (adapter !== "node") {
  t(`${adapter}: tls with proxyProtocol on one listener is UnsupportedError`, () => {
    assert.throws(
      () =>
        serve({
          adapter,
          port: 0,
          tls: { cert: certs.cert, key: certs.key },
          proxyProtocol: { trusted: [HOST] },
          handler() {},
        }),
      (e: unknown) => e instanceof UnsupportedError && e.runtime === adapter,
    );
    return Promise.resolve();
  });
}
// node:tls can take the bytes read with the header: on every runtime with adapter "node".
{
  const adapter = "node" as const;
  t("tls with proxyProtocol (node adapter): the header first, then the TLS handshake", async () => {
    const { server } = who({ adapter, tls: { cert: certs.cert, key: certs.key } });
    const port = await portOf(server);
    await using conn = await connect({ adapter, hostname: HOST, port, framer: lines() });
    await conn.write(encodeProxyV2({ command: "proxy", source: CLIENT, destination: FRONT }));
    await conn.startTls({ client: { caCerts: [certs.ca], serverName: "localhost" } });
    assert.ok(conn.tls);
    await conn.send("secret");
    const a = await reply(conn);
    assert.deepEqual([a.line, a.remote], ["secret", CLIENT]);
    conn.close();
    await server.shutdown();
  });
}
