/**
 * HAProxy's PROXY protocol, v1 and v2, strict: an incremental parser for the header a
 * load balancer sends first, and encoders for both versions.
 *
 * ```
 * v1  "PROXY TCP4 192.0.2.1 192.0.2.2 56324 443\r\n"        text, at most 107 bytes
 *     "PROXY UNKNOWN\r\n"
 *
 * v2  | 0D0A0D0A 000D0A51 5549540A | ver|cmd | fam|tp | len (BE) | addresses | TLVs |
 *       12-byte signature            1 byte    1 byte   2 bytes    <-- len bytes --->
 * ```
 *
 * The header is REQUIRED once the parser is in use: there is no guessing, and
 * anything that is not a valid signature fails as soon as the first bytes show it.
 * Bytes that follow the header in the same chunk come out of
 * {@linkcode ProxyHeaderParser.remaining} untouched, as views of the chunk.
 *
 * Deliberate choices, each from a bug users hit:
 * - LOCAL headers (health checks) are skipped by their length, whatever they carry
 *   (dovecot#125); so are PROXY headers of family UNSPEC. Both have no addresses: use
 *   the socket's own.
 * - v2 lengths are checked against the family's address block before anything is read
 *   (axosyslog#1142), and against `maxHeaderBytes` before anything is buffered.
 * - Unknown TLVs are ignored but kept raw in `tlvs`; a CRC32C TLV is verified.
 *
 * @module
 */

import { decodeV1, V1_MAX_BYTES } from "./_v1.ts";
import { checkV2Fixed, decodeV2, V2_SIGNATURE } from "./_v2.ts";
import { ProxyProtocolError } from "../errors.ts";
import type { ProxyHeader } from "./header.ts";

export type { ProxyHeader, ProxySslInfo, ProxyTlv } from "./header.ts";
export { encodeProxyV1, type ProxyV1Options } from "./_v1.ts";
export { encodeProxyV2, type ProxyV2Options } from "./_v2.ts";
export { PROXY_TLV } from "./_tlv.ts";

/** Options of {@linkcode ProxyHeaderParser}. */
export interface ProxyHeaderParserOptions {
  /**
   * The largest header accepted, in bytes: 16 to 65551 (16 + 65535). Default 4096.
   * A v1 line is also held to its own limit of 107 bytes.
   */
  maxHeaderBytes?: number;
  /** The versions accepted. Default `[1, 2]`. */
  versions?: readonly (1 | 2)[];
}

const V1_SIGNATURE = Uint8Array.of(0x50, 0x52, 0x4f, 0x58, 0x59, 0x20); // "PROXY "

function showBytes(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");
}

/**
 * The incremental parser of one connection's PROXY header. Feed it chunks with
 * {@linkcode ProxyHeaderParser.push} until it returns the header, then take the bytes
 * that followed the header with {@linkcode ProxyHeaderParser.remaining} and hand them
 * to the framer. Bytes held never exceed `maxHeaderBytes` plus the last chunk.
 *
 * Errors are {@linkcode ProxyProtocolError}s and terminal: every later `push()`
 * throws the same error. Close the connection.
 *
 * @example Reading the header, then the payload
 * ```ts
 * import { encodeProxyV1, ProxyHeaderParser } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const parser = new ProxyHeaderParser();
 * const wire = encodeProxyV1({
 *   source: { transport: "tcp", hostname: "192.0.2.1", port: 5000, family: "IPv4" },
 *   destination: { transport: "tcp", hostname: "192.0.2.2", port: 443, family: "IPv4" },
 * });
 * const chunk = new Uint8Array([...wire, ...new TextEncoder().encode("hello\n")]);
 * const header = parser.push(chunk); // undefined would mean: push more
 * assert.deepEqual(header?.source, {
 *   transport: "tcp",
 *   hostname: "192.0.2.1",
 *   port: 5000,
 *   family: "IPv4",
 * });
 * const rest = parser.remaining(); // what followed the header: a view of chunk
 * assert.deepEqual(rest.map((b) => new TextDecoder().decode(b)), ["hello\n"]);
 * ```
 */
export class ProxyHeaderParser {
  #max: number;
  #versions: readonly (1 | 2)[];
  #head = new Uint8Array(16);
  #headLen = 0;
  #chunks: Uint8Array[] = [];
  #size = 0;
  #version: 0 | 1 | 2 = 0;
  #total = -1;
  #lastByte = -1;
  #header: ProxyHeader | undefined;
  #rest: Uint8Array[] = [];
  #error: ProxyProtocolError | undefined;

