/**
 * A custom framer: RESP2, the Redis protocol. Run as a program it is a tiny server that
 * answers PING and ECHO, so `redis-cli -p 6380 ping` works; `kv.ts` imports the framer.
 *
 *   deno run -A examples/resp.ts [port]    bun run examples/resp.ts    node examples/resp.ts
 *
 * ```
 * +OK\r\n                               simple string  -> string
 * -ERR bad\r\n                          error          -> RespError
 * :42\r\n                               integer        -> number
 * $5\r\nhello\r\n                       bulk string    -> Uint8Array   ($-1\r\n -> null)
 * *2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n      array          -> RespValue[]  (*-1\r\n -> null)
 * PING hi\r\n                           inline command -> Uint8Array[] (what nc sends)
 * ```
 *
 * Limits: a whole frame holds at most `maxLength` bytes (default 8 MiB), an array at most
 * `maxArray` elements (default 65 536), a line at most 64 KiB, and arrays nest at most 32
 * deep. Nothing is allocated from a declared length. Bulk strings are views into the bytes
 * read: copy one (`.slice()`) to keep it. A partial frame at end of input is dropped.
 * @module
 */
import {
  CorruptFrameError,
  type Decoder,
  formatAddr,
  type Framer,
  FrameTooLongError,
  serve,
} from "../mod.ts";
import { port } from "./_args.ts";

/** A decoded RESP value. */
export type RespValue = string | number | Uint8Array | RespError | null | RespValue[];

/** A RESP error reply (`-ERR message`). */
export class RespError extends Error {
  /** Creates it; `message` must not contain CR or LF. */
  constructor(message: string) {
    super(message);
    this.name = "RespError";
  }
}

/** Options of {@linkcode resp}. */
export interface RespOptions {
  /** Bytes one frame may hold, bulk strings included. Default 8 MiB. */
  maxLength?: number;
  /** Elements one array may declare. Default 65 536. */
  maxArray?: number;
}

const CR = 13, LF = 10, SP = 32;
const MAX_LINE = 64 * 1024;
const MAX_DEPTH = 32;
const EMPTY: Uint8Array = new Uint8Array(0);

const ascii = new TextDecoder();

/** Bytes as a latin1 string: one char per byte, so any key round-trips. */
export function latin1(b: Uint8Array): string {
  const n = b.length;
  let i = 0;
  while (i < n && b[i] < 0x80) i++;
  if (i === n) return ascii.decode(b); // ASCII, the usual case: the fastest way on Bun
  if (n <= 4096) return String.fromCharCode.apply(null, b as unknown as number[]);
  let s = "";
  for (i = 0; i < n; i += 4096) s += latin1(b.subarray(i, i + 4096));
  return s;
}

/** The RESP2 framer: decodes any RESP value (and inline commands), encodes any {@linkcode RespValue}. */
export function resp(options: RespOptions = {}): Framer<RespValue> {
  const maxLength = options.maxLength ?? 8 * 1024 * 1024;
  const maxArray = options.maxArray ?? 65_536;
  return {
    name: "resp",
    maxLength,
    decoder: () => new RespDecoder(maxLength, maxArray),
    encode: (msg) => new RespWriter().value(msg).take(),
  };
}

class RespDecoder implements Decoder<RespValue> {
  #buf: Uint8Array = EMPTY; // the bytes held: [#start, #buf.length) are not yet returned
  #store: Uint8Array | null = null; // owned backing of #buf when chunks were joined
  #start = 0; // where the frame being decoded starts
  #pos = 0; // where decoding goes on
  #scan = 0; // where to resume looking for LF
  #bulk = -1; // length of the bulk string whose header was read
  #stack: { items: RespValue[]; left: number }[] = [];
  #max: number;
  #maxArray: number;

  constructor(max: number, maxArray: number) {
    this.#max = max;
    this.#maxArray = maxArray;
  }

  get buffered(): number {
    return this.#buf.length - this.#start;
  }

