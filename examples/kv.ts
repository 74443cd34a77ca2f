/**
 * A Redis-compatible key-value server (RESP2) that `redis-cli` and `redis-benchmark` talk to.
 *
 *   deno run -A examples/kv.ts [port] [--max-keys N] [--max-bulk BYTES]
 *   bun run examples/kv.ts          node examples/kv.ts          redis-cli -p 6379 set a 1
 *
 * Commands: PING, ECHO, GET, SET (EX, PX, NX, XX), DEL, EXISTS, INCR, MGET, KEYS (glob),
 * DBSIZE, FLUSHALL, SELECT 0, CONFIG GET, COMMAND, INFO, QUIT.
 *
 * Hooks style for speed: every command of a pipelined batch is answered into one
 * {@linkcode RespWriter}, and the batch goes out in one write at the end of the turn. A client
 * that does not read its replies makes its `message` hook wait for the drain, which pauses
 * reading from it. Bounded: one request by `--max-bulk` (default 8 MiB), the store by
 * `--max-keys` (default 1 000 000; past it SET fails with OOM).
 * @module
 */
import { type Connection, formatAddr, serve } from "../mod.ts";
import { flag, port } from "./_args.ts";
import { commandOf, latin1, printable, resp, type RespValue, RespWriter } from "./resp.ts";

const maxKeys = Number(flag("max-keys") ?? 1_000_000);
const maxBulk = Number(flag("max-bulk") ?? 8 * 1024 * 1024);

/**
 * A value: bytes, or up to 64 bytes as a latin1 string (one char per byte). Small strings
 * are cheaper than small Uint8Arrays, each of which allocates an ArrayBuffer (about 1 µs on Deno).
 */
type Value = string | Uint8Array;
const data = new Map<string, Value>();
const expires = new Map<string, number>(); // key -> deadline, ms since the epoch

const bytes = (s: string) => new TextEncoder().encode(s);
const OK = bytes("+OK\r\n"), PONG = bytes("+PONG\r\n"), NIL = bytes("$-1\r\n");
const EMPTY = bytes("*0\r\n");

/** The value of a key, dropping it when it has expired. */
function get(key: string): Value | undefined {
  const v = data.get(key);
  if (v !== undefined && expires.size !== 0) {
    const t = expires.get(key);
    if (t !== undefined && t <= Date.now()) {
      data.delete(key);
      expires.delete(key);
      return undefined;
    }
  }
  return v;
}

function del(key: string): boolean {
  expires.delete(key);
  return data.delete(key);
}

/** A copy of bytes to keep (the frame is a view into the read buffer). */
function keep(b: Uint8Array): Value {
  return b.length <= 64 ? latin1(b) : b.slice();
}

function reply(w: RespWriter, v: Value | undefined): void {
  if (v === undefined) w.raw(NIL);
  else if (typeof v === "string") w.bulkLatin1(v);
  else w.bulk(v);
}

