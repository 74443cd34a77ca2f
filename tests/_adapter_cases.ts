// The transport conformance suite: every adapter (deno, bun, node, memory) must pass
// the same cases. Not a test file: tests/adapters_test.ts runs it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import type {
  RawSocket,
  RawSocketHandler,
  Transport,
  TransportListener,
  TransportListenOptions,
} from "../lib/transport.ts";
import { ConnectError, ConnectionResetError } from "../lib/errors.ts";

/** What differs between adapters, said honestly. */
export interface AdapterCaseOptions {
  /** `abort()` sends an RST, so the peer sees `close(ConnectionResetError)` at once. */
  abortResets: boolean;
  /** Real sockets: TCP on 127.0.0.1 and ::1, and Unix sockets. */
  real: boolean;
}

const HWM = 64 * 1024;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed + (i >>> 8)) & 0xff;
  return out;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** Asserts two byte arrays are equal without printing megabytes on failure. */
function assertSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) assert.fail(`${what}: first difference at byte ${i}`);
  }
}

const encode = (s: string) => new TextEncoder().encode(s);

/** Records every event of one socket and checks the contract's ordering rules. */
class Peer implements RawSocketHandler {
  chunks: Uint8Array[] = [];
  bytes = 0;
  ended = false;
  closed = false;
  closeError: Error | undefined;
  drains = 0;
  violations: string[] = [];
  socket: RawSocket;

  constructor(socket: RawSocket, resume = true) {
    this.socket = socket;
    socket.start(this);
    if (resume) socket.resume();
  }
  data(chunk: Uint8Array): void {
    if (this.closed) this.violations.push("data after close");
    if (this.ended) this.violations.push("data after end");
    this.chunks.push(chunk);
    this.bytes += chunk.length;
  }
  end(): void {
    if (this.closed) this.violations.push("end after close");
    if (this.ended) this.violations.push("end twice");
    this.ended = true;
  }
  drain(): void {
    if (this.closed) this.violations.push("drain after close");
    this.drains++;
  }
  close(error?: Error): void {
    if (this.closed) this.violations.push("close twice");
    this.closed = true;
    this.closeError = error;
  }
  text(): string {
    return new TextDecoder().decode(concat(this.chunks));
  }
  received(): Uint8Array {
    return concat(this.chunks);
  }
}

/** A peer that echoes what it reads and ends when its peer ends. */
class EchoPeer extends Peer {
  override data(chunk: Uint8Array): void {
    super.data(chunk);
    this.socket.write(chunk);
  }
  override end(): void {
    super.end();
    this.socket.end();
  }
}

/** A listener plus everything it accepted, closed together at the end of a test. */
class Fixture {
  transport: Transport;
  listener!: TransportListener;
  accepted: RawSocket[] = [];
  peers: Peer[] = [];
  /** When set, each accepted socket is handed to it at once. */
  onAccept: ((s: RawSocket) => Peer) | undefined;
  connectOptions: { hostname?: string; port?: number; path?: string } = {};

  constructor(transport: Transport) {
    this.transport = transport;
  }

  async listen(options: Partial<TransportListenOptions> = {}): Promise<this> {
    this.listener = this.transport.listen(
      { hostname: "127.0.0.1", port: 0, writeHighWaterMark: HWM, ...options },
      (s) => {
        this.accepted.push(s);
        if (this.onAccept) this.track(this.onAccept(s));
      },
    );
    await this.listener.ready;
    const addr = this.listener.addr;
    this.connectOptions = addr.transport === "unix"
      ? { path: addr.path }
      : { hostname: addr.transport === "tcp" ? addr.hostname : undefined, port: addr.port };
    return this;
  }

  /** Connects a client and returns both ends as peers (the server end not resumed if asked). */
  async pair(opts: { resumeServer?: boolean; hwm?: number } = {}): Promise<[Peer, Peer]> {
    const before = this.accepted.length;
    const raw = await this.transport.connect({
      ...this.connectOptions,
      writeHighWaterMark: opts.hwm ?? HWM,
    });
    const client = this.track(new Peer(raw));
    await until(() => this.accepted.length > before, "the server to accept");
    const server = this.track(new Peer(this.accepted[before], opts.resumeServer ?? true));
    return [client, server];
  }

