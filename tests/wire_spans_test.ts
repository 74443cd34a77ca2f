// Zero-copy replies (lib/framers/_wire.ts): a frame sent back while it is handled goes
// out as the span of the chunk read that already holds its wire form, and the spans of
// one read coalesce into one write. The bytes must always be exactly what encode()
// gives, whatever the framing around the frame in memory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import { Connection } from "../lib/connection/connection.ts";
import type { RawSocket, RawSocketHandler } from "../lib/transport.ts";
import {
  connect,
  type Framer,
  lengthPrefixed,
  type LengthPrefixedOptions,
  lines,
  serve,
} from "../mod.ts";
import { fixed } from "../lib/framers/fixed.ts";
import type { Decoder } from "../lib/framers/framer.ts";
import { FRAME_WIRE, type FrameWireSource, type Span } from "../lib/framers/_wire.ts";
import { bytes, concat, encoded } from "./_framer_helpers.ts";
import { nativeAdapter, portOf, within } from "./_helpers.ts";

/** A socket that records each write as the socket saw it, corked or not. */
class RecordingSocket implements RawSocket {
  readonly localAddr = { transport: "unix", path: "" } as const;
  readonly remoteAddr = { transport: "unix", path: "" } as const;
  bufferedAmount = 0;
  writes: Uint8Array[] = [];
  /** Copies of the bytes at the moment of each write call. */
  snapshots: Uint8Array[] = [];
  handler!: RawSocketHandler;
  start(handler: RawSocketHandler): void {
    this.handler = handler;
  }
  write(chunk: Uint8Array): boolean {
    this.writes.push(chunk);
    this.snapshots.push(chunk.slice());
    return true;
  }
  pause(): void {}
  resume(): void {}
  cork(): void {}
  uncork(): void {}
  end(): void {}
  close(): void {}
  abort(): void {}
  setNoDelay(): void {}
  setKeepAlive(): void {}
  /** Everything written, in order. */
  output(): Uint8Array {
    return concat(this.snapshots);
  }
}

type Send = (conn: Connection<Uint8Array, Uint8Array>, msg: Uint8Array) => void;

/** A connection over a recording socket whose message hook is `onMessage`. */
function wired(framer: Framer<Uint8Array, Uint8Array>, onMessage: Send) {
  const socket = new RecordingSocket();
  const errors: unknown[] = [];
  const conn = new Connection<Uint8Array, Uint8Array>({
    socket,
    framer,
    id: 1,
    report: (e) => errors.push(e),
  });
  conn._start({ message: (c, m) => onMessage(c, m) });
  return { socket, conn, errors };
}

const echo: Send = (conn, msg) => void conn.send(msg);
const byteLines = () => lines({ encoding: null });

/** What encode() gives for each message, as one buffer. */
function expected(framer: Framer<Uint8Array, Uint8Array>, msgs: Uint8Array[]): Uint8Array {
  return concat(msgs.map((m) => encoded(framer.encode(m))));
}

test("the replies to one read of clean lines leave as one write of the chunk itself", () => {
  const { socket, conn } = wired(byteLines(), echo);
  const chunk = bytes("one\ntwo\nthree\n");
  socket.handler.data(chunk);
  assert.equal(socket.writes.length, 1, "one write");
  assert.equal(socket.writes[0], chunk, "no copy and no view: the chunk read itself");
  assert.deepEqual(socket.output(), chunk);
  assert.equal(conn.messagesOut, 3);
  assert.equal(conn.bytesOut, chunk.length);
});

test("a read that is a Buffer (Node) is echoed as one plain view of its bytes", () => {
  for (const framer of [byteLines(), lengthPrefixed(), fixed(3)]) {
    const msgs = [bytes("abc"), bytes("def"), bytes("ghi")];
    const wire = expected(framer, msgs);
    const { socket, conn } = wired(framer, echo);
    const pool = Buffer.alloc(wire.length + 16); // a Buffer inside a larger pool, as Node reads
    pool.set(wire, 5);
    const read = pool.subarray(5, 5 + wire.length);
    socket.handler.data(read);
    assert.equal(socket.writes.length, 1, framer.name);
    const w = socket.writes[0];
    assert.equal(Object.getPrototypeOf(w), Uint8Array.prototype, framer.name);
    assert.equal(w.buffer, read.buffer, `${framer.name}: no copy`);
    assert.equal(w.byteOffset, read.byteOffset, framer.name);
    assert.deepEqual(socket.output(), wire, framer.name);
    assert.equal(conn.messagesOut, 3, framer.name);
  }
});

