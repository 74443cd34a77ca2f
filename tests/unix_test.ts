// Unix socket listeners and clients on the native adapter: addresses, a path in use
// (stale or live), removeStale, and the file removed on shutdown.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, ConnectError, ConnectionError, lines, serve } from "../mod.ts";
import { nativeAdapter, within } from "./_helpers.ts";

const adapter = nativeAdapter();
const t = (name: string, fn: () => Promise<void>) => test(`[${adapter}] ${name}`, fn);

/** A fresh directory for socket files, removed after `fn`. */
async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "tcpkit-unix-"));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Leaves a socket file with nothing listening on it, as a process killed with -9 does. */
function staleSocket(path: string): void {
  execFileSync("python3", [
    "-c",
    "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])",
    path,
  ]);
}

function echo(path: string, extra: { removeStale?: boolean } = {}) {
  return serve<string, string>({
    adapter,
    path,
    ...extra,
    framer: lines(),
    async handler(conn) {
      for await (const line of conn) await conn.send(`${line}!`);
    },
  });
}

t(
  "serve({ path }) and connect({ path }): echo, unix addresses, file removed on shutdown",
  () =>
    inTempDir(async (dir) => {
      const path = join(dir, "echo.sock");
      const server = echo(path);
      await server.ready;
      assert.deepEqual(server.addr, { transport: "unix", path });
      assert.ok(existsSync(path), "the socket file exists while listening");
      await using conn = await connect({ adapter, path, framer: lines() });
      assert.equal(conn.remoteAddr.transport, "unix");
      await conn.send("hi");
      assert.equal(await within(conn.next(), 5000, "echo"), "hi!");
      conn.close();
      await server.shutdown();
      assert.equal(existsSync(path), false, "the socket file is removed on shutdown");
    }),
);

t(
  "a stale socket file: the error says what to do; nothing is removed",
  () =>
    inTempDir(async (dir) => {
      const path = join(dir, "stale.sock");
      staleSocket(path);
      let server: ReturnType<typeof echo> | undefined;
      const error = await (async () => {
        server = echo(path); // throws here on Deno and Bun, rejects `ready` on Node
        await server.ready;
      })().catch((e) => e);
      await server?.shutdown();
      assert.ok(error instanceof ConnectionError, String(error));
      assert.equal(error.code, "EADDRINUSE");
      assert.match(error.message, /stale socket file/);
      assert.match(error.message, /removeStale: true/);
      assert.match(error.message, new RegExp(`rm ${path}`));
      assert.ok(existsSync(path), "not removed without removeStale");
    }),
);

t("removeStale: true removes a stale socket file and binds", () =>
  inTempDir(async (dir) => {
    const path = join(dir, "stale.sock");
    staleSocket(path);
    const server = echo(path, { removeStale: true });
    await within(server.ready, 5000, "bound");
    await using conn = await connect({ adapter, path, framer: lines() });
    await conn.send("fresh");
    assert.equal(await within(conn.next(), 5000, "echo"), "fresh!");
    conn.close();
    await server.shutdown();
    assert.equal(existsSync(path), false);
  }));

t("removeStale: true never removes the socket of a live server", () =>
  inTempDir(async (dir) => {
    const path = join(dir, "live.sock");
    const live = echo(path);
    await live.ready;
    const second = echo(path, { removeStale: true });
    await assert.rejects(second.ready, (e: unknown) => {
      assert.ok(e instanceof ConnectionError && /a server is listening there/.test(e.message));
      return true;
    });
    await second.shutdown();
    await using conn = await connect({ adapter, path, framer: lines() });
    await conn.send("still mine");
    assert.equal(await within(conn.next(), 5000, "echo"), "still mine!");
    conn.close();
    await live.shutdown();
  }));

t("removeStale: true never removes a file that is not a socket", () =>
  inTempDir(async (dir) => {
    const path = join(dir, "not-a-socket");
    writeFileSync(path, "data");
    let server: ReturnType<typeof echo> | undefined;
    const error = await (async () => {
      server = echo(path, { removeStale: true });
      await server.ready;
    })().catch((e) => e);
    await server?.shutdown();
    assert.ok(error instanceof ConnectionError, String(error));
    assert.ok(existsSync(path), "the file is still there");
  }));

t(
  "connect({ path }) to a path nobody listens on is ConnectError refused",
  () =>
    inTempDir(async (dir) => {
      await assert.rejects(connect({ adapter, path: join(dir, "none.sock") }), (e: unknown) => {
        assert.ok(e instanceof ConnectError && e.reason === "refused", String(e));
        return true;
      });
      const stale = join(dir, "stale.sock");
      staleSocket(stale);
      await assert.rejects(
        connect({ adapter, path: stale }),
        (e: unknown) => e instanceof ConnectError && e.reason === "refused",
      );
    }),
);
