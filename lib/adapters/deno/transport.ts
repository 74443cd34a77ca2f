/**
 * The Deno adapter: `Deno.listen` / `Deno.connect` (TCP and Unix), read with
 * `conn.read(buffer)`. Never `conn.readable`, which closes the whole connection at EOF
 * and so breaks half-close.
 *
 * - Reads go into adaptive buffers (see {@linkcode ReadBuffer}): an idle connection
 *   waits on a 128-byte probe; the data buffer grows from 1 KiB to 64 KiB while data
 *   streams and shrinks back when it stops.
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

import type { Addr, TlsInfo } from "../../types.ts";
import type {
  RawSocket,
  RawSocketHandler,
  StartTlsOptions,
  Transport,
  TransportConnectOptions,
  TransportListener,
  TransportListenOptions,
} from "../../transport.ts";
import { ConnectionClosedError, UnsupportedError } from "../../errors.ts";
import { acceptLoop } from "../_accept.ts";
import {
  checkDenoStartTls,
  connectDenoTls,
  listenDenoTls,
  upgradeDenoClient,
  type WrapDenoConn,
} from "./tls.ts";
import {
  abortedConnect,
  describeTarget,
  takeBatch,
  tcpAddr,
  toConnectError,
  toListenError,
  toSocketError,
  unixAddr,
} from "../_util.ts";

/** Sizes of the adaptive read buffer, bytes. */
export interface ReadBufferSizes {
  /**
   * The probe a connection waits on when it has caught up with its peer. Default 128.
   * Set it to `min` or more to always read into the full buffer.
   */
  idle?: number;
  /** The size reads start at when data flows, and shrink back to. Default 1024. */
  min: number;
  /** The size reads grow to while they keep filling the buffer. Default 65536. */
  max: number;
}

const DEFAULT_SIZES: ReadBufferSizes = { idle: 128, min: 1024, max: 64 * 1024 };

/**
 * The read buffers of one connection. A read that does not fill its buffer means the
 * kernel had nothing more: the next read will likely wait, so it waits on a small
 * probe (`idle` bytes) instead of pinning a big buffer. A read that fills its buffer
 * means more is waiting: the next read uses the data buffer, which starts at `min`,
 * doubles each time a read fills it (up to `max`) and shrinks to fit small reads.
 *
 * Chunks handed out are never reused: a read of more than 2 KiB that fills more than
 * half of the data buffer is handed out as a view and the buffer replaced; a smaller
 * one is copied out (see {@linkcode copyOut}) and the buffer read into again.
 *
 * A probe of {@linkcode POOLED_PROBE} bytes (the default) is a slot of a slab shared by
 * the connections of this thread (see {@linkcode takeProbe}); call
 * {@linkcode ReadBuffer.dispose} once no read can write into the buffers any more.
 */
export class ReadBuffer {
  #probe: Uint8Array | undefined;
  #idle = 0;
  /** The last read filled the probe: the burst it began may fit a bigger probe. */
  #spilled = false;
  #data: Uint8Array | undefined;
  #size: number;
  #min: number;
  #max: number;
  #flowing: boolean;

