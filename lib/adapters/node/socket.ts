/**
 * `NodeSocket`: one `net.Socket` (or `tls.TLSSocket`) behind the {@linkcode RawSocket}
 * interface, with the socket's listeners shared by every socket rather than closures of
 * its own. Internal.
 *
 * @module
 */

import type * as net from "node:net";
import { type Addr, formatAddr, type TlsInfo } from "../../types.ts";
import type { RawSocket, RawSocketHandler, StartTlsOptions } from "../../transport.ts";
import { ConnectionClosedError } from "../../errors.ts";
import { nodeTlsInfo, upgradeNodeSocket } from "./tls.ts";
import { type KnownAddrs, localAddrOf, remoteAddrOf, takeBatch, toSocketError } from "../_util.ts";

/** The `NodeSocket` of a `net.Socket`, for the listeners below (shared by every socket). */
const OWNER: unique symbol = Symbol("tcpkit.NodeSocket");
type Owned = net.Socket & { [OWNER]: NodeSocket };

// One listener of each kind for every socket, not four closures per socket: Node calls
// them with the socket as `this`. No `drain` listener: the callbacks of the writes made
// while a drain is awaited find it (see NodeSocket.write).
function onData(this: Owned, chunk: Uint8Array): void {
  this[OWNER].onData(chunk);
}
function onEnd(this: Owned): void {
  this[OWNER].onEnd();
}
export function onError(this: Owned, err: Error): void {
  this[OWNER].onError(err);
}
function onClose(this: Owned): void {
  this[OWNER].onClose();
}

/** An empty write: its callback runs once everything written before it is out. */
const EMPTY = new Uint8Array(0);

// The bits of NodeSocket's #flags: its yes-or-no state in one number (a field each
// would cost 8 bytes more per connection, each).
/** Closed: reported, or handed over to TLS. Nothing more happens. */
const CLOSED = 1;
/** A write returned false: the handler's `drain` is owed once Node's buffer is empty. */
const NEED_DRAIN = 2;
/** `abort()` was called: the close reports no error. */
const ABORTED = 4;
/** Mid-STARTTLS: the socket is silent, but `abort()` still reaches Node's socket. */
const UPGRADING = 8;

/** A `net.Socket` behind the {@linkcode RawSocket} interface. */
export class NodeSocket implements RawSocket {
  readonly localAddr: Addr;
  readonly remoteAddr: Addr;
  /** Set on TLS sockets once the handshake is done (no field of its own on the others). */
  declare tls?: TlsInfo;
  #s: net.Socket;
  #hwm: number;
  #handler: RawSocketHandler | undefined;
  /** The yes-or-no state: the bits above. */
  #flags = 0;
  /**
   * Small writes held since cork(), sent as one buffer by uncork() or at 16 KiB: the
   * first in a field of its own...
   */
  #one: Uint8Array | undefined;
  /** All the held writes once there are two or more (most batches are one write: no array then). */
  #held: Uint8Array[] | undefined;
  /** Bytes held; -1 when not corked. */
  #heldBytes = -1;
  #error: Error | undefined;

  /**
   * @param s The socket.
   * @param hwm The write high-water mark.
   * @param known What is known of its addresses up front.
   */
  constructor(s: net.Socket, hwm: number, known: KnownAddrs) {
    this.#s = s;
    this.#hwm = hwm;
    // Each asks the socket (a system call), the local one only when it differs per socket.
    this.localAddr = known.local ?? localAddrOf(known, s.localAddress, s.localPort);
    this.remoteAddr = remoteAddrOf(known, s.remoteAddress, s.remotePort);
    // (An accepted socket starts paused already: the listener has `pauseOnConnect`.)
    if (s.readableFlowing !== false) s.pause();
    (s as Owned)[OWNER] = this;
    s.on("data", onData);
    s.on("end", onEnd);
    s.on("error", onError);
    s.on("close", onClose);
  }

