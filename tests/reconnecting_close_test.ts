// reconnecting(): close() is graceful (what was sent or buffered goes out, and the replies
// still arrive), bounded by its timeout; and the README's example does what it says.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ConnectionClosedError, lines, reconnecting, serve, type ServeOptions } from "../mod.ts";
import { nativeAdapter, portOf, until, within } from "./_helpers.ts";

const adapter = nativeAdapter();
const HOST = "127.0.0.1";
const t = (name: string, fn: () => void | Promise<void>) => test(`[${adapter}] ${name}`, fn);

/** A line server on 127.0.0.1 (the client's default host) that echoes every line. */
function echoServer(extra: Partial<ServeOptions<string, string>> = {}) {
  return serve<string, string>({
    hostname: HOST,
    port: 0,
    framer: lines(),
    async handler(conn) {
      for await (const line of conn) await conn.send(line);
    },
    ...extra,
  });
}

/** The README's reconnecting() example, with `PORT` for its port. */
const README_EXAMPLE = `
const client = reconnecting({
  port: PORT,
  framer: lines(),
  backoff: { initial: 100, max: 10_000 },
});
client.on("message", (line) => console.log(line));
client.on("disconnect", (error) => console.warn("lost", error));
await client.send("hello"); // buffered until connected
await client.close(); // sends what is buffered, then delivers replies until the server closes
`;

t("the README's reconnecting() example is the one tested here", () => {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  assert.ok(
    readme.includes(README_EXAMPLE.replace("PORT", "7000").trimStart()),
    "README.md has changed: update README_EXAMPLE and the test that runs it",
  );
});

t("the README's reconnecting() example prints the reply", async () => {
  const server = echoServer();
  const PORT = await portOf(server);
  const printed: string[] = [];
  const warned: unknown[][] = [];
  const console = {
    log: (line: string) => void printed.push(line),
    warn: (...args: unknown[]) => void warned.push(args),
  };
  let client: ReturnType<typeof reconnecting<string, string>> | undefined;
  try {
    // The example, statement for statement.
    client = reconnecting({
      port: PORT,
      framer: lines(),
      backoff: { initial: 100, max: 10_000 },
    });
    client.on("message", (line) => console.log(line));
    client.on("disconnect", (error) => console.warn("lost", error));
    await client.send("hello"); // buffered until connected
    await within(client.close(), 5000, "close()");

    assert.deepEqual(printed, ["hello"]);
    assert.deepEqual(warned, []);
    assert.equal(client.connection, undefined);
    await assert.rejects(client.send("again"), ConnectionClosedError);
    await until(() => server.connections === 0, 5000, "the server's side closed");
  } finally {
    await client?.close({ timeout: 0 });
    await server.shutdown();
  }
});

t("close() without await still delivers the reply, then fires closed", async () => {
  const server = echoServer();
  const port = await portOf(server);
  const client = reconnecting({ hostname: HOST, port, framer: lines() });
  const events: string[] = [];
  const closed = Promise.withResolvers<void>();
  client.on("message", (line) => events.push(`message ${line}`));
  client.on("disconnect", () => events.push("disconnect"));
  client.on("closed", () => {
    events.push("closed");
    closed.resolve();
  });
  try {
    client.send("one");
    client.send("two");
    void client.close();
    await within(closed.promise, 5000, "closed");
    assert.deepEqual(events, ["message one", "message two", "closed"]);
  } finally {
    await client.close({ timeout: 0 });
    await server.shutdown();
  }
});

t("close() on an open connection delivers the replies to what was sent", async () => {
  const server = echoServer();
  const port = await portOf(server);
  const client = reconnecting({ hostname: HOST, port, framer: lines() });
  const got: string[] = [];
  const events: string[] = [];
  const opened = Promise.withResolvers<void>();
  client.on("open", () => opened.resolve());
  client.on("message", (line) => got.push(line));
  client.on("disconnect", () => events.push("disconnect"));
  client.on("closed", () => events.push("closed"));
  try {
    await within(opened.promise, 5000, "open");
    await client.send("a");
    await client.send("b");
    await within(client.close(), 5000, "close()");
    assert.deepEqual(got, ["a", "b"]);
    assert.deepEqual(events, ["closed"], "no disconnect after (or before) closed");
  } finally {
    await client.close({ timeout: 0 });
    await server.shutdown();
  }
});

t("close({ timeout }) aborts a connection the server keeps open, by the deadline", async () => {
  // The server reads to the end of the stream but never closes its side.
  const release = Promise.withResolvers<void>();
  const server = echoServer({
    async handler(conn) {
      for await (const line of conn) await conn.send(line);
      await release.promise;
    },
  });
  const port = await portOf(server);
  const client = reconnecting({ hostname: HOST, port, framer: lines() });
  const got: string[] = [];
  client.on("message", (line) => got.push(line));
  try {
    await client.send("x");
    await within(client.close({ timeout: 100 }), 5000, "close() by its deadline");
    assert.deepEqual(got, ["x"]);
    assert.equal(client.connection, undefined);
  } finally {
    release.resolve();
    await server.shutdown();
  }
});

t("close({ timeout: 0 }) closes at once and drops what is buffered", async () => {
  const seen: string[] = [];
  const server = echoServer({
    async handler(conn) {
      for await (const line of conn) seen.push(line);
    },
  });
  const port = await portOf(server);
  const client = reconnecting({ hostname: HOST, port, framer: lines() });
  const events: string[] = [];
  client.on("closed", () => events.push("closed"));
  client.on("error", (e) => events.push(`error ${e}`));
  try {
    await client.send("dropped");
    await within(client.close({ timeout: 0 }), 5000, "close()");
    assert.deepEqual(events, ["closed"]);
    assert.equal(client.buffered, 0);
    await assert.rejects(client.close({ timeout: -1 }), RangeError);
  } finally {
    await server.shutdown();
  }
  assert.deepEqual(seen, []);
});
