/**
 * The nine scenarios of the stress suite, each run against a real server
 * process (tests/stress/server.ts) on one runtime, with its clients in separate processes
 * (tests/stress/clients/*.py), on 127.0.0.1 only. Each returns its figures and the checks the
 * issue states; `scripts/stress.ts` runs them and reports.
 *
 * @module
 */

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, rssSampler, type Runtime, sleep } from "./_proc.ts";
import { type Stats, TestServer } from "./_server.ts";

/** One criterion: `"n/a"` where the runtime cannot do it (the table says so). */
export interface Check {
  what: string;
  ok: boolean | "n/a";
  detail: string;
}

/** What a scenario gives back. */
export interface Outcome {
  /** One line of figures. */
  figures: string;
  checks: Check[];
  notes?: string[];
}

/** How a scenario is run. */
export interface Context {
  rt: Runtime;
  short: boolean;
  /** Soak length, seconds. */
  soakSeconds: number;
  seed: number;
  /** `"node"` to force node:net / node:tls (Deno's way around its TLS limit). */
  adapter?: "node";
  /** Run a Node server with glibc's default malloc settings (see `NODE_MALLOC`). */
  mallocDefaults?: boolean;
}

/** The counts and durations of each form. */
export function sizes(short: boolean) {
  return {
    slowloris: { conns: 1000, firstMessage: 2000, requests: 200 },
    flood: { conns: 1000, hold: 250 },
    nonreader: { bytes: 2 ** 30, writeStall: 2000, requests: 200 },
    reset: { warmup: short ? 500 : 2000, resets: short ? 2000 : 10_000 },
    fuzz: { inputs: short ? 10_000 : 100_000 },
    drain: { clients: 50, timeout: short ? 2000 : 5000, loadMs: short ? 1000 : 3000 },
    proxy: { silent: 20, longLines: 20 },
    tls: { silent: 50, random: 100, flood: 500, handshakeTimeout: 2000, requests: 300 },
  };
}

