// deno-lint-ignore-file no-explicit-any -- the cases mix framers of several message types
// Batch delivery: the `messages` hook, `MessageBatch` and `conn.sendBatch()`.
//
// The reference is what the `message` hook gets (and what `send()` of each message
// writes) for the same bytes split the same way: a batch handler must see the same
// messages, in the same order, with the same errors in between, and `sendBatch()` must
// write the same bytes. Over a fake socket (every runtime, chunks exactly as fed, a
// socket that lends its buffer as Deno's does) and over real sockets.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Connection } from "../lib/connection/connection.ts";
import type { RawSocketHandler } from "../lib/transport.ts";
import {
  connect,
  connectionPair,
  CorruptFrameError,
  type Decoder,
  delimited,
  fixed,
  type Framer,
  FrameTooLongError,
  lengthPrefixed,
  lines,
  type MessageBatch,
  raw,
  router,
  serve,
} from "../mod.ts";
import { concat, nativeAdapter, portOf, sleep, until, within, xorshift } from "./_helpers.ts";
import { certs } from "./_tls_certs.ts";
import { FakeSocket, GARBAGE } from "./_fake_socket.ts";
import { encoded } from "./_framer_helpers.ts";

const te = new TextEncoder();
const td = new TextDecoder("utf-8", { ignoreBOM: true });
const bytes = (s: string): Uint8Array => te.encode(s);
const text = (b: Uint8Array): string => td.decode(b);
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

/** Deterministic integers: `r(n)` is in `[0, n)` (xorshift32), so failures reproduce. */
type Rand = (n: number) => number;
function rng(seed: number): Rand {
  return xorshift((Math.imul(seed + 1, 2654435761) >>> 0) || 1);
}

/** Splits `input` into chunks of 1 to `max` bytes, copies of it. */
function splitInput(input: Uint8Array, r: Rand, max: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < input.length;) {
    const n = 1 + r(max);
    out.push(input.slice(at, at + n));
    at += n;
  }
  return out;
}

// ------------------------------------------------------------------ a fake socket

let ids = 1;

/** A connection over a fake socket, started with `hooks`. */
function fake<In, Out = In>(
  framer: Framer<In, Out>,
  hooks: Parameters<Connection<In, Out>["_start"]>[0],
  options: { messageBudget?: number; lend?: boolean } = {},
) {
  const socket = new FakeSocket(options.lend === true);
  const reports: unknown[] = [];
  const conn = new Connection<In, Out>({
    socket,
    framer,
    id: ids++,
    messageBudget: options.messageBudget,
    lentMessages: options.lend === true,
    report: (e) => void reports.push(e),
  });
  conn._start(hooks);
  return { socket, conn, reports };
}

/** A copy of a message, to keep. */
function kept(m: unknown): unknown {
  return m instanceof Uint8Array ? m.slice() : m;
}

/** What a test keeps of a run: messages, errors and the close, in order. */
type Event = ["m", unknown] | ["error", string, boolean] | ["close", string | undefined];

/**
 * Checks everything the spec says of one valid batch against its own members; throws
 * an AssertionError naming what is wrong.
 */
function checkBatch(batch: MessageBatch<unknown>, budgetLeft: number): unknown[] {
  const count = batch.count;
  assert.ok(Number.isInteger(count) && count >= 1, `count ${count}`);
  assert.ok(count <= budgetLeft, `a batch of ${count} with ${budgetLeft} of the budget left`);
  const all = batch.bytes;
  assert.ok(all instanceof Uint8Array, "bytes is a Uint8Array");
  const iterated = [...batch];
  assert.equal(iterated.length, count, "iteration gives count messages");
  const out: unknown[] = [];
  for (let i = 0; i < count; i++) {
    const m = batch.at(i);
    const s = batch.start(i);
    const e = batch.end(i);
    assert.ok(Number.isInteger(s) && Number.isInteger(e), `start ${s}, end ${e}`);
    assert.ok(0 <= s && s <= e && e <= all.length, `${s}..${e} in ${all.length} bytes`);
    if (m instanceof Uint8Array) {
      assert.deepEqual(all.subarray(s, e), m, `message ${i}: bytes[start..end] is at(i)`);
      assert.notEqual(batch.at(i), m, "at() makes a new view on each call");
      assert.deepEqual(iterated[i], m, `iteration's message ${i}`);
    } else if (typeof m === "string") {
      assert.equal(text(all.subarray(s, e)), m, `message ${i}: its UTF-8 bytes`);
      if (!m.includes("\ufffd")) {
        assert.deepEqual(all.subarray(s, e), te.encode(m), `message ${i}: the bytes received`);
      }
      assert.equal(iterated[i], m, `iteration's message ${i}`);
    } else {
      assert.equal(count, 1, "a message that is not bytes comes alone");
      assert.equal(all.length, 0, "a message that is not bytes has no bytes");
      assert.equal(s, 0);
      assert.equal(e, 0);
      assert.deepEqual(iterated[i], m);
    }
    out.push(kept(m));
  }
  return out;
}

// ------------------------------------------------------------------ custom framers

/** One byte of length, then the payload; a decoder of the user's own. */
function tiny(): Framer<Uint8Array> {
  return {
    name: "tiny",
    maxLength: 255,
    decoder(): Decoder<Uint8Array> {
      let buf = new Uint8Array(0);
      const take = () => {
        if (buf.length < 1 || buf.length < 1 + buf[0]) return undefined;
        const frame = buf.subarray(1, 1 + buf[0]);
        buf = buf.subarray(1 + buf[0]);
        return frame;
      };
      return {
        push(chunk) {
          const next = new Uint8Array(buf.length + chunk.length);
          next.set(buf);
          next.set(chunk, buf.length);
          buf = next;
        },
        next: take,
        finish: take,
        get buffered() {
          return buf.length;
        },
        takeRemaining() {
          const rest = buf;
          buf = new Uint8Array(0);
          return rest.length ? [rest] : [];
        },
      };
    },
    encode(msg) {
      if (msg.length > 255) throw new FrameTooLongError(msg.length, 255);
      return [Uint8Array.of(msg.length), msg];
    },
  };
}

/** A decoded object: the tiny frame's length and bytes as numbers. */
interface Obj {
  n: number;
  data: number[];
}

/** tiny() frames decoded to objects (no bytes to point at). */
function objects(): Framer<Obj> {
  const inner = tiny();
  return {
    name: "objects",
    maxLength: 255,
    decoder(): Decoder<Obj> {
      const d = inner.decoder();
      const wrap = (f: Uint8Array | undefined) =>
        f === undefined ? undefined : { n: f.length, data: Array.from(f) };
      return {
        push: (c) => d.push(c),
        next: () => wrap(d.next()),
        finish: () => wrap(d.finish()),
        get buffered() {
          return d.buffered;
        },
        takeRemaining: () => d.takeRemaining(),
      };
    },
    encode: (o) => inner.encode(Uint8Array.from(o.data)),
  };
}

// ------------------------------------------------------------------ random inputs

