// examples/chat.ts run as a real process: 50 tcpkit clients, a python3 client, a slow client.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Connection, lines } from "../mod.ts";
import { missing, python, startExample } from "./_examples.ts";
import { within } from "./_helpers.ts";

type Line = Connection<string>;

/** Reads lines until `want(line)` is true; fails on end of stream. */
async function readUntil(conn: Line, want: (line: string) => boolean): Promise<string> {
  for (;;) {
    const line = await conn.next();
    if (line === undefined) throw new Error("connection ended");
    if (want(line)) return line;
  }
}

async function join(port: number, nick: string): Promise<Line> {
  const conn = await connect({ port, framer: lines() });
  await readUntil(conn, (l) => l.startsWith("* welcome"));
  await conn.send(`/nick ${nick}`);
  await readUntil(conn, (l) => l === `* you are ${nick}`);
  return conn;
}

test(
  "chat.ts: 50 clients, every message reaches all the others and only them",
  { timeout: 45_000 },
  async () => {
    const ex = await startExample("chat.ts", ["0"]);
    const conns: Line[] = [];
    try {
      for (let i = 0; i < 50; i++) conns.push(await join(ex.port, `c${i}`));
      const received = conns.map(() => new Set<string>());
      const readers = conns.map((c, i) =>
        (async () => {
          while (received[i].size < 49) {
            const line = await c.next();
            if (line === undefined) throw new Error(`c${i} disconnected`);
            if (line.startsWith("<")) received[i].add(line);
          }
        })()
      );
      await Promise.all(conns.map((c, i) => c.send(`hello from c${i}`)));
      await within(Promise.all(readers), 20_000, "every message reaching every other client");
      for (let i = 0; i < 50; i++) {
        assert.ok(!received[i].has(`<c${i}> hello from c${i}`), `c${i} got its own message`);
        assert.equal(received[i].size, 49);
      }
      await conns[0].send("/who");
      const who = await within(readUntil(conns[0], (l) => l.startsWith("* here:")), 5000, "/who");
      assert.equal(who.split(",").length, 50);
    } finally {
      for (const c of conns) c.close();
      await Promise.all(conns.map((c) => c.closed));
      await ex.stop();
    }
  },
);

const PY_CHAT = `
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
f = s.makefile("rwb")
def until(prefix):
    while True:
        line = f.readline()
        if not line: raise SystemExit("connection ended")
        if line.decode().rstrip("\\r\\n").startswith(prefix): return
until("* welcome")
f.write(b"/nick py\\r\\n"); f.flush()          # telnet-style CRLF
until("* you are py")
f.write(b"hello from python\\n"); f.flush()
until("<js> hi python")
f.write(b"/quit\\n"); f.flush()
until("* bye")
print("OK")
`;

test(
  "chat.ts talks to a python3 socket client",
  { skip: missing("python3"), timeout: 45_000 },
  async () => {
    const ex = await startExample("chat.ts", ["0"]);
    const js = await join(ex.port, "js");
    try {
      const py = python(PY_CHAT, [String(ex.port)]);
      await within(
        readUntil(js, (l) => l === "<py> hello from python"),
        15_000,
        "python's message",
      );
      await js.send("hi python");
      await within(readUntil(js, (l) => l === "* py left"), 15_000, "python leaving");
      const r = await py;
      assert.equal(r.stdout.trim(), "OK", r.stderr);
    } finally {
      js.close();
      await js.closed;
      await ex.stop();
    }
  },
);

test(
  "chat.ts disconnects a client that stops reading, and the room goes on",
  { timeout: 45_000 },
  async () => {
    const ex = await startExample("chat.ts", ["0"]);
    const slow = await join(ex.port, "slow");
    const talker = await join(ex.port, "talker");
    const watcher = await join(ex.port, "watcher");
    try {
      slow.pause(); // reads nothing more: the server's queue for it fills up
      const line = "x".repeat(1000);
      let left = false;
      // The talker sends 100 lines at a time and waits for the watcher to see them, so only
      // the slow client falls behind. At most 40 MB: far more than the kernel's buffers.
      for (let batch = 0; batch < 400 && !left; batch++) {
        for (let i = 0; i < 100; i++) await talker.send(line);
        let seen = 0;
        await within(
          readUntil(watcher, (l) => {
            if (l === "* slow left (too slow)") left = true;
            else if (l.startsWith("<talker>")) seen++;
            return seen === 100;
          }),
          10_000,
          "the watcher seeing a batch",
        );
      }
      assert.ok(left, "the slow client was never disconnected");
      await talker.send("still here");
      await within(
        readUntil(watcher, (l) => l === "<talker> still here"),
        5000,
        "the room going on",
      );
    } finally {
      for (const c of [slow, talker, watcher]) c.abort();
      await ex.stop();
    }
  },
);
