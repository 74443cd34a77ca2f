// examples/echo.ts run as a real process, talked to by tcpkit's client and by python3.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, encodeProxyV2, lines } from "../mod.ts";
import { missing, python, startExample } from "./_examples.ts";
import { until, within } from "./_helpers.ts";

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
    assert.equal(await read(failing, 1), "", "a health check gets no answer");
    failing.close();
    // Then the listener closes; the open connection is still served, then it exits.
    await until(() => /closing the listener/.test(ex.output()), 8000, "listener closing");
    await assert.rejects(connect({ port: ex.port }), "the listener is closed");
    await held.write(new TextEncoder().encode("still\n"));
    assert.equal(await read(held, 1), "still\n");
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