/** Bytes drawn from `alphabet`, `n` of them. */
function draw(r: Rand, alphabet: readonly number[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = alphabet[r(alphabet.length)];
  return out;
}

/** Lines around a maxLength of 3, with and without \r. */
const EDGE_LINES = ["abc\r\n", "abcd\n", "ab\r\r\n", "abc\n", "\r\n", "abcd\r\n", "x\r", "\n"];
const LINE_BYTES = [97, 98, 99, 0, 255, 0xc3, 0xa9, 32, 13, 10, 10, 10, 10];
const STRING_PIECES = ["a", "bc", "é", "日本", "😀", " ", "\r", "\n", "\n", "\r\n", "xyz"];

/** Random line input: bytes with many `\n`, some `\r\n`, maybe an unterminated tail. */
function lineInput(r: Rand, long: number): Uint8Array {
  const n = r(3) === 0 ? r(3000) : r(400);
  const out = draw(r, LINE_BYTES, n);
  // Now and then a line longer than `long`, for the policies.
  if (long > 0 && r(2) === 0) {
    const at = r(n + 1);
    return concat([out.subarray(0, at), draw(r, [120, 121], long + r(long)), out.subarray(at)]);
  }
  return out;
}

/** Random text of lines with multi-byte characters. */
function stringInput(r: Rand): Uint8Array {
  let s = "";
  const n = r(300);
  for (let i = 0; i < n; i++) s += STRING_PIECES[r(STRING_PIECES.length)];
  return bytes(s);
}

/** Payloads of 0 to `max - 1` bytes, as `wire` frames them, maybe a cut last frame. */
function framedInput(r: Rand, wire: Framer<Uint8Array>, max: number): Uint8Array {
  const frames: Uint8Array[] = [];
  const n = r(4) === 0 ? r(400) : r(40);
  for (let i = 0; i < n; i++) {
    const len = r(5) === 0 ? 0 : r(max);
    frames.push(encoded(wire.encode(draw(r, [1, 2, 3, 10, 59, 200], len))));
  }
  const all = concat(frames);
  return r(4) === 0 && all.length > 0 ? all.subarray(0, all.length - 1 - r(3)) : all;
}

interface Case {
  name: string;
  framer: () => Framer<any, any>;
  input: (r: Rand) => Uint8Array;
  /**
   * "several": the fast scan takes the whole frames of a read together (the spec names
   * these); "one": the spec says these come as batches of one; unset: either.
   */
  batches?: "several" | "one";
}

const lp = (o: Parameters<typeof lengthPrefixed>[0]) => () => lengthPrefixed(o);
const lpWire = (o: Parameters<typeof lengthPrefixed>[0], max: number) => (r: Rand) =>
  framedInput(r, lengthPrefixed(o), max);

const CASES: Case[] = [
  {
    name: "lines bytes",
    framer: () => lines({ encoding: null }),
    input: (r) => lineInput(r, 0),
    batches: "several",
  },
  { name: "lines strings", framer: () => lines(), input: stringInput, batches: "several" },
  {
    name: "lines skip",
    framer: () => lines({ encoding: null, maxLength: 16, tooLong: "skip" }),
    input: (r) => lineInput(r, 16),
  },
  {
    name: "lines split",
    framer: () => lines({ encoding: null, maxLength: 16, tooLong: "split" }),
    input: (r) => lineInput(r, 16),
  },
  {
    name: "lines close",
    framer: () => lines({ encoding: null, maxLength: 40, tooLong: "close" }),
    input: (r) => lineInput(r, r(3) === 0 ? 40 : 0),
  },
  ...(["skip", "split", "close"] as const).map((tooLong): Case => ({
    name: `lines at maxLength, ${tooLong}`,
    framer: () => lines({ encoding: null, maxLength: 3, tooLong }),
    input: (r) =>
      bytes(Array.from({ length: r(80) }, () => EDGE_LINES[r(EDGE_LINES.length)]).join("")),
  })),
  {
    name: "lines eof discard",
    framer: () => lines({ encoding: null, eof: "discard" }),
    input: (r) => lineInput(r, 0),
  },
  {
    name: "strict \\r\\n lines",
    framer: () => lines({ delimiter: "\r\n" }),
    input: stringInput,
    batches: "one",
  },
  {
    name: "delimited ;",
    framer: () => delimited({ delimiter: ";" }),
    input: (r) => draw(r, [97, 59, 98, 10, 0], r(600)),
    batches: "several",
  },
  {
    name: "delimited ; includeDelimiter",
    framer: () => delimited({ delimiter: ";", includeDelimiter: true }),
    input: (r) => draw(r, [97, 59, 98, 10, 0], r(600)),
    batches: "several",
  },
  {
    name: "delimited \\n (a \\r stays in the frame)",
    framer: () => delimited({ delimiter: "\n" }),
    input: (r) => draw(r, [97, 13, 10, 98], r(600)),
    batches: "several",
  },
  {
    name: "delimited ; skip",
    framer: () => delimited({ delimiter: ";", maxLength: 3, tooLong: "skip" }),
    input: (r) => draw(r, [97, 59, 98, 98], r(600)),
  },
  {
    name: "delimited two bytes",
    framer: () => delimited({ delimiter: "\r\n", includeDelimiter: true }),
    input: (r) => draw(r, [97, 13, 10, 98], r(600)),
  },
  {
    name: "lengthPrefixed",
    framer: lp({}),
    input: lpWire({}, 300),
    batches: "several",
  },
  {
    name: "lengthPrefixed 2 LE",
    framer: lp({ size: 2, endian: "little" }),
    input: lpWire({ size: 2, endian: "little" }, 300),
    batches: "several",
  },
  {
    name: "lengthPrefixed 4 LE",
    framer: lp({ size: 4, endian: "little" }),
    input: lpWire({ size: 4, endian: "little" }, 300),
    batches: "several",
  },
  {
    name: "lengthPrefixed 1",
    framer: lp({ size: 1 }),
    input: lpWire({ size: 1 }, 256),
    batches: "several",
  },
  { name: "lengthPrefixed 3", framer: lp({ size: 3 }), input: lpWire({ size: 3 }, 300) },
  {
    name: "lengthPrefixed 8",
    framer: lp({ size: 8 }),
    input: lpWire({ size: 8 }, 300),
    batches: "one",
  },
  {
    name: "lengthPrefixed varint",
    framer: lp({ size: "varint" }),
    input: lpWire({ size: "varint" }, 300),
    batches: "one",
  },
  {
    name: "lengthPrefixed offset",
    framer: lp({ size: 2, offset: 2 }),
    input: lpWire({ size: 2, offset: 2 }, 300),
    batches: "one",
  },
  {
    name: "lengthPrefixed adjustment",
    framer: lp({ size: 4, adjustment: -4 }),
    input: lpWire({ size: 4, adjustment: -4 }, 300),
  },
  {
    name: "lengthPrefixed includeHeader",
    framer: lp({ size: 2, includeHeader: true }),
    input: lpWire({ size: 2 }, 300),
  },
  {
    name: "lengthPrefixed eof emit",
    framer: lp({ size: 2, eof: "emit" }),
    input: lpWire({ size: 2 }, 300),
  },
  ...(["skip", "split", "close"] as const).map((tooLong): Case => ({
    name: `lengthPrefixed at maxLength, ${tooLong}`,
    framer: lp({ size: 1, maxLength: 3, tooLong }),
    input: lpWire({ size: 1 }, 6),
  })),
  {
    name: "lengthPrefixed skip",
    framer: lp({ size: 2, maxLength: 50, tooLong: "skip" }),
    input: lpWire({ size: 2 }, 120),
  },
  {
    name: "lengthPrefixed split",
    framer: lp({ size: 2, maxLength: 50, tooLong: "split" }),
    input: lpWire({ size: 2 }, 120),
  },
  {
    name: "lengthPrefixed close",
    framer: lp({ size: 1, maxLength: 100 }),
    input: lpWire({ size: 1 }, 120),
  },
  {
    name: "lengthPrefixed corrupt",
    framer: lp({ size: 1, adjustment: -1 }),
    // A field of 0 is a length of -1: CorruptFrameError, after the frames before it.
    input: (r) =>
      r(3) === 0
        ? concat([lpWire({ size: 1 }, 30)(r), Uint8Array.of(0, 9)])
        : lpWire({ size: 1, adjustment: -1 }, 30)(r),
  },
  {
    name: "fixed",
    framer: () => fixed(5),
    input: (r) => draw(r, [1, 2, 3], r(700)),
    batches: "one",
  },
  {
    name: "fixed eof emit",
    framer: () => fixed(3, { eof: "emit" }),
    input: (r) => draw(r, [1, 2, 3], r(700)),
    batches: "one",
  },
  {
    name: "raw",
    framer: () => raw(),
    input: (r) => draw(r, [1, 2, 3, 10], r(3000)),
    batches: "one",
  },
  {
    name: "custom bytes",
    framer: tiny,
    input: (r) => framedInput(r, tiny(), 40),
    batches: "one",
  },
  {
    name: "custom objects",
    framer: objects,
    input: (r) => framedInput(r, tiny(), 40),
    batches: "one",
  },
];

// ------------------------------------------------------------------ the property

/** How the batch echo sends a batch back, by seed. */
function sendBack(c: Connection<any, any>, batch: MessageBatch<any>, how: number): void {
  const n = batch.count;
  if (how === 0) void c.sendBatch(batch);
  else if (how === 1) {
    void c.sendBatch(batch, 0, 1);
    void c.sendBatch(batch, 1, n);
  } else {
    const k = how % (n + 1);
    void c.sendBatch(batch, 0, k);
    void c.sendBatch(batch, k, k);
    void c.sendBatch(batch, k);
  }
}

/**
 * Records the batches a connection gets and checks each; `budget` is the connection's
 * messageBudget. The budget is spent per read, and per turn of the event loop: batches
 * of one read in one synchronous stretch (no microtask between them) share it.
 */
function batchRecorder(
  budget: number,
  onBatch?: (c: Connection<any, any>, b: MessageBatch<any>) => void,
) {
  const log: Event[] = [];
  const sizes: number[] = [];
  const failures: unknown[] = [];
  let inHook = false;
  let stretch = 0;
  let inStretch = false;
  const spent = new Map<string, number>();
  let socket: FakeSocket | undefined;
  const hooks = {
    message() {
      failures.push(new Error("message() called although messages() is set"));
    },
    messages(conn: Connection<any, any>, batch: MessageBatch<any>) {
      if (!inStretch) {
        inStretch = true;
        stretch++;
        queueMicrotask(() => (inStretch = false));
      }
      const key = `${socket?.reads}:${stretch}`;
      const used = spent.get(key) ?? 0;
      inHook = true;
      try {
        const msgs = checkBatch(batch, budget - used);
        spent.set(key, used + batch.count);
        sizes.push(batch.count);
        for (const m of msgs) log.push(["m", m]);
        onBatch?.(conn, batch);
      } catch (e) {
        failures.push(e);
      } finally {
        inHook = false;
      }
    },
    error(_c: unknown, e: Error) {
      if (inHook) failures.push(new Error("error hook called during a messages() call"));
      log.push(["error", e.name, (e as any).recoverable]);
    },
    close: (_c: unknown, e?: Error) => void log.push(["close", e?.name]),
  };
  return {
    hooks,
    log,
    sizes,
    failures,
    /** The fake socket whose reads count (set once the connection is made). */
    watch(s: FakeSocket) {
      socket = s;
    },
    /** Throws the first failure seen in a hook. */
    check(what: string) {
      if (failures.length) {
        const f = failures[0] as Error;
        f.message = `${what}: ${f.message}`;
        throw f;
      }
    },
  };
}

/** The message-hook reference: what it gets, and send() of each message. */
function reference() {
  const log: Event[] = [];
  const state = { sendFailed: false };
  const hooks = {
    message(conn: Connection<any, any>, m: unknown) {
      log.push(["m", kept(m)]);
      try {
        void conn.send(m);
      } catch {
        state.sendFailed = true; // a message the framer cannot encode: no echo to compare
      }
    },
    error: (_c: unknown, e: Error) => void log.push(["error", e.name, (e as any).recoverable]),
    close: (_c: unknown, e?: Error) => void log.push(["close", e?.name]),
  };
  return { hooks, log, state };
}

/** One run of a case: the message-hook reference and the batch hook, same chunks. */
async function runCase(c: Case, seed: number): Promise<number[]> {
  const r = rng(seed);
  const budget = seed % 5 === 4 ? 1 + r(4) : undefined;
  // (A small budget costs a timer per few messages: a shorter input.)
  const input = budget === undefined ? c.input(r) : c.input(r).subarray(0, 600);
  const chunks = splitInput(input, r, [1, 3, 17, 64, 400, 100_000][seed % 6]);
  const lend = seed % 3 === 2;
  const how = r(7);
  const what = `${c.name}, seed ${seed} (budget ${budget}, lent ${lend}, sendBatch ${how})`;

  const ref = reference();
  const a = fake<any, any>(c.framer(), ref.hooks, { messageBudget: budget, lend });
  let sendFailed = false;
  const rec = batchRecorder(budget ?? 1024, (conn, batch) => {
    try {
      sendBack(conn, batch, how);
    } catch (e) {
      if (!(e instanceof RangeError || e instanceof TypeError || e instanceof FrameTooLongError)) {
        throw e;
      }
      sendFailed = true;
    }
  });
  const b = fake<any, any>(c.framer(), rec.hooks, { messageBudget: budget, lend });
  rec.watch(b.socket);

  for (const chunk of chunks) {
    a.socket.feed(chunk);
    b.socket.feed(chunk);
  }
  a.socket.finish();
  b.socket.finish();
  await within(Promise.all([a.conn.closed, b.conn.closed]), 20_000, what);
  rec.check(what);
  assert.deepEqual(rec.log, ref.log, `messages and errors as message() gets them: ${what}`);
  assert.deepEqual(a.reports, [], what);
  assert.deepEqual(b.reports, [], what);
  const delivered = ref.log.filter((e) => e[0] === "m").length;
  assert.equal(rec.sizes.reduce((x, y) => x + y, 0), delivered, `batch sizes sum: ${what}`);
  assert.equal(b.conn.messagesIn, delivered, `messagesIn: ${what}`);
  assert.equal(sendFailed, ref.state.sendFailed, `sendBatch throws where send() does: ${what}`);
  const fatal = ref.log.at(-1)?.[1] !== undefined;
  if (!sendFailed && fatal) {
    // The abort drops what is queued: how much of the echo got out before it may differ.
    const x = a.socket.output();
    const y = b.socket.output();
    const n = Math.min(x.length, y.length);
    assert.deepEqual(y.subarray(0, n), x.subarray(0, n), `echo bytes before the abort: ${what}`);
  } else if (!sendFailed) {
    assert.deepEqual(b.socket.output(), a.socket.output(), `echo bytes: ${what}`);
    assert.equal(b.conn.messagesOut, a.conn.messagesOut, `messagesOut: ${what}`);
    assert.equal(b.conn.bytesOut, a.conn.bytesOut, `bytesOut: ${what}`);
  }
  return rec.sizes;
}

for (const c of CASES) {
  test(`property: ${c.name}: batches give what message() gets, under random splits`, async () => {
    let several = 0;
    for (let seed = 0; seed < 36; seed++) {
      const sizes = await runCase(c, seed);
      if (sizes.some((n) => n > 1)) several++;
      if (c.batches === "one") {
        assert.ok(sizes.every((n) => n === 1), `${c.name} comes in batches of one: ${sizes}`);
      }
    }
    if (c.batches === "several") assert.ok(several >= 8, `${several} runs had a batch of several`);
  });
}

// ------------------------------------------------------------------ batch boundaries

/** Feeds `chunks` (then end of input when `end`) and returns the batches seen. */
async function batchesOf<In>(
  framer: Framer<In, any>,
  chunks: Uint8Array[],
  options: { end?: boolean; messageBudget?: number; count?: number } = {},
): Promise<{ batches: unknown[][]; conn: Connection<In, any>; log: Event[] }> {
  const rec = batchRecorder(options.messageBudget ?? 1024);
  const batches: unknown[][] = [];
  const f = fake<In, any>(framer, {
    ...rec.hooks,
    messages(c: Connection<any, any>, b: MessageBatch<any>) {
      rec.hooks.messages(c, b);
      if (rec.failures.length === 0) batches.push([...b].map(kept));
    },
  }, { messageBudget: options.messageBudget });
  rec.watch(f.socket);
  for (const c of chunks) f.socket.feed(c);
  if (options.end) f.socket.finish();
  await until(() => f.socket.idle, 5000, "every chunk read");
  const count = options.count ?? 0;
  await until(() => f.conn.messagesIn >= count, 5000, `${count} messages`);
  await tick();
  rec.check(framer.name);
  assert.deepEqual(f.reports, []);
  return { batches, conn: f.conn, log: rec.log };
}

test("one read of whole frames is one batch: lines, one-byte delimited, 1/2/4-byte length", async () => {
  const three = [bytes("a"), bytes("bb"), bytes("")];
  const cases: [string, Framer<any, any>, Uint8Array, unknown[]][] = [
    ["lines bytes", lines({ encoding: null }), bytes("a\nbb\n\n"), three],
    ["lines strings", lines(), bytes("a\nbb\n\n"), ["a", "bb", ""]],
    ["delimited", delimited({ delimiter: ";" }), bytes("a;bb;;"), three],
    [
      "delimited includeDelimiter",
      delimited({ delimiter: ";", includeDelimiter: true }),
      bytes("a;bb;;"),
      [bytes("a;"), bytes("bb;"), bytes(";")],
    ],
  ];
  for (const o of [{}, { size: 2, endian: "little" }, { size: 1 }] as const) {
    const framer = lengthPrefixed(o);
    const wire = concat(three.map((m) => encoded(framer.encode(m))));
    cases.push([`lengthPrefixed ${JSON.stringify(o)}`, framer, wire, three]);
  }
  for (const [name, framer, wire, want] of cases) {
    const { batches, conn } = await batchesOf(framer, [wire]);
    assert.deepEqual(batches, [want], name);
    assert.equal(conn.messagesIn, 3, name);
  }
});

test("sendBatch() of a whole read writes that chunk itself; after a split frame, one view of the rest", () => {
  class Recording extends FakeSocket {
    got: Uint8Array[] = [];
    read: Uint8Array[] = [];
    override start(h: RawSocketHandler): void {
      const read = this.read;
      super.start(
        new Proxy(h, {
          get(t, k) {
            const v = Reflect.get(t, k);
            if (k === "data") return (c: Uint8Array) => (read.push(c), t.data(c));
            return typeof v === "function" ? v.bind(t) : v;
          },
        }),
      );
    }
    override write(chunk: Uint8Array): boolean {
      this.got.push(chunk);
      return super.write(chunk);
    }
  }
  const three = [bytes("a"), bytes("bb"), bytes("ccc")];
  for (const framer of [lines({ encoding: null }), lengthPrefixed({ size: 2 })]) {
    const wire = concat(three.map((m) => encoded(framer.encode(m))));
    const socket = new Recording();
    const conn = new Connection<Uint8Array>({ socket, framer, id: ids++ });
    conn._start({ messages: (c, batch) => void c.sendBatch(batch) });
    socket.feed(wire);
    assert.equal(socket.got.length, 1, `${framer.name}: one write`);
    assert.equal(socket.got[0], socket.read[0], `${framer.name}: the chunk read itself`);
    // A frame split over two reads comes alone (a copy); the frames after it in the
    // second read (long enough not to be packed with the first) are one view of it.
    const many = concat(Array.from({ length: 60 }, () => wire));
    const first = encoded(framer.encode(three[0])).length;
    socket.feed(many.slice(0, 1));
    socket.feed(many.subarray(1));
    // (the split frame is encoded: its write or writes come first)
    const rest = socket.got[socket.got.length - 1];
    const chunk = socket.read[2];
    assert.equal(rest.buffer, chunk.buffer, `${framer.name}: a view of the chunk read`);
    assert.equal(rest.byteOffset, chunk.byteOffset + first - 1);
    assert.deepEqual(rest, many.subarray(first));
    assert.deepEqual(socket.output(), concat([wire, many]), framer.name);
    conn.close();
  }
});

test("frames of other framers, and a frame split across reads, come as batches of one", async () => {
  const tinyWire = Uint8Array.of(1, 65, 0, 2, 66, 67);
  const cases: [string, Framer<any, any>, Uint8Array[], unknown[][]][] = [
    ["fixed", fixed(2), [bytes("aabbcc")], [[bytes("aa")], [bytes("bb")], [bytes("cc")]]],
    ["raw", raw(), [bytes("abc")], [[bytes("abc")]]],
    ["custom", tiny(), [tinyWire], [[bytes("A")], [bytes("")], [bytes("BC")]]],
    [
      "custom objects",
      objects(),
      [tinyWire],
      [[{ n: 1, data: [65] }], [{ n: 0, data: [] }], [{ n: 2, data: [66, 67] }]],
    ],
    [
      "strict \\r\\n lines",
      lines({ delimiter: "\r\n" }),
      [bytes("a\r\nb\nc\r\n")],
      [["a"], ["b\nc"]],
    ],
    [
      "a line split across reads",
      lines(),
      [bytes(`${"a".repeat(600)}\nb`), bytes(`b\nc\nd\n${"e".repeat(600)}\n`)],
      [["a".repeat(600)], ["bb"], ["c", "d", "e".repeat(600)]],
    ],
    [
      "a length-prefixed frame split across reads",
      lengthPrefixed({ size: 1 }),
      [
        concat([Uint8Array.of(1, 65), new Uint8Array(600), Uint8Array.of(2, 66)]),
        concat([Uint8Array.of(67, 1, 68, 1, 69), new Uint8Array(600)]),
      ],
      [
        [bytes("A"), ...new Array(600).fill(new Uint8Array(0))],
        [bytes("BC")],
        [bytes("D"), bytes("E"), ...new Array(600).fill(new Uint8Array(0))],
      ],
    ],
  ];
  for (const o of [{ size: "varint" }, { size: 8 }, { size: 2, offset: 1 }] as const) {
    const framer = lengthPrefixed(o);
    const wire = concat([bytes("x"), bytes("yz")].map((m) => encoded(framer.encode(m))));
    cases.push([`lengthPrefixed ${JSON.stringify(o)}`, framer, [wire], [[bytes("x")], [
      bytes("yz"),
    ]]]);
  }
  for (const [name, framer, chunks, want] of cases) {
    const { batches } = await batchesOf(framer, chunks);
    assert.deepEqual(batches, want, name);
  }
});

test("a frame split across reads comes whole, alone or with the frames after it", async () => {
  // Small reads are packed with the partial frame before them: "bb" may share a batch.
  const small = await batchesOf(lines(), [bytes("a\nb"), bytes("b\nc\nd\n")]);
  assert.deepEqual(small.batches[0], ["a"]);
  assert.deepEqual(small.batches.flat(), ["a", "bb", "c", "d"]);
  // A large read is not packed: the split frame is taken alone (copied from both reads).
  const long = "x".repeat(600);
  const big = await batchesOf(lines(), [bytes("a\nb"), bytes(`b\n${long}\n`)]);
  assert.deepEqual(big.batches, [["a"], ["bb"], [long]]);
});

test("a messages hook is called instead of message when both are given", async () => {
  const framers: [string, Framer<any, any>, Uint8Array][] = [
    ["lines", lines({ maxLength: 4, tooLong: "skip" }), bytes("a\nbb\r\ntoo long\nccc\nlast")],
    ["fixed", fixed(2, { eof: "emit" }), bytes("aabbc")],
    ["custom objects", objects(), Uint8Array.of(1, 65, 0, 2, 66, 67)],
  ];
  for (const [name, framer, wire] of framers) {
    const called: string[] = [];
    const got: unknown[] = [];
    const f = fake<any, any>(framer, {
      message: () => void called.push("message"),
      messages(_c, b) {
        called.push("messages");
        for (const m of b) got.push(kept(m));
      },
      error: () => void called.push("error"),
    });
    f.socket.feed(wire.subarray(0, 3));
    f.socket.feed(wire.subarray(3));
    f.socket.finish();
    await within(f.conn.closed, 5000, name);
    assert.ok(!called.includes("message"), `${name}: ${called}`);
    assert.ok(called.includes("messages"), name);
    assert.equal(got.length, f.conn.messagesIn, name);
    assert.ok(got.length >= 3, name);
  }
});

// ------------------------------------------------------------------ validity

/** Every member of a batch that must throw once the batch is over. */
function assertSpent(batch: MessageBatch<any>, conn: Connection<any, any>, when: string): void {
  assert.throws(() => batch.at(0), TypeError, `at() ${when}`);
  assert.throws(() => batch.start(0), TypeError, `start() ${when}`);
  assert.throws(() => batch.end(0), TypeError, `end() ${when}`);
  assert.throws(() => batch.bytes, TypeError, `bytes ${when}`);
  assert.throws(() => [...batch], TypeError, `iteration ${when}`);
  assert.throws(
    () => {
      for (const _ of batch) break;
    },
    TypeError,
    `for of ${when}`,
  );
  assert.throws(() => conn.sendBatch(batch), TypeError, `sendBatch() ${when}`);
  assert.throws(() => conn.sendBatch(batch, 0, 0), TypeError, `sendBatch(b, 0, 0) ${when}`);
}

test("a batch is spent once its hook returns: every member throws TypeError", async () => {
  for (
    const [name, framer, wire] of [
      ["lines", lines(), bytes("a\nb\nc\n")],
      ["lengthPrefixed", lengthPrefixed({ size: 1 }), Uint8Array.of(1, 65, 1, 66)],
      ["custom objects", objects(), Uint8Array.of(1, 65, 1, 66)],
    ] as const
  ) {
    const batches: MessageBatch<any>[] = [];
    const failures: unknown[] = [];
    const f = fake<any, any>(framer as Framer<any, any>, {
      messages(c, b) {
        try {
          assert.ok(b.count >= 1);
          b.at(0); // valid during the call
          // The batch before this one is spent, although its memory is reused now.
          if (batches.length) assertSpent(batches[batches.length - 1], c, "in the next call");
        } catch (e) {
          failures.push(e);
        }
        batches.push(b);
      },
    });
    f.socket.feed(wire);
    f.socket.feed(wire);
    await until(() => batches.length >= 2, 5000, name);
    assert.deepEqual(failures, [], name);
    for (const b of batches) assertSpent(b, f.conn, `after the call (${name})`);
    f.conn.close();
  }
});

test("an async hook's batch is valid until its first await", async () => {
  const failures: unknown[] = [];
  let done = 0;
  const f = fake<string, string>(lines(), {
    async messages(c, b) {
      try {
        assert.equal(b.at(0), "a");
        assert.equal(b.count, 2);
        await c.sendBatch(b, 0, 1); // called while valid; awaiting it is the first await
        assertSpent(b, c, "after the first await");
        await sleep(1);
        assertSpent(b, c, "later");
      } catch (e) {
        failures.push(e);
      }
      done++;
    },
  });
  f.socket.feed(bytes("a\nb\n"));
  await until(() => done === 1, 5000, "the hook ran");
  assert.deepEqual(failures, []);
  assert.deepEqual(f.socket.output(), bytes("a\n"));
  f.conn.close();
});

test("sendBatch() of another connection's batch, or of something else, is a TypeError", async () => {
  const results: unknown[] = [];
  const other = fake<string, string>(lines(), { messages() {} });
  const forged = {
    count: 1,
    at: () => "x",
    bytes: bytes("x"),
    start: () => 0,
    end: () => 1,
    [Symbol.iterator]: function* () {
      yield "x";
    },
  };
  const f = fake<string, string>(lines(), {
    messages(c, b) {
      for (const attempt of [() => other.conn.sendBatch(b), () => c.sendBatch(forged)]) {
        try {
          attempt();
          results.push("no error");
        } catch (e) {
          results.push(e);
        }
      }
      c.sendBatch(b); // still valid for its own connection
    },
  });
  f.socket.feed(bytes("a\nb\n"));
  await until(() => results.length === 2, 5000, "hook");
  assert.ok(results.every((e) => e instanceof TypeError), String(results));
  assert.equal(other.socket.writes, 0);
  assert.equal(other.conn.messagesOut, 0);
  await tick();
  assert.deepEqual(f.socket.output(), bytes("a\nb\n"));
  other.conn.close();
  f.conn.close();
});

test("sendBatch() ranges: integers 0 <= from <= to <= count, else RangeError", async () => {
  const thrown: unknown[] = [];
  const counts: number[] = [];
  const bad: [number, number | undefined][] = [
    [-1, undefined],
    [0, 4],
    [2, 1],
    [4, 4],
    [0.5, 1],
    [0, 1.5],
    [NaN, 1],
    [0, NaN],
    [0, Infinity],
    [-Infinity, 0],
  ];
  const f = fake<Uint8Array>(lines({ encoding: null }), {
    messages(c, b) {
      counts.push(b.count);
      for (const [from, to] of bad) {
        try {
          void c.sendBatch(b, from, to);
          thrown.push(`no error for ${from}..${to}`);
        } catch (e) {
          thrown.push(e);
        }
      }
      const before = c.messagesOut;
      void c.sendBatch(b, 3, 3); // empty, at the end
      void c.sendBatch(b, 0, 0);
      thrown.push(c.messagesOut - before);
      void c.sendBatch(b, 1, 3);
      thrown.push(c.messagesOut - before);
      void c.sendBatch(b, 0, 1);
      thrown.push(c.messagesOut - before);
      void c.sendBatch(b, 2);
      thrown.push(c.messagesOut - before);
    },
  });
  f.socket.feed(bytes("one\ntwo\r\nthree\n"));
  await until(() => counts.length === 1, 5000, "hook");
  assert.deepEqual(counts, [3]);
  const errors = thrown.slice(0, bad.length);
  errors.forEach((e, i) => assert.ok(e instanceof RangeError, `${bad[i]}: ${e}`));
  assert.deepEqual(thrown.slice(bad.length), [0, 2, 3, 4], "messagesOut += to - from");
  await tick();
  // The \r\n line goes out as send() of its bytes writes it: with \n.
  assert.deepEqual(text(f.socket.output()), "two\nthree\none\nthree\n");
  f.conn.close();
});

test("sendBatch() after end() or close() rejects as send() does", async () => {
  for (const how of ["end", "close"] as const) {
    const outcomes: [PromiseSettledResult<void>, PromiseSettledResult<void>][] = [];
    const pending: Promise<void>[] = [];
    const f = fake<string, string>(lines(), {
      messages(c, b) {
        c[how]();
        let p1: Promise<void>, p2: Promise<void>;
        try {
          p1 = c.sendBatch(b);
        } catch (e) {
          p1 = Promise.reject(new Error(`sendBatch() threw ${e}`));
        }
        try {
          p2 = c.send("x");
        } catch (e) {
          p2 = Promise.reject(new Error(`send() threw ${e}`));
        }
        pending.push(
          Promise.allSettled([p1, p2]).then((r) => void outcomes.push([r[0], r[1]])),
        );
      },
    });
    f.socket.feed(bytes("a\nb\n"));
    await until(() => pending.length === 1, 5000, "hook");
    await pending[0];
    const [batch, single] = outcomes[0];
    assert.equal(single.status, "rejected", how);
    assert.equal(batch.status, "rejected", `${how}: sendBatch() rejects`);
    const reason = (r: PromiseSettledResult<void>) => (r as PromiseRejectedResult).reason;
    assert.equal(reason(batch).constructor, reason(single).constructor, how);
    assert.equal(f.conn.messagesOut, 0, how);
    assert.equal(f.socket.output().length, 0, how);
  }
});

test("a custom decoder's object is a batch of one without bytes; sendBatch() encodes it", async () => {
  const seen: [number, number, number, number][] = [];
  const f = fake<Obj>(objects(), {
    messages(c, b) {
      seen.push([b.count, b.bytes.length, b.start(0), b.end(0)]);
      void c.sendBatch(b);
    },
  });
  const wire = Uint8Array.of(2, 7, 8, 0, 1, 9);
  f.socket.feed(wire);
  await until(() => seen.length === 3, 5000, "three objects");
  assert.deepEqual(seen, [[1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]]);
  assert.deepEqual(f.socket.output(), wire);
  assert.equal(f.conn.messagesOut, 3);
  f.conn.close();
});

test("lines() strings: bytes/start/end are the UTF-8 bytes received, without \\n or \\r\\n", async () => {
  const seen: [string, number[]][] = [];
  const f = fake<string>(lines(), {
    messages(_c, b) {
      for (let i = 0; i < b.count; i++) {
        seen.push([b.at(i), Array.from(b.bytes.subarray(b.start(i), b.end(i)))]);
      }
    },
  });
  f.socket.feed(bytes("héllo\r\n日本\n\n😀 x\r\n"));
  f.socket.feed(bytes("tail"));
  f.socket.finish();
  await within(f.conn.closed, 5000, "closed");
  assert.deepEqual(
    seen,
    ["héllo", "日本", "", "😀 x", "tail"].map((s) => [s, Array.from(bytes(s))]),
  );
});

// ------------------------------------------------------------------ budget, pauses, errors

test("messageBudget 3: ten frames of one read come in batches of at most 3, all of them", async () => {
  const wire10 = bytes("0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n");
  for (
    const [name, framer, chunks] of [
      ["one read", lines(), [wire10]],
      // The first frame was split across reads: a batch of one, then at most 2 in that turn.
      ["after a split frame", lines(), [bytes("0\n1"), bytes("1\n2\n3\n4\n5\n6\n7\n8\n9\n")]],
    ] as const
  ) {
    const { batches, log } = await batchesOf(framer, [...chunks], {
      messageBudget: 3,
      count: 10,
    });
    assert.ok(batches.every((b) => b.length <= 3), `${name}: ${JSON.stringify(batches)}`);
    const all = log.filter((e) => e[0] === "m").map((e) => e[1]);
    const want = name === "one read"
      ? ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
      : ["0", "11", "2", "3", "4", "5", "6", "7", "8", "9"];
    assert.deepEqual(all, want, name);
  }
  // (batchRecorder checks that the batches of one turn of one read sum to 3 at most.)
});

test("messageBudget 3 over a real connection pair: all ten frames, no batch over 3", async () => {
  const sizes: number[] = [];
  const got: string[] = [];
  await using pair = connectionPair(lines(), {
    messageBudget: 3,
    handler: {
      messages(_c, b) {
        sizes.push(b.count);
        for (const m of b) got.push(m);
      },
    },
  });
  await pair.client.write(bytes("0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n"));
  await until(() => got.length === 10, 5000, "ten frames");
  assert.deepEqual(got, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
  assert.ok(sizes.every((n) => n >= 1 && n <= 3), String(sizes));
  assert.deepEqual(pair.errors, []);
});

test("a hook's promise pauses delivery until it settles; order is kept", async () => {
  for (
    const [name, framer, chunks, want] of [
      ["lines", lines(), [bytes("a\nb\n"), bytes("c\n"), bytes("d\ne\n")], [
        "a",
        "b",
        "c",
        "d",
        "e",
      ]],
      ["fixed", fixed(1), [bytes("abc"), bytes("de")], ["a", "b", "c", "d", "e"]],
    ] as const
  ) {
    const got: unknown[] = [];
    const gates: (() => void)[] = [];
    const f = fake<any, any>(framer as Framer<any, any>, {
      messages(_c, b) {
        for (const m of b) got.push(m instanceof Uint8Array ? text(m) : m);
        return new Promise<void>((r) => gates.push(r));
      },
    });
    for (const c of chunks) f.socket.feed(c);
    await until(() => gates.length === 1, 5000, `${name}: first batch`);
    for (let i = 1; i < 20 && got.length < want.length; i++) {
      const n = got.length;
      await sleep(5);
      assert.equal(gates.length, i, `${name}: no batch while the last hook's promise is pending`);
      assert.equal(got.length, n, name);
      gates[i - 1]();
      await until(() => gates.length === i + 1 || got.length === want.length, 5000, name);
    }
    assert.deepEqual(got, want, name);
    f.conn.close();
  }
});

test("tooLong skip: the error hook runs between batches, where the long frame was", async () => {
  const cases: [string, Framer<any, any>, Uint8Array[]][] = [
    ["lines", lines({ maxLength: 8, tooLong: "skip" }), [bytes("a\nb\nxxxxxxxxxxxx\nc\nd\n")]],
    [
      "lines, the long line over two reads",
      lines({ maxLength: 8, tooLong: "skip" }),
      [bytes("a\nb\nxxxxxx"), bytes("xxxxxxxxxx\nc\nd\n")],
    ],
    [
      "delimited",
      delimited({ delimiter: ";", maxLength: 8, tooLong: "skip" }),
      [bytes("a;b;xxxxxxxxxxxx;c;d;")],
    ],
    [
      "lengthPrefixed",
      lengthPrefixed({ size: 1, maxLength: 8, tooLong: "skip" }),
      [concat(
        ["a", "b", "xxxxxxxxxxxx", "c", "d"].map((s) => Uint8Array.of(s.length, ...bytes(s))),
      )],
    ],
  ];
  for (const [name, framer, chunks] of cases) {
    const { log } = await batchesOf(framer, chunks);
    const plainLog = log.map((e) =>
      e[0] === "m" ? (e[1] instanceof Uint8Array ? text(e[1]) : e[1]) : `${e[1]} ${e[2]}`
    );
    assert.deepEqual(plainLog, ["a", "b", "FrameTooLongError true", "c", "d"], name);
  }
});

test("a fatal framing error after whole frames of the same read: they come first, then the abort", async () => {
  const cases: [string, Framer<any, any>, Uint8Array, string][] = [
    ["lines", lines({ maxLength: 8 }), bytes("a\nb\nxxxxxxxxxxxx\nc\n"), "FrameTooLongError"],
    [
      "lines, unterminated",
      lines({ maxLength: 8 }),
      bytes("a\nb\nxxxxxxxxxxxxxxxxxx"),
      "FrameTooLongError",
    ],
    [
      "lengthPrefixed",
      lengthPrefixed({ size: 1, maxLength: 8 }),
      Uint8Array.of(1, 97, 1, 98, 20, ...bytes("x".repeat(20)), 1, 99),
      "FrameTooLongError",
    ],
    [
      "lengthPrefixed, a negative length",
      lengthPrefixed({ size: 1, adjustment: -1 }),
      Uint8Array.of(2, 97, 2, 98, 0, 2, 99),
      "CorruptFrameError",
    ],
  ];
  for (const [name, framer, wire, error] of cases) {
    const got: unknown[] = [];
    let closeError: Error | undefined;
    const f = fake<any, any>(framer, {
      messages(c, b) {
        for (const m of b) got.push(m instanceof Uint8Array ? text(m) : m);
        void c.sendBatch(b);
      },
      close: (_c, e) => void (closeError = e),
    });
    f.socket.feed(wire);
    await within(f.conn.closed, 5000, name);
    assert.deepEqual(got, ["a", "b"], name);
    assert.equal(closeError?.name, error, name);
    assert.equal(f.conn.error?.name, error, name);
    assert.equal(f.conn.messagesIn, 2, name);
  }
  assert.ok(CorruptFrameError);
});

// ------------------------------------------------------------------ setFramer, end of input

test("setFramer() in messages: the new framer starts after the batch's last frame", async () => {
  const frame = (s: string) => encoded(lengthPrefixed().encode(bytes(s)));
  const pad = "p".repeat(600); // reads of 512 bytes or more are not packed together
  const cases: [string, Uint8Array[], string[]][] = [
    [
      // "after" is a line of the same read: the old framer decoded it, so it is a line.
      "one read",
      [concat([bytes("a\nUPGRADE\nafter\n"), frame("one"), frame("two!")])],
      ["a,UPGRADE,after", "bin:one,bin:two!"],
    ],
    [
      // Binary bytes that hold a \n in the same read are a line too.
      "binary with a newline in the same read",
      [concat([bytes("UPGRADE\n"), frame("xy\n"), frame("z")])],
      ["UPGRADE,\0\0\0\x03xy", "bin:z"],
    ],
    [
      // UPGRADE split across reads comes alone: the new framer takes all after it.
      "the command split across reads",
      [bytes(`${pad}\nUPGR`), concat([bytes("ADE\n"), frame("one"), frame(pad)])],
      [pad, "UPGRADE", `bin:one,bin:${pad}`],
    ],
  ];
  for (const [name, chunks, want] of cases) {
    const seen: string[] = [];
    const f = fake<any, any>(lines(), {
      messages(c, b) {
        const items = [...b].map((m) => (typeof m === "string" ? m : `bin:${text(m)}`));
        seen.push(items.join(","));
        if (items.includes("UPGRADE")) c.setFramer(lengthPrefixed());
      },
    });
    for (const c of chunks) f.socket.feed(c);
    await until(() => seen.length >= want.length, 5000, name);
    await tick();
    assert.deepEqual(seen, want, name);
    assert.equal(f.conn.framer.name, lengthPrefixed().name);
    f.conn.close();
  }
});

test("setFramer() in messages, mid-batch: frames after it in the batch were the old framer's", async () => {
  const seen: unknown[][] = [];
  const f = fake<any, any>(lines({ encoding: null }), {
    messages(c, b) {
      seen.push([...b].map((m) => text(m)));
      if (seen.length === 1) c.setFramer(fixed(2));
    },
  });
  f.socket.feed(bytes("x\ny\nz\nabcd"));
  await until(() => seen.length === 3, 5000, "the fixed frames");
  await tick();
  assert.deepEqual(seen, [["x", "y", "z"], ["ab"], ["cd"]]);
  f.conn.close();
});

test("end of input: the last unterminated frame arrives as a batch of one", async () => {
  const cases: [string, Framer<any, any>, Uint8Array, unknown[][]][] = [
    ["lines strings", lines(), bytes("a\nb\nlast"), [["a", "b"], ["last"]]],
    ["lines bytes", lines({ encoding: null }), bytes("a\nb\nlast"), [[bytes("a"), bytes("b")], [
      bytes("last"),
    ]]],
    ["lines, \\r kept at EOF", lines(), bytes("a\nlé\r"), [["a"], ["lé\r"]]],
    ["delimited", delimited({ delimiter: ";" }), bytes("a;b;last"), [[bytes("a"), bytes("b")], [
      bytes("last"),
    ]]],
    [
      "lengthPrefixed eof emit",
      lengthPrefixed({ size: 1, eof: "emit" }),
      Uint8Array.of(1, 97, 1, 98, 9, 99, 100),
      [[bytes("a"), bytes("b")], [bytes("cd")]],
    ],
    ["fixed eof emit", fixed(2, { eof: "emit" }), bytes("aabbc"), [[bytes("aa")], [bytes("bb")], [
      bytes("c"),
    ]]],
  ];
  for (const [name, framer, wire, want] of cases) {
    const { batches, conn } = await batchesOf(framer, [wire], { end: true });
    await within(conn.closed, 5000, name);
    assert.deepEqual(batches, want, name);
  }
});

test("end of input: the last frame's batch is sent back by sendBatch() as send() would", async () => {
  const f = fake<string>(lines(), {
    messages: (c, b) => void c.sendBatch(b),
    end(c) {
      c.end();
    },
  });
  f.socket.feed(bytes("a\r\nb\nlé"));
  f.socket.finish();
  await within(f.conn.closed, 5000, "closed");
  assert.deepEqual(text(f.socket.output()), "a\nb\nlé\n");
  assert.equal(f.conn.messagesOut, 3);
});

// ------------------------------------------------------------------ real sockets

/** A random message `i` a framer can carry, as the wire bytes of it (maybe \r\n lines). */
interface EchoCase {
  name: string;
  framer: () => Framer<any, any>;
  /** The input: frames the framer decodes and can encode again. */
  input: (r: Rand, n: number) => Uint8Array;
}

const NO_NL = [97, 98, 0, 255, 0xc3, 0xa9, 32, 59];
const TEXT = ["a", "bc", "é", "日本", "😀", " ", "xyz", "\t"];

function lineWire(r: Rand, n: number, asText: boolean): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    if (asText) {
      let s = "";
      for (let k = r(12); k > 0; k--) s += TEXT[r(TEXT.length)];
      parts.push(bytes(s));
    } else parts.push(draw(r, NO_NL.filter((b) => b !== 59), r(80)));
    parts.push(r(4) === 0 ? bytes("\r\n") : bytes("\n"));
  }
  return concat(parts);
}

