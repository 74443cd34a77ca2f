/**
 * The seam between tcpkit's runtime-free core and its adapters: the transport interface
 * that every adapter implements (`adapters/deno/`, `adapters/bun/`, `adapters/node/`,
 * `adapters/memory.ts`) and that `Connection`, admission and the server use. Neither side
 * owns it: it imports nothing but the shared types. Internal: only `AdapterName` is
 * exported from `mod.ts`.
 *
 * Contract, in short:
 * - A socket starts PAUSED with no handler. The owner calls `start(handler)` and
 *   then `resume()`; no `data` is delivered before `resume()`.
 * - `data(chunk)`: the chunk is the receiver's to keep; the adapter never reuses or
 *   changes it afterwards. Unless the receiver asked for lent chunks (`lend()`, where
 *   the adapter offers it): then a chunk is valid only during `data()`.
 * - `end()`: the peer half-closed (FIN). Writing is still possible.
 * - `close(error?)`: fired exactly once when the socket is gone, with a typed
 *   `ConnectionError` if it broke (reset, ...) and nothing if it closed normally.
 *   Nothing else fires after it.
 * - `write(chunk)` always takes the whole chunk (the adapter keeps what the kernel did
 *   not take) and returns `false` once the adapter holds `writeHighWaterMark` bytes or
 *   more; `drain()` then fires once everything held has been handed to the kernel.
 *   The chunk must not be changed after `write()`.
 * - `end()` half-closes after every queued byte is sent; `close()` closes after every
 *   queued byte is sent; `abort()` drops the queue and closes at once.
 * - Calls after close are ignored (writes return `false`).
 * - `cork()` (optional) holds small writes until `uncork()`, so that the replies to a
 *   batch of messages leave in one system call. It only changes when bytes are handed
 *   to the kernel: `end()`, `close()` and 64 KiB held flush at once.
 *
 * @module
 */

import type { AcceptFailure } from "./errors.ts";
import type { Addr, TlsClientOptions, TlsInfo, TlsServerOptions } from "./types.ts";

/** Events a raw socket delivers. */
export interface RawSocketHandler {
  /** Bytes arrived. The chunk is the receiver's to keep. */
  data(chunk: Uint8Array): void;
  /** The peer half-closed its side. */
  end(): void;
  /** Everything queued has been handed to the kernel after `write()` returned false. */
  drain(): void;
  /** The socket is gone; `error` is set when it broke. Fired exactly once, last. */
  close(error?: Error): void;
}

/** One established connection, as an adapter sees it. */
export interface RawSocket {
  /** The local address. */
  readonly localAddr: Addr;
  /** The peer's address. */
  readonly remoteAddr: Addr;
  /** Bytes the adapter holds that the kernel has not taken yet. */
  readonly bufferedAmount: number;
  /** TLS session facts, for TLS sockets; `undefined` for plain ones. */
  readonly tls?: TlsInfo;
  /**
   * The proxy's address when a PROXY protocol header named the real client: then
   * `remoteAddr` and `localAddr` are the ones the header gave.
   */
  readonly proxiedBy?: Addr;
  /** Sets the event handler. Must be called once, before `resume()`. */
  start(handler: RawSocketHandler): void;
  /** Queues bytes; returns false at or above the write high-water mark (wait for `drain`). */
  write(chunk: Uint8Array): boolean;
  /** Stops delivering `data` (reads stop, the kernel buffer fills, TCP pushes back). */
  pause(): void;
  /** Starts or restarts delivering `data`. */
  resume(): void;
  /**
   * Lends chunks from now on (an optimisation; optional, Deno only so far): a chunk
   * handed to `data()` is valid only until `data()` returns, and the adapter reads into
   * the same memory again, so the receiver copies what it keeps. A lent chunk, or part
   * of it, written during `data()` to this socket or another of the same adapter stays
   * intact until it is sent. What a view kept past `data()` reads later is the
   * adapter's: Deno's detaches it (length 0) before reading into that memory again.
   * Returns `true` if chunks are lent from now on; where absent, chunks stay owned.
   */
  lend?(): boolean;
  /** Holds small writes until {@linkcode RawSocket.uncork} (an optimisation; optional). */
  cork?(): void;
  /** Hands everything held since {@linkcode RawSocket.cork} to the kernel. */
  uncork?(): void;
  /** Half-closes our side once everything queued is sent. */
  end(): void;
  /** Closes once everything queued is sent. */
  close(): void;
  /** Closes at once, dropping anything queued (a reset where the runtime can send one). */
  abort(): void;
  /** Sets TCP_NODELAY. No effect on Unix sockets. */
  setNoDelay(on: boolean): void;
  /** Sets SO_KEEPALIVE, with the initial delay in ms where the runtime supports it. */
  setKeepAlive(on: boolean, initialDelay?: number): void;
  /**
   * Upgrades this socket to TLS in place (STARTTLS). Resolves with the new socket,
   * which replaces this one; throws `UnsupportedError` where the runtime cannot.
   */
  startTls?(options: StartTlsOptions): Promise<RawSocket>;
}

