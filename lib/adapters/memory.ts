/**
 * An in-process transport for unit tests: a connected pair of sockets with no kernel
 * underneath, and a `Transport` whose ports live in a process-wide registry.
 *
 * It keeps the semantics of the real adapters: data is delivered asynchronously and
 * only while resumed; bytes a paused reader has not taken stay on the writer's
 * `bufferedAmount` (so backpressure is testable); `end()` queues a FIN behind the data;
 * `close()` finishes once the peer has taken every queued byte; `abort()` drops
 * everything and the peer gets `close(ConnectionResetError)`; writing to a peer that
 * is gone resets the writer, as TCP does.
 *
 * @module
 */

import type { MemoryAddr } from "../types.ts";
import type {
  RawSocket,
  RawSocketHandler,
  Transport,
  TransportConnectOptions,
  TransportListener,
  TransportListenOptions,
} from "../transport.ts";
import {
  ConnectError,
  ConnectionError,
  ConnectionResetError,
  UnsupportedError,
} from "../errors.ts";
import { abortedConnect, describeTarget } from "./_util.ts";

const DEFAULT_HIGH_WATER_MARK = 64 * 1024;

/** One end of an in-process connection. */
class MemorySocket implements RawSocket {
  readonly localAddr: MemoryAddr;
  readonly remoteAddr: MemoryAddr;
  peer!: MemorySocket;
  #hwm: number;
  #handler: RawSocketHandler | undefined;
  #paused = true;
  /** What the peer wrote and this side has not delivered yet, then the peer's FIN. */
  #inbox: Uint8Array[] = [];
  #inboxBytes = 0;
  #inboxEnd = false;
  #endDelivered = false;
  #scheduled = false;
  #writeEnded = false;
  #closeWhenFlushed = false;
  #needDrain = false;
  #closed = false;
  #closeError: Error | undefined;
  #closeEmitted = false;

  constructor(localAddr: MemoryAddr, remoteAddr: MemoryAddr, hwm: number) {
    this.localAddr = localAddr;
    this.remoteAddr = remoteAddr;
    this.#hwm = hwm;
  }

  get bufferedAmount(): number {
    return this.#closed ? 0 : this.peer.#inboxBytes;
  }

