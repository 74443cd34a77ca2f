// examples/echo.ts run as a real process, talked to by tcpkit's client and by python3.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, lines } from "../mod.ts";
import { missing, python, startExample } from "./_examples.ts";

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
