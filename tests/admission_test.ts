// Admission without sockets: limits, the FIFO queue, per-client counts and rates, expiry.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Admission, clientKey, type RejectReason, type Ticket } from "../mod.ts";
import { xorshift } from "./_helpers.ts";

/** A ticket that records what happened to it. */
function ticket(key = "", log?: string[], name = key): Ticket & { events: string[] } {
  const events: string[] = [];
  return {
    key,
    events,
    run() {
      events.push("run");
      log?.push(`run ${name}`);
    },
    reject(reason: RejectReason) {
      events.push(`reject ${reason}`);
      log?.push(`reject ${name} ${reason}`);
    },
  };
}

/** A clock the test moves by hand. */
function clock(start = 1_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test("Admission runs exactly maxConnections, queues exactly backlog, rejects the rest with capacity", () => {
  for (const [max, backlog] of [[1, 0], [1, 1], [3, 2], [5, 0], [2, 7]]) {
    const a = new Admission({ maxConnections: max, backlog });
    const verdicts = Array.from({ length: max + backlog + 3 }, () => a.offer(ticket()));
    assert.deepEqual(verdicts, [
      ...Array(max).fill("run"),
      ...Array(backlog).fill("queued"),
      "capacity",
      "capacity",
      "capacity",
    ], `max ${max} backlog ${backlog}`);
    assert.equal(a.running, max);
    assert.equal(a.queued, backlog);
  }
});

test("Admission starts queued tickets in FIFO order as slots free", () => {
  const log: string[] = [];
  const a = new Admission({ maxConnections: 2, backlog: 10 });
  const ts = Array.from({ length: 6 }, (_, i) => ticket("", log, `t${i}`));
  for (const t of ts) a.offer(t);
  assert.deepEqual(log, ["run t0", "run t1"]);
  a.release(ts[1]);
  a.release(ts[0]);
  assert.deepEqual(log.slice(2), ["run t2", "run t3"]);
  a.release(ts[3]);
  a.release(ts[2]);
  assert.deepEqual(log.slice(4), ["run t4", "run t5"]);
  assert.equal(a.running, 2);
  assert.equal(a.queued, 0);
});

test("Admission release() is idempotent: a slot is freed once however often it is called", () => {
  const a = new Admission({ maxConnections: 1, backlog: 5 });
  const t0 = ticket();
  const rest = [ticket(), ticket(), ticket()];
  a.offer(t0);
  for (const t of rest) a.offer(t);
  for (let i = 0; i < 5; i++) a.release(t0);
  assert.equal(a.running, 1, "only the next one started");
  assert.deepEqual(rest.map((t) => t.events), [["run"], [], []]);
  a.release(ticket()); // never offered: ignored
  assert.equal(a.running, 1);
});

test("Admission: a queued ticket released before its turn is skipped and no longer counted", () => {
  const log: string[] = [];
  const a = new Admission({ maxConnections: 1, backlog: 3 });
  const [t0, t1, t2, t3] = [0, 1, 2, 3].map((i) => ticket("", log, `t${i}`));
  for (const t of [t0, t1, t2, t3]) a.offer(t);
  assert.equal(a.queued, 3);
  a.release(t2); // the client left while waiting, in the middle of the queue
  assert.equal(a.queued, 2);
  // Its place is free: a new ticket may queue (the queue holds 3 again).
  const t4 = ticket("", log, "t4");
  assert.equal(a.offer(t4), "queued");
  assert.equal(a.offer(ticket()), "capacity");
  a.release(t0);
  a.release(t1);
  a.release(t3);
  assert.deepEqual(log, ["run t0", "run t1", "run t3", "run t4"]);
  assert.equal(a.queued, 0);
  assert.deepEqual(t2.events, [], "a released ticket is neither run nor rejected");
});

test("Admission: a new ticket never jumps the queue, even when a slot is free for a moment", () => {
  const a = new Admission({ maxConnections: 1, backlog: 5 });
  const t0 = ticket();
  const t1 = ticket();
  a.offer(t0);
  a.offer(t1);
  a.setMaxConnections(1);
  const t2 = ticket();
  assert.equal(a.offer(t2), "queued");
  a.release(t0);
  assert.deepEqual([t1.events, t2.events], [["run"], []]);
});

test("Admission.setMaxConnections raises (queued start at once) and lowers (running stay, new wait)", () => {
  const a = new Admission({ maxConnections: 1, backlog: 10 });
  const ts = Array.from({ length: 5 }, () => ticket());
  for (const t of ts) a.offer(t);
  assert.equal(a.running, 1);
  a.setMaxConnections(4);
  assert.equal(a.running, 4);
  assert.equal(a.queued, 1);
  a.setMaxConnections(2);
  assert.equal(a.running, 4, "running handlers are not stopped");
  assert.equal(a.offer(ticket()), "queued");
  a.release(ts[0]);
  a.release(ts[1]);
  assert.equal(a.running, 2, "no start until below the new limit");
  assert.equal(a.queued, 2);
  a.release(ts[2]);
  assert.equal(a.running, 2, "one freed slot starts one queued ticket");
  assert.equal(a.queued, 1);
  assert.throws(() => a.setMaxConnections(0), RangeError);
  assert.throws(() => a.setMaxConnections(1.5), RangeError);
  assert.equal(a.maxConnections, 2);
});

test("Admission.expire rejects exactly the tickets that waited the queue timeout, oldest first", () => {
  const c = clock();
  const log: string[] = [];
  const a = new Admission({ maxConnections: 1, backlog: 10, now: c.now });
  a.offer(ticket("", log, "run"));
  a.offer(ticket("", log, "q0"));
  c.advance(100);
  a.offer(ticket("", log, "q1"));
  c.advance(100);
  a.offer(ticket("", log, "q2"));
  a.expire(250);
  assert.deepEqual(log, ["run run"], "nothing waited 250 ms yet");
  c.advance(49);
  a.expire(250);
  assert.deepEqual(log, ["run run"], "q0 waited 249 ms");
  c.advance(1);
  a.expire(250);
  assert.deepEqual(log, ["run run", "reject q0 queue-timeout"]);
  c.advance(199); // q1 waited 349 ms, q2 249 ms
  a.expire(250);
  assert.deepEqual(log.slice(2), ["reject q1 queue-timeout"]);
  c.advance(1);
  a.expire(250);
  assert.deepEqual(log.slice(3), ["reject q2 queue-timeout"]);
  assert.equal(a.queued, 0);
  assert.equal(a.running, 1);
});

test("Admission.rejectQueued rejects every waiting ticket and none of the running ones", () => {
  const log: string[] = [];
  const a = new Admission({ maxConnections: 2, backlog: 5 });
  const ts = Array.from({ length: 5 }, (_, i) => ticket("", log, `t${i}`));
  for (const t of ts) a.offer(t);
  a.release(ts[3]);
  a.rejectQueued("shutdown");
  assert.deepEqual(log, ["run t0", "run t1", "reject t2 shutdown", "reject t4 shutdown"]);
  assert.equal(a.queued, 0);
  a.release(ts[0]);
  assert.equal(a.running, 1, "nothing left to start");
});

test("Admission: a callback that changes the limit while tickets expire loses none", () => {
  const c = clock();
  const a = new Admission({ maxConnections: 1, backlog: 10, now: c.now });
  const run = ticket();
  a.offer(run);
  const ts = Array.from({ length: 4 }, () => ticket());
  ts[0].reject = () => a.setMaxConnections(10); // re-enters the queue
  for (const t of ts) a.offer(t);
  c.advance(10);
  const late = ticket();
  a.offer(late);
  c.advance(5);
  a.expire(12);
  assert.equal(a.queued, 0);
  assert.deepEqual(late.events, ["run"], "the one that did not expire got a slot");
  assert.deepEqual(ts.slice(1).map((t) => t.events), Array(3).fill(["reject queue-timeout"]));
});

test("Admission perClient.maxConnections counts running and queued per key; off by none", () => {
  const a = new Admission({ maxConnections: 2, backlog: 10, perClient: { maxConnections: 3 } });
  const mine = [ticket("a"), ticket("a"), ticket("a")];
  assert.deepEqual(mine.map((t) => a.offer(t)), ["run", "run", "queued"]);
  assert.equal(a.offer(ticket("a")), "per-client", "the 4th of one client");
  assert.equal(a.offer(ticket("b")), "queued", "another client is not limited");
  assert.equal(a.clientCount("a"), 3);
  a.release(mine[2]); // the queued one leaves
  assert.equal(a.clientCount("a"), 2);
  assert.equal(a.offer(ticket("a")), "queued");
  assert.equal(a.offer(ticket("")), "queued", "no key (unix socket): no per-client limit");
  a.release(mine[0]);
  a.release(mine[0]);
  assert.equal(a.clientCount("a"), 2, "a double release does not free the client twice");
});

test("Admission per-client keys: IPv4, IPv4-mapped IPv6 and the IPv6 /64 share limits as documented", () => {
  const a = new Admission({ maxConnections: 100, perClient: { maxConnections: 2 } });
  const offer = (ip: string) => a.offer(ticket(clientKey(ip)));
  assert.equal(offer("127.0.0.1"), "run");
  assert.equal(offer("::ffff:127.0.0.1"), "run");
  assert.equal(offer("::FFFF:7f00:1"), "per-client", "the mapped forms are the same client");
  assert.equal(offer("127.0.0.2"), "run");
  assert.equal(offer("::1"), "run");
  assert.equal(offer("0:0:0:0:0:0:0:1"), "run");
  assert.equal(offer("::1"), "per-client");
  assert.equal(offer("2001:db8:1:2::5"), "run");
  assert.equal(offer("2001:db8:1:2:ffff::9"), "run");
  assert.equal(offer("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "per-client", "same /64");
  assert.equal(offer("2001:db8:1:3::5"), "run", "next /64");
  assert.equal(a.clientCount("127.0.0.1"), 2);
  assert.equal(a.clientCount("2001:db8:1:2::/64"), 2);
});

test("Admission perClient.rate: a token bucket per key that refills with time", () => {
  const c = clock();
  const a = new Admission({
    maxConnections: 1000,
    perClient: { rate: { connections: 3, perSeconds: 1 } },
    now: c.now,
  });
  const go = (key: string) => {
    const t = ticket(key);
    const v = a.offer(t);
    if (v === "run") a.release(t); // rate is about new connections, not concurrent ones
    return v;
  };
  assert.deepEqual([go("a"), go("a"), go("a"), go("a")], ["run", "run", "run", "rate"]);
  assert.equal(go("b"), "run", "each key has its own bucket");
  c.advance(332);
  assert.equal(go("a"), "rate", "not yet one token (1/3 s)");
  c.advance(2);
  assert.equal(go("a"), "run");
  assert.equal(go("a"), "rate");
  c.advance(60_000);
  assert.deepEqual(
    [go("a"), go("a"), go("a"), go("a")],
    ["run", "run", "run", "rate"],
    "capped at the burst",
  );
  assert.equal(go(""), "run", "no key: no rate limit");
});

test("Admission rejects bad options with RangeError", () => {
  assert.throws(() => new Admission({ maxConnections: 0 }), RangeError);
  assert.throws(() => new Admission({ maxConnections: -1 }), RangeError);
  assert.throws(() => new Admission({ backlog: -1 }), RangeError);
  assert.throws(() => new Admission({ backlog: 1.5 }), RangeError);
  assert.throws(() => new Admission({ perClient: { maxConnections: 0 } }), RangeError);
  assert.throws(
    () => new Admission({ perClient: { rate: { connections: 0, perSeconds: 1 } } }),
    RangeError,
  );
  assert.throws(
    () => new Admission({ perClient: { rate: { connections: 1, perSeconds: 0 } } }),
    RangeError,
  );
  assert.doesNotThrow(() => new Admission({ maxConnections: Infinity, backlog: 0 }));
});

test("Admission: random offers and releases keep the counts equal to a model", () => {
  const rnd = xorshift(12345);
  const max = 4, backlog = 6, perClient = 3;
  const a = new Admission({
    maxConnections: max,
    backlog,
    perClient: { maxConnections: perClient },
  });
  const live: (Ticket & { events: string[] })[] = [];
  for (let step = 0; step < 5000; step++) {
    if (rnd(3) !== 0 || live.length === 0) {
      const t = ticket(`k${rnd(4)}`);
      const v = a.offer(t);
      if (v === "run" || v === "queued") live.push(t);
    } else {
      const [t] = live.splice(rnd(live.length), 1);
      a.release(t);
    }
    if (rnd(50) === 0) a.setMaxConnections(1 + rnd(6));
    const running = live.filter((t) => t.events.includes("run")).length;
    assert.equal(a.running, running, `step ${step}`);
    assert.equal(a.queued, live.length - running, `step ${step}`);
    assert.ok(a.queued <= backlog);
    if (a.queued > 0) {
      assert.ok(a.running >= a.maxConnections, `idle slot with a queue at step ${step}`);
    }
    for (let k = 0; k < 4; k++) {
      const n = live.filter((t) => t.key === `k${k}`).length;
      assert.equal(a.clientCount(`k${k}`), n);
      assert.ok(n <= perClient);
    }
  }
});