/** A strict decimal integer (as Redis parses it), or undefined. */
function toInt(v: Value): number | undefined {
  const s = typeof v === "string" ? v : latin1(v);
  if (!/^(0|-?[1-9][0-9]{0,15})$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

type Conn = Connection<RespValue, RespValue, Client>;
type Command = (args: Uint8Array[], w: RespWriter, conn: Conn) => void;

function set(args: Uint8Array[], w: RespWriter): void {
  const key = latin1(args[1]);
  let ttl = -1, nx = false, xx = false;
  for (let i = 3; i < args.length; i++) {
    const opt = latin1(args[i]).toUpperCase();
    if ((opt === "EX" || opt === "PX") && i + 1 < args.length && ttl < 0) {
      const n = toInt(args[++i]);
      if (n === undefined || n <= 0 || n > 1e12) {
        return void w.error("ERR invalid expire time in 'set' command");
      }
      ttl = opt === "EX" ? n * 1000 : n;
    } else if (opt === "NX" && !xx) nx = true;
    else if (opt === "XX" && !nx) xx = true;
    else return void w.error("ERR syntax error");
  }
  if (nx || xx || data.size >= maxKeys) { // the plain SET skips this lookup
    const exists = get(key) !== undefined;
    if ((nx && exists) || (xx && !exists)) return void w.raw(NIL);
    if (!exists && data.size >= maxKeys) {
      return void w.error("OOM command not allowed: --max-keys reached");
    }
  }
  data.set(key, keep(args[2]));
  if (ttl > 0) expires.set(key, Date.now() + ttl);
  else if (expires.size !== 0) expires.delete(key);
  w.raw(OK);
}

function info(): string {
  return [
    "# Server",
    "redis_version:7.0.0",
    "redis_mode:standalone",
    "tcpkit_example:kv",
    "",
    "# Keyspace",
    data.size ? `db0:keys=${data.size},expires=${expires.size},avg_ttl=0` : "",
    "",
  ].join("\r\n");
}

function flushall(_args: Uint8Array[], w: RespWriter): void {
  data.clear();
  expires.clear();
  w.raw(OK);
}

/** [name, arity (negative: at least), handler] */
const table: [string, number, Command][] = [
  ["PING", -1, (a, w) => a.length > 1 ? w.bulk(a[1]) : w.raw(PONG)],
  ["ECHO", 2, (a, w) => w.bulk(a[1])],
  ["GET", 2, (a, w) => reply(w, get(latin1(a[1])))],
  ["SET", -3, set],
  ["DEL", -2, (a, w) => w.integer(a.slice(1).filter((k) => del(latin1(k))).length)],
  [
    "EXISTS",
    -2,
    (a, w) => w.integer(a.slice(1).filter((k) => get(latin1(k)) !== undefined).length),
  ],
  ["INCR", 2, (a, w) => {
    const key = latin1(a[1]);
    const old = get(key);
    const n = old === undefined ? 0 : toInt(old);
    if (n === undefined) return void w.error("ERR value is not an integer or out of range");
    if (n + 1 > Number.MAX_SAFE_INTEGER) return void w.error("ERR increment would overflow");
    if (old === undefined && data.size >= maxKeys) {
      return void w.error("OOM command not allowed: --max-keys reached");
    }
    data.set(key, String(n + 1));
    w.integer(n + 1);
  }],
  ["MGET", -2, (a, w) => {
    w.array(a.length - 1);
    for (let i = 1; i < a.length; i++) reply(w, get(latin1(a[i])));
  }],
  ["KEYS", 2, (a, w) => {
    const pattern = latin1(a[1]);
    const found: string[] = [];
    for (const k of data.keys()) if (glob(pattern, k) && get(k) !== undefined) found.push(k);
    w.array(found.length);
    for (const k of found) w.bulkLatin1(k);
  }],
  ["DBSIZE", 1, (_a, w) => w.integer(data.size)],
  ["FLUSHALL", -1, flushall],
  ["FLUSHDB", -1, flushall],
  [
    "SELECT",
    2,
    (a, w) => latin1(a[1]) === "0" ? w.raw(OK) : w.error("ERR DB index is out of range"),
  ],
  ["CONFIG", -2, (a, w) => { // redis-benchmark reads "save" and "appendonly"
    const name = a.length > 2 ? latin1(a[2]).toLowerCase() : "";
    w.array(2).bulk(name).bulk(name === "appendonly" ? "no" : "");
  }],
  ["COMMAND", -1, (_a, w) => w.raw(EMPTY)], // redis-cli asks for command docs; none is fine
  ["INFO", -1, (_a, w) => w.bulk(info())],
  ["QUIT", 1, (_a, w, conn) => {
    w.raw(OK);
    conn.write(w.take());
    conn.close();
  }],
];

/** A number per command name, case-insensitive (5 bits a letter): dispatch makes no string. */
function code(name: Uint8Array): number {
  if (name.length > 10) return -1;
  let n = 0;
  for (let i = name.length - 1; i >= 0; i--) {
    const c = name[i] | 0x20;
    if (c < 0x61 || c > 0x7a) return -1;
    n = n * 32 + c - 0x60;
  }
  return n;
}

const commands = new Map(
  table.map(([name, arity, run]) => [code(bytes(name)), { name, arity, run }]),
);

/** Redis glob: `*`, `?`, `[abc]`, `[^a-z]`, `\x`. Linear backtracking on the last `*` only. */
function glob(p: string, s: string): boolean {
  let pi = 0, si = 0, star = -1, mark = 0;
  while (si < s.length) {
    if (pi < p.length) {
      if (p[pi] === "*") {
        star = pi++;
        mark = si;
        continue;
      }
      const next = one(p, pi, s[si]);
      if (next >= 0) {
        pi = next;
        si++;
        continue;
      }
    }
    if (star < 0) return false;
    pi = star + 1;
    si = ++mark;
  }
  while (p[pi] === "*") pi++;
  return pi === p.length;
}

/** Matches one pattern item at `pi` against `ch`: the index after the item, or -1. */
function one(p: string, pi: number, ch: string): number {
  const c = p[pi];
  if (c === "?") return pi + 1;
  if (c === "\\" && pi + 1 < p.length) return p[pi + 1] === ch ? pi + 2 : -1;
  if (c === "[") {
    let i = pi + 1;
    const neg = p[i] === "^";
    if (neg) i++;
    let hit = false;
    for (; i < p.length && p[i] !== "]"; i++) {
      if (p[i] === "\\" && i + 1 < p.length) hit ||= p[++i] === ch;
      else if (p[i + 1] === "-" && i + 2 < p.length && p[i + 2] !== "]") {
        hit ||= p[i] <= ch && ch <= p[i + 2];
        i += 2;
      } else hit ||= p[i] === ch;
    }
    if (i === p.length) return c === ch ? pi + 1 : -1; // no "]": a plain "["
    return hit !== neg ? i + 1 : -1;
  }
  return c === ch ? pi + 1 : -1;
}

// Expired keys are dropped when touched, and by a sweep that looks at 500 keys a tick.
let sweep = expires.entries();
setInterval(() => {
  const now = Date.now();
  for (let i = 0; i < 500; i++) {
    const r = sweep.next();
    if (r.done) {
      sweep = expires.entries();
      break;
    }
    if (r.value[1] <= now) del(r.value[0]);
  }
}, 100);

interface Client {
  out: RespWriter;
  flushQueued: boolean;
  /** Sends what `out` holds; made once per connection, queued once per batch. */
  flush: () => Promise<void>;
}

/** Rejections of `write()` are already handled: a closed connection just drops the replies. */
const RESOLVED = Promise.resolve();
const server = serve<RespValue, RespValue, Client>({
  hostname: flag("host") ?? "127.0.0.1",
  port: port(6379),
  framer: resp({ maxLength: maxBulk + 1024 }),
  handler: {
    open(conn) {
      const c: Client = {
        out: new RespWriter(),
        flushQueued: false,
        flush: () => {
          c.flushQueued = false;
          return c.out.length ? conn.write(c.out.take()) : RESOLVED;
        },
      };
      conn.data = c;
    },
    message(conn, msg) {
      const c = conn.data;
      if (conn.state === "closing" || conn.state === "closed") return;
      const args = commandOf(msg);
      if (args === undefined) c.out.error("ERR Protocol error: expected an array of bulk strings");
      else {
        const cmd = commands.get(code(args[0]));
        if (cmd === undefined) {
          c.out.error(`ERR unknown command '${printable(latin1(args[0]))}'`);
        } else if (cmd.arity > 0 ? args.length !== cmd.arity : args.length < -cmd.arity) {
          c.out.error(`ERR wrong number of arguments for '${cmd.name.toLowerCase()}' command`);
        } else cmd.run(args, c.out, conn);
      }
      if (c.out.length >= 64 * 1024) {
        // A big batch: send it now, and wait for the drain if the client reads slowly.
        const sent = c.flush();
        if (conn.bufferedAmount >= 64 * 1024) return sent.catch(() => {}); // closed: nothing to wait for
      } else if (!c.flushQueued) {
        c.flushQueued = true;
        queueMicrotask(c.flush); // after the last command of this read
      }
    },
  },
});
await server.ready;
console.log(`kv server on ${formatAddr(server.addr)}`);
