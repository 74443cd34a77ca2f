// examples/multi_port.ts run as a real process: three listeners, three protocols.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, lengthPrefixed, lines } from "../mod.ts";
import { missing, python, startExample } from "./_examples.ts";
import { within } from "./_helpers.ts";

test("multi_port.ts: lines on one port, length-prefixed on another, stats on a Unix socket", {
  timeout: 45_000,
}, async () => {
  const dir = await mkdtemp(join(tmpdir(), "tcpkit-multi-"));
  const admin = join(dir, "admin.sock");
  const ex = await startExample("multi_port.ts", [
    "--text-port",
    "0",
    "--binary-port",
    "0",
    "--admin",
    admin,
  ], 3);
  try {
    const ports = [...ex.output().matchAll(/^(\w+) listener on (\S+)$/gm)].map((m) => [m[1], m[2]]);
    assert.deepEqual(ports.map((p) => p[0]), ["text", "binary", "admin"]);
    const portOf = (name: string) => Number(ports.find((p) => p[0] === name)![1].split(":").pop());

    await using text = await connect({ port: portOf("text"), framer: lines() });
    await text.send("hello");
    assert.equal(await within(text.next(), 5000, "text reply"), "HELLO");

    await using binary = await connect({
      port: portOf("binary"),
      framer: lengthPrefixed({ size: 4 }),
    });
    await binary.send(Uint8Array.of(1, 2, 3, 4));
    assert.deepEqual([...(await within(binary.next(), 5000, "binary reply"))!], [4, 3, 2, 1]);

    if (!missing("python3")) {
      const py = await python(
        `
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"from python\\n")
print(s.makefile("rb").readline().decode().strip())
`,
        [String(portOf("text"))],
      );
      assert.equal(py.stdout.trim(), "FROM PYTHON", py.stderr);
    }

    await using shell = await connect({ path: admin, framer: lines() });
    await shell.send("stats");
    const stats = JSON.parse((await within(shell.next(), 5000, "stats reply"))!);
    assert.ok(stats.accepted >= 3, JSON.stringify(stats));
    assert.equal(typeof stats.active, "number");
    await shell.send("listeners");
    assert.match((await shell.next())!, /admin unix:/);
  } finally {
    await ex.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