function framesWire(r: Rand, n: number, wire: Framer<Uint8Array>, max: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < n; i++) parts.push(encoded(wire.encode(draw(r, NO_NL, r(max)))));
  return concat(parts);
}

const ECHO_CASES: EchoCase[] = [
  {
    name: "lines bytes",
    framer: () => lines({ encoding: null }),
    input: (r, n) => lineWire(r, n, false),
  },
  { name: "lines strings", framer: () => lines(), input: (r, n) => lineWire(r, n, true) },
  {
    name: "delimited",
    framer: () => delimited({ delimiter: ";" }),
    input: (r, n) =>
      concat(
        Array.from({ length: n }, () => concat([draw(r, [97, 98, 10, 0], r(50)), bytes(";")])),
      ),
  },
  {
    name: "lengthPrefixed",
    framer: lp({}),
    input: (r, n) => framesWire(r, n, lengthPrefixed(), 300),
  },
  {
    name: "lengthPrefixed 2 LE",
    framer: lp({ size: 2, endian: "little" }),
    input: (r, n) => framesWire(r, n, lengthPrefixed({ size: 2, endian: "little" }), 300),
  },
  {
    name: "lengthPrefixed varint",
    framer: lp({ size: "varint" }),
    input: (r, n) => framesWire(r, n, lengthPrefixed({ size: "varint" }), 300),
  },
  {
    name: "lengthPrefixed adjustment",
    framer: lp({ size: 4, adjustment: -4 }),
    input: (r, n) => framesWire(r, n, lengthPrefixed({ size: 4, adjustment: -4 }), 300),
  },
  {
    name: "lengthPrefixed includeHeader",
    framer: lp({ size: 2, includeHeader: true }),
    input: (r, n) => framesWire(r, n, lengthPrefixed({ size: 2 }), 300),
  },
  { name: "fixed", framer: () => fixed(4), input: (r, n) => draw(r, NO_NL, 4 * n) },
  { name: "raw", framer: () => raw(), input: (r, n) => draw(r, NO_NL, 60 * n) },
  { name: "custom bytes", framer: tiny, input: (r, n) => framesWire(r, n, tiny(), 40) },
  { name: "custom objects", framer: objects, input: (r, n) => framesWire(r, n, tiny(), 40) },
];

