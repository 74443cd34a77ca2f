/**
 * `BunRawSocket`: one Bun socket behind the {@linkcode RawSocket} interface: reading (a
 * chunk that arrives while paused is held until `resume()`), end, close and abort,
 * STARTTLS, and Bun's events. Its sending half is the base class in `_write_queue.ts`,
 * and its yes-or-no state the bits of one number behind named accessors
 * (`_state.ts`): one object per socket. Internal.
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
import { type KnownAddrs, localAddrOf, remoteAddrOf, toSocketError } from "../_util.ts";
import { BunWriteQueue, NONE } from "./_write_queue.ts";

export type Slot = BunRawSocket | undefined;

/** A Bun socket behind the {@linkcode RawSocket} interface. */
export class BunRawSocket extends BunWriteQueue<Slot> implements RawSocket {
  readonly localAddr: Addr;
  readonly remoteAddr: Addr;
  /** Set on TLS sockets once the handshake is done. */
  tls?: TlsInfo;
  #handler: RawSocketHandler | undefined;
  /** Events that arrived while paused, in order: data chunks, then maybe end and close. */
  #held: Uint8Array[] = NONE; // an array of its own once used: most sockets never hold data
  #error: Error | undefined;

  /**
   * @param s The socket.
   * @param hwm The write high-water mark.
   * @param known What is known of its addresses up front.
   * @param accepted It comes from a plain (not TLS) listener (see {@linkcode socketHandler}).
   */
  constructor(s: BunSocket<Slot>, hwm: number, known: KnownAddrs, accepted = false) {
    super(s, hwm);
    // Each asks the socket (a system call), the local one only when it differs per socket.
    this.localAddr = known.local ?? localAddrOf(known, s.localAddress, s.localPort);
    this.remoteAddr = remoteAddrOf(known, s.remoteAddress, s.remotePort);
    if (accepted) this.bunReading = true; // so the first resume() has nothing to ask of Bun
    if (known.unix) return;
    if (accepted || s.setNoDelay(true)) this.noDelay = true;
  }