  /**
   * Creates a parser for one connection.
   * @param options Limits and accepted versions.
   * @throws {RangeError} When `maxHeaderBytes` is out of range or `versions` is empty.
   */
  constructor(options: ProxyHeaderParserOptions = {}) {
    const { maxHeaderBytes = 4096, versions = [1, 2] } = options;
    if (!Number.isInteger(maxHeaderBytes) || maxHeaderBytes < 16 || maxHeaderBytes > 65551) {
      throw new RangeError(`maxHeaderBytes must be an integer 16-65551, got ${maxHeaderBytes}`);
    }
    if (versions.length === 0 || versions.some((v) => v !== 1 && v !== 2)) {
      throw new RangeError(`versions must list 1, 2 or both, got [${versions.join(", ")}]`);
    }
    this.#max = maxHeaderBytes;
    this.#versions = [...versions];
  }

  /** True once the header has been parsed. */
  get done(): boolean {
    return this.#header !== undefined;
  }

  /** The header, once parsed. */
  get header(): ProxyHeader | undefined {
    return this.#header;
  }

  /** Bytes held: the partial header before it is complete, what followed it after. */
  get buffered(): number {
    return this.#header ? this.#rest.reduce((n, c) => n + c.length, 0) : this.#size;
  }

  /**
   * Feeds one chunk. The chunk becomes the parser's: do not change it afterwards.
   * @param chunk The next bytes from the connection.
   * @returns The header once complete, `undefined` while more bytes are needed.
   * @throws {ProxyProtocolError} When the bytes cannot be a valid header (at once, and on every later call).
   * @throws {TypeError} When called again after the header was returned.
   */
  push(chunk: Uint8Array): ProxyHeader | undefined {
    if (this.#error) throw this.#error;
    if (this.#header) {
      throw new TypeError(
        "ProxyHeaderParser: header already parsed; hand later bytes to the framer",
      );
    }
    try {
      return this.#push(chunk);
    } catch (e) {
      if (e instanceof ProxyProtocolError) {
        this.#error = e;
        this.#chunks = [];
      }
      throw e;
    }
  }

  /**
   * Removes and returns the bytes that followed the header (views of the last chunk,
   * no copy). Empty when the header ended exactly at a chunk boundary.
   * @returns The bytes, in order.
   * @throws {TypeError} When the header is not complete yet.
   */
  remaining(): Uint8Array[] {
    if (!this.#header) {
      throw new TypeError("ProxyHeaderParser: remaining() before the header is complete");
    }
    const rest = this.#rest;
    this.#rest = [];
    return rest;
  }

  /**
   * Call at end of input. Does nothing once the header was parsed.
   * @throws {ProxyProtocolError} When the stream ended before the header was complete.
   */
  finish(): void {
    if (this.#error) throw this.#error;
    if (this.#header) return;
    this.#error = new ProxyProtocolError(
      this.#size === 0
        ? "PROXY header missing: the stream ended before any byte"
        : `PROXY header incomplete: the stream ended after ${this.#size} bytes`,
    );
    throw this.#error;
  }

  #push(chunk: Uint8Array): ProxyHeader | undefined {
    if (chunk.length === 0) return undefined;
    const start = this.#size;
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    if (this.#headLen < 16) {
      const n = Math.min(16 - this.#headLen, chunk.length);
      this.#head.set(chunk.subarray(0, n), this.#headLen);
      const from = this.#headLen;
      this.#headLen += n;
      this.#checkSignature(from);
    }
    if (this.#version === 1 && this.#total < 0) this.#scanV1(chunk, start);
    if (this.#version === 2 && this.#total < 0) {
      this.#total = checkV2Fixed(this.#head, this.#headLen, this.#max);
    }
    return this.#total >= 0 && this.#size >= this.#total ? this.#complete() : undefined;
  }

  #checkSignature(from: number): void {
    const head = this.#head;
    if (from === 0) {
      const v = head[0] === V1_SIGNATURE[0] ? 1 : head[0] === V2_SIGNATURE[0] ? 2 : 0;
      if (v === 0) {
        throw new ProxyProtocolError(
          `PROXY header required: first byte 0x${head[0].toString(16).padStart(2, "0")}` +
            ` is neither "P" (v1) nor "\\r" (v2)`,
        );
      }
      if (!this.#versions.includes(v)) {
        throw new ProxyProtocolError(
          `PROXY v${v} header received, only v${this.#versions[0]} is accepted`,
        );
      }
      this.#version = v;
    }
    const sig = this.#version === 1 ? V1_SIGNATURE : V2_SIGNATURE;
    for (let i = from; i < Math.min(this.#headLen, sig.length); i++) {
      if (head[i] !== sig[i]) {
        throw new ProxyProtocolError(
          `PROXY v${this.#version} signature mismatch at byte ${i}: ` +
            `got ${showBytes(head.subarray(0, i + 1))}, want ${showBytes(sig.subarray(0, i + 1))}`,
        );
      }
    }
  }

  #scanV1(chunk: Uint8Array, start: number): void {
    const limit = Math.min(V1_MAX_BYTES, this.#max);
    const lf = chunk.subarray(0, Math.max(0, limit - start)).indexOf(0x0a);
    if (lf >= 0) {
      const before = lf > 0 ? chunk[lf - 1] : this.#lastByte;
      if (before !== 0x0d) {
        throw new ProxyProtocolError("PROXY v1 line ends in a lone LF; CRLF required");
      }
      this.#total = start + lf + 1;
    } else if (this.#size >= limit) {
      throw new ProxyProtocolError(`PROXY v1 line has no CRLF within ${limit} bytes`);
    }
    this.#lastByte = chunk[chunk.length - 1];
  }

  #complete(): ProxyHeader {
    const total = this.#total;
    const chunks = this.#chunks;
    const last = chunks[chunks.length - 1];
    const lastStart = this.#size - last.length;
    let raw: Uint8Array;
    if (chunks.length === 1) {
      raw = last.slice(0, total); // a copy, so the header does not pin a big chunk
    } else {
      raw = new Uint8Array(total);
      let at = 0;
      for (const c of chunks) {
        const part = c.subarray(0, Math.min(c.length, total - at));
        raw.set(part, at);
        at += part.length;
      }
    }
    const header = this.#version === 1 ? decodeV1(raw) : decodeV2(raw);
    this.#chunks = [];
    if (total - lastStart < last.length) this.#rest = [last.subarray(total - lastStart)];
    this.#header = header;
    return header;
  }
}

/**
 * Parses a PROXY header at the start of `bytes`, all at once: for peeking at a
 * buffer without a parser. `header.byteLength` says how many bytes it took.
 *
 * @param bytes The bytes received so far.
 * @param options Limits and accepted versions.
 * @returns The header, or `undefined` when more bytes are needed.
 * @throws {ProxyProtocolError} When the bytes cannot be a valid header.
 *
 * @example Peeking
 * ```ts
 * import { parseProxyHeader } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const bytes = new TextEncoder().encode("PROXY UNKNOWN\r\nrest");
 * assert.equal(parseProxyHeader(bytes)?.byteLength, 15);
 * assert.equal(parseProxyHeader(bytes.subarray(0, 8)), undefined); // need more
 * ```
 */
export function parseProxyHeader(
  bytes: Uint8Array,
  options?: ProxyHeaderParserOptions,
): ProxyHeader | undefined {
  return new ProxyHeaderParser(options).push(bytes);
}

/**
 * Whether `bytes` begin with a PROXY signature (v1 `"PROXY "` or the v2 12 bytes).
 * Meant for refusing a header from an untrusted peer, not for guessing on a trusted one.
 *
 * @param bytes The first bytes of a connection.
 * @returns `true` or `false`, or `undefined` when too few bytes to tell.
 *
 * @example Untrusted peers must not send a header
 * ```ts
 * import { startsWithProxySignature } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const enc = new TextEncoder();
 * assert.equal(startsWithProxySignature(enc.encode("PROXY TCP4")), true);
 * assert.equal(startsWithProxySignature(enc.encode("GET /")), false);
 * assert.equal(startsWithProxySignature(enc.encode("PRO")), undefined); // need more
 * ```
 */
export function startsWithProxySignature(bytes: Uint8Array): boolean | undefined {
  let unsure = false;
  for (const sig of [V1_SIGNATURE, V2_SIGNATURE]) {
    const n = Math.min(bytes.length, sig.length);
    let same = true;
    for (let i = 0; i < n && same; i++) same = bytes[i] === sig[i];
    if (same && n === sig.length) return true;
    if (same) unsure = true;
  }
  return unsure ? undefined : false;
}