/** What send() of each message of `input` writes, decoding it in one piece. */
function echoOf(framer: Framer<any, any>, input: Uint8Array): { out: Uint8Array; msgs: unknown[] } {
  const d = framer.decoder();
  d.push(input.slice());
  const msgs: unknown[] = [];
  for (let m = d.next(); m !== undefined; m = d.next()) msgs.push(kept(m));
  for (let m = d.finish(); m !== undefined; m = d.finish()) msgs.push(kept(m));
  return { out: concat(msgs.map((m) => encoded(framer.encode(m)))), msgs };
}

type Handler = Parameters<typeof serve<any, any>>[0]["handler"];

/** Serves `handler`, writes `input` in random pieces, half-closes, and reads every byte back. */
async function echoOver(
  framer: Framer<any, any>,
  handler: Handler,
  input: Uint8Array,
  seed: number,
  lentMessages = false,
  over: "tcp" | "memory" | "tls" = "tcp",
): Promise<Uint8Array> {
  const adapter = over === "memory" ? "memory" : undefined;
  await using server = serve<any, any>({
    adapter,
    hostname: "127.0.0.1",
    port: 0,
    framer,
    lentMessages,
    handler,
    tls: over === "tls" ? { cert: certs.cert, key: certs.key } : undefined,
  });
  const port = await portOf(server);
  const conn = await connect({
    adapter,
    hostname: "127.0.0.1",
    port,
    tls: over === "tls" ? { caCerts: [certs.ca], serverName: "localhost" } : undefined,
  });
  try {
    const back: Uint8Array[] = [];
    const reading = (async () => {
      for (let i = 0; i < 1_000_000; i++) {
        const c = await conn.next();
        if (c === undefined) return;
        back.push(c.slice());
      }
    })();
    const r = rng(seed);
    for (const piece of splitInput(input, r, 1500)) {
      await conn.write(piece);
      if (r(4) === 0) await sleep(0);
    }
    conn.end();
    await within(reading, 10_000, `the echo of ${framer.name}`);
    return concat(back);
  } finally {
    conn.close();
    await conn.closed;
  }
}