  push(chunk: Uint8Array): void {
    const n = chunk.length;
    if (n === 0) return;
    // A Node or Bun Buffer makes every subarray() go through its species constructor,
    // several times slower: view its bytes as a plain Uint8Array once.
    if (chunk.constructor !== Uint8Array) chunk = new Uint8Array(chunk.buffer, chunk.byteOffset, n);
    const end = this.#buf.length;
    if (this.#start === end) { // nothing held: use the chunk itself
      this.#buf = chunk;
      this.#store = null;
      this.#start = this.#pos = this.#scan = 0;
      return;
    }
    const s = this.#store;
    if (s !== null && s.length - end >= n && this.#buf.buffer === s.buffer) {
      s.set(chunk, end); // bytes past the end were never handed out
      this.#buf = s.subarray(0, end + n);
      return;
    }
    // Join into a fresh block (never in place: frames already returned may view the old one).
    const held = end - this.#start;
    const next = new Uint8Array(Math.max(4096, (held + n) * 2));
    next.set(this.#buf.subarray(this.#start), 0);
    next.set(chunk, held);
    this.#pos -= this.#start;
    this.#scan -= this.#start;
    this.#start = 0;
    this.#store = next;
    this.#buf = next.subarray(0, held + n);
  }

  next(): RespValue | undefined {
    const buf = this.#buf;
    const end = buf.length;
    if (this.#stack.length === 0 && this.#bulk < 0 && buf[this.#pos] === 0x2a) {
      const command = this.#command(buf, end);
      if (command !== undefined) return command;
    }
    for (;;) {
      let value: RespValue;
      const pos = this.#pos;
      if (this.#bulk >= 0) {
        const n = this.#bulk;
        if (end - pos < n + 2) return undefined; // its size was checked with its header
        if (buf[pos + n] !== CR || buf[pos + n + 1] !== LF) {
          throw new CorruptFrameError("resp: bulk string without CRLF");
        }
        value = buf.subarray(pos, pos + n);
        this.#bulk = -1;
        this.#pos = this.#scan = pos + n + 2;
      } else {
        let lf = buf.indexOf(LF, this.#scan);
        if (lf < 0) {
          this.#scan = end;
          if (end - pos > MAX_LINE) throw new FrameTooLongError(end - pos, MAX_LINE);
          return undefined;
        }
        if (lf - pos > MAX_LINE) throw new FrameTooLongError(lf - pos, MAX_LINE);
        this.#pos = this.#scan = lf + 1;
        const type = buf[pos];
        if (type === 0x2a || type === 0x24 || type === 0x2b || type === 0x2d || type === 0x3a) {
          if (buf[lf - 1] !== CR || lf - 1 <= pos) {
            throw new CorruptFrameError("resp: line without CRLF");
          }
          lf--;
        } else if (this.#stack.length > 0) {
          throw new CorruptFrameError(`resp: bad type byte ${type}`);
        }
        switch (type) {
          case 0x2a: { // '*' array
            const n = int(buf, pos + 1, lf);
            if (n < -1) throw new CorruptFrameError(`resp: bad array length ${n}`);
            if (n > this.#maxArray) throw new FrameTooLongError(n, this.#maxArray);
            if (n > 0) {
              if (this.#stack.length === MAX_DEPTH) {
                throw new CorruptFrameError("resp: arrays nest too deep");
              }
              this.#stack.push({ items: [], left: n });
              continue;
            }
            value = n === 0 ? [] : null;
            break;
          }
          case 0x24: { // '$' bulk string
            const n = int(buf, pos + 1, lf);
            if (n < -1) throw new CorruptFrameError(`resp: bad bulk length ${n}`);
            if (n === -1) {
              value = null;
              break;
            }
            const size = lf + 2 - this.#start + n + 2;
            if (size > this.#max) throw new FrameTooLongError(size, this.#max);
            this.#bulk = n;
            continue;
          }
          case 0x2b: // '+' simple string
            value = latin1(buf.subarray(pos + 1, lf));
            break;
          case 0x2d: // '-' error
            value = new RespError(latin1(buf.subarray(pos + 1, lf)));
            break;
          case 0x3a: // ':' integer
            value = int(buf, pos + 1, lf);
            break;
          default: { // an inline command: words separated by spaces
            if (lf > pos && buf[lf - 1] === CR) lf--;
            const words: Uint8Array[] = [];
            for (let i = pos; i < lf;) {
              while (i < lf && buf[i] === SP) i++;
              const w = i;
              while (i < lf && buf[i] !== SP) i++;
              if (i > w) words.push(buf.subarray(w, i));
            }
            if (words.length === 0) {
              this.#start = this.#pos;
              continue; // an empty line
            }
            value = words;
          }
        }
      }
      // Place the value: in the open array, or return it as a whole frame.
      for (;;) {
        const top = this.#stack[this.#stack.length - 1];
        if (top === undefined) {
          this.#start = this.#pos;
          return value;
        }
        top.items.push(value);
        if (--top.left > 0) break;
        this.#stack.pop();
        value = top.items;
      }
      if (this.#pos - this.#start > this.#max) {
        throw new FrameTooLongError(this.#pos - this.#start, this.#max);
      }
    }
  }

  /**
   * The fast path for what clients send: a whole array of at most 64 bulk strings, already
   * held. Anything else (incomplete, odd, too big) returns undefined and goes the general,
   * incremental way, which also throws the errors. It looks at most at one command's
   * headers once: afterwards the general path holds the state.
   */
  #command(buf: Uint8Array, end: number): Uint8Array[] | undefined {
    let p = this.#pos + 1;
    let n = 0, c = 0;
    while (p < end && (c = buf[p]) >= 48 && c <= 57 && p - this.#pos < 4) n = n * 10 + c - 48, p++;
    if (p >= end - 1 || c !== CR || buf[p + 1] !== LF || n === 0 || n > 64 || n > this.#maxArray) {
      return undefined;
    }
    p += 2;
    const items: Uint8Array[] = new Array(n);
    for (let i = 0; i < n; i++) {
      if (p >= end || buf[p] !== 0x24) return undefined;
      const s = ++p;
      let len = 0;
      while (p < end && (c = buf[p]) >= 48 && c <= 57 && p - s < 15) len = len * 10 + c - 48, p++;
      if (p === s || p >= end - 1 || c !== CR || buf[p + 1] !== LF) return undefined;
      p += 2;
      if (p + len + 2 > end || buf[p + len] !== CR || buf[p + len + 1] !== LF) return undefined;
      items[i] = buf.subarray(p, p + len);
      p += len + 2;
    }
    if (p - this.#pos > this.#max) return undefined;
    this.#start = this.#pos = this.#scan = p;
    return items;
  }

  finish(): RespValue | undefined {
    const frame = this.next();
    if (frame !== undefined) return frame;
    this.takeRemaining(); // a partial frame at end of input is dropped, as Redis does
    return undefined;
  }

  takeRemaining(): Uint8Array[] {
    const rest = this.#buf.subarray(this.#start);
    this.#buf = EMPTY;
    this.#store = null;
    this.#start = this.#pos = this.#scan = 0;
    this.#bulk = -1;
    this.#stack = [];
    return rest.length ? [rest] : [];
  }
}

/** A decimal integer in `b[from, to)`; a bad or unsafe one is a `CorruptFrameError`. */
function int(b: Uint8Array, from: number, to: number): number {
  const neg = b[from] === 0x2d;
  let i = neg ? from + 1 : from;
  if (i === to || to - i > 15) throw new CorruptFrameError("resp: bad integer");
  let n = 0;
  for (; i < to; i++) {
    const d = b[i] - 48;
    if (d < 0 || d > 9) throw new CorruptFrameError("resp: bad integer");
    n = n * 10 + d;
  }
  return neg ? -n : n;
}

const utf8 = new TextEncoder();

/** Builds RESP replies into one growing buffer; `take()` returns them as one chunk. */
export class RespWriter {
  #buf = new Uint8Array(1024);
  #n = 0;

  /** Bytes written and not yet taken. */
  get length(): number {
    return this.#n;
  }

  #room(k: number): Uint8Array {
    if (this.#n + k > this.#buf.length) {
      const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#n + k));
      next.set(this.#buf.subarray(0, this.#n));
      this.#buf = next;
    }
    return this.#buf;
  }

  /** `type`, the decimal digits of `n`, CRLF. */
  #header(type: number, n: number): void {
    const b = this.#room(24);
    let i = this.#n;
    b[i++] = type;
    if (n < 0) {
      b[i++] = 0x2d;
      n = -n;
    }
    if (n < 10) b[i++] = 48 + n;
    else {
      let digits = 1;
      for (let t = n; t >= 10; t = Math.floor(t / 10)) digits++;
      for (let k = i + digits - 1; k >= i; k--) {
        b[k] = 48 + (n % 10);
        n = Math.floor(n / 10);
      }
      i += digits;
    }
    b[i++] = CR;
    b[i++] = LF;
    this.#n = i;
  }

  #line(type: number, text: string): this {
    if (/[\r\n]/.test(text)) {
      throw new TypeError("resp: a simple string or error cannot hold CR or LF");
    }
    const b = this.#room(3 + text.length * 3);
    b[this.#n++] = type;
    this.#n += utf8.encodeInto(text, b.subarray(this.#n)).written;
    b[this.#n++] = CR;
    b[this.#n++] = LF;
    return this;
  }

  /** Appends bytes that are already RESP. */
  raw(bytes: Uint8Array): this {
    this.#room(bytes.length).set(bytes, this.#n);
    this.#n += bytes.length;
    return this;
  }
  /** `+text` */
  simple(text: string): this {
    return this.#line(0x2b, text);
  }
  /** `-text` */
  error(text: string): this {
    return this.#line(0x2d, text);
  }
  /** `:n` */
  integer(n: number): this {
    if (!Number.isSafeInteger(n)) throw new TypeError(`resp: ${n} is not a safe integer`);
    this.#header(0x3a, n);
    return this;
  }
  /** `$len` and the bytes (a string is sent as UTF-8), or `$-1` for null. */
  bulk(value: Uint8Array | string | null): this {
    if (value === null) return this.raw(NULL_BULK);
    const bytes = typeof value === "string" ? utf8.encode(value) : value;
    const n = bytes.length;
    this.#header(0x24, n);
    const b = this.#room(n + 2);
    b.set(bytes, this.#n);
    b[this.#n + n] = CR;
    b[this.#n + n + 1] = LF;
    this.#n += n + 2;
    return this;
  }
  /** `$len` and a latin1 string as one byte per char (the inverse of {@linkcode latin1}). */
  bulkLatin1(s: string): this {
    const n = s.length;
    this.#header(0x24, n);
    const b = this.#room(n + 2);
    let i = this.#n;
    for (let k = 0; k < n; k++) b[i++] = s.charCodeAt(k);
    b[i++] = CR;
    b[i++] = LF;
    this.#n = i;
    return this;
  }
  /** An array header `*n` (write the n elements after it), or `*-1` for null. */
  array(n: number | null): this {
    if (n === null) return this.raw(NULL_ARRAY);
    this.#header(0x2a, n);
    return this;
  }
  /** Any value: string as simple string, Uint8Array as bulk, number, RespError, null, array. */
  value(v: RespValue): this {
    if (v instanceof Uint8Array) return this.bulk(v);
    if (typeof v === "string") return this.simple(v);
    if (typeof v === "number") return this.integer(v);
    if (v === null) return this.bulk(null);
    if (v instanceof RespError) return this.error(v.message);
    if (Array.isArray(v)) {
      this.array(v.length);
      for (const x of v) this.value(x);
      return this;
    }
    throw new TypeError("resp: cannot encode this value");
  }
  /** Everything written, as one new chunk; the writer is empty again. */
  take(): Uint8Array {
    const out = this.#buf.slice(0, this.#n);
    this.#n = 0;
    if (this.#buf.length > 64 * 1024) this.#buf = new Uint8Array(1024);
    return out;
  }
}

const NULL_BULK = utf8.encode("$-1\r\n");
const NULL_ARRAY = utf8.encode("*-1\r\n");

/** The arguments of a request (an array of bulk strings), or `undefined` when it is not one. */
export function commandOf(msg: RespValue): Uint8Array[] | undefined {
  if (!Array.isArray(msg) || msg.length === 0) return undefined;
  for (const a of msg) if (!(a instanceof Uint8Array)) return undefined;
  return msg as Uint8Array[];
}

/** Text safe to put in a simple string or error: printable ASCII, at most 64 chars. */
export function printable(s: string): string {
  return s.slice(0, 64).replace(/[^\x20-\x7e]/g, "?");
}

if (import.meta.main) {
  const server = serve({
    hostname: "127.0.0.1",
    port: port(6380),
    framer: resp({ maxLength: 64 * 1024 }),
    handler: {
      message(conn, msg) {
        const args = commandOf(msg);
        const name = args ? latin1(args[0]).toUpperCase() : "";
        if (name === "PING") conn.send(args!.length > 1 ? args![1] : "PONG");
        else if (name === "ECHO" && args!.length === 2) conn.send(args![1]);
        else if (name === "COMMAND") conn.send([]); // redis-cli asks for command docs
        else conn.send(new RespError(`ERR unknown command '${printable(name)}'`));
      },
    },
  });
  await server.ready;
  console.log(`resp server on ${formatAddr(server.addr)}`);
}
