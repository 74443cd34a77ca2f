/**
 * The native control on Bun: the benchmark's jobs written by hand with `Bun.listen`
 * socket handlers, the way a competent user would. `socket.write()` returns the bytes the
 * kernel took and never buffers, so what it leaves is kept and sent on `drain` (reading
 * pauses while more than 1 MiB waits). TCP_NODELAY is set.
 *
 *   bun run bench/native/bun.ts --port 0 --framer raw|lines|length
 *
 * Lines and length frames are parsed by hand, each frame found in turn, and every chunk
 * read echoes the whole frames it completed with one write (a view of the chunk: Bun never
 * reuses them). A partial frame at the end is kept, and joined to the next chunk.
 *
 * @module
 */

import { benchFlags, MAX_FRAME, MAX_LINE, ready } from "../_harness.ts";

/** The part of `Bun.Socket` used here (no `@types/bun`). */
interface Socket {
  data: State;
  write(bytes: Uint8Array): number;
  pause(): void;
  resume(): void;
  terminate(): void;
  setNoDelay(on: boolean): boolean;
}
/** The part of `Bun.listen` used here. */
interface BunListen {
  listen(options: {
    hostname: string;
    port: number;
    socket: {
      open(s: Socket): void;
      data(s: Socket, chunk: Uint8Array): void;
      drain(s: Socket): void;
      error?(s: Socket, error: Error): void;
    };
  }): { port: number; stop(closeActive?: boolean): void };
}

interface State {
  /** Bytes the kernel did not take yet, in order. */
  pending: Uint8Array[];
  pendingBytes: number;
  paused: boolean;
  /** The start of a frame that has not all arrived. */
  carry: Uint8Array | null;
  /** Lines: bytes of `carry` already searched for \n. */
  scanned: number;
}

const { port, framer } = benchFlags();
const PAUSE_AT = 1024 * 1024;

function send(s: Socket, bytes: Uint8Array): void {
  const st = s.data;
  if (st.pending.length === 0) {
    const n = s.write(bytes);
    if (n >= bytes.length) return;
    bytes = n > 0 ? bytes.subarray(n) : bytes;
  }
  st.pending.push(bytes);
  st.pendingBytes += bytes.length;
  if (st.pendingBytes > PAUSE_AT && !st.paused) {
    st.paused = true;
    s.pause();
  }
}

function drain(s: Socket): void {
  const st = s.data;
  while (st.pending.length > 0) {
    const head = st.pending[0];
    const n = s.write(head);
    if (n > 0) st.pendingBytes -= Math.min(n, head.length);
    if (n < head.length) {
      if (n > 0) st.pending[0] = head.subarray(n);
      return;
    }
    st.pending.shift();
  }
  if (st.paused) {
    st.paused = false;
    s.resume();
  }
}

/** The end of the last whole line in `bytes`, searching from `from`; 0 when none. */
function lastLineEnd(bytes: Uint8Array, from: number): number {
  let last = 0;
  for (let i = bytes.indexOf(10, from); i >= 0; i = bytes.indexOf(10, i + 1)) last = i + 1;
  return last;
}

/** The end of the last whole frame in `bytes`; 0 when none. */
function lastFrameEnd(bytes: Uint8Array): number {
  const end = bytes.length;
  let pos = 0;
  while (end - pos >= 4) {
    const len = bytes[pos] * 0x1000000 + (bytes[pos + 1] << 16) + (bytes[pos + 2] << 8) +
      bytes[pos + 3];
    if (len > MAX_FRAME) throw new RangeError(`frame of ${len} bytes`);
    if (end - pos < 4 + len) break;
    pos += 4 + len;
  }
  return pos;
}

function onFrames(s: Socket, chunk: Uint8Array): void {
  const st = s.data;
  let bytes = chunk;
  let from = 0;
  if (st.carry !== null) {
    bytes = new Uint8Array(st.carry.length + chunk.length);
    bytes.set(st.carry);
    bytes.set(chunk, st.carry.length);
    from = st.scanned;
  }
  const done = framer === "lines" ? lastLineEnd(bytes, from) : lastFrameEnd(bytes);
  if (done < bytes.length) {
    st.carry = bytes.subarray(done);
    st.scanned = st.carry.length;
    if (framer === "lines" && st.scanned > MAX_LINE) throw new RangeError("line too long");
  } else st.carry = null;
  if (done !== 0) send(s, done === bytes.length ? bytes : bytes.subarray(0, done));
}

const raw = framer === "raw";
const server = (globalThis as unknown as { Bun: BunListen }).Bun.listen({
  hostname: "127.0.0.1",
  port,
  socket: {
    open(s) {
      s.setNoDelay(true);
      s.data = { pending: [], pendingBytes: 0, paused: false, carry: null, scanned: 0 };
    },
    data(s, chunk) {
      if (raw) return send(s, chunk);
      try {
        onFrames(s, chunk);
      } catch {
        s.terminate(); // an oversized frame
      }
    },
    drain,
    error() {},
  },
});
ready(server.port, () => server.stop(true));