  start(handler: RawSocketHandler): void {
    if (this.#handler) throw new Error("RawSocket.start() was already called");
    this.#handler = handler;
    if (this.closed) queueMicrotask(() => handler.close(this.#closeError()));
  }

  pause(): void {
    if (!this.closed) this.paused = true;
  }

  resume(): void {
    if (this.closed || !this.paused) return;
    this.paused = false;
    if (!this.bunReading) {
      this.bunReading = true;
      this.s.resume();
    }
    if (this.#held.length > 0 || this.heldEnd || this.heldClose) {
      queueMicrotask(() => this.#deliverHeld());
    }
  }

  end(): void {
    if (this.closed || this.endWanted) return;
    this.uncork();
    this.markEndWanted();
    if (this.queueEmpty) this.flushed();
  }

  close(): void {
    if (this.closed || this.closeWanted) return;
    this.uncork();
    this.markCloseWanted();
    if (this.queueEmpty) this.flushed();
  }

  abort(): void {
    if (this.upgrading) return void this.s.terminate(); // mid-STARTTLS
    if (this.closed) return;
    this.markAborted();
    this.dropQueue();
    // A close that Bun has not reported yet: it ignores terminate() now, so the close is ours.
    if (this.bunClosing) return this.#finish();
    this.s.terminate();
  }

  setNoDelay(on: boolean): void {
    if (this.remoteAddr.transport !== "tcp" || this.closed || on === this.noDelay) return;
    this.noDelay = on;
    this.s.setNoDelay(on);
  }

  setKeepAlive(on: boolean, initialDelay?: number): void {
    if (this.remoteAddr.transport === "tcp" && !this.closed) {
      this.s.setKeepAlive(on, initialDelay ?? 0);
    }
  }

  /**
   * STARTTLS with `upgradeTLS()`, in either role, once what is queued has been sent.
   * This object goes silent (Bun still shows it the ciphertext) and the TLS one
   * replaces it. Bun cannot put back bytes already read: a non-empty `head` fails.
   */
  async startTls(options: StartTlsOptions): Promise<RawSocket> {
    if (this.closed) throw new ConnectionClosedError("startTls() on a closed socket");
    if (options.head?.some((c) => c.length > 0) || this.#held.length > 0) {
      throw new TlsError(
        "bytes arrived before startTls() and Bun cannot hand them to TLS: call startTls() " +
          "right after sending the go-ahead, before the peer can answer",
      );
    }
    this.pause();
    this.#pauseBun(); // now: what arrives from here on is for TLS
    for (let i = 0; i < 6000 && !this.queueEmpty && !this.closed; i++) {
      await new Promise((r) => setTimeout(r, 5)); // the go-ahead still being sent
    }
    if (this.closed || !this.queueEmpty) {
      throw new ConnectionClosedError("startTls(): the socket closed, or did not drain in 30 s");
    }
    const server = options.server;
    const tls = server
      ? bunServerTls(server)
      : await bunClientTls(options.client ?? {}, options.client?.hostname);
    const handler = this.#handler;
    this.markClosed(); // from here on the TLS socket reports everything
    this.#handler = undefined;
    this.upgrading = true; // abort() still reaches the socket
    const known: KnownAddrs = {
      unix: this.remoteAddr.transport === "unix",
      local: this.localAddr,
      remote: this.remoteAddr,
    };
    const target = formatAddr(this.remoteAddr);
    return await new Promise<RawSocket>((resolve, reject) => {
      const { handler: tlsHandler } = handshakeHandler<Slot>(socketHandler(this.hwm, known), {
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
        bunUpgradeTls(this.s, tls, tlsHandler);
      } catch (e) {
        const err = clientTlsError(e, target);
        handler?.close(err);
        reject(err);
      }
    }).finally(() => (this.upgrading = false));
  }

  /** Bun's `data` event. */
  onData(chunk: Uint8Array): void {
    if (this.closed) return;
    if (this.paused || this.#held.length > 0) {
      if (this.#held === NONE) this.#held = [];
      this.#held.push(chunk);
      if (this.paused) this.#pauseBun();
    } else this.#handler!.data(chunk);
  }

  #pauseBun(): void {
    if (this.bunPaused) return;
    this.bunReading = false;
    this.s.pause();
  }

  /** Bun's `end` event: the peer's FIN. */
  onEnd(): void {
    if (this.closed) return;
    if (this.paused || this.#held.length > 0) this.heldEnd = true;
    else this.#deliverEnd();
  }

  /** Bun's `error` event; the error is reported with `close`. */
  onError(error: Error): void {
    this.#error ??= error;
  }

  /** Bun's `close` event. */
  onClose(error?: Error): void {
    if (this.closed) return;
    if (error) this.#error ??= error;
    // A clean close with events still held waits for resume(), so nothing is lost; unless
    // the close is ours (close() or abort()): then nobody resumes, and nobody reads them.
    if (
      !this.#closeError() && this.paused && !this.closeWanted && !this.aborted &&
      (this.#held.length > 0 || this.heldEnd)
    ) {
      this.markHeldClose();
      return;
    }
    this.#finish();
  }

  #deliverHeld(): void {
    while (!this.paused && !this.closed && this.#held.length > 0) {
      this.#handler!.data(this.#held.shift()!);
    }
    if (this.paused || this.closed || this.#held.length > 0) return;
    if (this.heldEnd) {
      this.heldEnd = false;
      this.#deliverEnd();
    }
    if (this.heldClose && !this.paused) this.#finish();
  }

  #deliverEnd(): void {
    if (this.endDelivered) return;
    this.markEndDelivered();
    this.#handler!.end();
  }

  #finish(): void {
    if (this.closed) return;
    const error = this.#closeError();
    // After our shutdown(), Bun closes on the peer's FIN without an `end` event.
    if (!error && this.writeShut && !this.closeWanted && !this.aborted && this.#handler) {
      for (const chunk of this.#held.splice(0)) this.#handler.data(chunk);
      this.#deliverEnd();
    }
    this.markClosed();
    this.dropQueue();
    // Never re-entrant: terminate() inside abort() may fire Bun's close at once.
    const handler = this.#handler;
    if (handler) queueMicrotask(() => handler.close(error));
  }

  protected override drained(): void {
    this.#handler?.drain();
  }

  /** The queue is empty: a pending close() or end() goes on. */
  protected override flushed(): void {
    if (this.closed) return;
    if (this.closeWanted) {
      this.markBunClosing();
      // Input left unread makes the kernel send an RST instead of a FIN, and the peer may
      // then never see the end of the stream (or our last bytes): a FIN first.
      if (this.paused && !this.writeShut) this.s.shutdown();
      // Once the peer's FIN has been read (and delivered), nothing is left to half-close:
      // close() closes at once, as end() would, without end()'s extra uncork system call.
      return void (this.tls || this.endDelivered ? this.s.close() : this.s.end());
    }
    if (this.endWanted && !this.writeShut) {
      this.markWriteShut();
      this.s.shutdown();
    }
  }

  #closeError(): Error | undefined {
    return this.aborted || !this.#error ? undefined : toSocketError(this.#error);
  }
}

/**
 * The socket handler of a listener (with `onOpen`) or a client. A listener's socket whose
 * peer was gone before Bun opened it is closed at once and goes to `onDead`, not `onOpen`;
 * its `s.data` stays unset.
 *
 * `accepted`: the sockets come from a plain (not TLS) listener. Bun reads from such a
 * socket from the start, and on TCP has set TCP_NODELAY as it accepted it (before
 * `open`): neither needs asking again, a call into Bun (and for Nagle a system call) per
 * connection.
 */
export function socketHandler(
  hwm: number,
  known: KnownAddrs,
  onOpen?: (s: RawSocket) => void,
  onDead?: TransportListenOptions["onAcceptError"],
  accepted = false,
): BunSocketHandler<Slot> {
  return {
    open(s) {
      const raw = new BunRawSocket(s, hwm, known, accepted);
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
