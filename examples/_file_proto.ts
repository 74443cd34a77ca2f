/**
 * The wire protocol of `file_server.ts` and `file_client.ts`, as one custom framer.
 *
 * ```
 * | len: u32 BE | header: len bytes of JSON | body: header.size raw bytes (only when size is set) |
 * ```
 *
 * Headers: `{op: "put", name, size, sha256}` + body, `{op: "get", name}`; replies
 * `{op: "ok", name, sha256}`, `{op: "error", error}`, `{op: "data", name, size, sha256}` + body.
 *
 * The decoder yields a {@linkcode Header}, then the body as chunks of at most 64 KiB
 * (views of the bytes read, never the whole body), then the next header. Headers are
 * decoded by the built-in `lengthPrefixed()` framer; the bytes after one are handed
 * back with `takeRemaining()`, so nothing is lost where a header and a body share a read.
 * @module
 */
import { open } from "node:fs/promises";
import { type Decoder, type Framer, IncompleteFrameError, lengthPrefixed } from "../mod.ts";

/** One protocol header. `size` means that many raw bytes follow it. */
export interface Header {
  op: "put" | "get" | "ok" | "error" | "data";
  name?: string;
  size?: number;
  sha256?: string;
  error?: string;
}

/** What the decoder yields: a header, or a piece of the body that follows one. */
export type Frame = Header | Uint8Array;

const MAX_HEADER = 16 * 1024;
const MAX_CHUNK = 64 * 1024;
const headers = lengthPrefixed({ size: 4, maxLength: MAX_HEADER });
const utf8 = new TextEncoder();

/** The framer: encodes a header, or body bytes as they are. */
export function fileProto(): Framer<Frame> {
  return {
    name: "file-proto",
    maxLength: MAX_HEADER,
    decoder: () => new FileDecoder(),
    encode: (msg) =>
      msg instanceof Uint8Array ? msg : headers.encode(utf8.encode(JSON.stringify(msg))),
  };
}

class FileDecoder implements Decoder<Frame> {
  #head = headers.decoder();
  #pending: Uint8Array[] = []; // bytes not yet given to #head or out as body
  #left = 0; // body bytes still to come

  get buffered(): number {
    return this.#head.buffered + this.#pending.reduce((n, c) => n + c.length, 0);
  }

  push(chunk: Uint8Array): void {
    if (chunk.length) this.#pending.push(chunk);
  }

  next(): Frame | undefined {
    const p = this.#pending;
    if (this.#left > 0) {
      const c = p[0];
      if (c === undefined) return undefined;
      const n = Math.min(c.length, this.#left, MAX_CHUNK);
      if (n === c.length) p.shift();
      else p[0] = c.subarray(n);
      this.#left -= n;
      return c.subarray(0, n);
    }
    while (p.length) this.#head.push(p.shift()!);
    const frame = this.#head.next();
    if (frame === undefined) return undefined;
    const h = parseHeader(frame);
    this.#left = h.size ?? 0;
    this.#pending = this.#head.takeRemaining(); // the body's first bytes, maybe more
    return h;
  }

  finish(): Frame | undefined {
    const frame = this.next();
    if (frame !== undefined) return frame;
    if (this.#left > 0) throw new IncompleteFrameError(this.#left); // the body was cut short
    return this.#head.finish(); // a partial header: IncompleteFrameError
  }

  takeRemaining(): Uint8Array[] {
    const rest = [...this.#head.takeRemaining(), ...this.#pending];
    this.#pending = [];
    return rest;
  }
}

function parseHeader(bytes: Uint8Array): Header {
  let h: Header;
  try {
    h = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return { op: "error", error: "header is not JSON" };
  }
  if (typeof h !== "object" || h === null || typeof h.op !== "string") {
    return { op: "error", error: "bad header" };
  }
  if (h.size !== undefined && !(Number.isSafeInteger(h.size) && h.size >= 0)) {
    return { op: "error", error: "bad size" }; // a bad size cannot be skipped: the stream is lost
  }
  return h;
}

/** A plain file name: no directories, no `..`, not hidden, at most 255 bytes. */
export function safeName(name: unknown): name is string {
  return typeof name === "string" && /^[\w][\w.-]{0,254}$/.test(name);
}

/** Reads `size` bytes of body from frames, or throws when a header or the end comes first. */
export async function* body(
  next: () => Promise<Frame | undefined>,
  size: number,
): AsyncGenerator<Uint8Array> {
  for (let got = 0; got < size;) {
    const chunk = await next();
    if (!(chunk instanceof Uint8Array)) {
      throw new Error(`body cut short after ${got} of ${size} bytes`);
    }
    got += chunk.length;
    yield chunk;
  }
}

/** The file in pieces, each in a fresh buffer (a buffer handed to `send()` must not change). */
export async function* pieces(path: string, size: number): AsyncGenerator<Uint8Array> {
  const file = await open(path, "r");
  try {
    for (let pos = 0; pos < size;) {
      const buf = new Uint8Array(Math.min(256 * 1024, size - pos));
      const { bytesRead } = await file.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) throw new Error(`${path} shrank while being read`);
      pos += bytesRead;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await file.close();
  }
}
