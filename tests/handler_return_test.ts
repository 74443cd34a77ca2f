// A handler that returns closes its connection and releases its slot at once, whether or
// not the peer ever closes its side, on TLS and plain listeners alike; and
// shutdown({ timeout }) force-closes what is left by its deadline.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Connection, type Handler, lines, serve, TimeoutError } from "../mod.ts";
import { nativeAdapter, portOf, until, within } from "./_helpers.ts";
import { certs } from "./_tls_certs.ts";

const adapter = nativeAdapter();
const HOST = "127.0.0.1";
const KINDS = ["plain", "tls"] as const;
type Kind = (typeof KINDS)[number];

/** A line server on the native adapter whose `onClose` settles `closed`. */
function lineServer(kind: Kind, handler: Handler<string, string>) {
  const closed = Promise.withResolvers<Error | undefined>();
  const errors: unknown[] = [];
  const server = serve<string, string>({
    adapter,
    hostname: HOST,
    port: 0,
    framer: lines({ maxLength: 1 << 20 }),
    ...(kind === "tls" ? { tls: { cert: certs.cert, key: certs.key } } : {}),
    onError: (e) => void errors.push(e),
    onClose: (_conn, error) => closed.resolve(error),
    handler,
  });
  return { server, closed: closed.promise, errors };
}

/** A client on the native adapter, over TLS for a TLS server. */
async function client(kind: Kind, port: number): Promise<Connection<string, string>> {
  return await connect({
    adapter,
    hostname: HOST,
    port,
    framer: lines({ maxLength: 1 << 20 }),
    ...(kind === "tls" ? { tls: { caCerts: [certs.ca], serverName: "localhost" } } : {}),
  });
}

/**
 * The client reads the reply and the end of the stream, and keeps its own side open: the
 * server has released the connection without waiting for the client.
 */
async function expectReleased(
  kind: Kind,
  s: ReturnType<typeof lineServer>,
  conn: Connection<string, string>,
  reply: string,
): Promise<void> {
  assert.equal(await within(conn.next(), 5000, "the reply"), reply);
  assert.equal(await within(conn.next(), 5000, "end of stream"), undefined);
  assert.equal(await within(s.closed, 5000, `the ${kind} server closes its side`), undefined);
  assert.equal(s.server.stats().active, 0);
  assert.equal(s.server.connections, 0);
  assert.equal(conn.state, "half-closed-by-peer", "the client still holds its side open");
  assert.deepEqual(s.errors, []);
}

for (const kind of KINDS) {
  const t = (name: string, fn: () => Promise<void>) => test(`[${adapter} ${kind}] ${name}`, fn);

  t(
    "an async function handler returns: the connection closes while the client stays open",
    async () => {
      const s = lineServer(kind, async (conn) => {
        await conn.send("hello");
      });
      const conn = await client(kind, await portOf(s.server));
      try {
        await expectReleased(kind, s, conn, "hello");
      } finally {
        conn.close();
        await s.server.shutdown();
      }
    },
  );

  t("hooks close the connection: it closes while the client stays open", async () => {
    const s = lineServer(kind, {
      message(conn, line) {
        conn.send(`bye ${line}`);
        conn.close();
      },
    });
    const conn = await client(kind, await portOf(s.server));
    try {
      await conn.send("ann");
      await expectReleased(kind, s, conn, "bye ann");
    } finally {
      conn.close();
      await s.server.shutdown();
    }
  });

  t("a handler returns with unread input held back: the connection still closes", async () => {
    const sent = Promise.withResolvers<void>();
    const s = lineServer(kind, async (conn) => {
      // Reading stops at the high-water mark; what arrives after that waits, unread.
      await sent.promise;
      await conn.send("hello");
    });
    const conn = await client(kind, await portOf(s.server));
    try {
      // Four times the 64 KiB high-water mark, never read by the handler; resolves once the
      // client has handed it all to the kernel.
      await within(conn.send("x".repeat(256 * 1024)), 5000, "the client's send");
      await until(() => s.server.stats().bytesIn >= 64 * 1024, 5000, "the server reads");
      sent.resolve();
      await expectReleased(kind, s, conn, "hello");
    } finally {
      sent.resolve();
      conn.close();
      await s.server.shutdown();
    }
  });

  t(
    "shutdown({ timeout }) resolves when handlers have returned and a client stays open",
    async () => {
      const s = lineServer(kind, async (conn) => {
        await conn.send("hello");
      });
      const conn = await client(kind, await portOf(s.server));
      try {
        assert.equal(await within(conn.next(), 5000, "the reply"), "hello");
        await within(s.server.shutdown({ timeout: 100 }), 5000, "shutdown resolves");
        assert.equal(await within(s.closed, 5000, "the connection is closed"), undefined);
        assert.equal(s.server.stats().active, 0);
        assert.equal(s.server.connections, 0);
      } finally {
        conn.close();
      }
    },
  );

  t(
    "shutdown({ timeout }) force-closes a handler that never returns, the client staying open",
    async () => {
      const release = Promise.withResolvers<void>();
      const s = lineServer(kind, async (conn) => {
        await conn.send("hello");
        await release.promise; // ignores conn.signal
      });
      const conn = await client(kind, await portOf(s.server));
      try {
        assert.equal(await within(conn.next(), 5000, "the reply"), "hello");
        assert.equal(s.server.stats().active, 1);
        await within(s.server.shutdown({ timeout: 100 }), 5000, "shutdown resolves");
        const error = await within(s.closed, 5000, "the connection is closed");
        assert.ok(error instanceof TimeoutError && error.kind === "shutdown", String(error));
        assert.equal(s.server.stats().active, 0);
        assert.equal(s.server.connections, 0);
        // The client sees the close: the end of the stream, or a reset.
        await within(conn.next().catch(() => undefined), 5000, "the client sees the close");
      } finally {
        release.resolve();
        conn.close();
      }
    },
  );

  t("shutdown({ timeout }) force-closes a handler that half-closed and never returns", async () => {
    const release = Promise.withResolvers<void>();
    const s = lineServer(kind, async (conn) => {
      await conn.send("hello");
      conn.end();
      await release.promise;
    });
    const conn = await client(kind, await portOf(s.server));
    try {
      assert.equal(await within(conn.next(), 5000, "the reply"), "hello");
      assert.equal(await within(conn.next(), 5000, "end of stream"), undefined);
      assert.equal(s.server.stats().active, 1);
      await within(s.server.shutdown({ timeout: 100 }), 5000, "shutdown resolves");
      await within(s.closed, 5000, "the connection is closed");
      assert.equal(s.server.stats().active, 0);
      assert.equal(s.server.connections, 0);
    } finally {
      release.resolve();
      conn.close();
    }
  });
}
