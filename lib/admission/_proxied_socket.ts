/**
 * The socket a PROXY stage hands on: a {@linkcode RawSocket} whose first bytes go to the
 * stage (a header to read, or a signature to refuse) until it opens, and whose addresses
 * may be the ones the header named. Apart from the stage (`_proxy_stage.ts`), which
 * decides what to read and when, because this is the plumbing of holding and replaying
 * bytes, end and close in order around a running socket.
 * @internal
 * @module
 */

import type { RawSocket, RawSocketHandler, StartTlsOptions } from "../transport.ts";
import type { Addr, TlsInfo } from "../types.ts";

const noop = () => {};

/** The addresses a header gave a connection. */
export interface Addresses {
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
