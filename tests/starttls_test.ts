// conn.startTls(): upgrading a plain connection mid-stream, in both roles, on every
// runtime where it can be done, and the clear UnsupportedError where it cannot.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type AdapterName,
  connect,
  type Connection,
  lines,
  serve,
  TlsError,
  UnsupportedError,
} from "../mod.ts";
import { nativeAdapter, portOf, sleep, until, within } from "./_helpers.ts";
import { certs } from "./_tls_certs.ts";

const native = nativeAdapter();
const HOST = "127.0.0.1";
const SERVER_TLS = { cert: certs.cert, key: certs.key };
const CLIENT_TLS = { caCerts: [certs.ca], serverName: "localhost" };

// Server-side STARTTLS: node:tls and Bun; Deno has none (its node:tls has: adapter "node").
const serverSide: AdapterName = native === "deno" ? "node" : native;
// Client-side STARTTLS from an iterator: Deno cannot while a read is pending.
const iteratingClient: AdapterName = native === "deno" ? "node" : native;

/** A line server: "STARTTLS" gets "220 go ahead" and an upgrade; other lines an echo. */
function starttlsServer(adapter: AdapterName, goAhead = true) {
  const errors: unknown[] = [];
  const seen: string[] = [];
  const server = serve<string, string>({
    adapter,
    hostname: HOST,
    port: 0,
    framer: lines(),
    onError: (e) => void errors.push(e),
    async handler(conn) {
      for await (const line of conn) {
        seen.push(line);
        if (line === "STARTTLS") {
          if (goAhead) await conn.send("220 go ahead");
          else await sleep(100); // the client's handshake is read meanwhile
          try {
            await conn.startTls({ server: SERVER_TLS });
          } catch (e) {
            errors.push(e); // the connection is closed with it
            return;
          }
          continue;
        }
        await conn.send(`${line} over ${conn.tls ? "tls" : "plain"}`);
      }
    },
  });
  return { server, errors, seen };
}

test(`[${serverSide} server, ${iteratingClient} client] STARTTLS with a go-ahead, both sides iterating`, async () => {
  const { server } = starttlsServer(serverSide);
  const port = await portOf(server);
  await using conn = await connect({
    adapter: iteratingClient,
    hostname: HOST,
    port,
    framer: lines(),
  });
  await conn.send("a");
  assert.equal(await within(conn.next(), 5000, "plain echo"), "a over plain");
  await conn.send("STARTTLS");
  assert.equal(await within(conn.next(), 5000, "go-ahead"), "220 go ahead");
  await within(conn.startTls({ client: CLIENT_TLS }), 5000, "client handshake");
  assert.equal(conn.tls?.alpnProtocol, null);
  assert.ok(conn.tls?.peerCertificate?.length, "the server's certificate");
  await conn.send("b");
  assert.equal(await within(conn.next(), 5000, "tls echo"), "b over tls");
  conn.close();
  await server.shutdown();
});

test(`[${serverSide} server, ${native} client] STARTTLS from a message hook (works on Deno's native client too)`, async () => {
  const { server } = starttlsServer(serverSide);
  const port = await portOf(server);
  const got: string[] = [];
  let upgraded = false;
  const conn: Connection<string, string> = await connect({
    adapter: native,
    hostname: HOST,
    port,
    framer: lines(),
    hooks: {
      message(c, msg) {
        got.push(msg);
        if (msg !== "220 go ahead") return;
        // Returned: delivery waits for it, and reading stops before the next read.
        return c.startTls({ client: CLIENT_TLS }).then(() => {
          upgraded = true;
          return c.send("b");
        });
      },
    },
  });
  await conn.send("STARTTLS");
  await until(() => got.length === 2, 5000, "reply over TLS");
  assert.ok(upgraded);
  assert.deepEqual(got, ["220 go ahead", "b over tls"]);
  assert.ok(conn.tls);
  conn.close();
  await conn.closed;
  await server.shutdown();
});

