/**
 * The Deno adapter: `Deno.listen` / `Deno.connect` (TCP and Unix), read with
 * `conn.read(buffer)`. Never `conn.readable`, which closes the whole connection at EOF
 * and so breaks half-close.
 *
 * - Reads go into an adaptive buffer (see {@linkcode ReadBuffer}): small while the
 *   connection is idle, growing while data streams.
 * - `conn.write()` may take part of the bytes, so writes loop; several queued small
 *   chunks go out as one write.
 * - `TCP_NODELAY` is set on every TCP connection (Deno leaves Nagle on).
 * - Half-close is `conn.closeWrite()`.
 * - `abort()` is `conn.close()`: Deno has no way to send an RST, so the peer sees a
 *   normal end of stream (a reset only if it then writes, or if bytes were left unread).
 * - `backlog` is passed as `tcpBacklog`.
 *
 * @module
 */

import type { Addr } from "../types.ts";
import type {
  RawSocket,
  RawSocketHandler,
  Transport,
  TransportConnectOptions,
  TransportListener,
  TransportListenOptions,
} from "./_transport.ts";
import { UnsupportedError } from "../errors.ts";
import {
  abortedConnect,
  describeTarget,
  takeBatch,
  tcpAddr,
  toConnectError,
  toListenError,
  toSocketError,
  unixAddr,
} from "./_util.ts";

/** Sizes of the adaptive read buffer, bytes. */
export interface ReadBufferSizes {
  /** The size a connection starts with and shrinks back to. Default 1024. */
  min: number;
  /** The size it grows to while reads keep filling it. Default 65536. */
  max: number;
}

const DEFAULT_SIZES: ReadBufferSizes = { min: 1024, max: 64 * 1024 };

/**
 * A read buffer that grows while reads fill it and shrinks when they are small, so an
 * idle connection pins `min` bytes. Chunks it hands out are never reused: a read that
 * fills more than half the buffer is handed out as a view and the buffer replaced; a
 * smaller one is copied out and the buffer kept.
 */
export class ReadBuffer {
  /** The buffer the next read goes into. */
  buf: Uint8Array;
  #min: number;
  #max: number;

