// TLS listeners and clients on the native adapter: ALPN, conn.tls, certificate
// failures, the handshake deadline, and client certificates where the runtime has them.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  connect,
  ConnectError,
  type Connection,
  lines,
  serve,
  type ServeOptions,
  TimeoutError,
  TlsError,
  type TlsServerOptions,
  UnsupportedError,
} from "../mod.ts";
import { nativeAdapter, portOf, sleep, until, within } from "./_helpers.ts";
import { certs } from "./_tls_certs.ts";

const adapter = nativeAdapter();
const HOST = "127.0.0.1";
const t = (name: string, fn: () => Promise<void>) => test(`[${adapter}] ${name}`, fn);

type Opts = Partial<ServeOptions<string, string>>;

/** A TLS line server that answers each line with what it knows of the session. */
function tlsServer(tls: Partial<TlsServerOptions> = {}, extra: Opts = {}) {
  const errors: unknown[] = [];
  const server = serve<string, string>({
    adapter,
    hostname: HOST,
    port: 0,
    framer: lines(),
    onError: (e) => void errors.push(e),
    ...extra,
    tls: { cert: certs.cert, key: certs.key, ...tls },
    async handler(conn: Connection<string, string>) {
      for await (const line of conn) {
        const i = conn.tls;
        await conn.send(
          `${line} alpn=${i?.alpnProtocol} sni=${i?.serverName} peer=${!!i?.peerCertificate}`,
        );
      }
    },
  });
  return { server, errors };
}

t("TLS echo: ALPN is negotiated and conn.tls is set on both sides", async () => {
  const { server } = tlsServer({ alpnProtocols: ["x-one", "x-two"] });
  const port = await portOf(server);
  await using conn = await connect({
    adapter,
    hostname: HOST,
    port,
    framer: lines(),
    tls: { caCerts: [certs.ca], serverName: "localhost", alpnProtocols: ["x-two"] },
  });
  assert.equal(conn.tls?.alpnProtocol, "x-two");
  assert.ok(conn.tls?.peerCertificate && conn.tls.peerCertificate.length > 100, "server cert DER");
  await conn.send("hello");
  const reply = await within(conn.next(), 5000, "reply over TLS");
  // Deno does not expose the SNI name a client asked for (denoland/deno#23233).
  const sni = adapter === "deno" ? "undefined" : "localhost";
  assert.equal(reply, `hello alpn=x-two sni=${sni} peer=false`);
  conn.close();
  await server.shutdown();
});

t("TLS without ALPN: alpnProtocol is null; a client may verify an IP address", async () => {
  const { server } = tlsServer();
  const port = await portOf(server);
  await using conn = await connect({
    adapter,
    hostname: HOST,
    port,
    framer: lines(),
    tls: { caCerts: [certs.ca] },
  });
  assert.equal(conn.tls?.alpnProtocol, null);
  await conn.send("a");
  assert.match(String(await within(conn.next(), 5000, "reply")), /^a alpn=null /);
  conn.close();
  await server.shutdown();
});

t("an untrusted certificate is a TlsError for that client; the server keeps serving", async () => {
  const { server, errors } = tlsServer();
  const port = await portOf(server);
  for (const tls of [{ caCerts: [certs.otherCa] }, {}]) {
    await assert.rejects(
      connect({ adapter, hostname: HOST, port, framer: lines(), tls }),
      (e: unknown) => {
        assert.ok(e instanceof TlsError, `TlsError, got ${e}`);
        assert.match(e.message, /TLS handshake with 127\.0\.0\.1:\d+ failed/);
        return true;
      },
    );
  }
  await using ok = await connect({
    adapter,
    hostname: HOST,
    port,
    framer: lines(),
    tls: { caCerts: [certs.ca] },
  });
  await ok.send("still here");
  assert.match(String(await within(ok.next(), 5000, "reply")), /^still here /);
  // The server may see the client's refusal as a handshake failure or, with TLS 1.3
  // (where its side of the handshake is already done), as a reset: either way, typed.
  assert.ok(errors.every((e) => e instanceof Error && e.name !== "Error"), String(errors));
  ok.close();
  await server.shutdown();
});

t("a certificate for another name is a TlsError", async () => {
  const { server } = tlsServer();
  const port = await portOf(server);
  await assert.rejects(
    connect({
      adapter,
      hostname: HOST,
      port,
      tls: { caCerts: [certs.ca], serverName: "not-this-host.example" },
    }),
    TlsError,
  );
  await server.shutdown();
});

// Deno cannot close a Deno.listenTls connection during its handshake (the socket stays
// open until the client leaves; see the README): there, node:tls (adapter "node") cuts it.
for (const a of adapter === "deno" ? ["node" as const] : [adapter]) {
  t(
    `a client that never sends a ClientHello is cut by the handshake timeout (${a} listener)`,
    async () => {
      const { server, errors } = tlsServer({ handshakeTimeout: 300 }, { adapter: a });
      const port = await portOf(server);
      // A plain TCP client: it connects and says nothing.
      await using silent = await connect({ adapter, hostname: HOST, port });
      const started = Date.now();
      await within(silent.next().catch(() => undefined), 5000, "cut by the server");
      assert.ok(Date.now() - started >= 200, "not before the timeout");
      await until(() => errors.length === 1, 5000, "the timeout reported");
      assert.ok(
        errors[0] instanceof TimeoutError && errors[0].kind === "handshake",
        String(errors[0]),
      );
      assert.equal(server.stats().timeouts.handshake, 1);
      assert.equal(server.connections, 0, "never admitted");
      await server.shutdown();
    },
  );
}