test("a \\r\\n line is re-framed by encode(), in order between spans", () => {
  const framer = byteLines();
  const { socket } = wired(framer, echo);
  socket.handler.data(bytes("a\nbb\r\nccc\n"));
  assert.deepEqual(socket.output(), bytes("a\nbb\nccc\n"));
  assert.ok(socket.writes.length >= 3, "the span run is cut around the encoded reply");
});

test("strict \\r\\n lines: spans include the pair; a bare \\n stays inside the line", () => {
  const { socket } = wired(lines({ encoding: null, delimiter: "\r\n" }), echo);
  const chunk = bytes("a\r\nb\nc\r\n");
  socket.handler.data(chunk);
  assert.deepEqual(socket.output(), chunk);
  assert.equal(socket.writes.length, 1);
});

test("a view that holds a delimiter is refused as encode() refuses it, and nothing is sent", () => {
  const seen: unknown[] = [];
  const { socket } = wired(byteLines(), (conn, msg) => {
    // Two lines' worth of the chunk: not a frame, and it holds a \n.
    const across = new Uint8Array(msg.buffer, msg.byteOffset, msg.length + 2);
    try {
      conn.send(across);
    } catch (e) {
      seen.push(e);
    }
  });
  socket.handler.data(bytes("x\ny\nz\n!"));
  assert.equal(seen.length, 3, String(seen));
  assert.ok(seen.every((e) => e instanceof TypeError), String(seen[0]));
  assert.equal(socket.output().length, 0);
});

test("a line ending in \\r is refused even when a \\n follows it in memory", () => {
  const seen: unknown[] = [];
  const { socket } = wired(byteLines(), (conn, msg) => {
    // "a\r" lies right before "\n" in the chunk, but encode() refuses a line ending in \r.
    try {
      conn.send(new Uint8Array(msg.buffer, msg.byteOffset, msg.length + 1));
    } catch (e) {
      seen.push(e);
    }
  });
  socket.handler.data(bytes("a\r\n"));
  assert.equal(seen.length, 1);
  assert.ok(seen[0] instanceof TypeError);
  assert.equal(socket.output().length, 0);
});

test("replies of other kinds keep their order among the spans", () => {
  const framer = byteLines();
  const { socket } = wired(framer, (conn, msg) => {
    conn.send(msg);
    conn.send(bytes(`len ${msg.length}`));
    conn.send(msg.subarray(1)); // the byte before it is not a \n: encoded
  });
  socket.handler.data(bytes("ab\ncde\n"));
  assert.deepEqual(socket.output(), bytes("ab\nlen 2\nb\ncde\nlen 3\nde\n"));
});

test("a frame sent later, after the next read, is encoded, not taken from memory", () => {
  const held: Uint8Array[] = [];
  const { socket, conn } = wired(byteLines(), (_c, msg) => void held.push(msg));
  socket.handler.data(bytes("first\n"));
  socket.handler.data(bytes("second\n"));
  conn.send(held[0]);
  conn.send(held[1]);
  assert.deepEqual(socket.output(), bytes("first\nsecond\n"));
  const spans = socket.writes.filter((w) =>
    w.buffer === held[0].buffer || w.buffer === held[1].buffer
  );
  assert.ok(
    spans.every((w) => !w.includes(10)),
    "no delimiter taken from a chunk that is no longer the one being handled",
  );
});