  /**
   * Creates the buffers; nothing is allocated before the first read.
   * @param sizes Probe, minimum and maximum sizes.
   */
  constructor(sizes: ReadBufferSizes = DEFAULT_SIZES) {
    this.#min = sizes.min;
    this.#max = Math.max(sizes.min, sizes.max);
    this.#size = this.#min;
    const idle = sizes.idle ?? DEFAULT_SIZES.idle!;
    if (idle < this.#min) this.#probe = takeProbe(this.#idle = idle);
    this.#flowing = !this.#probe;
  }

  /** The buffer the next read goes into. */
  get buf(): Uint8Array {
    if (!this.#flowing) return this.#probe!;
    return this.#data ??= new Uint8Array(this.#size);
  }

  /**
   * Takes the `n` bytes the last read put into {@linkcode ReadBuffer.buf}.
   * @param n Bytes read.
   * @returns A chunk the caller owns.
   */
  take(n: number): Uint8Array {
    if (!this.#flowing) {
      const probe = this.#probe!;
      this.#flowing = this.#spilled = n === probe.length;
      const chunk = copyOut(probe, n);
      // A probe that bursts use a quarter of or less halves, back down to `idle`.
      if (n <= probe.length >>> 2 && probe.length > this.#idle) {
        releaseProbe(probe);
        this.#probe = takeProbe(probe.length >>> 1);
      }
      return chunk;
    }
    const buf = this.#data!;
    const size = buf.length;
    if (this.#spilled) {
      // A burst of a bit more than the probe took two reads (and its replies two writes):
      // grow the probe to hold the next one, up to `min`. Streams that fill the data
      // buffer leave it as it is.
      this.#spilled = false;
      const probe = this.#probe!;
      let next = probe.length;
      while (next < probe.length + n && next < this.#min) next *= 2;
      if (n < size && next > probe.length) {
        releaseProbe(probe);
        this.#probe = takeProbe(next);
      }
    }
    this.#flowing = n === size || !this.#probe;
    if (n > size >>> 1 && n > COPY_MAX) {
      if (n === size) this.#size = Math.min(size * 2, this.#max);
      this.#data = undefined;
      return n === size ? buf : buf.subarray(0, n);
    }
    const chunk = copyOut(buf, n);
    if (n === size && size < this.#max) {
      this.#size = Math.min(size * 2, this.#max);
      this.#data = undefined;
    } else if (n <= size >>> 2 && size > this.#min) {
      // Shrink to twice the next power of two above n.
      let next = this.#min;
      while (next < n * 2 && next < size) next *= 2;
      this.#size = next;
      this.#data = undefined;
    }
    // Waiting on the probe from now on: do not pin the data buffer meanwhile.
    if (!this.#flowing) this.#data = undefined;
    return chunk;
  }

  /**
   * Gives the probe back to the pool and drops the data buffer. Call it once, when no
   * read is pending and none will be made: a read in flight writes into its buffer.
   */
  dispose(): void {
    if (this.#probe) releaseProbe(this.#probe);
    this.#probe = this.#data = undefined;
  }
}

/** Probes of this size are slots of a shared slab; other sizes are arrays of their own. */
const POOLED_PROBE = 128;
const PROBE_SLAB = 16 * 1024;
let probeSlab = new Uint8Array(0);
let probeSlabUsed = 0;
/** Slots given back, reused before a new slab is cut. */
const freeProbes: Uint8Array[] = [];

/**
 * A probe of `size` bytes. Every idle connection waits on one, so they are cut from
 * slabs shared by all the connections of this thread: on Deno a typed array of its own
 * costs, besides its bytes, an ArrayBuffer object and the allocator's records for its
 * memory: about 300 bytes per idle connection (measured with 10 000 connections, after
 * a full GC: 190 fewer `malloc` bytes in use, 150 fewer JS heap bytes). A slot is given
 * back with {@linkcode releaseProbe} and handed to the next connection; the slabs stay,
 * about 128 bytes for each connection of the busiest moment, as memory freed to
 * `malloc` does.
 */
function takeProbe(size: number): Uint8Array {
  if (size !== POOLED_PROBE) return new Uint8Array(size);
  const free = freeProbes.pop();
  if (free) return free;
  if (probeSlabUsed + size > probeSlab.length) {
    probeSlab = new Uint8Array(PROBE_SLAB);
    probeSlabUsed = 0;
  }
  return probeSlab.subarray(probeSlabUsed, probeSlabUsed += size);
}

/** Gives a probe back: no read may be pending on it. */
function releaseProbe(probe: Uint8Array): void {
  if (probe.length === POOLED_PROBE) freeProbes.push(probe);
}

/** Reads up to this many bytes are copied out of the read buffer into the shared slab. */
const COPY_MAX = 2048;
const SLAB = 16 * 1024;
let slab = new Uint8Array(0);
let slabUsed = 0;

/**
 * Copies the first `n` bytes of `src` (`n <= COPY_MAX`, or a copy of its own) into the
 * slab shared by every connection of this thread: one allocation per 16 KiB of small
 * reads instead of one per read. On Deno each typed array's memory is its own `calloc`,
 * freed later by a garbage collector thread, and the two contend for the allocator's
 * lock (measured: a futex call every few reads in a pipelined echo). A chunk handed out
 * is never written again, so sharing is safe; a chunk kept alive keeps its slab alive.
 */
function copyOut(src: Uint8Array, n: number): Uint8Array {
  if (n > COPY_MAX) return src.slice(0, n);
  if (slabUsed + n > slab.length) {
    slab = new Uint8Array(SLAB);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed += n);
  out.set(n === src.length ? src : src.subarray(0, n));
  return out;
}

/**
 * Read loops waiting for their socket's write to finish before they read again (see
 * `DenoSocket#deliver`), and the one timer that lets them read when the write is stuck.
 */
const gated = new Set<DenoSocket>();
let watchdog: ReturnType<typeof setTimeout> | undefined;
/** How often the watchdog looks for stuck writes, ms. */
const GATE_CHECK_MS = 20;

function armWatchdog(): void {
  if (watchdog !== undefined) return;
  watchdog = setTimeout(() => {
    watchdog = undefined;
    for (const socket of gated) socket.gateCheck();
    if (gated.size > 0) armWatchdog();
  }, GATE_CHECK_MS);
  Deno.unrefTimer(watchdog);
}

function toAddr(a: Deno.Addr): Addr {
  if (a.transport === "tcp" || a.transport === "udp") return tcpAddr(a.hostname, a.port);
  if (a.transport === "unix" || a.transport === "unixpacket") return unixAddr(a.path);
  return unixAddr("");
}

/** A `Deno.Conn` behind the {@linkcode RawSocket} interface. */
class DenoSocket implements RawSocket {
  #conn: Deno.Conn;
  #local: Addr | undefined;
  #remote: Addr | undefined;
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
  /** cork() holds writes until uncork(), or until 16 KiB are held. */
  #corked = false;
  #closed = false;
  #closeError: Error | undefined;
  #sizes: ReadBufferSizes;
  /** Reading waits for the write in flight to finish. */
  #waitsForWrite = false;
  /** The watchdog has seen this wait once: a second look means the write is stuck. */
  #gateSeen = false;
  /** A write got stuck: reads go on without waiting until the queue empties. */
  #gateOff = false;
  /** Set on TLS connections once the handshake is done. */
  tls?: TlsInfo;

  constructor(conn: Deno.Conn, hwm: number, sizes: ReadBufferSizes) {
    this.#conn = conn;
    this.#hwm = hwm;
    this.#sizes = sizes;
    this.#rb = new ReadBuffer(sizes);
    // A Deno.TlsConn has no setNoDelay: TLS clients set it before the handshake.
    if (conn.remoteAddr.transport === "tcp" && "setNoDelay" in conn) {
      this.#tcp = conn as Deno.TcpConn;
      this.#tcp.setNoDelay(true);
    }
  }

  /**
   * STARTTLS, client side only (`Deno.startTls`), with no read pending: call it while
   * the socket delivers (from a message hook), which pauses it before the next read.
   */
  async startTls(options: StartTlsOptions): Promise<RawSocket> {
    if (this.#closed) throw new ConnectionClosedError("startTls() on a closed socket");
    this.#paused = true;
    await null; // a read loop that is delivering right now sees the pause and stops
    for (let i = 0; i < 6000 && this.#writing; i++) {
      await new Promise((r) => setTimeout(r, 5)); // the go-ahead still being sent
    }
    checkDenoStartTls(this.#conn, options, {
      reading: this.#reading,
      readAhead: this.#held !== undefined,
    });
    const handler = this.#handler;
    this.#closed = true; // the TLS connection replaces this one
    this.#handler = undefined;
    this.#rb.dispose(); // no read is pending: checked above
    try {
      const { conn, info } = await upgradeDenoClient(this.#conn, options.client ?? {});
      const next = new DenoSocket(conn, this.#hwm, this.#sizes);
      next.tls = info;
      return next;
    } catch (e) {
      handler?.close(e as Error);
      throw e;
    }
  }

  // Built on first use: an idle connection that nobody asks about costs less.
  get localAddr(): Addr {
    return this.#local ??= toAddr(this.#conn.localAddr);
  }

  get remoteAddr(): Addr {
    return this.#remote ??= toAddr(this.#conn.remoteAddr);
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
      if (!this.#writing && (!this.#corked || this.#queued >= 16 * 1024)) this.#flush();
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
    queueMicrotask(() => this.#readOn());
  }

  cork(): void {
    this.#corked = true;
  }

  uncork(): void {
    if (!this.#corked) return;
    this.#corked = false;
    if (!this.#writing && this.#queue.length > 0 && !this.#closed) this.#flush();
  }

  end(): void {
    if (this.#closed || this.#endWanted) return;
    this.uncork();
    this.#endWanted = true;
    if (!this.#writing) this.#afterFlush();
  }

  close(): void {
    if (this.#closed || this.#closeWanted) return;
    this.uncork();
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

  /** Delivers a chunk read while paused, then reads on (unless a read is under way). */
  #readOn(): void {
    if (this.#reading || this.#waitsForWrite || this.#paused || this.#closed) return;
    const held = this.#held;
    if (held === undefined) return this.#startRead();
    this.#held = undefined;
    this.#deliver(held);
  }

  #startRead(): void {
    if (this.#reading || this.#paused || this.#closed || this.#readEof) return;
    this.#reading = true;
    this.#conn.read(this.#rb.buf).then(this.#onRead, this.#onReadError);
  }

  /** A read completed: one small callback per read, not one long-lived async loop. */
  #onRead = (n: number | null): void => {
    this.#reading = false;
    if (this.#closed) return this.#rb.dispose();
    if (n === 0) return this.#startRead();
    const got = n === null ? null : this.#rb.take(n);
    if (this.#paused) this.#held = got;
    else this.#deliver(got);
  };

  #onReadError = (err: unknown): void => {
    this.#reading = false;
    if (this.#closed) return this.#rb.dispose();
    this.#destroy(toSocketError(err));
  };

  #deliver(got: Uint8Array | null): void {
    try {
      if (got === null) return this.#onEof();
      this.#handler!.data(got);
    } catch (err) {
      // Runs in a promise callback: a throw must close this socket, not go unhandled.
      return this.#destroy(toSocketError(err));
    }
    // Replies to this chunk are being written: read again once they are. Reading at
    // once would mostly find nothing (the peer has not seen the replies yet) and cost
    // a system call and a wait in the poller each time (measured in a pipelined echo:
    // a third more reads than writes; one to one for a loop that reads after its
    // write). A write that stays stuck (a peer that writes without reading) frees
    // the reads; see gateCheck.
    if (this.#writing && !this.#gateOff) {
      this.#waitsForWrite = true;
      this.#gateSeen = false;
      gated.add(this);
      armWatchdog();
    } else this.#startRead();
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
      this.#gateOff = false;
      this.#openGate();
      this.#readOn();
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

  /** The watchdog's look: lets reading go on when the write waited for outlived a period. */
  gateCheck(): void {
    if (!this.#gateSeen) return void (this.#gateSeen = true);
    this.#gateOff = true;
    this.#openGate();
    this.#readOn();
  }

  /** Reading no longer waits for the write. */
  #openGate(): void {
    if (!this.#waitsForWrite) return;
    this.#waitsForWrite = false;
    gated.delete(this);
  }

  #destroy(error: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#openGate();
    this.#closeError = error;
    this.#queue = [];
    this.#queued = 0;
    // A pending read writes into its buffer until it settles: give it back then.
    if (!this.#reading) this.#rb.dispose();
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    // Never re-entrant: close() and abort() return before the handler hears of it.
    const handler = this.#handler;
    if (handler) queueMicrotask(() => handler.close(error));
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
  const wrap = (hwm: number): WrapDenoConn => (conn, tls) => {
    const socket = new DenoSocket(conn, hwm, sizes);
    socket.tls = tls;
    return socket;
  };
  return {
    name: "deno",
    serverTlsAfterRead: false, // Deno.startTls is client-only

    listen(o: TransportListenOptions, onSocket: (s: RawSocket) => void): TransportListener {
      // Without --unstable-net, Deno.listen({ reusePort }) exits the process; the flag
      // also exposes Deno.listenDatagram, which is how it is detected.
      const unstableNet =
        typeof (Deno as { listenDatagram?: unknown }).listenDatagram === "function";
      if (o.reusePort && !unstableNet) {
        throw new UnsupportedError("deno", "reusePort without --unstable-net");
      }
      if (o.tls) return listenDenoTls(o, onSocket, wrap(o.writeHighWaterMark));
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
      const loop = acceptLoop({
        accept: () => listener.accept(),
        closed: () => closed,
        connection(conn) {
          if (closed) conn.close();
          else onSocket(new DenoSocket(conn, o.writeHighWaterMark, sizes));
        },
        failed: o.onAcceptError,
      });
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
      if (o.tls) return connectDenoTls(o, wrap(o.writeHighWaterMark));
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
