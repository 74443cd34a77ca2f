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
 * Both paths wrap the socket in a {@linkcode ProxiedSocket}, which only costs the
 * listeners that turn the protocol on.
 * @internal
 * @module
 */

import { concatBytes } from "../_bytes.ts";
import type { RawSocket, RawSocketHandler, StartTlsOptions } from "../transport.ts";
import { ProxyProtocolError, TimeoutError, UnsupportedError } from "../errors.ts";
import { cidrMatcher } from "../ip.ts";
import {
  type ProxyHeader,
  ProxyHeaderParser,
  startsWithProxySignature,
} from "../proxy/protocol.ts";
import type { Addr, TlsInfo, TlsServerOptions } from "../types.ts";

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

/** The addresses a header gave a connection. */
interface Addresses {
  remote: Addr;
  local: Addr;
  proxiedBy: Addr | undefined;
}

/**
 * A socket whose first bytes belong to a stage (a header to read, or a signature to
 * refuse) and whose addresses may be the ones a PROXY header named. Everything else
 * is forwarded to the socket underneath.
 */
export class ProxiedSocket implements RawSocket {
  #inner: RawSocket;
  #addrs: Addresses | undefined;
  #handler: RawSocketHandler | undefined;
  /** While set, the inner socket's bytes go here instead of to the handler. */
  #gate: ((chunk: Uint8Array) => void) | undefined;
  #gateEnd: (() => void) | undefined;
  #gateClose: ((error?: Error) => void) | undefined;
  #paused = true;
  #held: Uint8Array[] = [];
  #heldEnd = false;
  #heldClose: { error?: Error } | undefined;
  #closed = false;
  #failure: Error | undefined;

  /** Takes over `inner`: its events now come here. */
  constructor(inner: RawSocket) {
    this.#inner = inner;
    inner.start({
      data: (chunk) => this.#gate ? this.#gate(chunk) : this.#data(chunk),
      end: () => this.#gateEnd ? this.#gateEnd() : this.#end(),
      drain: () => this.#handler?.drain(),
      close: (error) => {
        const gateClose = this.#gateClose;
        if (gateClose) {
          this.#gate = this.#gateEnd = this.#gateClose = undefined;
          gateClose(error); // told first; the close is then handled as usual
        }
        this.#close(error);
      },
    });
  }

  get localAddr(): Addr {
    return this.#addrs?.local ?? this.#inner.localAddr;
  }
  get remoteAddr(): Addr {
    return this.#addrs?.remote ?? this.#inner.remoteAddr;
  }
  get proxiedBy(): Addr | undefined {
    return this.#addrs?.proxiedBy;
  }
  get bufferedAmount(): number {
    return this.#inner.bufferedAmount;
  }
  get tls(): TlsInfo | undefined {
    return this.#inner.tls;
  }

  /**
   * @internal Routes the inner socket's bytes and end to a stage until
   * {@linkcode ProxiedSocket.open}; `close` is told of a close, which then goes on as usual.
   */
  gate(
    data: (chunk: Uint8Array) => void,
    end: () => void,
    close?: (error?: Error) => void,
  ): void {
    this.#gate = data;
    this.#gateEnd = end;
    this.#gateClose = close;
  }

  /**
   * @internal Ends the stage: `rest` (bytes after the header) come first, then what the
   * stage saw of end and close; the header's addresses replace the socket's.
   */
  open(rest: Uint8Array[], addrs?: Addresses, ended = false): void {
    this.#gate = this.#gateEnd = this.#gateClose = undefined;
    if (addrs) this.#addrs = addrs;
    for (const c of rest) if (c.length > 0) this.#held.push(c);
    if (ended) this.#heldEnd = true;
    if (!this.#paused) this.#flush();
  }

  start(handler: RawSocketHandler): void {
    if (this.#handler) throw new Error("RawSocket.start() was already called");
    this.#handler = handler;
    if (this.#closed) queueMicrotask(() => handler.close(this.#heldClose?.error));
  }

  write(chunk: Uint8Array): boolean {
    return this.#inner.write(chunk);
  }

  pause(): void {
    this.#paused = true;
    this.#inner.pause();
  }

  resume(): void {
    if (!this.#paused || this.#closed) return;
    this.#paused = false;
    if (this.#held.length || this.#heldEnd || this.#heldClose) queueMicrotask(() => this.#flush());
    else this.#inner.resume();
  }

  cork(): void {
    this.#inner.cork?.();
  }
  uncork(): void {
    this.#inner.uncork?.();
  }
  end(): void {
    this.#inner.end();
  }
  close(): void {
    this.#inner.close();
  }
  abort(): void {
    this.#inner.abort();
  }
  setNoDelay(on: boolean): void {
    this.#inner.setNoDelay(on);
  }
  setKeepAlive(on: boolean, initialDelay?: number): void {
    this.#inner.setKeepAlive(on, initialDelay);
  }

  /**
   * @internal Refuses the connection: nothing more is delivered, the socket is aborted
   * and its handler's `close` gets `error`.
   */
  fail(error: Error): void {
    this.#failure = error;
    this.gate(noop, noop);
    this.#held = [];
    this.#heldEnd = false;
    this.#inner.abort();
  }

  /** STARTTLS on the socket underneath; the bytes held here go to TLS first. */
  async startTls(options: StartTlsOptions): Promise<RawSocket> {
    const inner = this.#inner;
    if (!inner.startTls) throw new TypeError("the socket cannot start TLS");
    const head = [...this.#held.splice(0), ...(options.head ?? [])];
    const handler = this.#handler;
    this.#handler = undefined; // the TLS socket replaces this one
    this.#closed = true;
    let next: RawSocket;
    try {
      next = await inner.startTls({ ...options, head });
    } catch (e) {
      handler?.close(e as Error);
      throw e;
    }
    const wrapped = new ProxiedSocket(next);
    wrapped.#addrs = this.#addrs;
    return wrapped;
  }

  #data(chunk: Uint8Array): void {
    if (this.#closed) return;
    if (this.#paused || this.#held.length) this.#held.push(chunk);
    else this.#handler?.data(chunk);
  }

  #end(): void {
    if (this.#closed) return;
    if (this.#paused || this.#held.length) this.#heldEnd = true;
    else this.#handler?.end();
  }

  #close(error?: Error): void {
    if (this.#closed) return;
    error = this.#failure ?? error;
    // A clean close waits behind held bytes; a broken one goes at once.
    if (!error && (this.#held.length || this.#heldEnd)) {
      this.#heldClose = {};
      return;
    }
    this.#closed = true;
    this.#heldClose = { error };
    this.#handler?.close(error);
  }

  #flush(): void {
    const h = this.#handler;
    if (!h) return;
    while (!this.#paused && !this.#closed && this.#held.length) h.data(this.#held.shift()!);
    if (this.#paused || this.#closed) return;
    if (this.#heldEnd) {
      this.#heldEnd = false;
      h.end();
    }
    if (this.#heldClose && !this.#closed) {
      this.#closed = true;
      return h.close(this.#heldClose.error);
    }
    if (!this.#paused) this.#inner.resume();
  }
}

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
