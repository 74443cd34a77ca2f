/**
 * The life of a connection: the socket's events routed in, half-close, close and abort,
 * the close itself (the error, the waiting `next()` and `send()`, the signal, the
 * `close` hook, `closed`), and STARTTLS, which swaps the socket under it. Internal.
 *
 * @module
 */

import type { RawSocket, RawSocketHandler } from "../transport.ts";
import { ConnectionClosedError, TlsError, UnsupportedError } from "../errors.ts";
import { DONE, PAUSE_TLS, Rare, type Stage } from "./_core.ts";
import { ConnectionInbound } from "./_inbound.ts";
import type { TlsClientOptions, TlsServerOptions } from "../types.ts";

/** The members of a connection that its socket's events go to (protected on the class). */
interface EventSink {
  _onData(chunk: Uint8Array): void;
  _onEnd(): void;
  _onDrain(): void;
  _onClose(error?: Error): void;
}

/**
 * @internal Routes a socket's events to its connection (`c`): one small object per
 * socket, no closure per event. A caller that keeps a record of each connection anyway
 * (the server) makes that record a subclass and passes it as `init.events`: then no
 * router object is made, and the connection sets `c` as it starts its socket.
 */
export class SocketEvents implements RawSocketHandler {
  /** The connection; set by it before the socket can report anything. */
  c: EventSink | undefined;
  constructor(c?: EventSink) {
    this.c = c;
  }
  data(chunk: Uint8Array): void {
    this.c!._onData(chunk);
  }
  end(): void {
    this.c!._onEnd();
  }
  drain(): void {
    this.c!._onDrain();
  }
  close(error?: Error): void {
    this.c!._onClose(error);
  }
}

/** @internal Events in, ending, closing, the close, and STARTTLS. */
export abstract class ConnectionLifecycle<In, Out, Data> extends ConnectionInbound<In, Out, Data> {
  protected _events(): RawSocketHandler {
    const sink = this as unknown as EventSink;
    const own = this._init.events as SocketEvents | undefined;
    if (own === undefined) return new SocketEvents(sink);
    own.c = sink;
    return own;
  }

  /** Makes the controller behind `conn.signal`. */
  protected _controller(): AbortController {
    const ac = new AbortController();
    const parent = this._init.parentSignal;
    if (this._state === "closed") {
      ac.abort(this._rare?.closeReason ?? new ConnectionClosedError());
    } else if (parent?.aborted) ac.abort(parent.reason);
    else if (parent) {
      const onAbort = () => ac.abort(parent.reason);
      parent.addEventListener("abort", onAbort, { once: true });
      this._closedPromise().then(() => parent.removeEventListener("abort", onAbort));
    }
    return ac;
  }

  /** `Connection.closed`. */
  protected _closedPromise(): Promise<void> {
    const rare = this._rare ??= new Rare();
    return rare.closed ??= this._state === "closed"
      ? Promise.resolve()
      : new Promise((r) => (rare.resolveClosed = r));
  }

  /** `Connection.startTls()`. */
  protected async _startTls(
    options: { server?: TlsServerOptions; client?: TlsClientOptions & { hostname?: string } },
  ): Promise<void> {
    const socket = this._socket;
    if (this._state === "closed" || this._weEnded) {
      throw this._error ?? new ConnectionClosedError("startTls() on a closed connection");
    }
    if (!socket.startTls) throw new UnsupportedError("this adapter", "STARTTLS");
    if (this._qHead < this._queue.length) {
      const n = this._queue.length - this._qHead;
      const err = new TlsError(
        `${n} message(s) arrived in plaintext after the command that started TLS; ` +
          "not upgrading (STARTTLS command injection)",
      );
      this._abort(err);
      throw err;
    }
    if (this._corked) this._uncork(); // the go-ahead goes out now
    this._pause(PAUSE_TLS);
    const taken = this._decoder.takeRemaining();
    // Bytes of a lent chunk (a hook calls this during `data()`) are used later: copied.
    const head = this._lent ? taken.map((c) => c.slice()) : taken;
    let next: RawSocket;
    try {
      next = await socket.startTls({ server: options.server, client: options.client, head });
    } catch (e) {
      // (Awaited: the connection may have closed meanwhile.)
      if (this._socket === socket && (this._state as Stage) !== "closed") {
        for (const chunk of head) this._decoder.push(chunk); // nothing happened: as it was
        this._unpause(PAUSE_TLS);
      }
      throw e;
    }
    this._socket = next;
    next.start(this._events());
    // The option holds for the new socket too (with hooks only: see `_start`).
    this._lent = this._limits.lend && this._hooks !== undefined && next.lend?.() === true;
    this._unpause(PAUSE_TLS);
  }

  /** `Connection.end()`. */
  protected override _end(): void {
    if (this._weEnded || this._state === "closed" || this._state === "closing") return;
    this._weEnded = true;
    this._state = this._peerEnded ? "closing" : "half-closed-by-us";
    if (this._run !== undefined) this._flushRun();
    // The peer has ended too: closing is all that is left, and a close alone sends the
    // FIN after the queue (one system call, not a half-close and then a close).
    if (!this._peerEnded) this._socket.end();
    this._maybeFinish();
  }

  /** `Connection.close()`. */
  protected _close(): void {
    if (this._state === "closed") return;
    this._dropInput = true;
    this._state = "closing";
    this._weEnded = true;
    if (this._run !== undefined) this._flushRun();
    this._socket.close();
  }

  /** `Connection.abort()`. */
  protected override _abort(reason?: Error): void {
    if (this._state === "closed") return;
    if (reason && !this._error) this._error = reason;
    this._dropInput = true;
    this._state = "closing";
    this._weEnded = true;
    this._dropSpans();
    this._socket.abort();
  }

  protected override _maybeFinish(): void {
    if (this._bothEnded && this._state !== "closed") {
      if (this._run !== undefined) this._flushRun();
      this._socket.close();
    }
  }

  /** The socket is gone. */
  protected _onClose(error?: Error): void {
    if (this._state === "closed") return;
    this._state = "closed";
    this._corked = false;
    this._dropSpans();
    if (error && !this._error) this._error = error;
    const rare = this._rare;
    if (rare?.yieldTimer !== undefined) clearTimeout(rare.yieldTimer);
    const err = this._error;
    const w = this._waiter;
    if (w && this._qHead === this._queue.length) {
      this._waiter = undefined;
      if (err && !this._errorDelivered && !this._peerEnded) {
        this._errorDelivered = true;
        w.reject(err);
      } else w.resolve(DONE);
    }
    if (this._peerEnded) this._errorDelivered = true;
    const d = this._drain;
    if (d) {
      this._drain = undefined;
      d.reject(err ?? new ConnectionClosedError());
    }
    const ac = rare?.ac;
    if (ac) {
      if (!ac.signal.aborted) ac.abort(err ?? new ConnectionClosedError());
    } else {
      // A signal made later is aborted with what would have aborted it first.
      const parent = this._init.parentSignal;
      const reason = parent?.aborted ? parent.reason : err;
      if (reason !== undefined) (this._rare ??= new Rare()).closeReason = reason;
    }
    try {
      this._hooks?.close?.(this, err);
    } catch (e) {
      this._init.report?.(e, this);
    }
    this._init.onClosed?.(this, err);
    rare?.resolveClosed?.();
  }
}
