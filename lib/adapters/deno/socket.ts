/**
 * `DenoSocket`: one `Deno.Conn` behind the {@linkcode RawSocket} interface. Reads with
 * `conn.read()` into a {@linkcode ReadBuffer}; writes loop over partial writes; half-close
 * is `conn.closeWrite()`. Internal.
 *
 * @module
 */

import type { Addr, TlsInfo } from "../../types.ts";
import type { RawSocket, RawSocketHandler, StartTlsOptions } from "../../transport.ts";
import { ConnectionClosedError } from "../../errors.ts";
import { checkDenoStartTls, upgradeDenoClient } from "./tls.ts";
import { takeBatch, tcpAddr, toSocketError, unixAddr } from "../_util.ts";
import { ReadBuffer, type ReadBufferSizes } from "./_read_buffer.ts";

/**
 * Sockets whose reads wait, or lately waited, for their write to finish (see
 * `DenoSocket#deliver`), and the one timer that lets them read when the write is stuck.
 * A socket joins the list once and stays while it keeps waiting; the timer drops those
 * no longer waiting, so that waiting costs a socket two stores per read, not a set's
 * insert and delete.
 */
let gated: DenoSocket[] = [];
let watchdog: ReturnType<typeof setTimeout> | undefined;
/** How often the watchdog looks for stuck writes, ms. */
const GATE_CHECK_MS = 20;

/**
 * The buffer of the chunk a socket of this thread is lending to its handler right now
 * (one at a time: deliveries run one after another). A handler may write that chunk to
 * another socket (a broadcast); that socket copies it, since the lender reads into the
 * buffer again once `data()` returns.
 */
let lentNow: ArrayBufferLike | undefined;

function armWatchdog(): void {
  if (watchdog !== undefined) return;
  watchdog = setTimeout(() => {
    watchdog = undefined;
    const list = gated;
    gated = [];
    for (const socket of list) if (socket.gateCheck()) gated.push(socket);
    if (gated.length > 0) armWatchdog();
  }, GATE_CHECK_MS);
  Deno.unrefTimer(watchdog);
}

export function toAddr(a: Deno.Addr): Addr {
  if (a.transport === "tcp" || a.transport === "udp") return tcpAddr(a.hostname, a.port);
  if (a.transport === "unix" || a.transport === "unixpacket") return unixAddr(a.path);
  return unixAddr("");
}

/** A `Deno.Conn` behind the {@linkcode RawSocket} interface. */
export class DenoSocket implements RawSocket {
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
  /** In the watchdog's list (`gated`). */
  #listed = false;
  /** Chunks are lent (see `lend()`). */
  #lending = false;
  /** The buffer of the chunk being delivered, when chunks are lent. */
  #lent: ArrayBufferLike | undefined;
  /** A lent chunk was written: the read buffer stays untouched until the queue empties. */
  #pinned = false;
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
      // (`lentNow` first: reading `.buffer` of a small array allocated in the JS heap costs.)
      if (lentNow !== undefined && chunk.buffer === lentNow) {
        if (this.#lent === lentNow) this.#pinned = true;
        else chunk = chunk.slice(); // another socket's lent chunk
      }
      this.#queue.push(chunk);
      this.#queued += chunk.length;
      if (!this.#writing && (!this.#corked || this.#queued >= 16 * 1024)) this.#flush();
    }
    const ok = this.#queued < this.#hwm;
    if (!ok) this.#needDrain = true;
    return ok;
  }

  /**
   * Lends chunks from now on: a chunk handed to `data()` is valid until `data()` returns,
   * and the next read goes into the same memory. A lent chunk (or part of it) written
   * to this socket during `data()` stays intact until it is sent. Views of a lent chunk
   * kept past `data()` are detached before that memory is read into again (see
   * `ReadBuffer.reclaim`): they read as empty, never as later bytes.
   */
  lend(): boolean {
    this.#rb.lend();
    return this.#lending = true;
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
    if (this.#lending) {
      // The queue still holds a lent chunk: read into new memory rather than over it.
      // Else the memory of the chunk lent last is taken back from the views of it that
      // outlived data(): they read as empty, never as the bytes of a later read.
      if (this.#pinned && this.#queued > 0) this.#rb.detach();
      else this.#rb.reclaim();
      this.#pinned = false;
    }
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
      if (this.#lending) lentNow = this.#lent = got.buffer;
      this.#handler!.data(got);
      lentNow = this.#lent = undefined;
    } catch (err) {
      lentNow = this.#lent = undefined;
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
      if (!this.#listed) {
        this.#listed = true;
        gated.push(this);
        armWatchdog();
      }
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
      // Drained: a new list, as popped empty the old one keeps its room on an idle socket.
      if (this.#queue.length === 0) this.#queue = [];
    } catch (err) {
      return this.#destroy(toSocketError(err));
    } finally {
      this.#writing = false;
      this.#gateOff = false;
      this.#waitsForWrite = false; // (the watchdog drops the socket from its list later)
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

  /**
   * The watchdog's look: lets reading go on when the write waited for outlived a period.
   * Returns whether the socket stays in the watchdog's list (it still waits).
   */
  gateCheck(): boolean {
    if (!this.#waitsForWrite) return this.#listed = false;
    if (!this.#gateSeen) return this.#gateSeen = true;
    this.#listed = false;
    this.#gateOff = true;
    this.#waitsForWrite = false;
    this.#readOn();
    return false;
  }

  #destroy(error: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waitsForWrite = false;
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
