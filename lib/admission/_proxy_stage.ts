/**
 * The PROXY protocol stage of a listener: it runs on the raw socket before admission,
 * so per-client limits and `remote` routes see the real client.
 *
 * ```
 * accept ─> trusted peer? ─ yes ─> read the header (required, `timeout`) ─> addresses
 *             │                        │ malformed / missing / too slow     replaced ─> admission
 *             no                       v
 *             │                     reject "proxy"
 *             v
 *           admission; the first bytes are checked: a PROXY signature aborts it ("proxy")
 * ```
 *
 * Trusted peers are the `trusted` CIDRs; Unix socket peers (local processes that may
 * open the socket file) are always trusted. The header is never guessed: a trusted peer
 * must send one, an untrusted peer must not.
 *
 * Both paths wrap the socket in a {@linkcode ProxiedSocket} (`_proxied_socket.ts`), which
 * only costs the listeners that turn the protocol on.
 * @internal
 * @module
 */

import { concatBytes } from "../_bytes.ts";
import type { RawSocket } from "../transport.ts";
import { ProxyProtocolError, TimeoutError, UnsupportedError } from "../errors.ts";
import { cidrMatcher } from "../ip.ts";
import {
  type ProxyHeader,
  ProxyHeaderParser,
  startsWithProxySignature,
} from "../proxy/protocol.ts";
import type { Addr, TlsServerOptions } from "../types.ts";
import { type Addresses, ProxiedSocket } from "./_proxied_socket.ts";

/** The PROXY protocol on a listener (HAProxy's spec, v1 and v2). */
export interface ProxyProtocolOptions {
  /**
   * The proxies: CIDRs or addresses (`"10.0.0.0/8"`, `"127.0.0.1"`, `"::1"`). A header
   * is REQUIRED from them, and refused from everyone else. Unix socket peers are
   * always trusted.
   */
  trusted: string | readonly string[];
  /** Milliseconds a trusted peer has to send the whole header. Default 5 000; at least 3 000. */
  timeout?: number;
  /** The largest header accepted, bytes (16 to 65551). Default 4096. */
  maxHeaderBytes?: number;
  /** The versions accepted. Default `[1, 2]`. */
  versions?: readonly (1 | 2)[];
}

/** The smallest header timeout allowed: the spec asks for at least 3 s. */
export const MIN_PROXY_TIMEOUT = 3_000;
const DEFAULT_TIMEOUT = 5_000;
/** Bytes enough to tell a PROXY signature (v2's is 12 bytes long). */
const SIGNATURE_BYTES = 12;
const noop = () => {};

/** What a header changes: nothing for LOCAL and UNSPEC, else the addresses. */
function addressesOf(header: ProxyHeader, socket: RawSocket): Addresses | undefined {
  if (header.command === "local" || !header.source || !header.destination) return undefined;
  return { remote: header.source, local: header.destination, proxiedBy: socket.remoteAddr };
}

/** The PROXY stage of one listener. */
export class ProxyStage {
  #trusted: (ip: string) => boolean;
  #timeout: number;
  #parser: { maxHeaderBytes?: number; versions?: readonly (1 | 2)[] };
  #reading = new Set<RawSocket>();
  /** TLS to start after the header (or at once for untrusted peers), if the listener has it. */
  readonly tls: TlsServerOptions | undefined;

