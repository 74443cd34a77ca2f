// examples/limits.ts run as a real process: limits, rejection message, admin port,
// setMaxConnections, a sniffed route, metrics scraped over HTTP, and a clean stop on SIGTERM.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, lines } from "../mod.ts";
import { startExample } from "./_examples.ts";
import { get, parse } from "./_prometheus.ts";
import { sleep, until, within } from "./_helpers.ts";

test(
  "limits.ts: max 1 + backlog 1, the third is told why, admin raises the limit, SIGTERM stops it",
  {
    timeout: 45_000,
  },
  async () => {
    const ex = await startExample("limits.ts", [
      "0",
      "--admin-port",
      "0",
      "--max",
      "1",
      "--backlog",
      "1",
    ], 2);
    try {
      const ports = Object.fromEntries(
        [...ex.output().matchAll(/^(\w+) listener on \S+:(\d+)$/gm)].map((
          m,
        ) => [m[1], Number(m[2])]),
      );
      const open = (port: number) => connect({ port, framer: lines() });
      const one = await open(ports.public);
      await one.send("hello");
      assert.equal(await within(one.next(), 5000, "reply"), "HELLO");
      const two = await open(ports.public);
      await two.send("waiting");
      await sleep(100);
      const three = await open(ports.public);
      assert.equal(await within(three.next(), 5000, "rejection"), "ERR busy (capacity)");
      assert.equal(await within(three.next(), 5000, "closed"), undefined);
      three.close();

      await using adm = await open(ports.admin);
      await adm.send("stats");
      const stats = JSON.parse(String(await within(adm.next(), 5000, "stats")));
      assert.deepEqual([stats.active, stats.queued, stats.rejected.capacity], [1, 1, 1]);
      await adm.send("max 3");
      assert.equal(await within(adm.next(), 5000, "max"), "maxConnections 3");
      assert.equal(await within(two.next(), 5000, "queued client served"), "WAITING");

      // A client that starts with "GET " is routed to the status page.
      const http = await connect({ port: ports.public });
      await http.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
      let page = "";
      for (let i = 0; i < 10; i++) {
        const chunk = await within(http.next(), 5000, "status page");
        if (!chunk) break;
        page += new TextDecoder().decode(chunk);
      }
      http.close();
      assert.match(page, /^HTTP\/1\.0 200 OK\r\n[\s\S]*\r\n\r\n3 active, 0 waiting/); // one, two and itself
      await until(() => /rejected 127\.0\.0\.1:\d+: capacity/.test(ex.output()), 5000, "logged");

      // The admin port serves the public server's metrics to an HTTP client.
      await adm.send("stats");
      const now = JSON.parse(String(await within(adm.next(), 5000, "stats")));
      const res = await within(fetch(`http://127.0.0.1:${ports.admin}/metrics`), 5000, "scrape");
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
      const scraped = parse(await res.text());
      assert.equal(get(scraped, "tcpkit_connections_accepted_total"), now.accepted);
      assert.equal(get(scraped, "tcpkit_rejected_total", { reason: "capacity" }), 1);
      assert.equal(get(scraped, "tcpkit_connections_active"), 2); // one and two
      assert.equal(get(scraped, "tcpkit_received_messages_total"), now.messagesIn);
      const missing = await within(fetch(`http://127.0.0.1:${ports.admin}/x`), 5000, "404");
      assert.equal(missing.status, 404);
      await missing.body?.cancel();

      one.close();
      two.close();
      await ex.stop(); // SIGTERM by PID
      assert.equal(ex.child.exitCode, 0, ex.output());
      assert.match(ex.output(), /SIGTERM: draining/);
      assert.match(ex.output(), /stopped: \{"active":0,"queued":0/);
    } finally {
      await ex.stop();
    }
  },
);