  track(peer: Peer): Peer {
    this.peers.push(peer);
    return peer;
  }

  /** Aborts whatever is still open, waits for every close, closes the listener. */
  async dispose(): Promise<void> {
    for (const s of this.accepted) {
      if (!this.peers.some((p) => p.socket === s)) this.track(new Peer(s, false));
    }
    for (const p of this.peers) if (!p.closed) p.socket.abort();
    await until(() => this.peers.every((p) => p.closed), "every socket to close", 3000);
    await this.listener?.close();
    for (const p of this.peers) assert.deepEqual(p.violations, [], "contract violations");
  }
}

async function withFixture(
  transport: Transport,
  fn: (f: Fixture) => void | Promise<void>,
  listen: Partial<TransportListenOptions> = {},
): Promise<void> {
  const f = new Fixture(transport);
  try {
    await f.listen(listen);
    await fn(f);
  } finally {
    await f.dispose();
  }
}

const hasIPv6Loopback = Object.values(networkInterfaces()).some((list) =>
  (list ?? []).some((i) => i.address === "::1")
);

/**
 * Registers the conformance cases for one transport as flat node:test tests.
 *
 * @param name Shown in every test name.
 * @param makeTransport Returns the transport under test.
 * @param options What the adapter can honestly do; defaults from the transport's name.
 */