for (const c of ECHO_CASES) {
  test(`[${nativeAdapter()}] ${c.name}: a sendBatch() echo over a socket is byte-identical to a send() echo`, async () => {
    const input = c.input(rng(7), 300);
    const { out: expected } = echoOf(c.framer(), input);
    const viaSend = await echoOver(
      c.framer(),
      {
        message: (conn, m) => void conn.send(m),
      },
      input,
      1,
    );
    assert.deepEqual(viaSend, expected, "the send() echo");
    const variants: [string, (conn: Connection<any, any>, b: MessageBatch<any>) => void][] = [
      ["whole batches", (conn, b) => void conn.sendBatch(b)],
      ["(0, 1) then (1, count)", (conn, b) => {
        void conn.sendBatch(b, 0, 1);
        void conn.sendBatch(b, 1, b.count);
      }],
      ["one by one, backwards ranges refused", (conn, b) => {
        for (let i = 0; i < b.count; i++) void conn.sendBatch(b, i, i + 1);
        assert.throws(() => conn.sendBatch(b, 1, 0), RangeError);
      }],
    ];
    for (const [name, send] of variants) {
      let batches = 0;
      let messages = 0;
      const got = await echoOver(
        c.framer(),
        {
          message: () => {
            throw new Error("message() called although messages() is set");
          },
          messages(conn, b) {
            batches++;
            messages += b.count;
            send(conn, b);
          },
        },
        input,
        2,
      );
      assert.deepEqual(got, expected, `${c.name}: ${name}`);
      assert.ok(batches >= 1 && messages >= batches, `${batches} batches, ${messages} messages`);
    }
  });
}

