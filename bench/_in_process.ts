// What the in-process benchmarks (hot_path.ts, hot_path_ab.ts) share: a socket that only
// counts bytes, and the reads they feed it.
import type { RawSocket, RawSocketHandler } from "../lib/transport.ts";

/** Frames per read and bytes per frame: the pipelined benchmark's 1 KiB reads. */
export const PER_CHUNK = 32;
export const SIZE = 32;

/** A socket that counts what is written; cork is a no-op, as it is for the connection. */
export class CountingSocket implements RawSocket {
  readonly localAddr = { transport: "unix", path: "" } as const;
  readonly remoteAddr = { transport: "unix", path: "" } as const;
  bufferedAmount = 0;
  written = 0;
  handler!: RawSocketHandler;
  start(h: RawSocketHandler): void {
    this.handler = h;
  }
  write(chunk: Uint8Array): boolean {
    this.written += chunk.length;
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
}

/** 64 reads of `PER_CHUNK` frames of `SIZE` bytes: lines, or 4-byte big-endian lengths. */
export function chunks(kind: "lines" | "length"): Uint8Array[] {
  const one = new Uint8Array(SIZE).fill(97);
  if (kind === "lines") one[SIZE - 1] = 10;
  else new DataView(one.buffer).setUint32(0, SIZE - 4);
  const out: Uint8Array[] = [];
  for (let i = 0; i < 64; i++) {
    const c = new Uint8Array(SIZE * PER_CHUNK);
    for (let j = 0; j < PER_CHUNK; j++) c.set(one, j * SIZE);
    out.push(c);
  }
  return out;
}
