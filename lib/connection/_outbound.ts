/**
 * The outbound side of a connection: encoding and writing, the backpressure answer of
 * `send()` (the high-water mark, the drain promise) and the `maxOutbound` bound.
 * Internal; `Connection.send()` and `write()` call in here.
 *
 * @module
 */

import { ConnectionClosedError, OutboundOverflowError } from "../errors.ts";
import type { Framer } from "../framers/framer.ts";
import { WIRE, type WireFramer } from "../framers/_wire.ts";
import { noop, PAUSE_OUTBOUND, rejected, RESOLVED } from "./_core.ts";
import { ZeroCopyReplies } from "./_zero_copy.ts";

/** @internal Writing, backpressure and the bound on what is queued. */
export abstract class ConnectionOutbound<In, Out, Data> extends ZeroCopyReplies<In, Out, Data> {
  /** `Connection.send()`. */
  protected _send(msg: Out): Promise<void> {
    if (this._weEnded || this._state === "closing" || this._state === "closed") {
      return rejected(
        this._error ?? new ConnectionClosedError("send() after the connection was ended"),
      );
    }
    const framer = this._framer as Framer<In, Out> & WireFramer;
    if (framer[WIRE] !== undefined && this._rxChunk !== undefined && this._corked) {
      const p = this._sendSpan(framer, msg);
      if (p !== undefined) return p;
    }
    const encoded = framer.encode(msg);
    this.messagesOut++;
    if (this._run !== undefined) this._flushRun();
    let ok: boolean;
    if (encoded instanceof Uint8Array) {
      this.bytesOut += encoded.length;
      ok = this._socket.write(encoded);
    } else {
      ok = true;
      for (let i = 0; i < encoded.length; i++) {
        const c = encoded[i];
        this.bytesOut += c.length;
        ok = this._socket.write(c);
      }
    }
    return this._afterWrite(ok);
  }

  /** `Connection.write()`. */
  protected _write(bytes: Uint8Array): Promise<void> {
    if (this._weEnded || this._state === "closing" || this._state === "closed") {
      return rejected(
        this._error ?? new ConnectionClosedError("write() after the connection was ended"),
      );
    }
    if (this._run !== undefined) this._flushRun();
    this.bytesOut += bytes.length;
    return this._afterWrite(this._socket.write(bytes));
  }

  protected override _afterWrite(ok: boolean): Promise<void> {
    if (ok && this._drain === undefined) return RESOLVED; // the common case, asked nothing
    const queued = this._socket.bufferedAmount + this._runBytes;
    // Past the bound only while an earlier send() is still waiting for the queue to drain:
    // a caller that ignores backpressure is cut off, while one large message sent onto an
    // empty queue (a peer that reads) is not.
    const limits = this._limits;
    if (queued > limits.maxOutbound && this._drain) {
      const err = new OutboundOverflowError(queued, limits.maxOutbound);
      this._abort(err);
      return rejected(err);
    }
    if (ok || queued < limits.hwm) return RESOLVED;
    if (!this._drain) {
      let resolve!: () => void, reject!: (e: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      promise.catch(noop);
      this._drain = { promise, resolve, reject };
      // With hooks, replies are fire-and-forget: a peer that does not read stops us
      // reading from it too, so that an echo cannot queue without bound. An iterating
      // handler is held back by awaiting send() instead; pausing its reads here could
      // deadlock two peers that both write before they read.
      if (this._hooks) this._pause(PAUSE_OUTBOUND);
    }
    return this._drain.promise;
  }

  /** The socket took everything queued. */
  protected _onDrain(): void {
    const d = this._drain;
    if (d) {
      this._drain = undefined;
      d.resolve();
      this._unpause(PAUSE_OUTBOUND);
    }
    this._hooks?.drain?.(this);
  }
}
