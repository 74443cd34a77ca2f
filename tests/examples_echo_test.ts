// examples/echo.ts run as a real process, talked to by tcpkit's client and by python3.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, ConnectionResetError, encodeProxyV2, lines } from "../mod.ts";
import { missing, python, startExample } from "./_examples.ts";
import { alive, sleep, until, within } from "./_helpers.ts";

const PY_ECHO = `
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
msg = b"Hello, server!" * 1000 + b"\\n"
s.sendall(msg)
got = b""
while len(got) < len(msg):
    chunk = s.recv(65536)
    if not chunk: break
    got += chunk
s.close()
print("OK" if got == msg else "MISMATCH %d" % len(got))
`;

test(
  "echo.ts (raw) echoes bytes to python3 and to tcpkit's client",
  { skip: missing("python3"), timeout: 45_000 },
  async () => {
    const ex = await startExample("echo.ts", ["0"]);
    try {
      const py = await python(PY_ECHO, [String(ex.port)]);
      assert.equal(py.stdout.trim(), "OK", py.stderr);
      await using conn = await connect({ port: ex.port });
      await conn.send(new TextEncoder().encode("ping"));
      assert.equal(new TextDecoder().decode(await conn.next()), "ping");
    } finally {
      await ex.stop();
    }
  },
);

test("echo.ts --framer lines echoes lines to python3 and to tcpkit's client", {
  skip: missing("python3"),
  timeout: 45_000,
}, async () => {
  const ex = await startExample("echo.ts", ["0", "--framer", "lines"]);
  try {
    const py = await python(PY_ECHO, [String(ex.port)]);
    assert.equal(py.stdout.trim(), "OK", py.stderr);
    await using conn = await connect({ port: ex.port, framer: lines() });
    for (const m of ["one", "two", "three"]) await conn.send(m);
    assert.deepEqual([await conn.next(), await conn.next(), await conn.next()], [
      "one",
      "two",
      "three",
    ]);
  } finally {
    await ex.stop();
  }
});

test("echo.ts --proxy-protocol --who: the client from the header; SIGTERM: lame duck, drain", {
  timeout: 45_000,
}, async () => {
  const ex = await startExample("echo.ts", [
    "0",
    "--framer",
    "lines",
    "--who",
    "--proxy-protocol",
    "127.0.0.1/32",
    "--lame-duck",
    "3000", // room for the four steps below on a loaded machine
  ]);
  const client = { transport: "tcp", hostname: "192.0.2.7", port: 4321, family: "IPv4" } as const;
  const to = { transport: "tcp", hostname: "192.0.2.1", port: 7000, family: "IPv4" } as const;
  /** A load balancer's connection: the header names the client; `lines` follow it. */
  const proxied = async (header: Uint8Array, text: string) => {
    const conn = await connect({ port: ex.port });
    await conn.write(header);
    await conn.write(new TextEncoder().encode(text));
    return conn;
  };
  const read = async (conn: Awaited<ReturnType<typeof proxied>>, lines: number) => {
    let got = "";
    for (let i = 0; i < 10 && got.split("\n").length <= lines; i++) {
      const chunk = await within(conn.next(), 5000, "replies");
      if (!chunk) break;
      got += new TextDecoder().decode(chunk);
    }
    return got;
  };
  const PROXY = encodeProxyV2({ source: client, destination: to });
  const LOCAL = encodeProxyV2({ command: "local" });
  try {
    const server = `127.0.0.1:${ex.port}`;
    const held = await proxied(PROXY, "who\nhello\n");
    assert.equal(await read(held, 2), `client=192.0.2.7:4321 server=${server}\nhello\n`);
    // From a trusted source, a connection without a header is refused.
    await using bare = await connect({ port: ex.port, framer: lines() });
    await bare.send("who");
    assert.equal(await within(bare.next().catch(() => undefined), 5000, "refused"), undefined);
    // A health check (a LOCAL header) is answered while the server is up.
    const check = await proxied(LOCAL, "ping\n");
    assert.equal(await read(check, 1), "ping\n");
    check.close();

    // SIGTERM: the lame duck: clients still served, health checks closed unanswered.
    process.kill(ex.child.pid!, "SIGTERM");
    await until(() => /SIGTERM: lame duck for 3000 ms/.test(ex.output()), 5000, "lame duck");
    const late = await proxied(PROXY, "hi\n");
    assert.equal(await read(late, 1), "hi\n");
    late.close();
    const failing = await proxied(LOCAL, "ping\n");
    // No answer: the server closes it with "ping" unread, which the kernel sends as a reset
    // when the bytes arrived first, else as an end.
    const answer = await read(failing, 1).catch((e) => {
      if (e instanceof ConnectionResetError) return "";
      throw e;
    });
    assert.equal(answer, "", "a health check gets no answer");
    failing.close();
    // Then the listener closes, and the open connection, idle between two requests, is
    // closed (a client reconnects, to another server); then it exits.
    await until(() => /closing the listener/.test(ex.output()), 8000, "listener closing");
    // The line comes just before the listener closes: a connect racing the close may still
    // land (and is closed as idle); within a moment every connect is refused.
    let refused = false;
    for (let i = 0; i < 40 && !refused; i++) {
      try {
        (await connect({ port: ex.port })).close();
        await sleep(50);
      } catch {
        refused = true;
      }
    }
    assert.ok(refused, "the listener is closed");
    assert.equal(await read(held, 1), "", "closed between requests");
    held.close();
    await within(
      new Promise((r) => ex.child.exitCode !== null ? r(0) : ex.child.once("exit", r)),
      6000,
      "exit once drained",
    );
    assert.equal(ex.child.exitCode, 0, ex.output());
    assert.match(ex.output(), /stopped after 5 connections/);
  } finally {
    await ex.stop();
  }
});