  /**
   * Creates the buffer at its minimum size.
   * @param sizes Minimum and maximum sizes.
   */
  constructor(sizes: ReadBufferSizes = DEFAULT_SIZES) {
    this.#min = sizes.min;
    this.#max = Math.max(sizes.min, sizes.max);
    this.buf = new Uint8Array(this.#min);
  }

  /**
   * Takes the `n` bytes the last read put into {@linkcode ReadBuffer.buf}.
   * @param n Bytes read.
   * @returns A chunk the caller owns.
   */
  take(n: number): Uint8Array {
    const buf = this.buf;
    const size = buf.length;
    if (n > size >>> 1) {
      const next = n === size ? Math.min(size * 2, this.#max) : size;
      this.buf = new Uint8Array(next);
      return n === size ? buf : buf.subarray(0, n);
    }
    const chunk = buf.slice(0, n);
    if (n <= size >>> 2 && size > this.#min) {
      // Shrink to twice the next power of two above n: an idle connection's last read
      // is usually small, so it waits on a small buffer.
      let next = this.#min;
      while (next < n * 2 && next < size) next *= 2;
      if (next < size) this.buf = new Uint8Array(next);
    }
    return chunk;
  }
}

function toAddr(a: Deno.Addr): Addr {
  if (a.transport === "tcp" || a.transport === "udp") return tcpAddr(a.hostname, a.port);
  if (a.transport === "unix" || a.transport === "unixpacket") return unixAddr(a.path);
  return unixAddr("");
}

/** A `Deno.Conn` behind the {@linkcode RawSocket} interface. */
class DenoSocket implements RawSocket {
  readonly localAddr: Addr;
  readonly remoteAddr: Addr;
  #conn: Deno.Conn;
  #tcp: Deno.TcpConn | undefined;
  #hwm: number;
  #rb: ReadBuffer;
  #handler: RawSocketHandler | undefined;
  #paused = true;
  #reading = false;
  /** A read that completed while paused: a chunk, or `null` for EOF. */
  #held: Uint8Array | null | undefined;
  #readEof = false;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #writing = false;
  #needDrain = false;
  #endWanted = false;
  #writeShut = false;
  #closeWanted = false;
  #closed = false;
  #closeError: Error | undefined;

  constructor(conn: Deno.Conn, hwm: number, sizes: ReadBufferSizes) {
    this.#conn = conn;
    this.#hwm = hwm;
    this.#rb = new ReadBuffer(sizes);
    this.localAddr = toAddr(conn.localAddr);
    this.remoteAddr = toAddr(conn.remoteAddr);
    if (this.remoteAddr.transport === "tcp") {
      this.#tcp = conn as Deno.TcpConn;
      this.#tcp.setNoDelay(true);
    }
  }

  get bufferedAmount(): number {
    return this.#queued;
  }

  start(handler: RawSocketHandler): void {
    if (this.#handler) throw new Error("RawSocket.start() was already called");
    this.#handler = handler;
    if (this.#closed) queueMicrotask(() => handler.close(this.#closeError));
  }

  write(chunk: Uint8Array): boolean {
    if (this.#closed || this.#endWanted || this.#closeWanted) return false;
    if (chunk.length > 0) {
      this.#queue.push(chunk);
      this.#queued += chunk.length;
      if (!this.#writing) this.#flush();
    }
    const ok = this.#queued < this.#hwm;
    if (!ok) this.#needDrain = true;
    return ok;
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused || this.#closed) return;
    this.#paused = false;
    // Deliver from a fresh microtask so that resume() never calls the handler re-entrantly.
    queueMicrotask(() => this.#readLoop());
  }

  end(): void {
    if (this.#closed || this.#endWanted) return;
    this.#endWanted = true;
    if (!this.#writing) this.#afterFlush();
  }

  close(): void {
    if (this.#closed || this.#closeWanted) return;
    this.#closeWanted = true;
    if (!this.#writing) this.#afterFlush();
  }

  abort(): void {
    this.#destroy(undefined);
  }

  setNoDelay(on: boolean): void {
    if (!this.#closed) this.#tcp?.setNoDelay(on);
  }

  setKeepAlive(on: boolean, _initialDelay?: number): void {
    // Deno has no way to set the initial delay; the system default applies.
    if (!this.#closed) this.#tcp?.setKeepAlive(on);
  }

  async #readLoop(): Promise<void> {
    if (this.#reading) return;
    this.#reading = true;
    try {
      while (!this.#paused && !this.#closed) {
        let got: Uint8Array | null;
        if (this.#held !== undefined) {
          got = this.#held;
          this.#held = undefined;
        } else {
          const n = await this.#conn.read(this.#rb.buf);
          if (this.#closed) return;
          if (n === 0) continue;
          got = n === null ? null : this.#rb.take(n);
          if (this.#paused) {
            this.#held = got;
            return;
          }
        }
        if (got === null) return this.#onEof();
        this.#handler!.data(got);
      }
    } catch (err) {
      this.#destroy(toSocketError(err));
    } finally {
      this.#reading = false;
    }
  }

  #onEof(): void {
    this.#readEof = true;
    this.#handler!.end();
    if (this.#writeShut) this.#destroy(undefined);
  }

  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const batch = takeBatch(this.#queue);
        let off = 0;
        while (off < batch.length) {
          const n = await this.#conn.write(off === 0 ? batch : batch.subarray(off));
          if (this.#closed) return;
          off += n;
          this.#queued -= n;
        }
      }
    } catch (err) {
      return this.#destroy(toSocketError(err));
    } finally {
      this.#writing = false;
    }
    if (this.#needDrain && !this.#closed) {
      this.#needDrain = false;
      this.#handler?.drain();
    }
    // The drain handler may have queued more.
    if (!this.#writing) this.#afterFlush();
  }

  /** Everything queued is written: carry out a pending close or end. */
  #afterFlush(): void {
    if (this.#closed || this.#queue.length > 0) return;
    if (this.#closeWanted) return this.#destroy(undefined);
    if (!this.#endWanted || this.#writeShut) return;
    this.#writeShut = true;
    this.#conn.closeWrite().then(
      () => {
        if (this.#readEof) this.#destroy(undefined);
      },
      (err) => this.#destroy(toSocketError(err)),
    );
  }

  #destroy(error: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = error;
    this.#queue = [];
    this.#queued = 0;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    this.#handler?.close(error);
  }
}

/** Options of {@linkcode createDenoTransport}. */
export interface DenoTransportOptions {
  /** Read buffer sizes (for benchmarks and tuning). */
  readBuffer?: ReadBufferSizes;
}

/**
 * Makes a Deno transport. {@linkcode denoTransport} is the default one.
 * @param options Tuning.
 * @returns The transport.
 */
export function createDenoTransport(options: DenoTransportOptions = {}): Transport {
  const sizes = options.readBuffer ?? DEFAULT_SIZES;
  return {
    name: "deno",

    listen(o: TransportListenOptions, onSocket: (s: RawSocket) => void): TransportListener {
      if (o.tls) throw new UnsupportedError("deno adapter", "TLS (not implemented yet)");
      // Without --unstable-net, Deno.listen({ reusePort }) exits the process; the flag
      // also exposes Deno.listenDatagram, which is how it is detected.
      const unstableNet =
        typeof (Deno as { listenDatagram?: unknown }).listenDatagram === "function";
      if (o.reusePort && !unstableNet) {
        throw new UnsupportedError("deno", "reusePort without --unstable-net");
      }
      const target = describeTarget(o);
      let listener: Deno.Listener;
      try {
        listener = o.path !== undefined
          ? Deno.listen({ transport: "unix", path: o.path })
          : Deno.listen({
            hostname: o.hostname ?? "0.0.0.0",
            port: o.port ?? 0,
            tcpBacklog: o.backlog,
            ...(o.reusePort ? { reusePort: true } : {}),
          });
      } catch (err) {
        throw toListenError(err, target);
      }
      let closed = false;
      const loop = (async () => {
        while (!closed) {
          let conn: Deno.Conn;
          try {
            conn = await listener.accept();
          } catch (err) {
            if (closed || (err as Error)?.name === "BadResource") return;
            // EMFILE and the like: back off and keep accepting.
            await new Promise((r) => setTimeout(r, 50));
            continue;
          }
          if (closed) return conn.close();
          onSocket(new DenoSocket(conn, o.writeHighWaterMark, sizes));
        }
      })();
      return {
        addr: toAddr(listener.addr),
        ready: Promise.resolve(),
        async close() {
          if (closed) return;
          closed = true;
          try {
            listener.close();
          } catch { /* already closed */ }
          await loop;
        },
      };
    },

    async connect(o: TransportConnectOptions): Promise<RawSocket> {
      if (o.tls) throw new UnsupportedError("deno adapter", "TLS (not implemented yet)");
      const target = describeTarget(o);
      const { signal } = o;
      if (signal?.aborted) throw abortedConnect(signal, target);
      const attempt = o.path !== undefined
        ? Deno.connect({ transport: "unix", path: o.path })
        : Deno.connect({ hostname: o.hostname ?? "127.0.0.1", port: o.port!, signal });
      let onAbort: (() => void) | undefined;
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(abortedConnect(signal!, target));
        signal?.addEventListener("abort", onAbort, { once: true });
      });
      try {
        const conn = await Promise.race([attempt, aborted]);
        return new DenoSocket(conn, o.writeHighWaterMark, sizes);
      } catch (err) {
        if (signal?.aborted) {
          // A connection that completes after the abort is closed at once.
          attempt.then((c) => c.close(), () => {});
          throw abortedConnect(signal, target);
        }
        throw toConnectError(err, target);
      } finally {
        if (onAbort) signal?.removeEventListener("abort", onAbort);
      }
    },
  };
}

/** The Deno transport with default tuning. */
export const denoTransport: Transport = createDenoTransport();