export function runAdapterCases(
  name: string,
  makeTransport: () => Transport,
  options?: Partial<AdapterCaseOptions>,
): void {
  const transport = makeTransport();
  const opts: AdapterCaseOptions = {
    abortResets: transport.name !== "deno",
    real: transport.name !== "memory",
    ...options,
  };
  const t = (title: string, fn: () => Promise<void>, skip?: string | false) =>
    test(`${name} adapter: ${title}`, { skip: skip || false }, fn);
  const realOnly = !opts.real && "needs real sockets";

  t("listen on port 0 reports the bound address", async () => {
    await withFixture(transport, (f) => {
      const addr = f.listener.addr;
      if (opts.real) {
        assert.deepEqual({ ...addr, port: 0 }, {
          transport: "tcp",
          hostname: "127.0.0.1",
          port: 0,
          family: "IPv4",
        });
      } else assert.equal(addr.transport, "memory");
      assert.ok(addr.transport !== "unix" && addr.port > 0, "a real port");
    }, { backlog: 128 }); // Bun ignores it (always 512); the others pass it to the kernel
  });

  t("listen on a host name reports the IP it bound", async () => {
    await withFixture(transport, async (f) => {
      const addr = f.listener.addr;
      assert.ok(addr.transport === "tcp" && ["127.0.0.1", "::1"].includes(addr.hostname));
      const [client] = await f.pair();
      assert.deepEqual(client.socket.remoteAddr, addr);
    }, { hostname: "localhost" });
  }, realOnly);

  t("round trip, with canonical addresses on both ends", async () => {
    await withFixture(transport, async (f) => {
      const [client, server] = await f.pair();
      assert.equal(client.socket.write(encode("hello")), true);
      await until(() => server.bytes === 5, "hello at the server");
      server.socket.write(server.received());
      await until(() => client.bytes === 5, "the echo");
      assert.equal(client.text(), "hello");
      assert.deepEqual(client.socket.remoteAddr, f.listener.addr);
      assert.deepEqual(server.socket.localAddr, f.listener.addr);
      assert.deepEqual(server.socket.remoteAddr, client.socket.localAddr);
    });
  });

  t("a new socket is paused until resume()", async () => {
    await withFixture(transport, async (f) => {
      const [client, server] = await f.pair({ resumeServer: false });
      client.socket.write(encode("early"));
      await sleep(50);
      assert.equal(server.bytes, 0, "no data before resume()");
      server.socket.resume();
      await until(() => server.bytes === 5, "data after resume()");
    });
  });

  t("1000 small writes arrive whole and in order", async () => {
    await withFixture(transport, async (f) => {
      const [client, server] = await f.pair();
      const sent: Uint8Array[] = [];
      for (let i = 0; i < 1000; i++) {
        const chunk = pattern(1 + (i % 97), i);
        sent.push(chunk);
        client.socket.write(chunk);
      }
      const expected = concat(sent);
      await until(() => server.bytes >= expected.length, "every byte");
      assertSameBytes(server.received(), expected, "many chunks");
    });
  });

  t("8 MiB write: write() returns false, drain fires, every byte arrives", async () => {
    await withFixture(transport, async (f) => {
      const [client, server] = await f.pair({ resumeServer: false });
      const big = pattern(8 << 20, 7);
      assert.equal(client.socket.write(big), false, "over the high-water mark");
      assert.ok(client.socket.bufferedAmount > 0, "bytes held");
      await sleep(20);
      assert.equal(client.drains, 0, "no drain while the reader is paused");
      server.socket.resume();
      await until(() => client.drains === 1, "drain", 10_000);
      assert.equal(client.socket.bufferedAmount, 0);
      await until(() => server.bytes >= big.length, "8 MiB", 10_000);
      assertSameBytes(server.received(), big, "8 MiB");
    });
  });

  t("end() right after an 8 MiB write: every byte arrives before the FIN", async () => {
    // Regression: Bun's end(data) truncates large data; Deno's write() is partial.
    await withFixture(transport, async (f) => {
      const [client, server] = await f.pair();
      const big = pattern(8 << 20, 11);
      client.socket.write(big);
      client.socket.end();
      await until(() => server.ended, "the FIN after 8 MiB", 10_000);
      assertSameBytes(server.received(), big, "8 MiB before the FIN");
      server.socket.end();
      await until(() => client.closed && server.closed, "both closed");
    });
  });

  t("2000 writes of 4 KiB to a paused reader arrive exact, with one drain", async () => {
    // Queued chunks are coalesced and written partially; none may be lost or repeated.
    await withFixture(transport, async (f) => {
      const [client, server] = await f.pair({ resumeServer: false });
      const sent: Uint8Array[] = [];
      let refused = 0;
      for (let i = 0; i < 2000; i++) {
        const chunk = pattern(4096, i);
        sent.push(chunk);
        if (!client.socket.write(chunk)) refused++;
      }
      assert.ok(refused > 0, "write() returned false past the high-water mark");
      const expected = concat(sent);
      server.socket.resume();
      await until(() => server.bytes >= expected.length, "every byte", 10_000);
      assertSameBytes(server.received(), expected, "coalesced writes");
      await until(() => client.drains > 0, "drain");
      await sleep(20);
      assert.equal(client.drains, 1, "drain fires once");
    });
  });

  t("pause() stops data and resume() delivers what arrived meanwhile", async () => {
    await withFixture(transport, async (f) => {
      const [client, server] = await f.pair();
      client.socket.write(encode("a"));
      await until(() => server.bytes === 1, "a");
      server.socket.pause();
      client.socket.write(encode("b"));
      await sleep(60);
      assert.equal(server.bytes, 1, "nothing while paused");
      server.socket.resume();
      await until(() => server.bytes === 2, "b after resume");
      assert.equal(server.text(), "ab");
    });
  });

  t("half-close by the client: the server sees end, replies, the client reads it", async () => {
    await withFixture(transport, async (f) => {
      const [client, server] = await f.pair();
      client.socket.write(encode("request"));
      client.socket.end();
      await until(() => server.ended, "end at the server");
      assert.equal(server.text(), "request");
      assert.equal(server.closed, false, "still open after the peer's FIN");
      assert.equal(server.socket.write(encode("response")), true);
      server.socket.end();
      await until(() => client.ended && client.closed && server.closed, "both closed");
      assert.equal(client.text(), "response");
      assert.equal(client.closeError, undefined);
      assert.equal(server.closeError, undefined);
    });
  });

  t("half-close by the server: the client sees end and can still send", async () => {
    await withFixture(transport, async (f) => {
      const [client, server] = await f.pair();
      server.socket.write(encode("banner"));
      server.socket.end();
      await until(() => client.ended, "end at the client");
      assert.equal(client.text(), "banner");
      assert.equal(client.socket.write(encode("late")), true);
      client.socket.end();
      await until(() => server.ended && client.closed && server.closed, "both closed");
      assert.equal(server.text(), "late");
      assert.equal(client.closeError, undefined);
      assert.equal(server.closeError, undefined);
    });
  });

  t("close() sends every queued byte first", async () => {
    await withFixture(transport, async (f) => {
      const [client, server] = await f.pair({ resumeServer: false });
      const payload = pattern(2 << 20, 3);
      client.socket.write(payload);
      client.socket.close();
      assert.equal(client.socket.write(encode("x")), false, "writes after close() are refused");
      await sleep(20);
      server.socket.resume();
      await until(() => server.ended, "end after the payload", 10_000);
      assertSameBytes(server.received(), payload, "payload before close");
      server.socket.close();
      await until(() => client.closed && server.closed, "both closed");
      assert.equal(client.closeError, undefined);
      assert.equal(server.closeError, undefined);
    });
  });

  t("abort() drops the queue; the peer's socket ends with ConnectionResetError", async () => {
    await withFixture(transport, async (f) => {
      const [client, server] = await f.pair();
      client.socket.write(encode("hi"));
      await until(() => server.bytes === 2, "hi");
      server.socket.abort();
      assert.equal(server.closed, false, "close() is never called from inside abort()");
      await until(() => server.closed, "the aborting side's close");
      assert.equal(server.closeError, undefined, "abort is not an error for the side that aborts");
      if (opts.abortResets) {
        await until(() => client.closed, "the reset at the peer");
      } else {
        // Deno cannot send an RST: the peer sees a FIN and learns of the reset on writing.
        await until(() => client.ended || client.closed, "the FIN at the peer");
        for (let i = 0; i < 100 && !client.closed; i++) {
          client.socket.write(encode("ping"));
          await sleep(20);
        }
      }
      assert.ok(client.closed, "peer closed");
      assert.ok(
        client.closeError instanceof ConnectionResetError,
        `peer got ${client.closeError}`,
      );
    });
  });

  t("after close, calls are ignored and writes return false", async () => {
    await withFixture(transport, async (f) => {
      const [client, server] = await f.pair();
      client.socket.close();
      assert.equal(client.closed, false, "close() is never called from inside close()");
      await until(() => client.closed && server.ended, "close");
      assert.equal(client.socket.write(encode("x")), false);
      client.socket.end();
      client.socket.close();
      client.socket.abort();
      client.socket.pause();
      client.socket.resume();
      server.socket.close();
      await until(() => server.closed, "server close");
    });
  });

  t("closing the listener leaves established sockets working", async () => {
    await withFixture(transport, async (f) => {
      const [client, server] = await f.pair();
      await f.listener.close();
      client.socket.write(encode("still"));
      await until(() => server.bytes === 5, "data after listener close");
      server.socket.write(encode("here"));
      await until(() => client.bytes === 4, "reply after listener close");
      await assert.rejects(
        transport.connect({ ...f.connectOptions, writeHighWaterMark: HWM }),
        (e: unknown) => e instanceof ConnectError && e.reason === "refused",
      );
    });
  });

  t("a bind to a port in use fails", async () => {
    await withFixture(transport, async (f) => {
      const addr = f.listener.addr;
      assert.ok(addr.transport !== "unix");
      let second: TransportListener | undefined;
      await assert.rejects(async () => {
        second = transport.listen(
          { hostname: "127.0.0.1", port: addr.port, writeHighWaterMark: HWM },
          () => {},
        );
        await second.ready;
      });
      await second?.close();
    });
  });

  t("connect to a closed port: ConnectError refused", async () => {
    const f = await new Fixture(transport).listen();
    const target = f.connectOptions;
    await f.dispose();
    await assert.rejects(
      transport.connect({ ...target, writeHighWaterMark: HWM }),
      (e: unknown) => e instanceof ConnectError && e.reason === "refused",
    );
  });

  t("connect with an aborted signal: ConnectError aborted or timeout", async () => {
    await withFixture(transport, async (f) => {
      const base = { ...f.connectOptions, writeHighWaterMark: HWM };
      await assert.rejects(
        transport.connect({ ...base, signal: AbortSignal.abort() }),
        (e: unknown) => e instanceof ConnectError && e.reason === "aborted",
      );
      const timedOut = AbortSignal.abort(new DOMException("too slow", "TimeoutError"));
      await assert.rejects(
        transport.connect({ ...base, signal: timedOut }),
        (e: unknown) => e instanceof ConnectError && e.reason === "timeout",
      );
      // Aborted while the attempt is in flight.
      const ac = new AbortController();
      const attempt = transport.connect({ ...base, signal: ac.signal });
      ac.abort();
      await assert.rejects(
        attempt,
        (e: unknown) => e instanceof ConnectError && e.reason === "aborted",
      );
      await sleep(50); // whatever the server accepted is aborted by dispose()
    });
  });

  t("setNoDelay and setKeepAlive do not throw", async () => {
    await withFixture(transport, async (f) => {
      const [client, server] = await f.pair();
      for (const p of [client, server]) {
        p.socket.setNoDelay(false);
        p.socket.setNoDelay(true);
        p.socket.setKeepAlive(true, 1000);
        p.socket.setKeepAlive(false);
      }
      client.socket.write(encode("ok"));
      await until(() => server.bytes === 2, "data after setting options");
    });
  });

  t("200 concurrent connections each get their own bytes back", async () => {
    await withFixture(transport, async (f) => {
      f.onAccept = (s) => new EchoPeer(s);
      {
        const clients = await Promise.all(
          Array.from({ length: 200 }, async (_, i) => {
            const raw = await transport.connect({ ...f.connectOptions, writeHighWaterMark: HWM });
            const peer = f.track(new Peer(raw));
            const payload = encode(`client ${i} `.repeat(10 + (i % 50)));
            raw.write(payload);
            raw.end();
            return { peer, payload };
          }),
        );
        await until(() => clients.every((c) => c.peer.closed), "200 echoes", 20_000);
        for (const { peer, payload } of clients) {
          assertSameBytes(peer.received(), payload, "own bytes");
          assert.equal(peer.closeError, undefined);
        }
      }
    });
  });

  t("Unix socket: listen, connect, round trip, addresses", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tcpkit-"));
    const path = join(dir, "s.sock");
    try {
      await withFixture(transport, async (f) => {
        assert.deepEqual(f.listener.addr, { transport: "unix", path });
        const [client, server] = await f.pair();
        client.socket.write(encode("over unix"));
        await until(() => server.bytes === 9, "data over unix");
        server.socket.write(encode("back"));
        await until(() => client.bytes === 4, "reply over unix");
        assert.deepEqual(client.socket.remoteAddr, { transport: "unix", path });
        assert.equal(server.socket.localAddr.transport, "unix");
        client.socket.setNoDelay(true); // no effect, no throw
        client.socket.end();
        await until(() => server.ended, "end over unix");
        server.socket.end();
        await until(() => client.closed && server.closed, "both closed");
      }, { path });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, realOnly);

  t("IPv6 loopback: listen on ::1 and round trip", async () => {
    await withFixture(transport, async (f) => {
      const addr = f.listener.addr;
      assert.equal(addr.transport, "tcp");
      if (addr.transport === "tcp") {
        assert.equal(addr.hostname, "::1");
        assert.equal(addr.family, "IPv6");
      }
      const [client, server] = await f.pair();
      client.socket.write(encode("v6"));
      await until(() => server.bytes === 2, "data over ::1");
      assert.deepEqual(client.socket.remoteAddr, addr);
      assert.equal(
        server.socket.remoteAddr.transport === "tcp" && server.socket.remoteAddr.hostname,
        "::1",
      );
    }, { hostname: "::1" });
  }, realOnly || (!hasIPv6Loopback && "this host has no ::1"));
}