const LENT_CASES = ECHO_CASES.filter((c) =>
  ["lines bytes", "lengthPrefixed", "raw", "lines strings"].includes(c.name)
);

for (const c of LENT_CASES) {
  for (const style of ["sync", "async"] as const) {
    test(`[${nativeAdapter()}] lentMessages, ${c.name}, ${style} hook: kept copies intact, echo right`, async () => {
      const input = c.input(rng(21), 400);
      const { out: expected, msgs } = echoOf(c.framer(), input);
      const copies: unknown[] = [];
      const got = await echoOver(
        c.framer(),
        {
          messages(conn, b) {
            for (let i = 0; i < b.count; i++) copies.push(kept(b.at(i)));
            void conn.sendBatch(b);
            if (style === "async" && copies.length % 7 === 0) return sleep(1);
          },
        },
        input,
        3,
        true,
      );
      assert.deepEqual(got, expected, "the echo");
      if (c.name === "raw") assert.deepEqual(concat(copies as Uint8Array[]), input);
      else assert.deepEqual(copies, msgs, "what the hook copied");
    });
  }
}

test("lentMessages over a lending socket: bytes are lent, copies survive, sendBatch() is right", async () => {
  const framer = lengthPrefixed({ size: 2 });
  const input = framesWire(rng(5), 300, framer, 200);
  const { out: expected, msgs } = echoOf(framer, input);
  const copies: Uint8Array[] = [];
  const views: Uint8Array[] = [];
  const f = fake<Uint8Array>(lengthPrefixed({ size: 2 }), {
    messages(c, b) {
      for (let i = 0; i < b.count; i++) {
        copies.push(b.at(i).slice());
        views.push(b.at(i));
      }
      void c.sendBatch(b);
    },
  }, { lend: true });
  const r = rng(5);
  for (const chunk of splitInput(input, r, 900)) f.socket.feed(chunk);
  await until(() => copies.length === msgs.length, 5000, "every frame");
  assert.deepEqual(copies, msgs);
  assert.deepEqual(f.socket.output(), expected);
  // The socket did lend: a view kept past its call was overwritten.
  assert.ok(views.some((v) => v.length > 0 && v.every((x) => x === GARBAGE)), "lent views");
  f.conn.close();
});

// ------------------------------------------------------------------ more edges

test("lines() strings with bytes that are not UTF-8: bytes as received, at end of input the text's", async () => {
  const seen: [string, number[]][] = [];
  const f = fake<string>(lines(), {
    messages(c, b) {
      for (let i = 0; i < b.count; i++) {
        seen.push([b.at(i), Array.from(b.bytes.subarray(b.start(i), b.end(i)))]);
      }
      void c.sendBatch(b);
    },
    end: (c) => c.end(),
  });
  const raw1 = Uint8Array.of(0x61, 0xff, 0x0a, 0xc3, 0x0d, 0x0a); // "a\xff\n", "\xc3\r\n"
  const tail = Uint8Array.of(0xfe, 0x62); // "\xfeb", unterminated
  f.socket.feed(raw1);
  f.socket.feed(tail);
  f.socket.finish();
  await within(f.conn.closed, 5000, "closed");
  // The last line, unterminated, is the UTF-8 encoding of its text (documented): FE became U+FFFD.
  assert.deepEqual(seen, [
    ["a\ufffd", [0x61, 0xff]],
    ["\ufffd", [0xc3]],
    ["\ufffdb", [0xef, 0xbf, 0xbd, 0x62]],
  ]);
  // sendBatch() sends the bytes, as send() of them would.
  assert.deepEqual(
    f.socket.output(),
    Uint8Array.of(0x61, 0xff, 10, 0xc3, 10, 0xef, 0xbf, 0xbd, 0x62, 10),
  );
});

test("sendBatch() after setFramer() in the hook re-frames with the new framer", async () => {
  const f = fake<any, any>(lines(), {
    messages(c, b) {
      c.setFramer(lengthPrefixed({ size: 1 }));
      void c.sendBatch(b);
    },
  });
  f.socket.feed(bytes("ab\nc\r\n"));
  await until(() => f.conn.messagesOut === 2, 5000, "two frames sent");
  await tick();
  assert.deepEqual(f.socket.output(), Uint8Array.of(2, 97, 98, 1, 99));
  f.conn.close();
});

test("send() and sendBatch() in one hook keep their order on the wire", async () => {
  const f = fake<Uint8Array>(lines({ encoding: null }), {
    messages(c, b) {
      void c.send(bytes("head"));
      void c.sendBatch(b, 0, 1);
      void c.send(bytes("mid"));
      void c.sendBatch(b, 1);
      void c.send(b.at(0)); // a frame of the batch, sent again
      void c.write(bytes("raw;"));
    },
  });
  f.socket.feed(bytes("a\nb\r\nc\n"));
  await until(() => f.conn.messagesOut === 6, 5000, "six messages");
  await tick();
  assert.deepEqual(text(f.socket.output()), "head\na\nmid\nb\nc\na\nraw;");
  f.conn.close();
});

test("5000 lines in one read: batches of at most 1024 (the default budget), all in order", async () => {
  const n = 5000;
  const wire = bytes(Array.from({ length: n }, (_, i) => `${i}\n`).join(""));
  const { batches, log } = await batchesOf(lines(), [wire], { count: n });
  assert.ok(batches.every((b) => b.length <= 1024), String(batches.map((b) => b.length)));
  assert.ok(batches.length >= 5, `${batches.length} batches`);
  assert.deepEqual(
    log.filter((e) => e[0] === "m").map((e) => Number(e[1])),
    Array.from({ length: n }, (_, i) => i),
  );
});

