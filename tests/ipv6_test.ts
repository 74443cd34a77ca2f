// IPv6 on the native adapter: "::1" and the dual-stack "::", canonical addresses,
// IPv4 clients seen as ::ffff:a.b.c.d, and per-client limits and routes that unmap them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Connection, lines, type RejectReason, router, serve } from "../mod.ts";
import { nativeAdapter, portOf, until, within } from "./_helpers.ts";

const adapter = nativeAdapter();
const t = (name: string, fn: () => Promise<void>) => test(`[${adapter}] ${name}`, fn);

/** Answers each line with the connection's addresses. */
function whoServer(hostname: string) {
  return serve<string, string>({
    adapter,
    hostname,
    port: 0,
    framer: lines(),
    async handler(conn) {
      for await (const _ of conn) {
        await conn.send(JSON.stringify([conn.remoteAddr, conn.localAddr]));
      }
    },
  });
}

async function ask(hostname: string, port: number) {
  await using conn = await connect({ adapter, hostname, port, framer: lines() });
  await conn.send("who");
  const [remote, local] = JSON.parse(String(await within(conn.next(), 5000, "reply")));
  conn.close();
  return { remote, local, client: conn.remoteAddr };
}

t('hostname "::1": listener, client and server addresses are IPv6 and canonical', async () => {
  await using server = whoServer("::1");
  const port = await portOf(server);
  assert.deepEqual(server.addr, { transport: "tcp", hostname: "::1", port, family: "IPv6" });
  const { remote, local, client } = await ask("::1", port);
  assert.equal(remote.hostname, "::1");
  assert.equal(remote.family, "IPv6");
  assert.deepEqual(local, { transport: "tcp", hostname: "::1", port, family: "IPv6" });
  assert.deepEqual(client, { transport: "tcp", hostname: "::1", port, family: "IPv6" });
  await server.shutdown();
});

t('hostname "::" takes IPv6 and IPv4 clients; IPv4 ones appear as ::ffff:127.0.0.1', async () => {
  await using server = whoServer("::");
  const port = await portOf(server);
  assert.equal(server.addr.transport === "tcp" && server.addr.hostname, "::");
  const v6 = await ask("::1", port);
  assert.equal(v6.remote.hostname, "::1");
  const v4 = await ask("127.0.0.1", port);
  assert.deepEqual(
    [v4.remote.hostname, v4.remote.family, v4.local.hostname],
    ["::ffff:127.0.0.1", "IPv6", "::ffff:127.0.0.1"],
  );
  // The client side reports what it dialled.
  assert.equal(v4.client.transport === "tcp" && v4.client.hostname, "127.0.0.1");
  await server.shutdown();
});

t('on "::", per-client limits key an IPv4-mapped client on its IPv4 address', async () => {
  const rejects: RejectReason[] = [];
  const held: Connection<string, string>[] = [];
  await using server = serve<string, string>({
    adapter,
    hostname: "::",
    port: 0,
    framer: lines(),
    perClient: { maxConnections: 1 },
    onReject: (_i, reason) => void rejects.push(reason),
    handler: { open: (c) => void held.push(c) },
  });
  const port = await portOf(server);
  await using a = await connect({ adapter, hostname: "127.0.0.1", port });
  await until(() => held.length === 1, 5000, "first admitted");
  await using b = await connect({ adapter, hostname: "127.0.0.1", port });
  await until(() => rejects.length === 1, 5000, "second rejected");
  assert.deepEqual(rejects, ["per-client"]);
  // ::1 is another client.
  await using c = await connect({ adapter, hostname: "::1", port });
  await until(() => held.length === 2, 5000, "::1 admitted");
  a.close();
  b.close();
  c.close();
  await server.shutdown({ timeout: 1000 });
});

t('on "::", a remote route for 127.0.0.0/8 matches an IPv4-mapped client', async () => {
  await using server = serve<string, string>({
    adapter,
    hostname: "::",
    port: 0,
    framer: lines(),
    handler: router()
      .on({ remote: "127.0.0.0/8" }, async (c) => void await c.send("v4 loopback"))
      .on({ remote: "::1" }, async (c) => void await c.send("v6 loopback"))
      .otherwise(async (c) => void await c.send("other")),
  });
  const port = await portOf(server);
  for (const [host, want] of [["127.0.0.1", "v4 loopback"], ["::1", "v6 loopback"]]) {
    await using conn = await connect({ adapter, hostname: host, port, framer: lines() });
    assert.equal(await within(conn.next(), 5000, host), want);
  }
  await server.shutdown();
});
