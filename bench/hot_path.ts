// The per-message cost of tcpkit's echo path in process, without sockets: what a framed
// echo costs in JavaScript beyond the hand-written loop, part by part. Chunks of 1 KiB
// holding 32 messages of 32 bytes (the pipelined benchmark's reads) go through:
//
//   chunk         nothing but the fresh copy of the chunk that every row is given
//   scan          the hand-written control: indexOf() for each \n, nothing else
//   view          one Uint8Array view per frame: what any API that hands out frames pays
//   contract      by hand, no framework: scan, a view per frame, a handler called per frame
//                 whose reply is gathered as a range of the chunk: the per-frame API's floor
//   decoder       lines()/lengthPrefixed() decoder: push the chunk, next() every frame
//   deliver       a Connection over a recording socket, a message hook that sends nothing
//   hooks         the same, message hook: conn.send(msg)
//   batch         the same, messages hook (the whole frames of one read per call):
//                 conn.sendBatch(batch), the frames' bytes re-sent as one view
//   iterator      the same with `for await (const m of conn) await conn.send(m)`
//
// and once, without tcpkit: "await floor", a `for await` over an async iterator whose
// next() returns `Promise.resolve({ done: false, value })`, with `await` of a resolved
// promise in the loop body: what the engine alone charges the iterator style per message.
//
// Figures are CPU time per message (process.cpuUsage), the best of several rounds. Then
// the cost of one connection's life in the same layers, in µs: a Connection made over a
// recording socket, started with a message hook, one line echoed, the peer's end, the
// close; 2 000 alive at once, as in the connections benchmark.
//
//   deno run -A bench/hot_path.ts      bun run bench/hot_path.ts      node bench/hot_path.ts
import process from "node:process";
import { Connection } from "../lib/connection/connection.ts";
import { type Framer, lengthPrefixed, lines } from "../mod.ts";
import { chunks, CountingSocket, PER_CHUNK, SIZE } from "./_in_process.ts";

const ROUNDS = 7;
const CHUNKS = 20_000;

/** Best CPU ns per message over the rounds; `feed` handles one chunk (may be async). */
async function measure(feed: (c: Uint8Array) => void | Promise<void>, input: Uint8Array[]) {
  let best = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    const before = process.cpuUsage();
    for (let i = 0; i < CHUNKS; i++) {
      const r = feed(input[i & 63].slice()); // a fresh chunk, as a read would give
      if (r) await r;
    }
    const used = process.cpuUsage(before);
    best = Math.min(best, ((used.user + used.system) * 1000) / (CHUNKS * PER_CHUNK));
  }
  return best;
}

let sink = 0;
const results: Record<string, number> = {};
for (const kind of ["lines", "length"] as const) {
  const input = chunks(kind);
  const framer = () =>
    (kind === "lines" ? lines({ encoding: null }) : lengthPrefixed()) as Framer<
      Uint8Array,
      Uint8Array
    >;
  // The fresh chunk every row pays for (a read's memory): the baseline to subtract.
  results[`${kind} chunk`] = await measure((c) => {
    sink += c.length;
  }, input);
  results[`${kind} scan`] = await measure(
    kind === "lines"
      ? (c) => {
        let last = 0;
        for (let i = c.indexOf(10); i >= 0; i = c.indexOf(10, i + 1)) last = i + 1;
        sink += last;
      }
      : (c) => {
        let at = 0;
        while (at + 4 <= c.length) {
          at += 4 + ((c[at] << 24) | (c[at + 1] << 16) | (c[at + 2] << 8) | c[at + 3]);
        }
        sink += at;
      },
    input,
  );
  results[`${kind} view`] = await measure((c) => {
    for (let i = 0; i < PER_CHUNK; i++) {
      sink += new Uint8Array(c.buffer, c.byteOffset + i * SIZE, SIZE - 1).length;
    }
  }, input);
  // The per-frame contract by hand, with no framework: the scan, one view per frame, one
  // call of a handler per frame, and its reply gathered as a range of the chunk (what the
  // hook and zero-copy send do): the least any API that hands out each frame must pay.
  const run = { end: -1, bytes: 0 };
  const handler = {
    message(m: Uint8Array, wireEnd: number): void {
      if (m.byteOffset - (kind === "lines" ? 0 : 4) !== run.end) run.bytes += 0;
      run.end = wireEnd;
      run.bytes += m.length;
    },
  };
  results[`${kind} contract`] = await measure(
    kind === "lines"
      ? (c) => {
        run.end = c.byteOffset;
        let at = 0;
        for (let p = c.indexOf(10); p >= 0; p = c.indexOf(10, at)) {
          handler.message(
            new Uint8Array(c.buffer, c.byteOffset + at, p - at),
            c.byteOffset + p + 1,
          );
          at = p + 1;
        }
        sink += run.bytes;
      }
      : (c) => {
        run.end = c.byteOffset;
        let at = 0;
        while (at + 4 <= c.length) {
          const n = (c[at] << 24) | (c[at + 1] << 16) | (c[at + 2] << 8) | c[at + 3];
          if (at + 4 + n > c.length) break;
          handler.message(
            new Uint8Array(c.buffer, c.byteOffset + at + 4, n),
            c.byteOffset + at + 4 + n,
          );
          at += 4 + n;
        }
        sink += run.bytes;
      },
    input,
  );
  const decoder = framer().decoder();
  results[`${kind} decoder`] = await measure((c) => {
    decoder.push(c);
    for (let f = decoder.next(); f !== undefined; f = decoder.next()) sink += f.length;
  }, input);
  const ds = new CountingSocket();
  const dc = new Connection<Uint8Array, Uint8Array>({ socket: ds, framer: framer(), id: 3 });
  dc._start({ message: (_conn, msg) => void (sink += msg.length) });
  results[`${kind} deliver`] = await measure((c) => ds.handler.data(c), input);
  const hs = new CountingSocket();
  const hc = new Connection<Uint8Array, Uint8Array>({ socket: hs, framer: framer(), id: 1 });
  hc._start({ message: (conn, msg) => void conn.send(msg) });
  results[`${kind} hooks`] = await measure((c) => hs.handler.data(c), input);
  const bs = new CountingSocket();
  const bc = new Connection<Uint8Array, Uint8Array>({ socket: bs, framer: framer(), id: 4 });
  bc._start({ messages: (conn, batch) => void conn.sendBatch(batch) });
  results[`${kind} batch`] = await measure((c) => bs.handler.data(c), input);
  const is = new CountingSocket();
  const ic = new Connection<Uint8Array, Uint8Array>({ socket: is, framer: framer(), id: 2 });
  ic._start();
  (async () => {
    for await (const m of ic) await ic.send(m);
  })();
  results[`${kind} iterator`] = await measure(async (c) => {
    const target = is.written + c.length;
    is.handler.data(c);
    // The iterator runs in microtasks; wait for it without leaving the task.
    for (let spins = 0; is.written < target && spins < 1_000_000; spins++) await null;
  }, input);
}