test(
  "echo.ts with WORKERS=2 --proxy-protocol: SIGHUP renews both workers; SIGTERM: lame duck in each, then drain",
  {
    timeout: 60_000,
  },
  async () => {
    // WORKERS, the switch's environment variable (the HAProxy rolling test uses --workers).
    process.env.WORKERS = "2";
    const starting = startExample("echo.ts", [
      "0",
      "--framer",
      "lines",
      "--proxy-protocol",
      "127.0.0.1/32",
      "--lame-duck",
      "3000",
    ]);
    delete process.env.WORKERS; // the child is spawned at once, with its own copy
    const ex = await starting;
    const pids: number[] = [];
    const readyPids = () =>
      [...ex.output().matchAll(/^worker (\d) \(pid (\d+)\) ready$/gm)].map((m) => Number(m[2]));
    const stoppedPids = () =>
      [...ex.output().matchAll(/^worker \d \(pid (\d+)\) stopped after \d+ connections$/gm)]
        .map((m) => Number(m[1]));
    const client = { transport: "tcp", hostname: "192.0.2.7", port: 4321, family: "IPv4" } as const;
    const to = { transport: "tcp", hostname: "192.0.2.1", port: 7000, family: "IPv4" } as const;
    const PROXY = encodeProxyV2({ source: client, destination: to });
    const LOCAL = encodeProxyV2({ command: "local" });
    /** A balancer's connection: the PROXY header, then lines. */
    const proxied = async (header: Uint8Array) => {
      const conn = await connect({ port: ex.port, framer: lines() });
      await conn.write(header);
      return conn;
    };
    /** One request on a new connection: the reply, or undefined when closed unanswered. */
    const once = async (header: Uint8Array, line: string) => {
      const conn = await proxied(header);
      try {
        await conn.send(line);
        return await within(conn.next().catch(() => undefined), 5000, line);
      } finally {
        conn.close();
      }
    };
    try {
      assert.match(ex.output(), /with 2 workers \(primary pid \d+\)/);
      pids.push(...readyPids());
      assert.equal(pids.length, 2, ex.output());
      const held = await proxied(PROXY);
      await held.send("one");
      assert.equal(await within(held.next(), 5000, "one"), "one");
      assert.equal(await once(LOCAL, "ping"), "ping", "a health check is answered");

      // SIGHUP: a new process for each worker; the old ones drain and exit. The held,
      // idle connection is closed by its draining worker, with no request lost.
      process.kill(ex.child.pid!, "SIGHUP");
      await until(() => readyPids().length === 4, 20_000, "two new workers ready");
      await until(
        () => pids.every((p) => stoppedPids().includes(p)),
        10_000,
        "old workers stopped",
      );
      await until(() => !pids.some(alive), 5_000, "old workers exited");
      assert.equal(await within(held.next(), 5000, "closed by the drain"), undefined);
      held.close();
      assert.equal(await once(PROXY, "two"), "two");
      for (let i = 0; i < 4; i++) {
        assert.equal(await once(LOCAL, "ping"), "ping", "no lame duck in a rolling restart");
      }

      // SIGTERM: every worker's lame duck (health checks unanswered, clients served), then
      // every worker drains.
      const busy = await proxied(PROXY);
      await busy.send("three");
      assert.equal(await within(busy.next(), 5000, "three"), "three");
      process.kill(ex.child.pid!, "SIGTERM");
      await until(() => /^SIGTERM: lame duck for 3000 ms/m.test(ex.output()), 5000, "lame duck");
      await sleep(200); // the workers got SIGUSR2
      for (let i = 0; i < 4; i++) {
        assert.equal(await once(LOCAL, "ping"), undefined, "a health check gets no answer");
      }
      assert.equal(await once(PROXY, "four"), "four", "clients are still served");
      await until(() => /^closing the listener/m.test(ex.output()), 8000, "listener closing");
      // Idle between two requests: closed at once by the drain (its client reconnects).
      assert.equal(await within(busy.next().catch(() => undefined), 5000, "closed"), undefined);
      busy.close();
      await within(
        new Promise((r) => ex.child.exitCode !== null ? r(0) : ex.child.once("exit", r)),
        8000,
        "exit once drained",
      );
      assert.equal(ex.child.exitCode, 0, ex.output());
      assert.match(ex.output(), /^stopped after \d+ connections$/m);
      assert.doesNotMatch(ex.output(), /error/i);
    } finally {
      await ex.stop();
      for (const pid of readyPids()) if (alive(pid)) process.kill(pid, "SIGKILL");
    }
  },
);