test("lengthPrefixed(): spans carry the header only when it is the one encode() writes", () => {
  const configs: LengthPrefixedOptions[] = [
    {},
    { size: 2, endian: "little" },
    { size: 1, offset: 2 },
    { size: 4, adjustment: -4 },
    { size: "varint" },
    { size: 8 },
    { size: 3 },
  ];
  for (const options of configs) {
    const framer = lengthPrefixed(options);
    const payloads = [bytes("hello"), new Uint8Array(0), new Uint8Array(200).fill(7)];
    const wire = expected(framer, payloads);
    const { socket, conn } = wired(framer, echo);
    socket.handler.data(wire.slice());
    assert.deepEqual(socket.output(), wire, JSON.stringify(options));
    assert.equal(socket.writes.length, 1, `one write: ${JSON.stringify(options)}`);
    assert.equal(conn.bytesOut, wire.length);
  }
});

test("lengthPrefixed(): a payload whose header in memory differs is encoded afresh", () => {
  const framer = lengthPrefixed();
  // Big-endian 5, then "hello": sending "ello" must give a header of 4, not reuse bytes.
  const { socket } = wired(framer, (conn, msg) => void conn.send(msg.subarray(1)));
  socket.handler.data(Uint8Array.of(0, 0, 0, 5, ...bytes("hello")));
  assert.deepEqual(socket.output(), Uint8Array.of(0, 0, 0, 4, ...bytes("ello")));
});

test("fixed(): the frames of one read go out as one write", () => {
  const { socket } = wired(fixed(4), echo);
  const chunk = bytes("abcdefghijkl");
  socket.handler.data(chunk);
  assert.equal(socket.writes.length, 1);
  assert.equal(socket.writes[0].buffer, chunk.buffer);
  assert.deepEqual(socket.output(), chunk);
});

test("spans of a long read are handed over in bounded runs", () => {
  const { socket } = wired(byteLines(), echo);
  const line = "x".repeat(99) + "\n";
  const chunk = bytes(line.repeat(1000)); // 100 000 bytes
  socket.handler.data(chunk);
  assert.deepEqual(socket.output(), chunk);
  assert.ok(socket.writes.length >= 6, `${socket.writes.length} writes`);
  assert.ok(socket.writes.every((w) => w.length <= 16 * 1024 + 100));
});

test("echo through spans equals encode() for any input and any split (property)", () => {
  const framers: [string, () => Framer<Uint8Array, Uint8Array>][] = [
    ["lines", byteLines],
    ["strict lines", () => lines({ encoding: null, delimiter: "\r\n" })],
    ["length", () => lengthPrefixed({ size: 2 })],
  ];
  const alphabet = fc.constantFrom(97, 98, 10, 13, 0, 3);
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: framers.length - 1 }),
      fc.array(fc.array(alphabet, { maxLength: 12 }), { maxLength: 8 }),
      fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 6 }),
      (which, raw, cuts) => {
        const make = framers[which][1];
        const framer = make();
        // Lines may hold what the framing forbids: keep those encode() accepts.
        const msgs = raw.map((r) => Uint8Array.from(r)).filter((m) => {
          try {
            framer.encode(m);
            return true;
          } catch {
            return false;
          }
        });
        const wire = expected(framer, msgs);
        // What a plain encode() echo of the decoded frames gives is the reference.
        const decoder = make().decoder();
        decoder.push(wire.slice());
        const frames: Uint8Array[] = [];
        for (let f = decoder.next(); f !== undefined; f = decoder.next()) frames.push(f);
        const reference = expected(framer, frames.map((f) => f.slice()));
        const { socket, errors } = wired(make(), echo);
        let at = 0;
        for (let i = 0; at < wire.length; i++) {
          const n = cuts[i % cuts.length];
          socket.handler.data(wire.slice(at, at + n));
          at += n;
        }
        assert.deepEqual(errors, []);
        assert.deepEqual(socket.output(), reference);
      },
    ),
    { numRuns: 300 },
  );
});

test("a decoder's FRAME_WIRE is null after a frame copied from two chunks", () => {
  const framers: [string, () => Framer<Uint8Array, Uint8Array>, Uint8Array][] = [
    ["lines", byteLines, new Uint8Array(1200).fill(65).fill(10, 699, 700)],
    [
      "length",
      () => lengthPrefixed({ size: 2 }),
      Uint8Array.of(2, 150, ...new Array(1198).fill(1)),
    ],
    ["fixed", () => fixed(700), new Uint8Array(1200).fill(3)],
  ];
  for (const [name, make, wire] of framers) {
    const decoder = make().decoder() as Decoder<Uint8Array> & FrameWireSource;
    const a = wire.slice(0, 600); // two chunks too large to be packed together
    const b = wire.slice(600);
    decoder.push(a);
    decoder.push(b);
    const f = decoder.next();
    assert.ok(f !== undefined && f.length >= 662, name);
    assert.ok(f.buffer !== a.buffer && f.buffer !== b.buffer, `${name}: a copy`);
    assert.equal(decoder[FRAME_WIRE]!({ start: 0, end: 0 }, f), null, name);
  }
});