test("a custom decoder's frames reach at() as message() gets them, whatever their class", async () => {
  class Frame extends Uint8Array {}
  const framer: Framer<Uint8Array> = {
    ...tiny(),
    decoder() {
      const d = tiny().decoder();
      const wrap = (f: Uint8Array | undefined) => (f === undefined ? undefined : new Frame(f));
      return { ...d, next: () => wrap(d.next()), finish: () => wrap(d.finish()) } as Decoder<
        Uint8Array
      >;
    },
  };
  const viaMessage: unknown[] = [];
  const viaBatch: unknown[] = [];
  const a = fake<Uint8Array>(framer, { message: (_c, m) => void viaMessage.push(m) });
  const b = fake<Uint8Array>(framer, { messages: (_c, batch) => void viaBatch.push(batch.at(0)) });
  a.socket.feed(Uint8Array.of(1, 65, 2, 66, 67));
  b.socket.feed(Uint8Array.of(1, 65, 2, 66, 67));
  await until(() => viaBatch.length === 2 && viaMessage.length === 2, 5000, "two frames");
  assert.ok(viaMessage.every((m) => m instanceof Frame), "message() gets the decoder's objects");
  assert.deepEqual(viaBatch, viaMessage);
  a.conn.close();
  b.conn.close();
});

test("a messages hook that is not a function is refused with TypeError", () => {
  assert.throws(
    () =>
      serve({
        hostname: "127.0.0.1",
        port: 0,
        // @ts-expect-error: not a function
        handler: { messages: 1 },
      }),
    TypeError,
  );
});

test(`[${nativeAdapter()}] a route chosen by sniffing hands the bytes it read to a messages hook`, async () => {
  const got: string[] = [];
  await using server = serve<any, any>({
    hostname: "127.0.0.1",
    port: 0,
    handler: router().on({ sniff: (h) => h.length >= 2 ? h[0] === 0x41 : undefined }, {
      messages(c: Connection<string, string>, b: MessageBatch<string>) {
        for (const m of b) got.push(m);
        void c.sendBatch(b);
      },
    }, { framer: lines() }),
  });
  const port = await portOf(server);
  await using conn = await connect({ hostname: "127.0.0.1", port, framer: lines() });
  await conn.write(bytes("A1\nA2\r\nA3\n"));
  for (const want of ["A1", "A2", "A3"]) {
    assert.equal(await within(conn.next(), 5000, want), want);
  }
  await conn.write(bytes("B\n"));
  assert.equal(await within(conn.next(), 5000, "B"), "B");
  assert.deepEqual(got, ["A1", "A2", "A3", "B"]);
});

test("pause() in a messages hook stops delivery after the batch; resume() goes on in order", async () => {
  const got: string[] = [];
  const f = fake<string>(lines(), {
    messages(c, b) {
      for (const m of b) got.push(m);
      if (got.length === 2) c.pause();
    },
  });
  f.socket.feed(bytes("a\nb\n"));
  f.socket.feed(bytes("c\n"));
  f.socket.feed(bytes("d\ne\n"));
  await until(() => got.length === 2, 5000, "the first batch");
  await sleep(10);
  assert.deepEqual(got, ["a", "b"], "nothing while paused");
  f.conn.resume();
  await until(() => got.length === 5, 5000, "the rest");
  assert.deepEqual(got, ["a", "b", "c", "d", "e"]);
  f.conn.close();
});

test("a messages hook that throws aborts the connection, as message does", async () => {
  let closeError: Error | undefined;
  let calls = 0;
  const f = fake<string>(lines(), {
    messages() {
      calls++;
      throw new Error("boom");
    },
    close: (_c, e) => void (closeError = e),
  });
  f.socket.feed(bytes("a\n"));
  f.socket.feed(bytes("b\n"));
  await within(f.conn.closed, 5000, "closed");
  assert.equal(calls, 1);
  assert.equal(closeError?.message, "boom");
  assert.equal(f.reports.length, 1);
});

test(`[${nativeAdapter()}] lentMessages: a 4 MiB sendBatch() echo to a peer that reads late`, async () => {
  const line = (i: number) => `${i} ${"q".repeat(i % 200)}${i % 9 === 0 ? "\r\n" : "\n"}`;
  const parts: string[] = [];
  for (let i = 0, n = 0; n < 4 * 1024 * 1024; i++) {
    parts.push(line(i));
    n += parts[parts.length - 1].length;
  }
  const input = bytes(parts.join(""));
  const { out: expected } = echoOf(lines({ encoding: null }), input);
  await using server = serve({
    hostname: "127.0.0.1",
    port: 0,
    framer: lines({ encoding: null }),
    lentMessages: true,
    maxOutbound: 16 * 1024 * 1024,
    handler: { messages: (c, b) => void c.sendBatch(b) },
  });
  const port = await portOf(server);
  const conn = await connect({ hostname: "127.0.0.1", port, maxOutbound: 16 * 1024 * 1024 });
  conn.pause(); // not reading: the server's replies queue while it reads into its buffer again
  const writing = (async () => {
    for (let i = 0; i < input.length; i += 100_000) {
      await conn.write(input.subarray(i, i + 100_000));
    }
  })();
  await sleep(200);
  conn.resume();
  const back: Uint8Array[] = [];
  let n = 0;
  while (n < expected.length) {
    const c = await within(conn.next(), 10_000, `echo at ${n}`);
    if (c === undefined) break;
    back.push(c.slice());
    n += c.length;
  }
  await writing;
  assert.equal(n, expected.length);
  const all = concat(back);
  const bad = all.findIndex((x, i) => x !== expected[i]);
  assert.equal(bad, -1, `first wrong byte at ${bad}`);
  conn.close();
  await conn.closed;
});

// ------------------------------------------------------------------ conn.batches()

/**
 * Iterates `conn.batches()` to the end as a function handler would, checking each batch
 * and that the one before it is spent; the log ends with the error next() rejected with
 * (once), or `undefined` when done.
 */
async function iterateBatches(
  conn: Connection<any, any>,
  log: Event[],
  onBatch: (b: MessageBatch<any>) => void | Promise<void>,
  perBatch: number,
): Promise<number[]> {
  const sizes: number[] = [];
  const it = conn.batches();
  let prev: MessageBatch<any> | undefined;
  for (let i = 0; i < 1_000_000; i++) {
    let r: IteratorResult<MessageBatch<any>, undefined>;
    try {
      r = await it.next();
    } catch (e) {
      log.push(["close", (e as Error).name]);
      const after = await it.next();
      assert.equal(after.done, true, "done after the error");
      break;
    }
    if (prev) assertSpent(prev, conn, "after the next next()");
    if (r.done) {
      log.push(["close", undefined]);
      break;
    }
    const b = r.value;
    for (const m of checkBatch(b, perBatch)) log.push(["m", m]);
    sizes.push(b.count);
    await onBatch(b);
    prev = b;
  }
  return sizes;
}

/** The reference, and conn.batches() over a fake socket with the same chunks. */
async function runBatchesCase(c: Case, seed: number): Promise<number[]> {
  const r = rng(seed);
  const budget = seed % 5 === 4 ? 1 + r(4) : undefined;
  const input = budget === undefined ? c.input(r) : c.input(r).subarray(0, 600);
  const chunks = splitInput(input, r, [1, 3, 17, 64, 400, 100_000][seed % 6]);
  const how = r(7);
  const what = `batches(): ${c.name}, seed ${seed} (budget ${budget}, sendBatch ${how})`;
  const ref = reference();
  const a = fake<any, any>(c.framer(), ref.hooks, { messageBudget: budget });
  const log: Event[] = [];
  const socket = new FakeSocket();
  const b = new Connection<any, any>({
    socket,
    framer: c.framer(),
    id: ids++,
    messageBudget: budget,
    // Without hooks, skipped frames are reported: in order with the messages.
    report: (e) => void log.push(["error", (e as Error).name, (e as any).recoverable]),
  });
  b._start();
  let sendFailed = false;
  const iterating = iterateBatches(b, log, async (batch) => {
    try {
      if (how === 0) await b.sendBatch(batch);
      else sendBack(b, batch, how);
    } catch (e) {
      if (!(e instanceof RangeError || e instanceof TypeError || e instanceof FrameTooLongError)) {
        throw e;
      }
      sendFailed = true;
    }
  }, Math.min(256, budget ?? 1024));
  let ticks = 0;
  for (const chunk of chunks) {
    a.socket.feed(chunk);
    socket.feed(chunk);
    // Now and then reads land while the iterator waits, else they pile up before it runs.
    if (ticks < 16 && r(40) === 0) ticks++, await tick();
  }
  a.socket.finish();
  socket.finish();
  const sizes = await within(iterating, 20_000, what);
  b.close();
  await within(Promise.all([a.conn.closed, b.closed]), 20_000, what);
  const delivered = log.filter((e) => e[0] === "m").length;
  if (c.name === "raw") {
    // Raw frames are what is read by the time they are asked for: only the bytes agree.
    const bytesOf = (l: Event[]) =>
      concat(l.filter((e) => e[0] === "m").map((e) => e[1] as Uint8Array));
    assert.deepEqual(bytesOf(log), bytesOf(ref.log), what);
  } else assert.deepEqual(log, ref.log, `messages and errors as message() gets them: ${what}`);
  assert.equal(sizes.reduce((x, y) => x + y, 0), delivered, `batch sizes sum: ${what}`);
  assert.equal(b.messagesIn, delivered, `messagesIn: ${what}`);
  assert.equal(sendFailed, ref.state.sendFailed, `sendBatch throws where send() does: ${what}`);
  const fatal = ref.log.at(-1)?.[1] !== undefined;
  if (!sendFailed && fatal) {
    const x = a.socket.output();
    const y = socket.output();
    const n = Math.min(x.length, y.length);
    assert.deepEqual(y.subarray(0, n), x.subarray(0, n), `echo bytes before the abort: ${what}`);
  } else if (!sendFailed) {
    assert.deepEqual(socket.output(), a.socket.output(), `echo bytes: ${what}`);
    if (c.name !== "raw") assert.equal(b.messagesOut, a.conn.messagesOut, `messagesOut: ${what}`);
  }
  return sizes;
}

for (const c of CASES) {
  test(`property: batches() of ${c.name} gives what message() gets, under random splits`, async () => {
    for (let seed = 0; seed < 24; seed++) {
      const sizes = await runBatchesCase(c, seed);
      if (c.batches === "one") {
        assert.ok(sizes.every((n) => n === 1), `${c.name} comes in batches of one: ${sizes}`);
      }
    }
  });
}

test("batches(): at most min(256, messageBudget) frames per batch, all in order", async () => {
  for (const budget of [undefined, 100, 3]) {
    const n = 1000;
    const { client, server } = connectionPair(lines(), { messageBudget: budget });
    const sizes: number[] = [];
    const got: string[] = [];
    const reading = (async () => {
      for await (const b of server.batches()) {
        sizes.push(b.count);
        for (const m of b) got.push(m);
        if (got.length === n) break;
      }
    })();
    await client.write(bytes(Array.from({ length: n }, (_, i) => `${i}\n`).join("")));
    await within(reading, 5000, `budget ${budget}`);
    const most = Math.min(256, budget ?? 1024);
    assert.ok(sizes.every((k) => k >= 1 && k <= most), `budget ${budget}: ${sizes}`);
    assert.deepEqual(got, Array.from({ length: n }, (_, i) => String(i)));
    client.close();
    server.close();
    await Promise.all([client.closed, server.closed]);
  }
});