if (adapter === "deno") {
  t("deno: a silent client's handshake times out and is reported, never admitted", async () => {
    const { server, errors } = tlsServer({ handshakeTimeout: 300 });
    const port = await portOf(server);
    const silent = await connect({ adapter, hostname: HOST, port });
    await until(() => errors.length === 1, 5000, "the timeout reported");
    assert.ok(
      errors[0] instanceof TimeoutError && errors[0].kind === "handshake",
      String(errors[0]),
    );
    assert.equal(server.connections, 0);
    silent.abort();
    await silent.closed;
    await server.shutdown();
  });
}

t("plaintext sent to a TLS listener is a TlsError on that connection only", async () => {
  const { server, errors } = tlsServer();
  const port = await portOf(server);
  await using plain = await connect({ adapter, hostname: HOST, port });
  await plain.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
  // The server answers with a TLS alert (0x15) and closes (Deno keeps the socket open
  // after a failed handshake until the client leaves; see the README).
  const first = await within(plain.next().catch(() => undefined), 5000, "alert or EOF");
  assert.ok(first === undefined || first[0] === 0x15, `an alert, got ${first}`);
  await until(() => errors.length === 1, 5000, "reported");
  assert.ok(errors[0] instanceof TlsError, String(errors[0]));
  await using ok = await connect({
    adapter,
    hostname: HOST,
    port,
    framer: lines(),
    tls: { caCerts: [certs.ca] },
  });
  await ok.send("x");
  assert.match(String(await within(ok.next(), 5000, "reply")), /^x /);
  ok.close();
  await server.shutdown();
});

t("tls options are checked: handshakeTimeout > 0, cert and key required", () => {
  assert.throws(
    () =>
      serve({
        adapter,
        port: 0,
        tls: { cert: certs.cert, key: certs.key, handshakeTimeout: 0 },
        handler() {},
      }),
    RangeError,
  );
  assert.throws(
    () => serve({ adapter, port: 0, tls: { cert: certs.cert } as never, handler() {} }),
    TypeError,
  );
  return Promise.resolve();
});

t("connect() to a TLS port that never answers the handshake times out", async () => {
  // A plain server that accepts and stays silent: the ClientHello gets no answer.
  await using mute = serve({ adapter, hostname: HOST, port: 0, handler: { open() {} } });
  const port = await portOf(mute);
  await assert.rejects(
    connect({ adapter, hostname: HOST, port, timeout: 300, tls: { caCerts: [certs.ca] } }),
    (e: unknown) => {
      assert.ok(e instanceof ConnectError && e.reason === "timeout", String(e));
      return true;
    },
  );
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 100);
  await assert.rejects(
    connect({ adapter, hostname: HOST, port, signal: ac.signal, tls: { caCerts: [certs.ca] } }),
    (e: unknown) => e instanceof ConnectError && e.reason === "aborted",
  );
  await mute.shutdown({ timeout: 100 });
});

t("connect() with TLS to a closed port is ConnectError refused, not a TlsError", async () => {
  const { server } = tlsServer();
  const port = await portOf(server);
  await server.shutdown();
  await assert.rejects(
    connect({ adapter, hostname: HOST, port, tls: { caCerts: [certs.ca] } }),
    (e: unknown) => e instanceof ConnectError && e.reason === "refused",
  );
});

if (adapter === "deno") {
  t("deno: a listener cannot ask for client certificates: UnsupportedError", () => {
    assert.throws(
      () =>
        serve({
          adapter,
          port: 0,
          tls: { cert: certs.cert, key: certs.key, ca: certs.ca, requestClientCert: true },
          handler() {},
        }),
      (e: unknown) => e instanceof UnsupportedError && e.runtime === "deno",
    );
    return Promise.resolve();
  });
}

// Deno's client presents one (Deno.connectTls); its listener asks through node:tls.
const asking = adapter === "deno" ? "node" : adapter;
t(
  `client certificates: requested by a ${asking} listener, verified, conn.tls.peerCertificate`,
  async () => {
    const { server, errors } = tlsServer(
      { ca: certs.ca, requestClientCert: true },
      { adapter: asking },
    );
    const port = await portOf(server);
    await using conn = await connect({
      adapter,
      hostname: HOST,
      port,
      framer: lines(),
      tls: {
        caCerts: [certs.ca],
        serverName: "localhost",
        cert: certs.clientCert,
        key: certs.clientKey,
      },
    });
    await conn.send("me");
    assert.match(String(await within(conn.next(), 5000, "reply")), /^me .* peer=true$/);
    conn.close();
    // Without a certificate the handshake fails on the server, which reports it.
    const anonymous = await connect({
      adapter,
      hostname: HOST,
      port,
      framer: lines(),
      tls: { caCerts: [certs.ca] },
    }).catch((e) => e);
    if (!(anonymous instanceof Error)) {
      // TLS 1.3: the client learns of the refusal only when it reads.
      await anonymous.send("anyone?").catch(() => {});
      await within(anonymous.next().catch(() => undefined), 5000, "refused");
      anonymous.close();
    }
    await until(() => errors.some((e) => e instanceof TlsError), 5000, "refusal reported");
    await server.shutdown();
  },
);

t("shutdown closes sockets still in their handshake", async () => {
  const a = adapter === "deno" ? "node" : adapter; // see the handshake timeout above
  const { server } = tlsServer({}, { adapter: a });
  const port = await portOf(server);
  await using silent = await connect({ adapter, hostname: HOST, port });
  await sleep(50);
  await within(server.shutdown({ timeout: 1000 }), 3000, "shutdown");
  assert.equal(await within(silent.next().catch(() => undefined), 3000, "closed"), undefined);
});