{
  // The engine's part of the iterator style: two awaits, a promise and a result per message.
  const RESOLVED = Promise.resolve();
  const it = {
    [Symbol.asyncIterator]: () => ({
      next: () => Promise.resolve({ done: false as const, value: 1 }),
    }),
  };
  let best = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    const before = process.cpuUsage();
    let n = 0;
    for await (const v of it) {
      sink += v;
      await RESOLVED;
      if (++n === CHUNKS * PER_CHUNK / 4) break;
    }
    const used = process.cpuUsage(before);
    best = Math.min(best, ((used.user + used.system) * 1000) / n);
  }
  results["await floor"] = best;
}

const LIVE = 2000;
const BATCHES = 5;
const line = chunks("lines")[0].subarray(0, SIZE);
// Each connection reads its line from a slab of copies, as reads arrive (in memory the runtime
// allocated outside the JavaScript heap): a fresh 32-byte array would be allocated inside it on
// V8, and the frame's view of it would then cost V8 moving it out (about 0.8 µs, a third of the
// figure), which no socket read makes it do.
const lineSlab = new Uint8Array(LIVE * SIZE);
for (let i = 0; i < LIVE; i++) lineSlab.set(line, i * SIZE);
const lifeFramer = lines({ encoding: null }) as Framer<Uint8Array, Uint8Array>;
const lifeHooks = {
  message: (conn: Connection<Uint8Array>, msg: Uint8Array) => void conn.send(msg),
};
let life = Infinity;
for (let round = 0; round < ROUNDS; round++) {
  const before = process.cpuUsage();
  for (let b = 0; b < BATCHES; b++) {
    const socks: CountingSocket[] = [];
    for (let i = 0; i < LIVE; i++) {
      const s = new CountingSocket();
      new Connection<Uint8Array>({ socket: s, framer: lifeFramer, id: i })._start(lifeHooks);
      s.handler.data(lineSlab.subarray(i * SIZE, (i + 1) * SIZE));
      socks.push(s);
    }
    for (const s of socks) s.handler.end();
    for (const s of socks) s.handler.close();
    for (const s of socks) sink += s.written;
  }
  const used = process.cpuUsage(before);
  life = Math.min(life, (used.user + used.system) / (LIVE * BATCHES));
}

const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
console.log(`${runtime}: CPU ns per message (best of ${ROUNDS})`);
for (const [name, ns] of Object.entries(results)) {
  console.log(`  ${name.padEnd(16)} ${ns.toFixed(1)}`);
}
console.log(`  connection life  ${life.toFixed(2)} µs`);
if (sink < 0) console.log(sink);
process.exit(0);
