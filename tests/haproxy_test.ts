// A real HAProxy (examples/deploy/haproxy.cfg, as it is) in front of three examples/echo.ts
// processes started with --proxy-protocol 127.0.0.1/32 --who: the servers see the real
// client's address, HAProxy spreads connections across them, and one stopped with SIGTERM
// fails its health checks while it still serves (its lame duck), is marked down, then
// closes its listener and drains (its idle open connection closed cleanly), while a client
// loop of short connections sees no failed request. Skipped, with the reason, without
// haproxy.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect, type Connection, lines } from "../mod.ts";
import { type Example, ROOT, startExample } from "./_examples.ts";
import { CONFIG, type Haproxy, noHaproxy, startHaproxy } from "./_haproxy.ts";
import { sleep, until, within } from "./_helpers.ts";

/** `who` over one connection: `{ client, server }` as the echo server saw them. */
async function who(conn: Connection<string>): Promise<{ client: string; server: string }> {
  await conn.send("who");
  const reply = await within(conn.next(), 5000, "who reply");
  const m = /^client=(\S+) server=(\S+)$/.exec(reply ?? "");
  if (!m) throw new Error(`not a who reply: ${JSON.stringify(reply)}`);
  return { client: m[1], server: m[2] };
}

/** One short request through HAProxy: connect, `who`, close. */
async function request(port: number): Promise<{ client: string; server: string }> {
  const conn = await connect({ hostname: "127.0.0.1", port, framer: lines() });
  try {
    return await who(conn);
  } finally {
    conn.close();
  }
}

const skip = noHaproxy();
if (skip) console.log(`haproxy_test.ts skipped: ${skip}`);

test(
  "haproxy (examples/deploy/haproxy.cfg) in front of three echo.ts: real client, spread, drain",
  {
    skip,
    timeout: 90_000,
  },
  async () => {
    const apps: Example[] = [];
    let haproxy: Haproxy | undefined;
    try {
      for (let i = 0; i < 3; i++) {
        apps.push(
          await startExample("echo.ts", [
            "0",
            "--framer",
            "lines",
            "--who",
            "--proxy-protocol",
            "127.0.0.1/32",
          ]),
        );
      }
      const address = (a: Example) => `127.0.0.1:${a.port}`;
      haproxy = await startHaproxy([address(apps[0]), address(apps[1]), address(apps[2])]);
      const h = haproxy;
      const front = h.front;
      let status: Record<string, string> = {};
      const statusIs = async (want: Record<string, string>, ms: number, what: string) => {
        status = await h.statusIs(want, ms, what);
      };
      await statusIs({ app1: "UP", app2: "UP", app3: "UP" }, 20_000, "three servers up");

      // The server sees this client's own address (its port too), not HAProxy's.
      {
        await using conn = await connect({ hostname: "127.0.0.1", port: front, framer: lines() });
        const seen = await who(conn);
        const local = conn.localAddr.transport === "tcp" ? conn.localAddr : undefined;
        assert.equal(seen.client, `127.0.0.1:${local?.port}`);
        assert.ok(apps.some((a) => seen.server === address(a)), seen.server);
      }

      // Round robin: 30 connections, 10 on each server.
      const spread = new Map<string, number>();
      for (let i = 0; i < 30; i++) {
        const { server } = await request(front);
        spread.set(server, (spread.get(server) ?? 0) + 1);
      }
      console.log(`spread over 30 connections: ${JSON.stringify(Object.fromEntries(spread))}`);
      assert.deepEqual([...spread.values()].sort(), [10, 10, 10]);

      // A connection held on app2, to see it closed by the drain between two requests.
      const target = address(apps[1]);
      let held: Connection<string> | undefined;
      for (let i = 0; i < 6 && !held; i++) {
        const conn = await connect({ hostname: "127.0.0.1", port: front, framer: lines() });
        if ((await who(conn)).server === target) held = conn;
        else conn.close();
      }
      assert.ok(held, "a connection on app2");

      // Four clients, each a loop of short requests, while app2 is stopped.
      let running = true;
      let phase: "before" | "lame duck" | "down" = "before";
      const served = { before: new Map<string, number>(), "lame duck": new Map(), down: new Map() };
      const failures: string[] = [];
      const loops = Array.from({ length: 4 }, async () => {
        for (let n = 0; running && n < 100_000; n++) {
          try {
            const { server } = await request(front);
            const m: Map<string, number> = served[phase];
            m.set(server, (m.get(server) ?? 0) + 1);
          } catch (e) {
            failures.push(String(e));
          }
        }
      });
      await sleep(500);
      const app2 = apps[1];
      const stoppedAt = Date.now();
      process.kill(app2.child.pid!, "SIGTERM");
      phase = "lame duck";
      await until(() => /SIGTERM: lame duck/.test(app2.output()), 5000, "app2 in lame duck");
      await statusIs({ app2: "DOWN" }, 10_000, "app2 marked down");
      const downAfter = Date.now() - stoppedAt;
      phase = "down";
      assert.equal(status.app1, "UP");
      assert.equal(status.app3, "UP");
      await until(() => /closing the listener/.test(app2.output()), 10_000, "listener closing");
      // Its listener is closed, and its open connection, idle, is closed cleanly.
      assert.equal(await within(held.next(), 5000, "closed by the drain"), undefined);
      held.close();
      await within(
        new Promise<void>((r) =>
          app2.child.exitCode !== null ? r() : app2.child.once("exit", () => r())
        ),
        6000,
        "app2 exits once drained",
      );
      running = false;
      await Promise.all(loops);
      const count = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
      const redispatched = h.output().match(/ \d+\/\d+\/\d+\/\d+\/\+\d+ /g)?.length ?? 0;
      console.log(
        `app2 stopped: marked down after ${downAfter} ms; requests before ` +
          `${count(served.before)}, in its lame duck ${count(served["lame duck"])} ` +
          `(${served["lame duck"].get(target) ?? 0} on app2), once down ` +
          `${count(served.down)} (${served.down.get(target) ?? 0} on app2); ` +
          `${failures.length} failed; ${redispatched} redispatched by HAProxy`,
      );
      // On failure, HAProxy's log lines of the connections that did not end normally ("--").
      const abnormal = h.output().split("\n").filter((l) =>
        /app_servers/.test(l) && !/ -- /.test(l)
      );
      assert.deepEqual(failures, [], abnormal.slice(0, 20).join("\n"));
      assert.ok(served["lame duck"].get(target), "app2 served clients in its lame duck");
      assert.ok(!served.down.has(target), "nothing went to app2 once it was down");
      assert.ok(count(served.down) >= 20, `requests once app2 was down: ${count(served.down)}`);
      assert.equal(app2.child.exitCode, 0, app2.output());
      // The health checks are clean: a PROXY header, ping, and a FIN; no error anywhere.
      for (const a of apps) assert.doesNotMatch(a.output(), /error/i, a.output());
      assert.match(app2.output(), /stopped after \d+ connections/);
    } finally {
      await haproxy?.stop();
      for (const a of apps) await a.stop();
    }
  },
);

test("README.md shows examples/deploy/haproxy.cfg as it is (from `global` on)", () => {
  const readme = readFileSync(`${ROOT}README.md`, "utf8");
  const shown = /```haproxy\n([\s\S]*?)```/.exec(readme)?.[1];
  const file = readFileSync(CONFIG, "utf8");
  assert.equal(shown, file.slice(file.indexOf("\nglobal\n") + 1));
});
