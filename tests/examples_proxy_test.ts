// examples/proxy.ts run as a real process between tcpkit's client and an upstream server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Connection, ProxyHeaderParser, serve } from "../mod.ts";
import { python, startExample } from "./_examples.ts";
import { concat, portOf, randomBytes, within } from "./_helpers.ts";

/** Reads until end of stream; returns all bytes. */
async function readAll(conn: Connection): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of conn) chunks.push(c.slice());
  return concat(chunks);
}

test("proxy.ts passes 4 MiB both ways with backpressure", { timeout: 45_000 }, async () => {
  await using upstream = serve({
    hostname: "127.0.0.1",
    port: 0,
    async handler(conn) {
      for await (const c of conn) await conn.send(c); // echo
    },
  });
  const ex = await startExample("proxy.ts", ["0", "--to", `127.0.0.1:${await portOf(upstream)}`]);
  try {
    await using conn = await connect({ port: ex.port });
    const data = randomBytes(4 * 1024 * 1024, 7);
    const reading = (async () => {
      const chunks: Uint8Array[] = [];
      let n = 0;
      while (n < data.length) {
        const c = await conn.next();
        if (!c) break;
        chunks.push(c.slice());
        n += c.length;
      }
      return concat(chunks);
    })();
    for (let i = 0; i < data.length; i += 64 * 1024) {
      await conn.send(data.subarray(i, i + 64 * 1024));
    }
    const back = await within(reading, 20_000, "4 MiB through the proxy and back");
    assert.equal(back.length, data.length);
    assert.ok(back.every((b, i) => b === data[i]), "the bytes came back unchanged");
  } finally {
    await ex.stop();
  }
});

test("proxy.ts passes a half-close on: the upstream sees the end and can still answer", {
  timeout: 45_000,
}, async () => {
  await using upstream = serve({
    hostname: "127.0.0.1",
    port: 0,
    async handler(conn) {
      const all = await readAll(conn); // ends only when the client's FIN came through
      await conn.send(new TextEncoder().encode(`got ${all.length} bytes`));
      conn.end();
    },
  });
  const ex = await startExample("proxy.ts", ["0", "--to", `127.0.0.1:${await portOf(upstream)}`]);
  try {
    await using conn = await connect({ port: ex.port });
    await conn.send(new TextEncoder().encode("hello, upstream"));
    conn.end();
    const reply = await within(readAll(conn), 10_000, "the answer after the half-close");
    assert.equal(new TextDecoder().decode(reply), "got 15 bytes");

    const py = await python(
      `
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"abc")
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    c = s.recv(100)
    if not c: break
    got += c
print(got.decode())
`,
      [String(ex.port)],
    );
    assert.equal(py.stdout.trim(), "got 3 bytes", py.stderr);
  } finally {
    await ex.stop();
  }
});

test("proxy.ts closes the client when the upstream refuses", { timeout: 45_000 }, async () => {
  const closed = serve({ hostname: "127.0.0.1", port: 0, handler() {} });
  const port = await portOf(closed);
  await closed.shutdown();
  const ex = await startExample("proxy.ts", ["0", "--to", `127.0.0.1:${port}`]);
  try {
    await using conn = await connect({ port: ex.port });
    const end = await within(conn.next().catch(() => undefined), 10_000, "the proxy closing");
    assert.equal(end, undefined);
  } finally {
    await ex.stop();
  }
});

test(
  "proxy.ts --proxy-v2 tells the upstream the client's address",
  { timeout: 45_000 },
  async () => {
    let seen: { source?: unknown; rest: string } | undefined;
    await using upstream = serve({
      hostname: "127.0.0.1",
      port: 0,
      async handler(conn) {
        const parser = new ProxyHeaderParser();
        let header;
        const rest: Uint8Array[] = [];
        for await (const c of conn) {
          if (header) rest.push(c.slice());
          else if ((header = parser.push(c.slice()))) rest.push(...parser.remaining());
          if (concat(rest).length >= 7) break;
        }
        seen = { source: header?.source, rest: new TextDecoder().decode(concat(rest)) };
        await conn.send(new TextEncoder().encode("ok"));
      },
    });
    const ex = await startExample("proxy.ts", [
      "0",
      "--to",
      `127.0.0.1:${await portOf(upstream)}`,
      "--proxy-v2",
    ]);
    try {
      await using conn = await connect({ port: ex.port });
      await conn.send(new TextEncoder().encode("payload"));
      assert.equal(new TextDecoder().decode(await within(conn.next(), 10_000, "reply")), "ok");
      const local = conn.localAddr;
      assert.deepEqual(seen?.source, local);
      assert.equal(seen?.rest, "payload");
    } finally {
      await ex.stop();
    }
  },
);