test("batches(): a batch is valid until the next next() or return()", async () => {
  await using pair = connectionPair(lines());
  await pair.client.write(bytes("a\nb\n"));
  const it = pair.server.batches();
  const first = await within(it.next(), 5000, "first");
  assert.equal(first.done, false);
  const b1 = first.value!;
  assert.deepEqual([...b1], ["a", "b"]);
  await pair.client.write(bytes("c\n"));
  await sleep(10);
  assert.equal(b1.at(0), "a", "still valid: no next() yet");
  const second = await within(it.next(), 5000, "second");
  assertSpent(b1, pair.server, "after next()");
  const b2 = second.value!;
  assert.deepEqual([...b2], ["c"]);
  await it.return!();
  assertSpent(b2, pair.server, "after return()");
});

test("batches(): a second next() before the first settles rejects with TypeError", async () => {
  await using pair = connectionPair(lines());
  const it = pair.server.batches();
  const first = it.next();
  await assert.rejects(it.next(), TypeError);
  await pair.client.write(bytes("x\n"));
  const r = await within(first, 5000, "first");
  assert.deepEqual([...r.value!], ["x"]);
});

test("batches() on a connection whose hooks take the messages rejects with TypeError", async () => {
  const seen: unknown[] = [];
  await using pair = connectionPair(lines(), {
    handler: {
      message(c) {
        c.batches().next().then(
          () => seen.push("resolved"),
          (e) => seen.push(e),
        );
      },
    },
  });
  await pair.client.write(bytes("x\n"));
  await until(() => seen.length === 1, 5000, "next() settled");
  assert.ok(seen[0] instanceof TypeError, String(seen[0]));
});

test("batches(): frames at end of input come as batches of one; a fatal error rejects once", async () => {
  {
    await using pair = connectionPair(lines());
    await pair.client.write(bytes("a\nb\nlast"));
    pair.client.end();
    const batches: string[][] = [];
    for await (const b of pair.server.batches()) batches.push([...b]);
    assert.deepEqual(batches.at(-1), ["last"]);
    assert.deepEqual(batches.flat(), ["a", "b", "last"]);
  }
  {
    await using pair = connectionPair(lines({ maxLength: 4 }));
    await pair.client.write(bytes("a\nb\ntoo long\nc\n"));
    const it = pair.server.batches();
    const got: string[] = [];
    let error: unknown;
    for (let i = 0; i < 10; i++) {
      try {
        const r = await within(it.next(), 5000, "next");
        if (r.done) break;
        got.push(...r.value);
      } catch (e) {
        error = e;
      }
    }
    assert.deepEqual(got, ["a", "b"]);
    assert.ok(error instanceof FrameTooLongError, String(error));
  }
});

for (const c of ECHO_CASES) {
  test(`[${nativeAdapter()}] ${c.name}: a batches() + sendBatch() echo over a socket equals the send() echo`, async () => {
    const input = c.input(rng(9), 300);
    const { out: expected } = echoOf(c.framer(), input);
    const got = await echoOver(
      c.framer(),
      async (conn: Connection<any, any>) => {
        for await (const b of conn.batches()) await conn.sendBatch(b);
      },
      input,
      4,
    );
    assert.deepEqual(got, expected);
  });
}

test("a batch stays intact while its hook makes another connection deliver a batch", async () => {
  const order: string[] = [];
  const failures: unknown[] = [];
  const b = fake<Uint8Array>(fixed(2), {
    messages(c, batch) {
      order.push(`B ${text(batch.at(0))}`);
      void c.sendBatch(batch);
      if (order.length === 1) c.pause(); // b2 and b3 stay decoded-to-be
    },
  });
  b.socket.feed(bytes("b1b2b3"));
  await until(() => order.length === 1, 5000, "B's first frame");
  const a = fake<string>(lines(), {
    messages(c, batch) {
      try {
        order.push(`A ${batch.at(0)}`);
        b.conn.resume(); // B delivers b2 and b3 now, inside this call
        order.push(`A ${[...batch].join(",")}`);
        const { bytes: all } = batch;
        assert.equal(text(all.subarray(batch.start(2), batch.end(2))), "a3");
        void c.sendBatch(batch, 1);
      } catch (e) {
        failures.push(e);
      }
    },
  });
  a.socket.feed(bytes("a1\na2\na3\n"));
  await until(() => order.length === 5, 5000, "both");
  assert.deepEqual(failures, []);
  assert.deepEqual(order, ["B b1", "A a1", "B b2", "B b3", "A a1,a2,a3"]);
  await tick();
  assert.deepEqual(text(a.socket.output()), "a2\na3\n");
  assert.deepEqual(text(b.socket.output()), "b1b2b3");
  a.conn.close();
  b.conn.close();
});

test("batches(): setFramer() between two next() calls takes every byte after the batch", async () => {
  await using pair = connectionPair<any, any>(lines());
  const frame = (s: string) => encoded(lengthPrefixed().encode(bytes(s)));
  await pair.client.write(concat([bytes("a\nUPGRADE\n"), frame("one"), frame("two")]));
  const it = pair.server.batches();
  const first = await within(it.next(), 5000, "lines");
  assert.deepEqual([...first.value!], ["a", "UPGRADE"]);
  pair.server.setFramer(lengthPrefixed());
  const second = await within(it.next(), 5000, "frames");
  assert.deepEqual([...second.value!].map(text), ["one", "two"]);
});

test("lending socket, async hooks: frames left while the hook's promise is pending stay intact", async () => {
  for (
    const [name, make] of [
      ["lines", () => lines({ encoding: null })],
      ["fixed", () => fixed(3)],
      ["lengthPrefixed", () => lengthPrefixed({ size: 1 })],
    ] as const
  ) {
    const framer: Framer<Uint8Array> = make();
    const msgs = Array.from({ length: 200 }, (_, i) => draw(rng(i), [97, 98, 99], 3));
    const input = concat(msgs.map((m) => encoded(framer.encode(m))));
    const copies: Uint8Array[] = [];
    let calls = 0;
    const f = fake<Uint8Array>(make(), {
      messages(c, b) {
        for (const m of b) copies.push(m.slice());
        void c.sendBatch(b);
        if (++calls % 3 === 0) return sleep(1);
      },
    }, { lend: true });
    for (const chunk of splitInput(input, rng(3), 200)) f.socket.feed(chunk);
    await until(() => copies.length === msgs.length, 5000, name);
    assert.deepEqual(copies, msgs, name);
    assert.deepEqual(f.socket.output(), input, name);
    f.conn.close();
  }
});

test("lending socket: setFramer() to a decoder of the user's own in messages gets intact bytes", async () => {
  const got: string[] = [];
  const f = fake<any, any>(lines(), {
    messages(c, b) {
      for (const m of b) {
        got.push(typeof m === "string" ? m : `tiny:${text(m)}`);
        if (m === "SWITCH") c.setFramer(tiny());
      }
    },
  }, { lend: true });
  f.socket.feed(bytes("a\nSWITCH\n\x02bc\x01"));
  f.socket.feed(bytes("d\x03efg"));
  await until(() => got.length === 5, 5000, "five messages");
  assert.deepEqual(got, ["a", "SWITCH", "tiny:bc", "tiny:d", "tiny:efg"]);
  f.conn.close();
});

for (const over of ["memory", "tls"] as const) {
  test(`[${over === "tls" ? `${nativeAdapter()} TLS` : "memory"}] sendBatch() echoes equal the send() echo`, async () => {
    const cases = over === "memory"
      ? ECHO_CASES
      : ECHO_CASES.filter((c) =>
        ["lines bytes", "lines strings", "lengthPrefixed"].includes(c.name)
      );
    for (const c of cases) {
      const input = c.input(rng(13), 200);
      const { out: expected } = echoOf(c.framer(), input);
      for (const lent of [false, true]) {
        const got = await echoOver(
          c.framer(),
          {
            messages: (conn, b) => void conn.sendBatch(b),
          },
          input,
          5,
          lent,
          over,
        );
        assert.deepEqual(got, expected, `${c.name}, lentMessages ${lent}`);
      }
    }
  });
}

test("without lentMessages, at()'s views are kept for good, across reads of any size", async () => {
  for (const max of [1, 7, 300, 5000]) {
    const framer = lines({ encoding: null });
    const msgs = Array.from(
      { length: 300 },
      (_, i) => draw(rng(i + max), [97, 98, 0, 255], i % 40),
    );
    const input = concat(msgs.map((m) => encoded(framer.encode(m))));
    const views: Uint8Array[] = [];
    const viaIterator: Uint8Array[] = [];
    const f = fake<Uint8Array>(lines({ encoding: null }), {
      messages(_c, b) {
        for (let i = 0; i < b.count; i++) views.push(b.at(i));
      },
    });
    const socket = new FakeSocket();
    const g = new Connection<Uint8Array>({ socket, framer: lines({ encoding: null }), id: ids++ });
    g._start();
    const iterating = (async () => {
      for await (const b of g.batches()) for (const m of b) viaIterator.push(m);
    })();
    for (const chunk of splitInput(input, rng(max), max)) {
      f.socket.feed(chunk);
      socket.feed(chunk);
    }
    socket.finish();
    await until(() => views.length === msgs.length, 5000, `reads of up to ${max}`);
    await within(iterating, 5000, "iteration");
    assert.deepEqual(views, msgs, `hooks, reads of up to ${max}`);
    assert.deepEqual(viaIterator, msgs, `batches(), reads of up to ${max}`);
    f.conn.close();
    g.close();
  }
});

test("an async messages hook at end of input: every frame, in order, then the end", async () => {
  for (
    const [name, make, wire, want] of [
      ["fixed", () => fixed(2, { eof: "emit" }), "aabbccd", ["aa", "bb", "cc", "d"]],
      ["lines", () => lines({ encoding: null }), "a\nb\r\nc", ["a", "b", "c"]],
    ] as const
  ) {
    const got: string[] = [];
    const f = fake<Uint8Array>(make(), {
      async messages(_c, b) {
        for (const m of b) got.push(text(m));
        await sleep(1);
        got.push("|");
      },
      end(c) {
        got.push("end");
        c.end();
      },
    });
    f.socket.feed(bytes(wire));
    f.socket.finish();
    await within(f.conn.closed, 5000, name);
    assert.deepEqual(got.filter((x) => x !== "|"), [...want, "end"], name);
    assert.equal(got.at(-2), "|", `${name}: the end after the last hook settled`);
  }
});
