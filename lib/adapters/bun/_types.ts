/**
 * The few Bun types the Bun adapter uses, declared here so that `deno check` passes
 * without `@types/bun`. Only what `transport.ts` and `tls.ts` reads or calls. Internal.
 *
 * @module
 */

/** A connected Bun TCP or Unix socket (`Bun.Socket`). */
export interface BunSocket<Data> {
  /** Per-socket state. */
  data: Data;
  /** Writes what the kernel takes now; returns the byte count (never buffers). */
  write(data: Uint8Array): number;
  /** `shutdown(2)`: with no argument, the write side only (a half-close). */
  shutdown(): void;
  /** Closes the socket (a client's `end()` closes it fully); TLS: waits for the peer's close_notify. */
  end(): void;
  /** Closes the socket at once, after close_notify on TLS, without an RST. */
  close(): void;
  /** Closes at once with an RST. */
  terminate(): void;
  /** Stops reading. */
  pause(): void;
  /** Starts reading again. */
  resume(): void;
  /** Sets TCP_NODELAY. */
  setNoDelay(on?: boolean): boolean;
  /** Sets SO_KEEPALIVE with an initial delay in ms. */
  setKeepAlive(on?: boolean, initialDelay?: number): boolean;
  readonly localAddress?: string;
  readonly localPort?: number;
  readonly remoteAddress?: string;
  readonly remotePort?: number;
}

/** The event handlers of `Bun.listen` and `Bun.connect`. */
export interface BunSocketHandler<Data> {
  /** What `data` receives: `"uint8array"` gives plain `Uint8Array`s (the default is `Buffer`). */
  binaryType?: "buffer" | "uint8array" | "arraybuffer";
  open?(socket: BunSocket<Data>): void;
  data?(socket: BunSocket<Data>, data: Uint8Array): void;
  drain?(socket: BunSocket<Data>): void;
  end?(socket: BunSocket<Data>): void;
  close?(socket: BunSocket<Data>, error?: Error): void;
  error?(socket: BunSocket<Data>, error: Error): void;
  connectError?(socket: BunSocket<Data>, error: Error): void;
  /** TLS only: the handshake finished; `authorizationError` is set when the peer did not verify. */
  handshake?(socket: BunSocket<Data>, success: boolean, authorizationError: Error | null): void;
}

/** Options of `Bun.listen` and `Bun.connect` that the adapter passes. */
export interface BunSocketOptions<Data> {
  hostname?: string;
  port?: number;
  unix?: string;
  allowHalfOpen?: boolean;
  reusePort?: boolean;
  /** TLS options (`cert`, `key`, `ca`, `ALPNProtocols` in wire format, `serverName`, ...). */
  tls?: object;
  data?: Data;
  socket: BunSocketHandler<Data>;
}

/** What `Bun.listen` returns. */
export interface BunListener {
  readonly hostname?: string;
  readonly port?: number;
  readonly unix?: string;
  /** Fills `out` with the bound address (the IP, where `hostname` may be a name). */
  getsockname?(out: { address?: string; port?: number }): void;
  /** Stops accepting; `true` also closes every connection. */
  stop(closeActiveConnections?: boolean): void;
}

/** The part of the `Bun` global the adapter uses. */
export interface BunGlobal {
  listen<Data>(options: BunSocketOptions<Data>): BunListener;
  connect<Data>(options: BunSocketOptions<Data>): Promise<BunSocket<Data>>;
}

/** The `Bun` global; only call this on Bun. */
export function bunGlobal(): BunGlobal {
  return (globalThis as unknown as { Bun: BunGlobal }).Bun;
}