test(`[${serverSide} server] bytes read before startTls() are the start of the handshake`, async () => {
  // No go-ahead: the client starts TLS right after the command, so the server has its
  // ClientHello in the decoder by the time it calls startTls().
  const { server, errors } = starttlsServer(serverSide, false);
  const port = await portOf(server);
  await using conn = await connect({
    adapter: iteratingClient,
    hostname: HOST,
    port,
    framer: lines(),
  });
  await conn.send("STARTTLS");
  const upgrade = conn.startTls({ client: CLIENT_TLS });
  if (serverSide === "bun") {
    // Bun cannot hand bytes it has read to TLS: a clear TlsError on the server.
    await assert.rejects(within(upgrade, 5000, "refused"));
    await until(() => errors.length > 0, 5000, "reported");
    assert.ok(errors[0] instanceof TlsError && /cannot hand them to TLS/.test(errors[0].message));
  } else {
    await within(upgrade, 5000, "handshake");
    await conn.send("c");
    assert.equal(await within(conn.next(), 5000, "tls echo"), "c over tls");
    conn.close();
  }
  await server.shutdown({ timeout: 1000 });
});

test(`[${serverSide} server] plaintext pipelined after STARTTLS is never taken as a command`, async () => {
  const { server, errors, seen } = starttlsServer(serverSide);
  const port = await portOf(server);
  await using conn = await connect({ adapter: serverSide, hostname: HOST, port, framer: lines() });
  await conn.write(new TextEncoder().encode("STARTTLS\nINJECTED\n"));
  assert.equal(await within(conn.next(), 5000, "go-ahead"), "220 go ahead");
  // The server's TLS layer gets "INJECTED\n" as the start of a handshake and fails.
  await within(conn.next().catch(() => undefined), 5000, "closed");
  await until(() => errors.length > 0, 5000, "reported");
  assert.ok(errors.every((e) => e instanceof TlsError), String(errors));
  assert.deepEqual(seen, ["STARTTLS"]);
  await server.shutdown();
});

if (native === "deno") {
  test("[deno] server-side startTls() is UnsupportedError and the connection stays usable", async () => {
    const results: unknown[] = [];
    await using server = serve<string, string>({
      adapter: "deno",
      hostname: HOST,
      port: 0,
      framer: lines(),
      async handler(conn) {
        for await (const line of conn) {
          const r = await conn.startTls({ server: SERVER_TLS }).catch((e) => e);
          results.push(r);
          await conn.send(`${line}: still plain`);
        }
      },
    });
    const port = await portOf(server);
    await using conn = await connect({ adapter: "deno", hostname: HOST, port, framer: lines() });
    await conn.send("x");
    assert.equal(await within(conn.next(), 5000, "reply"), "x: still plain");
    assert.ok(
      results[0] instanceof UnsupportedError && results[0].runtime === "deno",
      String(results[0]),
    );
    assert.match((results[0] as Error).message, /server-side STARTTLS/);
    conn.close();
    await server.shutdown();
  });

  test("[deno] client startTls() while iterating (a read pending) is UnsupportedError, nothing lost", async () => {
    const { server } = starttlsServer("node");
    const port = await portOf(server);
    await using conn = await connect({ adapter: "deno", hostname: HOST, port, framer: lines() });
    await conn.send("STARTTLS");
    assert.equal(await within(conn.next(), 5000, "go-ahead"), "220 go ahead");
    await assert.rejects(conn.startTls({ client: CLIENT_TLS }), (e: unknown) => {
      assert.ok(e instanceof UnsupportedError && e.runtime === "deno", String(e));
      assert.match(e.message, /message hook/);
      return true;
    });
    conn.abort();
    await server.shutdown({ timeout: 1000 });
  });
}

test("[memory] startTls() is UnsupportedError", async () => {
  await using server = serve({ adapter: "memory", port: 0, handler: { open() {} } });
  const port = await portOf(server);
  await using conn = await connect({ adapter: "memory", port });
  await assert.rejects(conn.startTls({ client: CLIENT_TLS }), UnsupportedError);
  conn.close();
  await server.shutdown({ timeout: 500 });
});