test("a decoder's FRAME_WIRE span holds exactly what encode() writes for its frame (property)", () => {
  let known = 0;
  let refused = 0;
  const framers: [string, () => Framer<Uint8Array, Uint8Array>][] = [
    ["lines", byteLines],
    ["crlf lines", () => lines({ encoding: null, delimiter: "\r\n" }) as Framer<Uint8Array>],
    ["length", () => lengthPrefixed({ size: 1 })],
    ["varint", () => lengthPrefixed({ size: "varint" })],
    ["fixed", () => fixed(3)],
  ];
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: framers.length - 1 }),
      fc.uint8Array({ maxLength: 200 }),
      fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 6 }),
      (which, raw, cuts) => {
        const framer = framers[which][1]();
        const decoder = framer.decoder() as Decoder<Uint8Array> & FrameWireSource;
        // Lines: a \n or \r now and then; lengths: small, so that frames end often.
        const wire = raw.map((b) =>
          which <= 1 ? (b % 5 === 0 ? 10 : b % 7 === 0 ? 13 : b) : which <= 3 ? b % 9 : b
        );
        const span: Span = { start: 0, end: 0 };
        for (let at = 0, i = 0; at < wire.length; i++) {
          const n = cuts[i % cuts.length];
          const chunk = wire.slice(at, at + n);
          decoder.push(chunk);
          at += n;
          for (let f = decoder.next(); f !== undefined; f = decoder.next()) {
            const c = decoder[FRAME_WIRE]!(span, f);
            if (c === undefined) return assert.fail("these decoders always tell");
            if (c === null) {
              refused++;
              continue;
            }
            assert.ok(c.length >= span.end && span.start >= 0 && span.start <= span.end);
            assert.deepEqual(c.subarray(span.start, span.end), encoded(framer.encode(f)));
            if (f.length !== 0) {
              assert.equal(f.buffer, c.buffer, "the frame itself lies in that span");
              assert.ok(f.byteOffset >= c.byteOffset + span.start);
              assert.ok(f.byteOffset + f.length <= c.byteOffset + span.end);
            }
            known++;
          }
        }
        decoder[FRAME_WIRE]!(null);
        assert.equal(decoder[FRAME_WIRE]!(span, new Uint8Array(0)), null, "forgotten");
      },
    ),
    { numRuns: 500 },
  );
  assert.ok(known > 100, `a span was told for ${known} frames`);
  assert.ok(refused > 0, `and refused for ${refused}`);
});

test("FRAME_WIRE refuses a frame finish() emits without its framing", () => {
  const span: Span = { start: 0, end: 0 };
  const cases: [Framer<Uint8Array>, Uint8Array, Uint8Array][] = [
    [byteLines() as Framer<Uint8Array>, bytes("ab\n"), bytes("cd")],
    [fixed(4, { eof: "emit" }), bytes("abcd"), bytes("e")],
    [lengthPrefixed({ size: 1, eof: "emit" }), Uint8Array.of(2, 97, 98), Uint8Array.of(5, 99)],
  ];
  for (const [framer, whole, partial] of cases) {
    const decoder = framer.decoder() as Decoder<Uint8Array> & FrameWireSource;
    decoder.push(Uint8Array.of(...whole, ...partial));
    const first = decoder.next();
    assert.ok(first !== undefined, framer.name);
    assert.notEqual(decoder[FRAME_WIRE]!(span, first), null, `${framer.name}: a whole frame`);
    assert.deepEqual(span, { start: 0, end: whole.length }, framer.name);
    const last = decoder.finish();
    assert.ok(last !== undefined && last.length > 0, framer.name);
    assert.equal(decoder[FRAME_WIRE]!(span, last), null, `${framer.name}: a partial frame`);
  }
});