  /** The socket's `data` event. */
  onData(chunk: Uint8Array): void {
    if ((this.#flags & CLOSED) === 0) this.#handler?.data(chunk);
  }

  /** The socket's `end` event. */
  onEnd(): void {
    if ((this.#flags & CLOSED) === 0) this.#handler?.end();
  }

  /** The socket's `error` event; the error is reported with `close`. */
  onError(err: Error): void {
    this.#error ??= err;
  }

  /** The socket's `close` event. */
  onClose(): void {
    this.#flags |= CLOSED;
    this.#handler?.close(this.#closeError());
  }

  get bufferedAmount(): number {
    return (this.#flags & CLOSED) !== 0 ? 0 : this.#s.writableLength + Math.max(0, this.#heldBytes);
  }

  start(handler: RawSocketHandler): void {
    if (this.#handler) throw new Error("RawSocket.start() was already called");
    this.#handler = handler;
    if ((this.#flags & CLOSED) !== 0) queueMicrotask(() => handler.close(this.#closeError()));
  }

  write(chunk: Uint8Array): boolean {
    const s = this.#s;
    if ((this.#flags & CLOSED) !== 0 || s.writableEnded || s.destroyed) return false;
    if (this.#heldBytes >= 0) {
      if (this.#one === undefined) this.#one = chunk;
      else {
        const held = this.#held ??= [];
        if (held.length === 0) held.push(this.#one); // all of them from the second on
        held.push(chunk);
      }
      if ((this.#heldBytes += chunk.length) >= 16 * 1024) this.#sendHeld();
    } else if ((this.#flags & NEED_DRAIN) !== 0) s.write(chunk, this.#written());
    else s.write(chunk);
    const ok = s.writableLength + Math.max(0, this.#heldBytes) < this.#hwm;
    if (!ok && (this.#flags & NEED_DRAIN) === 0) {
      this.#flags |= NEED_DRAIN;
      // Writes from now on carry the callback that looks for the drain. When nothing is
      // held, an empty write marks the point where everything before it is out.
      if (this.#heldBytes <= 0) s.write(EMPTY, this.#written());
    }
    return ok;
  }

  pause(): void {
    this.#s.pause();
  }

  cork(): void {
    const s = this.#s;
    if (this.#heldBytes >= 0 || (this.#flags & CLOSED) !== 0 || s.writableEnded || s.destroyed) {
      return;
    }
    this.#heldBytes = 0;
  }

  uncork(): void {
    if (this.#heldBytes < 0) return;
    this.#sendHeld();
    this.#heldBytes = -1;
  }

  /** Hands the held writes to Node, small ones copied into one buffer (one system call). */
  #sendHeld(): void {
    const one = this.#one;
    if (one === undefined) return;
    this.#one = undefined;
    const held = this.#held;
    const s = this.#s;
    this.#heldBytes = 0;
    if ((this.#flags & CLOSED) !== 0 || s.writableEnded || s.destroyed) {
      if (held !== undefined) held.length = 0;
      return;
    }
    const cb = (this.#flags & NEED_DRAIN) !== 0 ? this.#written() : undefined;
    if (held === undefined || held.length === 0) return void s.write(one, cb);
    while (held.length > 0) s.write(takeBatch(held), cb); // (`one` is held[0])
    this.#held = undefined; // (popped empty, the array would keep its room)
  }

  resume(): void {
    if ((this.#flags & CLOSED) === 0) this.#s.resume();
  }

  end(): void {
    this.uncork();
    if ((this.#flags & CLOSED) === 0 && !this.#s.writableEnded) this.#s.end();
  }

  close(): void {
    const s = this.#s;
    if ((this.#flags & CLOSED) !== 0 || s.destroyed) return;
    this.uncork();
    if (s.writableFinished) return void s.destroy();
    // Both sides ended: Node destroys the socket itself once the writes are out.
    if (s.readableEnded) return void (s.writableEnded || s.end());
    s.once("finish", () => s.destroy());
    if (!s.writableEnded) s.end();
  }

  abort(): void {
    const s = this.#s;
    if ((this.#flags & UPGRADING) !== 0 && !s.destroyed) return void s.destroy(); // mid-STARTTLS
    if ((this.#flags & CLOSED) !== 0 || s.destroyed) return;
    this.#flags |= ABORTED;
    this.#one = this.#held = undefined;
    this.#heldBytes = -1;
    try {
      // Sends an RST on TCP; throws ERR_INVALID_HANDLE_TYPE on a Unix socket.
      if (this.remoteAddr.transport === "tcp" && typeof s.resetAndDestroy === "function") {
        return void s.resetAndDestroy();
      }
    } catch { /* fall through to a plain destroy */ }
    s.destroy();
  }

  setNoDelay(on: boolean): void {
    if (this.remoteAddr.transport === "tcp" && (this.#flags & CLOSED) === 0) this.#s.setNoDelay(on);
  }

  setKeepAlive(on: boolean, initialDelay?: number): void {
    if (this.remoteAddr.transport === "tcp" && (this.#flags & CLOSED) === 0) {
      this.#s.setKeepAlive(on, initialDelay ?? 0);
    }
  }

  /**
   * STARTTLS: wraps the socket in a `tls.TLSSocket` (server or client role) once what
   * is queued has been written; this object goes silent and the TLS one replaces it.
   */
  async startTls(options: StartTlsOptions): Promise<RawSocket> {
    const s = this.#s;
    if ((this.#flags & CLOSED) !== 0 || s.destroyed) {
      throw new ConnectionClosedError("startTls() on a closed socket");
    }
    this.uncork();
    s.pause();
    // An empty write's callback runs once everything written before it is flushed.
    if (s.writableLength > 0) await new Promise((r) => s.write(new Uint8Array(0), r));
    const handler = this.#handler;
    this.#flags |= CLOSED; // from here on the TLS socket reports everything
    this.#handler = undefined;
    this.#flags |= UPGRADING; // abort() still reaches the socket
    const unix = this.remoteAddr.transport === "unix";
    const known = { unix, local: this.localAddr, remote: this.remoteAddr };
    try {
      const t = await upgradeNodeSocket(s, options, formatAddr(this.remoteAddr));
      const next = new NodeSocket(t, this.#hwm, known);
      next.tls = nodeTlsInfo(t, options.server !== undefined);
      return next;
    } catch (e) {
      handler?.close(e as Error);
      throw e;
    } finally {
      this.#flags &= ~UPGRADING;
    }
  }

  /**
   * The callback of writes made while a drain is awaited (one function per socket, made
   * the first time the socket is full: most never are).
   */
  #onWritten: (() => void) | undefined;
  #written(): () => void {
    return this.#onWritten ??= () => this.#checkDrain();
  }

  #checkDrain(): void {
    if (
      (this.#flags & NEED_DRAIN) !== 0 && (this.#flags & CLOSED) === 0 &&
      this.#s.writableLength === 0 && this.#heldBytes <= 0
    ) {
      this.#flags &= ~NEED_DRAIN;
      this.#handler?.drain();
    }
  }

  #closeError(): Error | undefined {
    return (this.#flags & ABORTED) !== 0 || !this.#error ? undefined : toSocketError(this.#error);
  }
}