const f = (x: number | null | undefined, d = 1) => x == null ? "-" : x.toFixed(d);
const check = (what: string, ok: boolean | "n/a", detail: string): Check => ({ what, ok, detail });
const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
const diff = (a: Record<string, number>, b: Record<string, number>) => {
  const out: Record<string, number> = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const d = (a[k] ?? 0) - (b[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
};
const show = (o: Record<string, number>) =>
  Object.entries(o).map(([k, v]) => `${k} ${v}`).join(", ") || "none";

interface Bystander {
  n: number;
  ok: number;
  error_count: number;
  errors: string[];
  p50_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
}

function bystanderChecks(b: Bystander, p99?: number): Check[] {
  const out = [
    check(
      "bystander served",
      b.ok === b.n && b.error_count === 0,
      `${b.ok}/${b.n} replies, ${b.error_count} errors${b.errors.length ? `: ${b.errors[0]}` : ""}`,
    ),
  ];
  if (p99 !== undefined) {
    out.push(check(`bystander p99 < ${p99} ms`, (b.p99_ms ?? Infinity) < p99, `${f(b.p99_ms)} ms`));
  }
  return out;
}

const healthy = (server: TestServer, s: Stats): Check =>
  check(
    "no unhandled error or rejection; server up",
    s.unhandled === 0 && server.running,
    `${s.unhandled} unhandled${s.unhandledSamples.length ? `: ${s.unhandledSamples[0]}` : ""}`,
  );

/** Runs `body` with a server, and stops the server (by PID) whatever happens. */
async function withServer<T>(
  ctx: Context,
  scenario: string,
  flags: (string | number)[],
  body: (server: TestServer) => Promise<T>,
): Promise<T> {
  const all = ctx.adapter ? [...flags, "--adapter", ctx.adapter] : flags;
  const server = await new TestServer(ctx.rt, scenario, all, ctx.mallocDefaults).ready();
  try {
    return await body(server);
  } finally {
    await server.stop();
  }
}

// ------------------------------------------------------------------------- 1. slowloris

async function slowloris(ctx: Context): Promise<Outcome> {
  const z = sizes(ctx.short).slowloris;
  return await withServer(ctx, "slowloris", ["--first-message", z.firstMessage], async (server) => {
    const limit = z.firstMessage / 1000 + 1;
    const attack = new Client("slowloris.py", [server.port, z.conns, "--max-s", limit + 5]);
    await attack.waitLine((l) => l.startsWith("opened"), 30_000);
    const normal = new Client("bystander.py", [server.port, z.requests, "--interval-ms", 10]);
    const a = await attack.result<{
      connected: number;
      connect_failed: number;
      cut: number;
      never_cut: number;
      max_cut_s: number | null;
      min_cut_s: number | null;
    }>(60_000);
    const b = await normal.result<Bystander>(60_000);
    const s = await server.statsWhen((s) => s.active === 0);
    return {
      figures: `${a.cut}/${z.conns} cut after ${f(a.min_cut_s, 2)}-${f(a.max_cut_s, 2)} s ` +
        `(firstMessage ${z.firstMessage / 1000} s); normal client p99 ${f(b.p99_ms)} ms, ` +
        `${b.error_count} errors; active ${s.active}`,
      checks: [
        check(
          `all ${z.conns} cut within firstMessage + 1 s`,
          a.cut === z.conns && a.connect_failed === 0 && (a.max_cut_s ?? Infinity) <= limit,
          `${a.cut} cut, ${a.never_cut} not, ${a.connect_failed} could not connect; ` +
            `slowest ${
              f(a.max_cut_s, 2)
            } s; server counted ${s.timeouts.firstMessage} firstMessage timeouts`,
        ),
        ...bystanderChecks(b, 50),
        check("stats().active returns to 0", s.active === 0, `active ${s.active}`),
        healthy(server, s),
      ],
    };
  });
}

// ------------------------------------------------------------------------- 2. flood

async function flood(ctx: Context): Promise<Outcome> {
  const z = sizes(ctx.short).flood;
  return await withServer(ctx, "flood", ["--hold", z.hold], async (server) => {
    const c = await new Client("flood.py", [server.port, z.conns, "--timeout", 15]).result<{
      echo: number;
      rejected: number;
      closed: number;
      hang: number;
      connect_failed: number;
      other: number;
      reject_lines: Record<string, number>;
      max_s: number | null;
    }>(60_000);
    const s = await server.statsWhen((s) => s.active + s.queued + s.connections === 0);
    const rejected = sum(s.rejected);
    return {
      figures: `${c.echo} echoed, ${c.rejected} got "ERR busy", ${c.closed} closed bare, ` +
        `${c.hang} hung; peak active ${s.peakActive}; accepted ${s.accepted} = ` +
        `${s.opened} served + ${rejected} rejected (${show(s.rejected)}); last answer ${
          f(c.max_s, 1)
        } s`,
      checks: [
        check(
          "never more than 100 active",
          s.peakActive <= 100,
          `peak stats().active ${s.peakActive} (onConnection/onClose pairs: ${s.peakCallbacks})`,
        ),
        check(
          "every client answered or closed (rejectMessage), none hangs past 15 s",
          c.hang === 0 && c.connect_failed === 0 && c.other === 0 && c.closed === 0 &&
            c.echo + c.rejected === z.conns,
          `${c.echo} echo + ${c.rejected} rejectMessage + ${c.closed} closed without it, ` +
            `${c.hang} hung, ${c.connect_failed} could not connect, ${c.other} other; ` +
            `lines: ${JSON.stringify(c.reject_lines)}`,
        ),
        check(
          `accepted and rejected-by-reason add up to ${z.conns}`,
          s.accepted === z.conns && s.opened + rejected === z.conns && c.echo === s.opened &&
            c.rejected === rejected,
          `accepted ${s.accepted}; served ${s.opened} + rejected ${rejected}; client saw ` +
            `${c.echo} echoes and ${c.rejected} rejections; accept errors ${show(s.acceptErrors)}`,
        ),
        check(
          "stats().active returns to 0",
          s.active === 0 && s.queued === 0,
          `active ${s.active}`,
        ),
        healthy(server, s),
      ],
    };
  });
}

// ------------------------------------------------------------------------- 3. non-reader

async function nonreader(ctx: Context): Promise<Outcome> {
  const z = sizes(ctx.short).nonreader;
  return await withServer(ctx, "nonreader", ["--write-stall", z.writeStall], async (server) => {
    await new Client("bystander.py", [server.port, 100, "--interval-ms", 1]).result(30_000);
    const before = await server.afterGc();
    const sampler = rssSampler(server.pid);
    const max = z.writeStall / 1000 + 10;
    const modes = ["flood", "pipelined", "awaited"] as const;
    const clients = modes.map((mode) =>
      new Client("nonreader.py", [server.port, "--mode", mode, "--bytes", z.bytes, "--max-s", max])
    );
    for (const c of clients) await c.waitLine((l) => l === "connected", 10_000);
    const normal = new Client("bystander.py", [server.port, z.requests, "--interval-ms", 10]);
    type R = { ended: boolean; ended_after_s: number | null };
    const rs = await Promise.all(clients.map((c) => c.result<R>(60_000)));
    const b = await normal.result<Bystander>(60_000);
    const peak = sampler.stop();
    const s = await server.statsWhen((s) => s.active === 0);
    const after = await server.afterGc();
    const growth = peak - before.rss;
    const overflow = s.closes["OutboundOverflowError"] ?? 0;
    const stalled = s.closes["TimeoutError:writeStall"] ?? 0;
    const ended = rs.map((r, i) =>
      `${modes[i]} ${r.ended ? f(r.ended_after_s, 2) + " s" : "never"}`
    );
    return {
      figures:
        `3 clients asked for ${z.bytes / 2 ** 30} GiB each: RSS ${f(before.rss)} → peak ${
          f(peak)
        } MiB (+${
          f(growth)
        }); ended by maxOutbound ${overflow} (loop that ignores backpressure), ` +
        `writeStall ${stalled} (reading paused, or the send awaited), after ${
          ended.join(", ")
        }; bystander p99 ${f(b.p99_ms)} ms`,
      checks: [
        check(
          "server RSS grows by less than 64 MiB",
          growth < 64,
          `+${f(growth)} MiB at peak (after GC at the end: ${f(after.rss)} MiB)`,
        ),
        check(
          "the connections end by maxOutbound or writeStall, as documented",
          rs.every((r) => r.ended) && overflow === 1 && stalled === 2,
          `ended: ${ended.join(", ")}; server closes: ${show(s.closes)}`,
        ),
        ...bystanderChecks(b),
        healthy(server, s),
      ],
    };
  });
}

// ------------------------------------------------------------------------- 4. reset storm

async function reset(ctx: Context): Promise<Outcome> {
  const z = sizes(ctx.short).reset;
  return await withServer(ctx, "reset", [], async (server) => {
    // tests/fixtures/reset_storm.py resets at once (most die before accept), with
    // bystanders; reset_held.py resets connections the server has accepted and read.
    const storm = "tests/fixtures/reset_storm.py";
    await new Client(storm, [server.port, z.warmup]).result(300_000);
    await new Client("reset_held.py", [server.port, z.warmup]).result(300_000);
    await server.statsWhen((s) => s.active === 0 && s.connections === 0);
    const before = await server.afterGc();
    const s0 = await server.stats();
    const r = await new Client(storm, [server.port, z.resets]).result<{
      storm_seconds: number;
      served_again_after_s: number | null;
      clients: number;
      failed: string[];
      max_ms: number | null;
    }>(400_000);
    const h = await new Client("reset_held.py", [server.port, z.resets]).result<{
      connected: number;
      failed: number;
      seconds: number;
    }>(400_000);
    const s = await server.statsWhen((s) => s.active === 0 && s.connections === 0);
    const after = await server.afterGc();
    const pct = (after.rss / before.rss - 1) * 100;
    const closes = diff(s.closes, s0.closes);
    const aborted = s.acceptErrors.aborted - s0.acceptErrors.aborted;
    const live = s.opened - s0.opened;
    return {
      figures: `${z.resets} resets at once and ${h.connected} after accept (of both, ${aborted} ` +
        `died before accept, ${live} reached a handler); RSS ${f(before.rss)} → ${
          f(after.rss)
        } MiB ` +
        `(${pct >= 0 ? "+" : ""}${f(pct)}%), heap ${f(before.heap, 2)} → ${
          f(after.heap, 2)
        } MiB; ` +
        `bystanders ${r.clients - r.failed.length}/${r.clients}; active ${s.active}`,
      checks: [
        healthy(server, s),
        check(
          "stats().active is 0",
          s.active === 0,
          `active ${s.active}, sockets held ${s.connections}`,
        ),
        check(
          "RSS returns within 10% of before",
          pct < 10,
          `${f(before.rss)} → ${f(after.rss)} MiB, ${f(pct)}% (after a full GC both times)`,
        ),
      ],
      notes: [
        `closes of the measured storms: ${show(closes)}; aborted accepts ${aborted}; ` +
        `reset_storm.py took ${f(r.storm_seconds, 2)} s, reset_held.py ${f(h.seconds, 2)} s ` +
        `(${h.failed} could not connect); served again ${
          f(r.served_again_after_s, 2)
        } s after the storm began` +
        (r.failed.length ? `; bystander failures: ${r.failed.slice(0, 2).join("; ")}` : ""),
      ],
    };
  });
}

// ------------------------------------------------------------------------- 5. fuzz

const FRAMERS = [
  { framer: "lines", style: "iterator" },
  { framer: "length", style: "hooks" },
  { framer: "varint", style: "iterator" },
] as const;

async function fuzz(ctx: Context): Promise<Outcome> {
  const z = sizes(ctx.short).fuzz;
  const checks: Check[] = [];
  const figures: string[] = [];
  for (const [i, { framer, style }] of FRAMERS.entries()) {
    await withServer(ctx, "fuzz", ["--framer", framer, "--style", style], async (server) => {
      const c = await new Client("fuzz.py", [
        server.port,
        "--framer",
        framer,
        "--inputs",
        z.inputs,
        "--seed",
        ctx.seed + i,
        "--max-s",
        ctx.short ? 60 : 300,
      ]).result<{
        inputs: number;
        cases: number;
        expect: Record<string, number>;
        ok: number;
        failed: number;
        hang: number;
        failures: unknown[];
      }>(400_000);
      const s = await server.statsWhen((s) => s.active === 0 && s.connections === 0);
      const closes = { ...s.closes };
      const typed = Object.entries(c.expect).filter(([k]) => k !== "clean");
      figures.push(
        `${framer}: ${c.inputs} inputs on ${c.cases} connections, ${c.ok} as the model says ` +
          `(${typed.map(([k, v]) => `${k.replace("Error", "")} ${v}`).join(", ")})`,
      );
      checks.push(
        check(
          `${framer}: valid streams get exactly their frames back`,
          c.failed === 0 && c.hang === 0 && c.inputs >= z.inputs,
          `${c.ok}/${c.cases} connections as the model says, ${c.failed} not, ${c.hang} hung` +
            (c.failures.length ? `; first: ${JSON.stringify(c.failures[0])}` : ""),
        ),
        check(
          `${framer}: bad input closes only its connection, with its typed error`,
          JSON.stringify(Object.entries(closes).sort()) ===
            JSON.stringify(Object.entries(c.expect).sort()),
          `server closes: ${show(closes)}; the model: ${show(c.expect)}`,
        ),
        { ...healthy(server, s), what: `${framer}: the server never dies` },
      );
    });
  }
  return { figures: figures.join("; "), checks };
}

// ------------------------------------------------------------------------- 6. drain

async function drain(ctx: Context): Promise<Outcome> {
  const z = sizes(ctx.short).drain;
  const dir = mkdtempSync(join(tmpdir(), "tcpkit-drain-"));
  const log = join(dir, "processed.log");
  const acked = join(dir, "acked.log");
  writeFileSync(log, "");
  const server = await new TestServer(ctx.rt, "drain", [
    "--log",
    log,
    "--drain-timeout",
    z.timeout,
    ...(ctx.adapter ? ["--adapter", ctx.adapter] : []),
  ], ctx.mallocDefaults).ready();
  try {
    const client = new Client("drain.py", [
      server.port,
      acked,
      "--clients",
      z.clients,
      "--max-s",
      60,
    ]);
    await client.waitLine((l) => l.startsWith("running"), 30_000);
    await sleep(z.loadMs);
    const t0 = performance.now();
    server.kill("SIGTERM");
    const forced = setTimeout(() => server.kill("SIGKILL"), z.timeout + 10_000);
    const exit = await server.exit;
    clearTimeout(forced);
    const exitMs = exit.at - t0;
    const c = await client.result<
      { sent: number; acked: number; error_count: number; errors: string[] }
    >(
      90_000,
    );
    const processed = new Set(readFileSync(log, "utf8").split("\n").filter(Boolean));
    const ackedIds = readFileSync(acked, "utf8").split("\n").filter(Boolean);
    const lost = ackedIds.filter((id) => !processed.has(id));
    const finalLine = server.lines.find((l) => l.startsWith("final "));
    const final = finalLine ? JSON.parse(finalLine.slice(6)) as Stats : undefined;
    return {
      figures: `${c.sent} sent, ${ackedIds.length} acknowledged, ${processed.size} processed, ` +
        `lost acknowledged ${lost.length}; SIGTERM → exit ${exit.code ?? exit.signal} in ${
          f(exitMs / 1000, 2)
        } s (timeout ${z.timeout / 1000} s)`,
      checks: [
        check(
          "lost acknowledged = 0",
          lost.length === 0 && ackedIds.length > 0 && c.error_count === 0,
          `${lost.length} lost${lost.length ? ` (${lost.slice(0, 3).join(", ")})` : ""}; ` +
            `${c.error_count} acknowledgement errors${c.errors.length ? `: ${c.errors[0]}` : ""}`,
        ),
        check(
          "the process exits within the timeout + 1 s",
          exitMs <= z.timeout + 1000 && exit.signal === null,
          `${f(exitMs / 1000, 2)} s, exit ${exit.code ?? exit.signal}`,
        ),
        check(
          "no unhandled error or rejection",
          final !== undefined && final.unhandled === 0,
          final
            ? `${final.unhandled} unhandled; closes: ${show(final.closes)}`
            : `no final stats (${server.tail()})`,
        ),
      ],
    };
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------- 7. PROXY

async function proxy(ctx: Context): Promise<Outcome> {
  const z = sizes(ctx.short).proxy;
  return await withServer(ctx, "proxy", [], async (server) => {
    const p = server.ports;
    const c = await new Client("proxy_abuse.py", [
      p.trusted,
      p.untrusted,
      p.plain,
      "--silent",
      z.silent,
      "--long-lines",
      z.longLines,
    ]).result<{
      silent_cut: number;
      silent_min_s: number | null;
      silent_max_s: number | null;
      v1_open_at_106: boolean;
      v1_closed_after_107th_s: number | null;
      v1_long_closed: number;
      v1_long_max_s: number | null;
      cases: Record<string, { closed?: boolean; reply: string }>;
      honoured: string[];
    }>(60_000);
    const s = await server.statsWhen((s) => s.active === 0 && s.connections === 0);
    const cs = c.cases;
    const refusedUntrusted = ["untrusted_v1", "untrusted_v2", "untrusted_v1_bytewise"]
      .filter((k) => cs[k]?.closed && cs[k].reply === "");
    const controls = cs.plain_v1?.reply.startsWith("127.0.0.1 PROXY TCP4 203.0.113.9") &&
      cs.untrusted_no_header?.reply === "127.0.0.1 hello" &&
      cs.trusted_v1?.reply === "203.0.113.9 hello";
    const wantRejected = z.silent + 1 + z.longLines + 3;
    return {
      figures:
        `v2 header declaring 65 535 bytes: ${c.silent_cut}/${z.silent} cut after ${
          f(c.silent_min_s, 2)
        }-${
          f(c.silent_max_s, 2)
        } s (timeout 3 s); v1 line without CRLF: open at 106 bytes: ${c.v1_open_at_106}, ` +
        `closed ${
          f(c.v1_closed_after_107th_s, 3)
        } s after the 107th; 10 KB lines: ${c.v1_long_closed}/${z.longLines} ` +
        `closed within ${
          f(c.v1_long_max_s, 2)
        } s; untrusted headers honoured: ${c.honoured.length}`,
      checks: [
        check(
          "a silent v2 header (65 535 bytes declared) is cut by the header timeout",
          c.silent_cut === z.silent && (c.silent_min_s ?? 0) >= 2.95 &&
            (c.silent_max_s ?? Infinity) <= 4 && s.timeouts.proxyHeader === z.silent,
          `${c.silent_cut} cut in ${f(c.silent_min_s, 2)}-${f(c.silent_max_s, 2)} s; ` +
            `server: ${s.timeouts.proxyHeader} proxyHeader timeouts`,
        ),
        check(
          "a 10 KB v1 line with no CRLF is rejected after 107 bytes",
          c.v1_open_at_106 && c.v1_closed_after_107th_s !== null &&
            c.v1_closed_after_107th_s < 1 && c.v1_long_closed === z.longLines &&
            (c.v1_long_max_s ?? Infinity) < 2.5,
          `open after 106 bytes: ${c.v1_open_at_106}; closed ${
            f(c.v1_closed_after_107th_s, 3)
          } s after byte 107; whole 10 KB lines closed: ${c.v1_long_closed}, slowest ${
            f(c.v1_long_max_s, 2)
          } s`,
        ),
        check(
          "a header from an untrusted source is never honoured",
          c.honoured.length === 0 && refusedUntrusted.length === 3 && controls === true,
          `honoured: ${c.honoured.join(", ") || "none"}; refused on the untrusted listener: ` +
            `${refusedUntrusted.length}/3; plain listener answered "${
              cs.plain_v1?.reply.slice(0, 40)
            }"; ` +
            `no header: "${cs.untrusted_no_header?.reply}"; trusted control: "${cs.trusted_v1?.reply}"`,
        ),
        check(
          `rejected "proxy" counts every refusal (${wantRejected})`,
          s.rejected.proxy === wantRejected,
          `rejected ${show(s.rejected)}`,
        ),
        healthy(server, s),
      ],
    };
  });
}

// ------------------------------------------------------------------------- 8. soak

async function soak(ctx: Context): Promise<Outcome> {
  const seconds = ctx.soakSeconds;
  const mark = seconds >= 120 ? 60 : seconds / 2;
  return await withServer(ctx, "soak", [], async (server) => {
    const t0 = performance.now();
    const client = new Client("soak.py", [
      server.port,
      "--conns",
      100,
      "--seconds",
      seconds,
      "--seed",
      ctx.seed,
    ]);
    const at = (s: number) => sleep(Math.max(0, t0 + s * 1000 - performance.now()));
    // Memory after a full GC every `mark` seconds: the shape of any drift (a plateau, or
    // growth that goes on), and which part of the process holds it.
    const series: string[] = [];
    const sample = async (t: number) => {
      const m = await server.afterGc();
      const { memory } = await server.stats();
      const mib = (k: string) => f((memory[k] ?? NaN) / 2 ** 20);
      series.push(
        `${f(t, 0)} s: RSS ${f(m.rss)}, heap used ${f(m.heap, 2)} of ${mib("heapTotal")}, ` +
          `external ${mib("external")} (array buffers ${mib("arrayBuffers")}) MiB`,
      );
      return m;
    };
    await at(mark);
    const first = await sample(mark);
    const mid1 = await server.stats();
    const last = seconds - Math.min(3, seconds / 10);
    for (let t = 2 * mark; t < last - 1; t += mark) {
      await at(t);
      await sample(t);
    }
    await at(last);
    const end = await sample(last);
    const mid2 = await server.stats();
    const c = await client.result<{
      requests: number;
      connections: number;
      bytes_sent: number;
      bytes_received: number;
      error_count: number;
      errors: string[];
      p99_ms: number | null;
    }>(seconds * 1000 + 120_000);
    const s = await server.statsWhen((s) => s.active === 0 && s.connections === 0);
    const drift = (end.rss / first.rss - 1) * 100;
    const consistent = [
      ["accepted = connections made", s.accepted, c.connections],
      ["messagesIn = requests", s.messagesIn, c.requests],
      ["messagesOut = replies", s.messagesOut, c.requests],
      ["bytesIn = bytes sent", s.bytesIn, c.bytes_sent],
      ["bytesOut = bytes received", s.bytesOut, c.bytes_received],
      ["clean closes = connections", s.closes.clean ?? 0, c.connections],
      ["active at the end", s.active, 0],
      ["rejected", sum(s.rejected), 0],
      ["timeouts", sum(s.timeouts), 0],
    ] as const;
    const bad = consistent.filter(([, a, b]) => a !== b);
    // During the run: every socket the server holds is running or queued (README), and
    // the clients are connected (a client that reconnects may briefly hold 101).
    const midOk = [mid1, mid2].every((m) => m.active + m.queued === m.connections && m.active > 0);
    return {
      figures:
        `${
          seconds >= 60 ? `${f(seconds / 60, 1)} min` : `${seconds} s`
        }, 100 connections: ${c.requests} requests on ${c.connections} connections, p99 ${
          f(c.p99_ms)
        } ms; RSS at ${mark >= 60 ? "minute 1" : `${f(mark, 0)} s`} ${f(first.rss)} → end ${
          f(end.rss)
        } MiB (${drift >= 0 ? "+" : ""}${f(drift, 2)}%); ` +
        `${c.error_count + s.errors} errors`,
      checks: [
        check(
          "RSS at minute 1 against the end drifts by less than 5%",
          Math.abs(drift) < 5,
          `${f(first.rss)} → ${f(end.rss)} MiB after a full GC (heap ${f(first.heap, 2)} → ${
            f(end.heap, 2)
          } MiB)`,
        ),
        check(
          "0 errors",
          c.error_count === 0 && s.errors === 0,
          `client ${c.error_count}${
            c.errors.length ? ` (${c.errors[0]})` : ""
          }, server onError ${s.errors} (${show(s.reported)})`,
        ),
        check(
          "the stats stay consistent",
          bad.length === 0 && midOk,
          bad.length === 0
            ? `every counter matches the clients'; active + queued = sockets held during the run ` +
              `(${mid1.active} + ${mid1.queued} = ${mid1.connections}, ${mid2.active} + ${mid2.queued} = ${mid2.connections})`
            : bad.map(([w, a, b]) => `${w}: ${a} vs ${b}`).join("; ") +
              `; during the run: active ${mid1.active}/${mid2.active}, queued ${mid1.queued}/${mid2.queued}, ` +
              `sockets ${mid1.connections}/${mid2.connections}`,
        ),
        healthy(server, s),
      ],
      notes: [`memory after a full GC: ${series.join("; ")}`],
    };
  });
}

// ------------------------------------------------------------------------- 9. TLS

let pki: { dir: string; cert: string; key: string; ca: string } | undefined;

/** The test certificates (tests/_tls_certs.ts, made with openssl), written to files once. */
async function certFiles() {
  if (pki) return pki;
  const { certs } = await import("../_tls_certs.ts");
  const dir = mkdtempSync(join(tmpdir(), "tcpkit-stress-tls-"));
  pki = { dir, cert: join(dir, "cert.pem"), key: join(dir, "key.pem"), ca: join(dir, "ca.pem") };
  writeFileSync(pki.cert, certs.cert);
  writeFileSync(pki.key, certs.key);
  writeFileSync(pki.ca, certs.ca);
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return pki;
}

async function tls(ctx: Context): Promise<Outcome> {
  const z = sizes(ctx.short).tls;
  const files = await certFiles();
  const flags = [
    "--cert",
    files.cert,
    "--key",
    files.key,
    "--handshake-timeout",
    z.handshakeTimeout,
  ];
  return await withServer(ctx, "tls", flags, async (server) => {
    const hs = z.handshakeTimeout / 1000;
    const attack = new Client("tls_abuse.py", [
      server.ports.tls,
      files.ca,
      "--silent",
      z.silent,
      "--random",
      z.random,
      "--flood",
      z.flood,
      "--handshake-timeout",
      hs,
    ]);
    await attack.waitLine((l) => l === "attacking", 30_000);
    const plain = new Client("bystander.py", [server.ports.plain, z.requests, "--interval-ms", 10]);
    const [a, b] = await Promise.all([
      attack.result<{
        silent_cut: number;
        silent_min_s: number | null;
        silent_max_s: number | null;
        silent_connect_failed: number;
        random_closed: number;
        random_max_s: number | null;
        flood_ok: number;
        flood_failed: string[];
        flood_failed_count: number;
        flood_s: number;
      }>(120_000),
      plain.result<Bystander>(120_000),
    ]);
    const s = await server.statsWhen((s) => s.active === 0 && s.connections === 0);
    // Deno cannot close a Deno.listenTls connection during its handshake (README, TLS).
    const cannotCut = s.adapter === "deno";
    const cutOk = a.silent_cut === z.silent && (a.silent_max_s ?? Infinity) <= hs + 1;
    return {
      figures: `silent: ${
        cannotCut && !cutOk
          ? `not cut (Deno cannot), ${s.timeouts.handshake} timeouts reported`
          : `${a.silent_cut}/${z.silent} cut after ${f(a.silent_min_s, 2)}-${
            f(a.silent_max_s, 2)
          } s`
      } (handshakeTimeout ${hs} s); random bytes: ${a.random_closed}/${z.random} closed within ${
        f(a.random_max_s, 2)
      } s; flood: ${a.flood_ok}/${z.flood} handshakes in ${f(a.flood_s, 1)} s; plain p99 ${
        f(b.p99_ms)
      } ms`,
      checks: [
        healthy(server, s),
        check(
          "silent clients: handshake timeouts fire (and cut them where the runtime allows)",
          cannotCut && !cutOk ? (s.timeouts.handshake >= z.silent ? "n/a" : false) : cutOk,
          `${a.silent_cut}/${z.silent} cut, slowest ${f(a.silent_max_s, 2)} s; server counted ` +
            `${s.timeouts.handshake} handshake timeouts` +
            (cannotCut && !cutOk
              ? `; Deno cannot close a TLS connection during its handshake: reported, not cut (adapter: "node" cuts it)`
              : ""),
        ),
        check(
          "random bytes instead of a ClientHello are closed",
          a.random_closed === z.random,
          `${a.random_closed}/${z.random}, slowest ${f(a.random_max_s, 2)} s; server reported ${
            show(s.reported)
          }`,
        ),
        check(
          `a flood of ${z.flood} handshakes is served`,
          a.flood_ok === z.flood,
          `${a.flood_ok} ok, ${a.flood_failed_count} failed${
            a.flood_failed.length ? `: ${a.flood_failed[0]}` : ""
          }`,
        ),
        ...bystanderChecks(b),
      ],
    };
  });
}

/** The scenarios, in order. */
export const SCENARIOS: Record<string, (ctx: Context) => Promise<Outcome>> = {
  slowloris,
  flood,
  nonreader,
  reset,
  fuzz,
  drain,
  proxy,
  soak,
  tls,
};

/** What each scenario must show (the issue's criteria), for the table. */
export const CRITERIA: Record<string, string> = {
  slowloris:
    "1 000 connections trickle 1 byte / 100 ms (firstMessage 2 s): all cut within 3 s; a normal client's 200 request/replies p99 < 50 ms, 0 errors; active back to 0",
  flood:
    "maxConnections 100, backlog 100, 1 000 connections at once: never > 100 active; each gets its echo or rejectMessage, none hangs past 15 s; accepted = served + rejected = 1 000",
  nonreader:
    "replies of 1 GiB to a client that never reads: RSS grows < 64 MiB; ends by maxOutbound or writeStall; others served",
  reset:
    "10 000 connections send half a frame, then reset (SO_LINGER 0), at once and after accept: no unhandled error; active 0; RSS back within 10%",
  fuzz:
    "valid, garbage, truncated, over-long frames in chunks down to 1 byte, to lines, lengthPrefixed(4) and varint echoes: valid streams exact; bad input closes only its connection with a typed error; the server never dies",
  drain:
    "50 clients send numbered requests; SIGTERM (shutdownOnSignals) mid-load: lost acknowledged = 0; exit within timeout + 1 s",
  proxy:
    "a silent v2 header of 65 535 bytes is cut by the header timeout; a 10 KB v1 line is rejected at 107 bytes; an untrusted header is never honoured",
  soak:
    "100 connections of mixed request/reply: RSS minute 1 → end drifts < 5%; 0 errors; stats consistent",
  tls:
    "silent clients, random bytes, a flood of 500 handshakes: the server stays up; handshake timeouts fire where the runtime allows; plain clients served",
};
