/**
 * `BunRawSocket`: one Bun socket behind the {@linkcode RawSocket} interface. Bun's
 * `write()` sends what it can and returns the count, so the rest is queued and sent on
 * `drain`; a chunk that arrives while paused is held until `resume()`. Its yes-or-no
 * state is bits of one number (a socket per connection: 96 bytes less each). Internal.
 *
 * @module
 */

import { type Addr, formatAddr, type TlsInfo } from "../../types.ts";
import type {
  RawSocket,
  RawSocketHandler,
  StartTlsOptions,
  TransportListenOptions,
} from "../../transport.ts";
import type { BunSocket, BunSocketHandler } from "./_types.ts";
import { arrivedDead, deadOnArrival } from "../_accept.ts";
import { ConnectionClosedError, TlsError } from "../../errors.ts";
import {
  bunClientTls,
  bunServerError,
  bunServerTls,
  bunTlsInfo,
  bunUpgradeTls,
  clientTlsError,
  handshakeHandler,
} from "./tls.ts";
import { checkTlsServerOptions } from "../_tls.ts";
import { type KnownAddrs, localAddrOf, remoteAddrOf, takeBatch, toSocketError } from "../_util.ts";

export type Slot = BunRawSocket | undefined;

/** While corked, held bytes go out once they reach this (the size `takeBatch` sends alone). */
const CORK_LIMIT = 16 * 1024;

/** The held-data and write queues of a socket that has none: shared, never written to. */
const NONE: Uint8Array[] = [];

// Bits of BunRawSocket.#flags.
const PAUSED = 1;
const CLOSED = 2;
const CORKED = 4;
const NEED_DRAIN = 8;
/** End and close that arrived while paused, held behind the data. */
const HELD_END = 16;
const HELD_CLOSE = 32;
const END_DELIVERED = 64;
const END_WANTED = 128;
const WRITE_SHUT = 256;
const CLOSE_WANTED = 512;
const ABORTED = 1024;
const NO_DELAY = 2048;
const UPGRADING = 4096; // mid-STARTTLS
/**
 * Bun's own pause, a system call each way, is made only once a chunk arrives while
 * paused (that chunk is held): most pauses (admission, flow control) end before that.
 * BUN_READING or BUN_PAUSED says which Bun's socket is; neither, that it is not known
 * (the TLS handshake pauses the socket itself). A resume of a socket that reads costs
 * nothing.
 */
const BUN_READING = 8192;
const BUN_PAUSED = 16384;
/** Bun's `end()` or `close()` was called: Bun has let go of the socket (`terminate()` no longer reaches it). */
const BUN_CLOSING = 32768;

/** A Bun socket behind the {@linkcode RawSocket} interface. */
export class BunRawSocket implements RawSocket {
  readonly localAddr: Addr;
  readonly remoteAddr: Addr;
  /** Set on TLS sockets once the handshake is done. */
  tls?: TlsInfo;
  /** The PAUSED, CLOSED, ... bits: one number rather than a field per yes-or-no. */
  #flags = PAUSED;
  #s: BunSocket<Slot>;
  #hwm: number;
  #handler: RawSocketHandler | undefined;
  /** Events that arrived while paused, in order: data chunks, then maybe end and close. */
  #held: Uint8Array[] = NONE; // arrays of their own once used: most sockets never hold data
  /** Unsent bytes, in order: `#one` (only while corked) then `#queue`. */
  #queue: Uint8Array[] = NONE;
  /** The write held since cork() while it is the only one (most batches): no array. */
  #one: Uint8Array | undefined = undefined;
  #queued = 0;
  #error: Error | undefined;

  /**
   * @param s The socket.
   * @param hwm The write high-water mark.
   * @param known What is known of its addresses up front.
   */
  constructor(s: BunSocket<Slot>, hwm: number, known: KnownAddrs) {
    this.#s = s;
    this.#hwm = hwm;
    // Each asks the socket (a system call), the local one only when it differs per socket.
    this.localAddr = known.local ?? localAddrOf(known, s.localAddress, s.localPort);
    this.remoteAddr = remoteAddrOf(known, s.remoteAddress, s.remotePort);
    if (!known.unix && s.setNoDelay(true)) this.#flags |= NO_DELAY;
  }

  get bufferedAmount(): number {
    return this.#queued;
  }

