/**
 * The native control on Node: the benchmark's jobs written by hand with `node:net`, the
 * way a competent user would: `data` events, `write()` with reading paused until `drain`
 * when it reports backpressure, TCP_NODELAY.
 *
 *   node bench/native/node.ts --port 0 --framer raw|lines|length
 *
 * Lines and length frames are parsed by hand, each frame found in turn, and every chunk
 * read echoes the whole frames it completed with one write (a view of the chunk). A
 * partial frame at the end is kept, and joined to the next chunk.
 *
 * @module
 */

import * as net from "node:net";
import { BACKLOG, benchFlags, MAX_FRAME, MAX_LINE, ready } from "../_harness.ts";

const { port, framer } = benchFlags();

function send(s: net.Socket, bytes: Uint8Array): void {
  if (!s.write(bytes)) {
    s.pause();
    s.once("drain", () => s.resume());
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

function echoFrames(s: net.Socket): void {
  const lines = framer === "lines";
  let carry: Uint8Array | null = null; // the start of a frame that has not all arrived
  s.on("data", (chunk: Uint8Array) => {
    let bytes = chunk;
    let from = 0;
    if (carry !== null) {
      bytes = new Uint8Array(carry.length + chunk.length);
      bytes.set(carry);
      bytes.set(chunk, carry.length);
      from = carry.length; // it holds no \n
    }
    let done: number;
    try {
      done = lines ? lastLineEnd(bytes, from) : lastFrameEnd(bytes);
    } catch {
      return void s.destroy(); // an oversized frame
    }
    carry = done < bytes.length ? bytes.subarray(done) : null;
    if (lines && carry !== null && carry.length > MAX_LINE) return void s.destroy();
    if (done !== 0) send(s, done === bytes.length ? bytes : bytes.subarray(0, done));
  });
}

const server = net.createServer({ noDelay: true }, (s) => {
  s.on("error", () => {});
  if (framer === "raw") s.on("data", (chunk: Uint8Array) => send(s, chunk));
  else echoFrames(s);
});
server.listen({ host: "127.0.0.1", port, backlog: BACKLOG }, () => {
  ready((server.address() as net.AddressInfo).port, () => {
    server.close();
    // Connections the client left open must not hold the exit.
    return new Promise((r) => setTimeout(r, 50));
  });
});