test("FRAME_WIRE refuses the pieces of a frame split for being too long", () => {
  const span: Span = { start: 0, end: 0 };
  const cases: [Framer<Uint8Array>, Uint8Array][] = [
    [
      lines({ encoding: null, maxLength: 4, tooLong: "split" }) as Framer<Uint8Array>,
      bytes("abcdefghij\nx\n"),
    ],
    [
      lengthPrefixed({ size: 1, maxLength: 4, tooLong: "split" }),
      Uint8Array.of(10, ...bytes("abcdefghij"), 1, 120),
    ],
  ];
  for (const [framer, wire] of cases) {
    const decoder = framer.decoder() as Decoder<Uint8Array> & FrameWireSource;
    decoder.push(wire);
    const told: boolean[] = [];
    for (let f = decoder.next(); f !== undefined; f = decoder.next()) {
      told.push(decoder[FRAME_WIRE]!(span, f) !== null);
    }
    // Three pieces of "abcdefghij", then "x" whole; (lines: the last piece ends at its \n)
    assert.deepEqual(told.slice(0, 2), [false, false], framer.name);
    assert.equal(told[told.length - 1], true, framer.name);
  }
});

test("the decoder lets go of the chunk once the replies to a read are out", () => {
  for (const framer of [byteLines(), lengthPrefixed(), fixed(3)]) {
    const msgs = [bytes("abc"), bytes("def")];
    const { socket, conn } = wired(framer, echo);
    socket.handler.data(expected(framer, msgs));
    const decoder = (conn as unknown as { _decoder: FrameWireSource })._decoder;
    assert.equal(decoder[FRAME_WIRE]!({ start: 0, end: 0 }, msgs[1]), null, framer.name);
    assert.equal(socket.writes.length, 1, framer.name);
  }
});

for (const style of ["hooks", "iterator"] as const) {
  test(`[${nativeAdapter()}] a ${style} echo over a real socket gives encode()'s bytes`, async () => {
    const handler = style === "hooks"
      ? { message: (c: Connection<Uint8Array, Uint8Array>, m: Uint8Array) => void c.send(m) }
      : async (c: Connection<Uint8Array, Uint8Array>) => {
        for await (const m of c) await c.send(m);
      };
    await using server = serve<Uint8Array, Uint8Array>({
      hostname: "127.0.0.1",
      port: 0,
      framer: byteLines(),
      handler,
    });
    const port = await portOf(server);
    await using conn = await connect({
      hostname: "127.0.0.1",
      port,
      framer: lines({ encoding: null }),
    });
    const sent: string[] = [];
    let text = "";
    for (let i = 0; i < 2000; i++) {
      const line = `line ${i} ${"z".repeat(i % 50)}`;
      sent.push(line);
      text += line + (i % 7 === 0 ? "\r\n" : "\n");
    }
    await conn.write(bytes(text));
    const dec = new TextDecoder();
    for (const line of sent) {
      const got = await within(conn.next(), 10_000, line);
      assert.equal(got === undefined ? undefined : dec.decode(got), line);
    }
  });
}

test(`[${nativeAdapter()}] an iterator that awaits something else still has its replies sent`, async () => {
  // The handler replies, then waits for something that only happens once the client has
  // the reply: held replies must leave at the end of the task, not when it next reads.
  let replied!: () => void;
  const seen = new Promise<void>((r) => (replied = r));
  await using server = serve<Uint8Array, Uint8Array>({
    hostname: "127.0.0.1",
    port: 0,
    framer: byteLines(),
    async handler(conn) {
      for await (const m of conn) {
        await conn.send(m);
        await seen;
      }
    },
  });
  const port = await portOf(server);
  await using conn = await connect({ hostname: "127.0.0.1", port, framer: byteLines() });
  await conn.write(bytes("first\nsecond\n"));
  const first = await within(conn.next(), 5000, "the reply the handler waits on");
  assert.deepEqual(first, bytes("first"));
  replied();
  assert.deepEqual(await within(conn.next(), 5000, "the next reply"), bytes("second"));
});
