/**
 * The native control on Deno: the benchmark's jobs written by hand with `Deno.listen`,
 * the way a competent user would: one read buffer per connection, reused for every read
 * (16 KiB, grown only for a frame that does not fit), TCP_NODELAY, and writes looped
 * until every byte is taken (`conn.write()` may take part of them).
 *
 *   deno run -A bench/native/deno.ts --port 0 --framer raw|lines|length
 *
 * Lines and length frames are parsed by hand, each frame found in turn, and every read
 * echoes the whole frames it completed with one write; a partial frame at the end is
 * moved to the front of the buffer to wait for the rest.
 *
 * @module
 */

import { BACKLOG, benchFlags, MAX_FRAME, MAX_LINE, ready } from "../_harness.ts";

const { port, framer } = benchFlags();
const BUFFER = 16 * 1024;

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(off === 0 ? bytes : bytes.subarray(off));
}

/** The end of the last whole line in `buf[0, end)`, searched from `from`; -1 when none. */
function lastLineEnd(buf: Uint8Array, from: number, end: number): number {
  const held = buf.subarray(0, end); // never search the stale bytes past `end`
  let last = -1;
  for (let i = held.indexOf(10, from); i >= 0; i = held.indexOf(10, i + 1)) last = i + 1;
  return last;
}

/** Set by `lastFrameEnd`: the bytes the next frame needs in all. */
let need = 4;

/** The end of the last whole frame in `buf[0, end)`; sets `need` for the frame after it. */
function lastFrameEnd(buf: Uint8Array, end: number): number {
  let pos = 0;
  need = 4;
  while (end - pos >= 4) {
    const len = buf[pos] * 0x1000000 + (buf[pos + 1] << 16) + (buf[pos + 2] << 8) + buf[pos + 3];
    if (len > MAX_FRAME) throw new RangeError(`frame of ${len} bytes`);
    if (end - pos < 4 + len) {
      need = 4 + len;
      break;
    }
    pos += 4 + len;
  }
  return pos;
}

async function echoRaw(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(BUFFER);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) return;
    await writeAll(conn, buf.subarray(0, n));
  }
}

async function echoFrames(conn: Deno.Conn, lines: boolean): Promise<void> {
  let buf = new Uint8Array(BUFFER);
  let end = 0; // bytes held
  let scanned = 0; // lines: bytes already searched for \n
  for (;;) {
    if (end === buf.length) {
      // A line longer than the buffer: grow, up to the line limit.
      if (end > MAX_LINE) throw new RangeError("line too long");
      const bigger = new Uint8Array(buf.length * 2);
      bigger.set(buf);
      buf = bigger;
    }
    const n = await conn.read(buf.subarray(end));
    if (n === null) return;
    end += n;
    let done: number;
    let want = 0; // length: the bytes the next frame needs in all
    if (lines) {
      const last = lastLineEnd(buf, scanned, end);
      done = last < 0 ? 0 : last;
    } else {
      done = lastFrameEnd(buf, end);
      want = need;
    }
    if (done !== 0) {
      await writeAll(conn, buf.subarray(0, done));
      buf.copyWithin(0, done, end);
      end -= done;
    }
    scanned = end; // what is left holds no \n
    if (want > buf.length) {
      // A frame longer than the buffer: make room for all of it.
      const bigger = new Uint8Array(want);
      bigger.set(buf.subarray(0, end));
      buf = bigger;
    }
  }
}

async function handle(conn: Deno.TcpConn): Promise<void> {
  try {
    conn.setNoDelay(true);
    if (framer === "raw") await echoRaw(conn);
    else await echoFrames(conn, framer === "lines");
  } catch {
    // a reset or an oversized frame: drop the connection
  } finally {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

const listener = Deno.listen({ hostname: "127.0.0.1", port, tcpBacklog: BACKLOG });
(async () => {
  for (;;) {
    let conn: Deno.TcpConn;
    try {
      conn = await listener.accept();
    } catch (err) {
      if (err instanceof Deno.errors.BadResource) return;
      // Out of descriptors or memory: back off. Anything else is one connection the peer
      // gave up before it was accepted (ENOTCONN, ECONNABORTED): accept the next at once.
      const code = (err as { code?: string }).code ?? "";
      if (["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM"].includes(code)) {
        await new Promise((r) => setTimeout(r, 10));
      }
      continue;
    }
    handle(conn);
  }
})();
ready(listener.addr.port, () => listener.close());