  #ownQueue(): Uint8Array[] {
    return this.#queue === NONE ? (this.#queue = []) : this.#queue;
  }

  start(handler: RawSocketHandler): void {
    if (this.#handler) throw new Error("RawSocket.start() was already called");
    this.#handler = handler;
    if ((this.#flags & CLOSED) !== 0) queueMicrotask(() => handler.close(this.#closeError()));
  }

  write(chunk: Uint8Array): boolean {
    if ((this.#flags & (CLOSED | END_WANTED | CLOSE_WANTED)) !== 0) return false;
    if (chunk.length > 0) {
      if (this.#queue.length === 0 && this.#one === undefined) {
        if ((this.#flags & CORKED) === 0 || chunk.length >= CORK_LIMIT) this.#writeNow(chunk);
        else {
          this.#one = chunk;
          this.#queued += chunk.length;
        }
      } else {
        const q = this.#ownQueue();
        if (this.#one !== undefined) {
          q.push(this.#one);
          this.#one = undefined;
        }
        q.push(chunk);
        this.#queued += chunk.length;
        if ((this.#flags & CORKED) !== 0 && this.#queued >= CORK_LIMIT) this.#sendHeld();
      }
    }
    const ok = this.#queued < this.#hwm;
    if (!ok) this.#flags |= NEED_DRAIN;
    return ok;
  }

  pause(): void {
    if ((this.#flags & (CLOSED | PAUSED)) !== 0) return;
    this.#flags |= PAUSED;
  }

  resume(): void {
    if ((this.#flags & (CLOSED | PAUSED)) !== PAUSED) return;
    this.#flags &= ~PAUSED;
    if ((this.#flags & BUN_READING) === 0) {
      this.#flags = (this.#flags & ~BUN_PAUSED) | BUN_READING;
      this.#s.resume();
    }
    if (this.#held.length > 0 || (this.#flags & (HELD_END | HELD_CLOSE)) !== 0) {
      queueMicrotask(() => this.#deliverHeld());
    }
  }

  cork(): void {
    this.#flags |= CORKED;
  }

  uncork(): void {
    if ((this.#flags & CORKED) === 0) return;
    this.#flags &= ~CORKED;
    const one = this.#one;
    if (one !== undefined) {
      this.#one = undefined;
      if ((this.#flags & CLOSED) !== 0) return;
      this.#queued -= one.length;
      this.#writeNow(one);
      // What the kernel did not take is queued for Bun's drain event; all of it went:
      // a drain that was waited for fires.
      if (this.#queue.length === 0) this.#sendHeld();
    } else if (this.#queue.length > 0 && (this.#flags & CLOSED) === 0) this.#sendHeld();
  }

  end(): void {
    if ((this.#flags & (CLOSED | END_WANTED)) !== 0) return;
    this.uncork();
    this.#flags |= END_WANTED;
    if (this.#queue.length === 0) this.#afterFlush();
  }

  close(): void {
    if ((this.#flags & (CLOSED | CLOSE_WANTED)) !== 0) return;
    this.uncork();
    this.#flags |= CLOSE_WANTED;
    if (this.#queue.length === 0) this.#afterFlush();
  }

  abort(): void {
    if ((this.#flags & UPGRADING) !== 0) return void this.#s.terminate(); // mid-STARTTLS
    if ((this.#flags & CLOSED) !== 0) return;
    this.#flags |= ABORTED;
    this.#queue = NONE;
    this.#one = undefined;
    this.#queued = 0;
    // A close that Bun has not reported yet: it ignores terminate() now, so the close is ours.
    if ((this.#flags & BUN_CLOSING) !== 0) return this.#finish();
    this.#s.terminate();
  }

  setNoDelay(on: boolean): void {
    if (
      this.remoteAddr.transport !== "tcp" || (this.#flags & CLOSED) !== 0 ||
      on === ((this.#flags & NO_DELAY) !== 0)
    ) return;
    this.#flags = on ? this.#flags | NO_DELAY : this.#flags & ~NO_DELAY;
    this.#s.setNoDelay(on);
  }

  setKeepAlive(on: boolean, initialDelay?: number): void {
    if (this.remoteAddr.transport === "tcp" && (this.#flags & CLOSED) === 0) {
      this.#s.setKeepAlive(on, initialDelay ?? 0);
    }
  }

  /**
   * STARTTLS with `upgradeTLS()`, in either role, once what is queued has been sent.
   * This object goes silent (Bun still shows it the ciphertext) and the TLS one
   * replaces it. Bun cannot put back bytes already read: a non-empty `head` fails.
   */
  async startTls(options: StartTlsOptions): Promise<RawSocket> {
    if ((this.#flags & CLOSED) !== 0) {
      throw new ConnectionClosedError("startTls() on a closed socket");
    }
    if (options.head?.some((c) => c.length > 0) || this.#held.length > 0) {
      throw new TlsError(
        "bytes arrived before startTls() and Bun cannot hand them to TLS: call startTls() " +
          "right after sending the go-ahead, before the peer can answer",
      );
    }
    this.pause();
    this.#pauseBun(); // now: what arrives from here on is for TLS
    for (let i = 0; i < 6000 && this.#queue.length > 0 && (this.#flags & CLOSED) === 0; i++) {
      await new Promise((r) => setTimeout(r, 5)); // the go-ahead still being sent
    }
    if ((this.#flags & CLOSED) !== 0 || this.#queue.length > 0) {
      throw new ConnectionClosedError("startTls(): the socket closed, or did not drain in 30 s");
    }
    const server = options.server;
    const tls = server
      ? bunServerTls(server)
      : await bunClientTls(options.client ?? {}, options.client?.hostname);
    const handler = this.#handler;
    this.#flags |= CLOSED; // from here on the TLS socket reports everything
    this.#handler = undefined;
    this.#flags |= UPGRADING; // abort() still reaches the socket
    const known: KnownAddrs = {
      unix: this.remoteAddr.transport === "unix",
      local: this.localAddr,
      remote: this.remoteAddr,
    };
    const target = formatAddr(this.remoteAddr);
    return await new Promise<RawSocket>((resolve, reject) => {
      const { handler: tlsHandler } = handshakeHandler<Slot>(socketHandler(this.#hwm, known), {
        ms: server ? checkTlsServerOptions(server) : 30_000,
        verifyPeer: server ? server.requestClientCert === true : true,
        wrap: (e, t) => server ? bunServerError(e, t) : clientTlsError(e, target),
        ok(t) {
          t.data!.tls = bunTlsInfo(t, server !== undefined);
          resolve(t.data!);
        },
        fail(_t, e) {
          handler?.close(e);
          reject(e);
        },
      });
      try {
        bunUpgradeTls(this.#s, tls, tlsHandler);
      } catch (e) {
        const err = clientTlsError(e, target);
        handler?.close(err);
        reject(err);
      }
    }).finally(() => (this.#flags &= ~UPGRADING));
  }

  /** Bun's `data` event. */
  onData(chunk: Uint8Array): void {
    if ((this.#flags & CLOSED) !== 0) return;
    if ((this.#flags & PAUSED) !== 0 || this.#held.length > 0) {
      if (this.#held === NONE) this.#held = [];
      this.#held.push(chunk);
      if ((this.#flags & PAUSED) !== 0) this.#pauseBun();
    } else this.#handler!.data(chunk);
  }

  #pauseBun(): void {
    if ((this.#flags & BUN_PAUSED) !== 0) return;
    this.#flags = (this.#flags & ~BUN_READING) | BUN_PAUSED;
    this.#s.pause();
  }

  /** Bun's `end` event: the peer's FIN. */
  onEnd(): void {
    if ((this.#flags & CLOSED) !== 0) return;
    if ((this.#flags & PAUSED) !== 0 || this.#held.length > 0) this.#flags |= HELD_END;
    else this.#deliverEnd();
  }

  /** Bun's `drain` event: the kernel takes bytes again. */
  onDrain(): void {
    if ((this.#flags & CLOSED) !== 0 || !this.#sendQueue()) return;
    if ((this.#flags & NEED_DRAIN) !== 0) {
      this.#flags &= ~NEED_DRAIN;
      this.#handler?.drain();
    }
    if (this.#queue.length === 0) this.#afterFlush();
  }

  /** Writes with nothing queued before it; what the kernel does not take is queued. */
  #writeNow(chunk: Uint8Array): void {
    const n = Math.max(0, this.#s.write(chunk));
    if (n < chunk.length) {
      this.#ownQueue().push(n === 0 ? chunk : chunk.subarray(n));
      this.#queued += chunk.length - n;
    }
  }

  /** Hands the queue to the kernel; true when all of it went. */
  #sendQueue(): boolean {
    const s = this.#s;
    while (this.#queue.length > 0) {
      const batch = takeBatch(this.#queue);
      const n = Math.max(0, s.write(batch));
      this.#queued -= n;
      if (n < batch.length) {
        this.#queue.unshift(n === 0 ? batch : batch.subarray(n));
        return false;
      }
    }
    this.#queue = NONE; // an idle socket keeps no array
    return true;
  }

  /**
   * Sends what cork() held. When it all goes, a waiting `drain` fires from a microtask,
   * as it would have from Bun's event (never inside the `write()` or `uncork()` call).
   */
  #sendHeld(): void {
    if (!this.#sendQueue() || (this.#flags & NEED_DRAIN) === 0) return;
    queueMicrotask(() => {
      if (
        (this.#flags & CLOSED) !== 0 || this.#queue.length > 0 || (this.#flags & NEED_DRAIN) === 0
      ) return;
      this.#flags &= ~NEED_DRAIN;
      this.#handler?.drain();
    });
  }

  /** Bun's `error` event; the error is reported with `close`. */
  onError(error: Error): void {
    this.#error ??= error;
  }

  /** Bun's `close` event. */
  onClose(error?: Error): void {
    if ((this.#flags & CLOSED) !== 0) return;
    if (error) this.#error ??= error;
    // A clean close with events still held waits for resume(), so nothing is lost; unless
    // the close is ours (close() or abort()): then nobody resumes, and nobody reads them.
    if (
      !this.#closeError() && (this.#flags & (PAUSED | CLOSE_WANTED | ABORTED)) === PAUSED &&
      (this.#held.length > 0 || (this.#flags & HELD_END) !== 0)
    ) {
      this.#flags |= HELD_CLOSE;
      return;
    }
    this.#finish();
  }

  #deliverHeld(): void {
    while ((this.#flags & PAUSED) === 0 && (this.#flags & CLOSED) === 0 && this.#held.length > 0) {
      this.#handler!.data(this.#held.shift()!);
    }
    if ((this.#flags & (PAUSED | CLOSED)) !== 0 || this.#held.length > 0) {
      return;
    }
    if ((this.#flags & HELD_END) !== 0) {
      this.#flags &= ~HELD_END;
      this.#deliverEnd();
    }
    if ((this.#flags & HELD_CLOSE) !== 0 && (this.#flags & PAUSED) === 0) this.#finish();
  }

  #deliverEnd(): void {
    if ((this.#flags & END_DELIVERED) !== 0) return;
    this.#flags |= END_DELIVERED;
    this.#handler!.end();
  }

  #finish(): void {
    if ((this.#flags & CLOSED) !== 0) return;
    const error = this.#closeError();
    // After our shutdown(), Bun closes on the peer's FIN without an `end` event.
    if (
      !error && (this.#flags & WRITE_SHUT) !== 0 && (this.#flags & CLOSE_WANTED) === 0 &&
      (this.#flags & ABORTED) === 0 && this.#handler
    ) {
      for (const chunk of this.#held.splice(0)) this.#handler.data(chunk);
      this.#deliverEnd();
    }
    this.#flags |= CLOSED;
    this.#queue = NONE;
    this.#one = undefined;
    this.#queued = 0;
    // Never re-entrant: terminate() inside abort() may fire Bun's close at once.
    const handler = this.#handler;
    if (handler) queueMicrotask(() => handler.close(error));
  }

  #afterFlush(): void {
    if ((this.#flags & CLOSED) !== 0) return;
    if ((this.#flags & CLOSE_WANTED) !== 0) {
      this.#flags |= BUN_CLOSING;
      // Input left unread makes the kernel send an RST instead of a FIN, and the peer may
      // then never see the end of the stream (or our last bytes): a FIN first.
      if ((this.#flags & (PAUSED | WRITE_SHUT)) === PAUSED) this.#s.shutdown();
      return void (this.tls ? this.#s.close() : this.#s.end());
    }
    if ((this.#flags & END_WANTED) !== 0 && (this.#flags & WRITE_SHUT) === 0) {
      this.#flags |= WRITE_SHUT;
      this.#s.shutdown();
    }
  }

  #closeError(): Error | undefined {
    return (this.#flags & ABORTED) !== 0 || !this.#error ? undefined : toSocketError(this.#error);
  }
}

/**
 * The socket handler of a listener (with `onOpen`) or a client. A listener's socket whose
 * peer was gone before Bun opened it is closed at once and goes to `onDead`, not `onOpen`;
 * its `s.data` stays unset.
 */
export function socketHandler(
  hwm: number,
  known: KnownAddrs,
  onOpen?: (s: RawSocket) => void,
  onDead?: TransportListenOptions["onAcceptError"],
): BunSocketHandler<Slot> {
  return {
    open(s) {
      const raw = new BunRawSocket(s, hwm, known);
      if (onOpen && arrivedDead(raw.remoteAddr)) {
        s.terminate();
        return onDead?.("aborted", deadOnArrival());
      }
      s.data = raw;
      onOpen?.(raw);
    },
    // Plain Uint8Arrays: a Buffer would have to be re-viewed as one for the decoders, and
    // reading a Buffer's `.buffer` makes JavaScriptCore build its ArrayBuffer (measured:
    // an eighth of the CPU of a raw echo).
    binaryType: "uint8array",
    data: (s, chunk) => s.data?.onData(chunk),
    drain: (s) => s.data?.onDrain(),
    end: (s) => s.data?.onEnd(),
    error: (s, err) => s.data?.onError(err),
    close: (s, err) => s.data?.onClose(err),
    connectError() {}, // the promise of Bun.connect rejects too
  };
}