/** Options of {@linkcode RawSocket.startTls}. */
export interface StartTlsOptions {
  /** Server-side upgrade with this certificate. */
  server?: TlsServerOptions;
  /** Client-side upgrade with these options. */
  client?: TlsClientOptions & { hostname?: string };
  /**
   * Bytes already read from the socket and not consumed (the start of the peer's
   * handshake): the TLS layer reads them first. Adapters that cannot put bytes back
   * reject a non-empty `head` with a `TlsError`.
   */
  head?: Uint8Array[];
}

/** Options of {@linkcode Transport.listen}. */
export interface TransportListenOptions {
  /** IP address or hostname to bind (TCP). */
  hostname?: string;
  /** Port to bind (TCP); 0 = any free port. */
  port?: number;
  /** Unix socket path (instead of hostname/port). */
  path?: string;
  /** The kernel's listen backlog, where the runtime lets it be set. */
  backlog?: number;
  /** SO_REUSEPORT, where the runtime supports it. */
  reusePort?: boolean;
  /** TLS options; the listener then accepts TLS only. */
  tls?: TlsServerOptions;
  /**
   * Unix sockets: when the path exists, remove it if no process listens on it (probed
   * by connecting), then bind. Without it, an existing path fails with a message that
   * says what to do.
   */
  removeStale?: boolean;
  /** Write high-water mark for accepted sockets, bytes. */
  writeHighWaterMark: number;
  /**
   * A connection failed before it could be handed over: a TLS handshake failed
   * (`TlsError`) or took too long (`TimeoutError` of kind `"handshake"`). The socket
   * is already closed; the listener keeps accepting.
   */
  onError?(error: Error, remoteAddr: Addr | undefined): void;
  /**
   * Accepting a connection failed, and the listener goes on (see `_accept.ts`):
   * `"aborted"` when the peer was gone first (accepting resumes at once), `"exhausted"`
   * when a resource ran out (accepting backs off). A socket handed over by the runtime
   * with its peer already gone is closed and reported here as `"aborted"`.
   */
  onAcceptError?(kind: AcceptFailure, error: unknown): void;
}

/** Options of {@linkcode Transport.connect}. */
export interface TransportConnectOptions {
  /** Hostname or IP address (TCP). */
  hostname?: string;
  /** Port (TCP). */
  port?: number;
  /** Unix socket path (instead of hostname/port). */
  path?: string;
  /** TLS options; the connection is TLS from the start. */
  tls?: TlsClientOptions;
  /** Aborting it abandons the attempt; the promise rejects with `ConnectError("aborted" | "timeout")`. */
  signal?: AbortSignal;
  /** Write high-water mark, bytes. */
  writeHighWaterMark: number;
}

/** A bound listener. */
export interface TransportListener {
  /**
   * The bound address (with the real port when port 0 was asked for). Known on return
   * from `listen()` on Deno and Bun; on Node only once `ready` has resolved (before,
   * reading it throws).
   */
  readonly addr: Addr;
  /** Resolves once the listener is bound; rejects with the bind error (EADDRINUSE, ...). */
  readonly ready: Promise<void>;
  /**
   * Stops accepting new connections. Established ones keep working.
   * Resolves once the listening socket is closed.
   */
  close(): Promise<void>;
}

/** A runtime adapter. */
export interface Transport {
  /** `"deno"`, `"bun"`, `"node"` or `"memory"`. */
  readonly name: AdapterName;
  /**
   * Whether an accepted socket can start TLS as a server with bytes already read handed to
   * the handshake (`startTls({ server, head })`): what TLS after a PROXY header needs.
   */
  readonly serverTlsAfterRead: boolean;
  /**
   * Binds and starts accepting. Where the runtime binds synchronously (Deno, Bun) a bind
   * error is thrown here; on Node it rejects `ready`. Each accepted socket is passed to
   * `onSocket` paused and without a handler.
   */
  listen(options: TransportListenOptions, onSocket: (socket: RawSocket) => void): TransportListener;
  /** Opens a connection. The socket is paused and has no handler yet. */
  connect(options: TransportConnectOptions): Promise<RawSocket>;
}

/** The names of the adapters. */
export type AdapterName = "deno" | "bun" | "node" | "memory";