  start(handler: RawSocketHandler): void {
    if (this.#handler) throw new Error("RawSocket.start() was already called");
    this.#handler = handler;
    if (this.#closed) this.#emitClose();
    else this.#schedule();
  }

  write(chunk: Uint8Array): boolean {
    if (this.#closed || this.#writeEnded) return false;
    const peer = this.peer;
    if (peer.#closed) {
      // Data sent to a socket that is gone draws a reset, as on TCP.
      this.#destroy(new ConnectionResetError(undefined, "EPIPE"));
      return false;
    }
    if (chunk.length > 0) {
      peer.#inbox.push(chunk.slice());
      peer.#inboxBytes += chunk.length;
      peer.#schedule();
    }
    const ok = peer.#inboxBytes < this.#hwm;
    if (!ok) this.#needDrain = true;
    return ok;
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#schedule();
  }

  end(): void {
    if (this.#closed || this.#writeEnded) return;
    this.#writeEnded = true;
    this.peer.#inboxEnd = true;
    this.peer.#schedule();
    this.#maybeFinish();
  }

  close(): void {
    if (this.#closed) return;
    this.end();
    this.#closeWhenFlushed = true;
    this.#maybeFinish();
  }

  abort(): void {
    if (this.#closed) return;
    this.#destroy(undefined);
    if (!this.peer.#closed) this.peer.#destroy(new ConnectionResetError());
  }

  setNoDelay(_on: boolean): void {}

  setKeepAlive(_on: boolean, _initialDelay?: number): void {}

  #schedule(): void {
    if (this.#scheduled || this.#paused || this.#closed || !this.#handler) return;
    this.#scheduled = true;
    setTimeout(() => {
      this.#scheduled = false;
      this.#deliver();
    }, 0);
  }

  #deliver(): void {
    const handler = this.#handler!;
    while (!this.#paused && !this.#closed && this.#inbox.length > 0) {
      const chunk = this.#inbox.shift()!;
      this.#inboxBytes -= chunk.length;
      handler.data(chunk);
    }
    if (this.#inbox.length === 0) this.peer.#flushed();
    if (this.#paused || this.#closed || this.#inbox.length > 0) return;
    if (this.#inboxEnd && !this.#endDelivered) {
      this.#endDelivered = true;
      handler.end();
      this.#maybeFinish();
    }
  }

  /** The peer took everything this side wrote. */
  #flushed(): void {
    if (this.#closed) return;
    if (this.#needDrain) {
      this.#needDrain = false;
      this.#handler?.drain();
    }
    this.#maybeFinish();
  }

  #maybeFinish(): void {
    if (this.#closed) return;
    if (this.#writeEnded && this.#endDelivered) this.#closeWhenFlushed = true;
    if (!this.#closeWhenFlushed || this.peer.#inboxBytes > 0) return;
    // Closing with bytes left unread sends a reset on TCP; do the same.
    const unread = this.#inboxBytes > 0;
    this.#destroy(undefined);
    if (unread && !this.peer.#closed) this.peer.#destroy(new ConnectionResetError());
  }

  #destroy(error: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = error;
    this.#inbox = [];
    this.#inboxBytes = 0;
    this.#emitClose();
  }

  #emitClose(): void {
    if (!this.#handler || this.#closeEmitted) return;
    this.#closeEmitted = true;
    const handler = this.#handler;
    setTimeout(() => handler.close(this.#closeError), 0);
  }
}

let nextPort = 49152;
/** Memory listeners by key (`port:N` or `path:P`). */
const registry = new Map<string, MemoryListenerEntry>();

interface MemoryListenerEntry {
  addr: MemoryAddr;
  hwm: number;
  onSocket(socket: RawSocket): void;
}

function allocatePort(): number {
  for (let i = 0; i < 16384; i++) {
    const port = nextPort;
    nextPort = nextPort >= 65535 ? 49152 : nextPort + 1;
    if (!registry.has(`port:${port}`)) return port;
  }
  throw new ConnectionError("no free memory port", "EADDRINUSE");
}

function pair(
  a: MemoryAddr,
  b: MemoryAddr,
  hwmA: number,
  hwmB: number,
): [MemorySocket, MemorySocket] {
  const x = new MemorySocket(a, b, hwmA);
  const y = new MemorySocket(b, a, hwmB);
  x.peer = y;
  y.peer = x;
  return [x, y];
}

/**
 * Makes a connected pair of in-process sockets, both paused and without a handler.
 *
 * @param writeHighWaterMark The write high-water mark of both ends, bytes.
 * @returns The two ends.
 *
 * @example A round trip
 * ```ts
 * import { memoryPair } from "./memory.ts";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = memoryPair();
 * const got: number[] = [];
 * const closed = Promise.withResolvers<void>();
 * b.start({
 *   data: (c) => void got.push(...c),
 *   end: () => b.close(), // the peer's FIN: close our side too
 *   drain() {},
 *   close: () => closed.resolve(),
 * });
 * b.resume();
 * a.start({ data() {}, end() {}, drain() {}, close() {} });
 * a.write(new Uint8Array([1, 2, 3]));
 * a.close();
 * await closed.promise;
 * assert.deepEqual(got, [1, 2, 3]);
 * ```
 */
export function memoryPair(writeHighWaterMark = DEFAULT_HIGH_WATER_MARK): [RawSocket, RawSocket] {
  const a: MemoryAddr = { transport: "memory", name: "pair", port: allocatePort() };
  const b: MemoryAddr = { transport: "memory", name: "pair", port: allocatePort() };
  return pair(a, b, writeHighWaterMark, writeHighWaterMark);
}

function keyOf(o: { port?: number; path?: string }): string {
  return o.path !== undefined ? `path:${o.path}` : `port:${o.port ?? 0}`;
}

/**
 * The in-process transport. `listen({ port: 0 })` allocates a port; `connect({ port })`
 * reaches the listener registered under it (or under `path`). Bind errors throw.
 */
export const memoryTransport: Transport = {
  name: "memory",
  serverTlsAfterRead: false, // no TLS at all

  listen(options: TransportListenOptions, onSocket: (s: RawSocket) => void): TransportListener {
    if (options.tls) throw new UnsupportedError("memory", "TLS");
    const port = options.path !== undefined ? 0 : options.port || allocatePort();
    const key = keyOf({ port, path: options.path });
    const name = options.path ?? options.hostname ?? "memory";
    if (registry.has(key)) {
      throw new ConnectionError(`listen on memory:${name}:${port} failed: in use`, "EADDRINUSE");
    }
    const entry: MemoryListenerEntry = {
      addr: { transport: "memory", name, port },
      hwm: options.writeHighWaterMark,
      onSocket,
    };
    registry.set(key, entry);
    return {
      addr: entry.addr,
      ready: Promise.resolve(),
      close() {
        if (registry.get(key) === entry) registry.delete(key);
        return Promise.resolve();
      },
    };
  },

  connect(options: TransportConnectOptions): Promise<RawSocket> {
    const target = describeTarget(options);
    const { signal } = options;
    return new Promise((resolve, reject) => {
      if (options.tls) throw new UnsupportedError("memory", "TLS");
      if (signal?.aborted) throw abortedConnect(signal, target);
      const fail = () => reject(abortedConnect(signal!, target));
      signal?.addEventListener("abort", fail, { once: true });
      setTimeout(() => {
        signal?.removeEventListener("abort", fail);
        if (signal?.aborted) return;
        const entry = registry.get(keyOf(options));
        if (!entry) return reject(new ConnectError("refused", target, undefined, "ECONNREFUSED"));
        const local: MemoryAddr = { transport: "memory", name: "client", port: allocatePort() };
        const [client, server] = pair(local, entry.addr, options.writeHighWaterMark, entry.hwm);
        entry.onSocket(server);
        resolve(client);
      }, 0);
    });
  },
};