  /**
   * @param options The listener's `proxyProtocol`.
   * @param tls The listener's TLS, which then starts after the header.
   * @throws {TypeError} When `trusted` is missing or holds an invalid block.
   * @throws {RangeError} When `timeout` is below 3 000 ms, or a parser limit is out of range.
   */
  constructor(options: ProxyProtocolOptions, tls?: TlsServerOptions) {
    this.tls = tls;
    if (!options || (typeof options.trusted !== "string" && !Array.isArray(options.trusted))) {
      throw new TypeError(
        'proxyProtocol needs `trusted`: the proxies\' CIDRs, e.g. ["10.0.0.0/8", "127.0.0.1"]',
      );
    }
    this.#trusted = cidrMatcher(options.trusted);
    const timeout = options.timeout ?? DEFAULT_TIMEOUT;
    if (typeof timeout !== "number" || !(timeout >= MIN_PROXY_TIMEOUT) || timeout === Infinity) {
      throw new RangeError(
        `proxyProtocol.timeout must be a number of ms >= ${MIN_PROXY_TIMEOUT} ` +
          `(the PROXY spec asks for at least 3 s), got ${timeout}`,
      );
    }
    this.#timeout = timeout;
    this.#parser = { maxHeaderBytes: options.maxHeaderBytes, versions: options.versions };
    new ProxyHeaderParser(this.#parser); // checks the limits now
  }

  /** Whether a peer must send a header (true) or must not (false). */
  trusts(remote: Addr): boolean {
    if (remote.transport === "unix") return true;
    return remote.transport === "tcp" && this.#trusted(remote.hostname);
  }

  /**
   * Reads the header from a trusted peer. Resolves with the socket carrying the
   * header's addresses; rejects with a `ProxyProtocolError` (malformed, missing, the
   * stream ended first), a `TimeoutError` of kind `"proxyHeader"`, or the socket's
   * own error. On rejection `socket` (the wrapper) is still open: reject it.
   */
  read(raw: RawSocket): { socket: ProxiedSocket; header: Promise<ProxyHeader> } {
    const socket = new ProxiedSocket(raw);
    const parser = new ProxyHeaderParser(this.#parser);
    this.#reading.add(raw);
    const header = new Promise<ProxyHeader>((resolve, reject) => {
      let done = false;
      const finish = (error?: Error, header?: ProxyHeader) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.#reading.delete(raw);
        raw.pause();
        if (error) {
          socket.open([]);
          reject(error);
        } else resolve(header!);
      };
      const timer = setTimeout(
        () => finish(new TimeoutError("proxyHeader", this.#timeout)),
        this.#timeout,
      );
      socket.gate(
        (chunk) => {
          let h: ProxyHeader | undefined;
          try {
            h = parser.push(chunk);
          } catch (e) {
            return finish(e as Error);
          }
          if (!h) return;
          finish(undefined, h);
          socket.open(parser.remaining(), addressesOf(h, raw));
        },
        () => {
          try {
            parser.finish();
          } catch (e) {
            finish(e as Error);
          }
        },
        (error) => {
          finish(error ?? new ProxyProtocolError("connection closed before the PROXY header"));
        },
      );
    });
    raw.resume();
    return { socket, header };
  }

  /**
   * Watches an untrusted peer: its first bytes are held until they show whether they
   * start with a PROXY signature. If they do, `refuse` runs and nothing is delivered.
   */
  guard(raw: RawSocket, refuse: (e: ProxyProtocolError) => void): ProxiedSocket {
    const socket = new ProxiedSocket(raw);
    const head: Uint8Array[] = [];
    let held = 0;
    const decide = (ended: boolean) => {
      const bytes = head.length === 1 ? head[0] : concatBytes(head, held);
      const verdict = startsWithProxySignature(bytes.subarray(0, SIGNATURE_BYTES));
      if (verdict === undefined && !ended) return;
      if (verdict) {
        socket.gate(noop, noop);
        raw.pause();
        refuse(
          new ProxyProtocolError("PROXY header from an untrusted peer; it is not in `trusted`"),
        );
        return;
      }
      socket.open(head.splice(0), undefined, ended);
    };
    socket.gate(
      (chunk) => {
        if (chunk.length === 0) return;
        head.push(chunk);
        held += chunk.length;
        decide(false);
      },
      () => decide(true),
    );
    return socket;
  }

  /** Starts the listener's TLS on a socket (server side), with the bytes it holds first. */
  startTls(socket: RawSocket): Promise<RawSocket> {
    if (!socket.startTls) {
      return Promise.reject(new UnsupportedError("this adapter", "TLS after a PROXY header"));
    }
    return socket.startTls({ server: this.tls });
  }

  /** Aborts every socket still sending its header (shutdown). */
  abortAll(): void {
    for (const raw of this.#reading) raw.abort();
    this.#reading.clear();
  }
}
