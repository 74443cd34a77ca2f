// Two trees of tcpkit in one process, the same in-process echo rows as `hot_path.ts`
// (deliver, hooks, batch, iterator; lines and length, 32 frames of 32 bytes per read),
// interleaved round by round: old, new, then new, old. Separate processes cannot show a
// change of a few percent here: the same row moves by 0.6× to 1.9× from one process to
// the next, as the JIT decides differently each time.
//
//   git worktree add /tmp/wt-old HEAD~1 && ln -s "$PWD/node_modules" /tmp/wt-old/node_modules
//   deno run -A bench/hot_path_ab.ts /tmp/wt-old .      (or bun run, or node; ROUNDS=15)
//
// Prints, per row, the best round of each tree in CPU ns per frame and the median of the
// per-round ratios new ÷ old.
import process from "node:process";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { chunks, CountingSocket, PER_CHUNK } from "./_in_process.ts";

const [oldDir, newDir] = process.argv.slice(2);
if (!oldDir || !newDir) throw new TypeError("usage: hot_path_ab.ts OLD_TREE NEW_TREE");
const ROUNDS = Number(process.env.ROUNDS ?? 11);
const CHUNKS = 10_000;

// deno-lint-ignore no-explicit-any
type Any = any;
const load = (dir: string, file: string) => import(pathToFileURL(resolve(dir, file)).href);
const trees: { mod: Any; Connection: Any }[] = [];
for (const dir of [oldDir, newDir]) {
  trees.push({
    mod: await load(dir, "mod.ts"),
    Connection: (await load(dir, "lib/connection/connection.ts")).Connection,
  });
}

type Feed = (c: Uint8Array) => void | Promise<void>;

async function once(feed: Feed, input: Uint8Array[]): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < CHUNKS; i++) {
    const r = feed(input[i & 63].slice());
    if (r) await r;
  }
  const used = process.cpuUsage(before);
  return ((used.user + used.system) * 1000) / (CHUNKS * PER_CHUNK);
}

let sink = 0;
const rows: { name: string; feeds: Feed[]; input: Uint8Array[] }[] = [];
for (const kind of ["lines", "length"] as const) {
  const input = chunks(kind);
  const feeds: Record<string, Feed[]> = { deliver: [], hooks: [], batch: [], iterator: [] };
  for (const { mod, Connection } of trees) {
    const framer = () => kind === "lines" ? mod.lines({ encoding: null }) : mod.lengthPrefixed();
    const started = (hooks?: Any) => {
      const socket = new CountingSocket();
      const conn = new Connection({ socket, framer: framer(), id: 1 });
      conn._start(hooks);
      return { socket, conn };
    };
    const d = started({ message: (_c: Any, m: Uint8Array) => void (sink += m.length) });
    feeds.deliver.push((c) => d.socket.handler.data(c));
    const h = started({ message: (c: Any, m: Uint8Array) => void c.send(m) });
    feeds.hooks.push((c) => h.socket.handler.data(c));
    const b = started({ messages: (c: Any, batch: Any) => void c.sendBatch(batch) });
    feeds.batch.push((c) => b.socket.handler.data(c));
    const it = started();
    (async () => {
      for await (const m of it.conn) await it.conn.send(m);
    })();
    feeds.iterator.push(async (c) => {
      const target = it.socket.written + c.length;
      it.socket.handler.data(c);
      for (let spins = 0; it.socket.written < target && spins < 1_000_000; spins++) await null;
    });
  }
  for (const r of Object.keys(feeds)) rows.push({ name: `${kind} ${r}`, feeds: feeds[r], input });
}

const results = new Map<string, { old: number[]; new: number[] }>();
for (let round = 0; round < ROUNDS; round++) {
  for (const row of rows) {
    let r = results.get(row.name);
    if (!r) results.set(row.name, r = { old: [], new: [] });
    const order = round & 1 ? [1, 0] : [0, 1];
    for (const t of order) (t === 0 ? r.old : r.new).push(await once(row.feeds[t], row.input));
  }
}

const median = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1];
const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
console.log(
  `${runtime}: CPU ns per frame, best round old → new (median of round ratios new ÷ old)`,
);
for (const [name, r] of results) {
  const ratio = median(r.new.map((x, i) => x / r.old[i]));
  console.log(
    `  ${name.padEnd(16)} ${Math.min(...r.old).toFixed(1).padStart(6)} → ` +
      `${Math.min(...r.new).toFixed(1).padStart(6)} (${ratio.toFixed(2)})`,
  );
}
if (sink < 0) console.log(sink);
process.exit(0);
