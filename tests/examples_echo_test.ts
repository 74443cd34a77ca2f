// examples/echo.ts run as a real process, talked to by tcpkit's client and by python3.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, encodeProxyV2, lines } from "../mod.ts";
import { missing, python, startExample } from "./_examples.ts";
import { within } from "./_helpers.ts";

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

test("echo.ts --proxy-protocol --who: the client from the header; SIGTERM drains", {
  timeout: 45_000,
}, async () => {
  const ex = await startExample("echo.ts", [
    "0",
    "--framer",
    "lines",
    "--who",
    "--proxy-protocol",
    "127.0.0.1/32",
  ]);
  try {
    const server = `127.0.0.1:${ex.port}`;
    // A load balancer's connection: the header names the client.
    const proxied = await connect({ port: ex.port });
    await proxied.write(encodeProxyV2({
      source: { transport: "tcp", hostname: "192.0.2.7", port: 4321, family: "IPv4" },
      destination: { transport: "tcp", hostname: "192.0.2.1", port: 7000, family: "IPv4" },
    }));
    await proxied.write(new TextEncoder().encode("who\nhello\n"));
    let got = "";
    for (let i = 0; i < 10 && got.split("\n").length < 3; i++) {
      got += new TextDecoder().decode(await within(proxied.next(), 5000, "replies"));
    }
    assert.equal(got, `client=192.0.2.7:4321 server=${server}\nhello\n`);
    // From a trusted source, a connection without a header is refused.
    await using bare = await connect({ port: ex.port, framer: lines() });
    await bare.send("who");
    assert.equal(await within(bare.next().catch(() => undefined), 5000, "refused"), undefined);

    // SIGTERM: the listener closes, the open connection is still served, then it exits.
    process.kill(ex.child.pid!, "SIGTERM");
    for (let i = 0; i < 100 && !/SIGTERM: draining/.test(ex.output()); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await assert.rejects(connect({ port: ex.port }), "the listener is closed");
    await proxied.write(new TextEncoder().encode("still\n"));
    assert.equal(new TextDecoder().decode(await within(proxied.next(), 5000, "drain")), "still\n");
    proxied.close();
    await within(
      new Promise((r) => ex.child.exitCode !== null ? r(0) : ex.child.once("exit", r)),
      6000,
      "exit once drained",
    );
    assert.equal(ex.child.exitCode, 0, ex.output());
    assert.match(ex.output(), /stopped after 2 connections/);
  } finally {
    await ex.stop();
  }
});
