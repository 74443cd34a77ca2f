/**
 * Zero-copy replies and the corking that batches replies: the part of a connection
 * that sends a received frame back as the bytes it came in (framers/_wire.ts), and
 * gathers adjacent replies into one write. Internal; separate because its eight fields
 * and their rules belong together and nothing else should touch the run.
 *
 * The state, in one place:
 *
 * - `_rxChunk`: the last chunk read. Spans are only looked for there, and only while the
 *   socket is corked for the replies to that chunk (the chunk is never written to
 *   meanwhile: see the transport contract). Uncorking forgets it: replies sent later may
 *   come after the next read. The framer reads the bytes around a frame in it.
 * - `_rxBuf`, `_rxStart`, `_rxEnd`: its buffer (read on the first span looked for: on
 *   Bun `.buffer` costs an `ArrayBuffer` object) and where the chunk lies in it; span
 *   offsets are `_rxBuf` based (`_rxChunk[offset - _rxStart]`).
 * - `_fresh`: the frame being handled (a hook runs, or `next()` returned it). It is sent
 *   back as it came: the decoder has just checked it, and tells where it lies in the
 *   chunk with its framing (`FRAME_WIRE`). Uncorking also has the decoder forget that
 *   frame, so that it does not keep the chunk alive.
 * - `_run`, `_runStart`, `_runEnd`: the chunk (the one read, or one the decoder still
 *   held) and the offsets into it of the run of adjacent spans gathered while corked,
 *   handed to the socket as one write by `_flushRun()` (on uncork, before any other write,
 *   on end and close, or once it reaches `RUN_MAX`): the chunk itself when the run is all
 *   of it, else a view. Its bytes count in `bufferedAmount`.
 *
 * @module
 */

import type { FrameWireSource, Span, WireFramer } from "../framers/_wire.ts";
import { FRAME_WIRE, WIRE } from "../framers/_wire.ts";
import { afterTask, ConnectionCore } from "./_core.ts";

/** Bytes of adjacent wire spans gathered before they are handed to the socket as one write. */
const RUN_MAX = 16 * 1024;
/** Where the framer writes the span it finds (one at a time: filled, then read at once). */
const SPAN: Span = { start: 0, end: 0 };

/** Bytes `[start, end)` of `chunk`; all of it is itself (on Bun a view costs its `.buffer`). */
function viewOf(chunk: Uint8Array, start: number, end: number): Uint8Array {
  if (start === 0 && end === chunk.length) return chunk;
  return new Uint8Array(chunk.buffer, chunk.byteOffset + start, end - start);
}

/** @internal The zero-copy reply path and the corking around replies. */
export abstract class ZeroCopyReplies<In, Out, Data> extends ConnectionCore<In, Out, Data> {
  protected _rxBuf: ArrayBufferLike | undefined = undefined;
  protected _rxChunk: Uint8Array | undefined = undefined;
  protected _rxStart = 0;
  protected _rxEnd = 0;
  protected _fresh: unknown = undefined;
  protected _run: Uint8Array | undefined = undefined;
  protected _runStart = 0;
  protected _runEnd = 0;

  /** Bytes gathered in the run and not yet handed to the socket. */
  protected get _runBytes(): number {
    return this._runEnd - this._runStart;
  }

  /**
   * Notes where a chunk just read lies, when the framer can find wire spans; returns the
   * chunk for the decoder: a subclass of `Uint8Array` (Node's `Buffer`) as a plain view,
   * the one the decoder would make, so that its frames' chunk is this very one.
   */
  protected _keepChunk(chunk: Uint8Array): Uint8Array {
    if ((this._framer as WireFramer)[WIRE] !== undefined) {
      if (chunk.constructor !== Uint8Array) {
        chunk = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
      }
      this._rxBuf = undefined; // (read when a span is looked for)
      this._rxChunk = chunk;
      this._rxStart = chunk.byteOffset;
      this._rxEnd = chunk.byteOffset + chunk.length;
    }
    return chunk;
  }

  /**
   * Sends `msg` as the span of the chunk just read that already holds its wire form
   * (framers/_wire.ts), gathered with the spans before it into one write; `undefined`
   * when it cannot be (the caller then encodes).
   */
  protected _sendSpan(framer: WireFramer, msg: Out): Promise<void> | undefined {
    const trusted = msg === this._fresh;
    if (trusted) {
      // The frame being handled: its decoder knows where it came from, and whether its
      // framing is what encode() writes (no `.buffer`, offsets or bytes read here).
      const chunk = (this._decoder as FrameWireSource)[FRAME_WIRE]?.(SPAN, msg as Uint8Array);
      if (chunk !== undefined) {
        if (chunk !== this._rxChunk) return undefined; // null (encode it) or another chunk
        this.messagesOut++;
        this.bytesOut += SPAN.end - SPAN.start;
        return this._sendRange(chunk, SPAN.start, SPAN.end);
      }
    }
    const rx = this._rxBuf ??= this._rxChunk!.buffer;
    if (!(msg instanceof Uint8Array) || msg.buffer !== rx) return undefined;
    const base = this._rxStart;
    if (
      !framer[WIRE]!(msg as Uint8Array, this._rxChunk!, base, trusted, SPAN) ||
      SPAN.start < base || SPAN.end > this._rxEnd
    ) return undefined;
    this.messagesOut++;
    this.bytesOut += SPAN.end - SPAN.start;
    return this._sendRange(this._rxChunk!, SPAN.start - base, SPAN.end - base);
  }

  /**
   * Sends the bytes at `[start, end)` of `chunk` (received bytes, which no one writes to),
   * gathered with adjacent ones into one write while corked.
   */
  protected _sendRange(chunk: Uint8Array, start: number, end: number): Promise<void> {
    if (this._run === chunk && this._runEnd === start) this._runEnd = end;
    else {
      if (this._run !== undefined) this._flushRun();
      if (!this._corked) return this._afterWrite(this._socket.write(viewOf(chunk, start, end)));
      this._run = chunk;
      this._runStart = start;
      this._runEnd = end;
    }
    // A long run goes to the socket, whose answer is then the backpressure signal.
    return this._afterWrite(this._runBytes >= RUN_MAX ? this._flushRun() : true);
  }

  /** Hands the gathered run of spans to the socket as one view. */
  protected _flushRun(): boolean {
    const view = viewOf(this._run!, this._runStart, this._runEnd);
    this._run = undefined;
    this._runStart = this._runEnd = 0;
    return this._socket.write(view);
  }

  /** Forgets the chunk and drops the run unsent (the connection is aborted or gone). */
  protected _dropSpans(): void {
    this._run = this._rxBuf = this._rxChunk = undefined;
    this._runStart = this._runEnd = 0;
  }

  /** Corks the socket while hooks handle the messages of one read (see `_pump`). */
  protected _cork(): void {
    this._corked = true;
    this._socket.cork!();
  }

  /**
   * The iterator is about to run for this message (and any queued after it), and each
   * run likely sends a reply: hold the replies until it has caught up (`next()` finds
   * nothing queued), so that they leave in one write. An iterator that awaits something
   * else meanwhile has them sent at the end of the task: never later.
   */
  protected _corkForIterator(): void {
    if (!this._socket.cork) return;
    this._corked = true;
    this._socket.cork();
    if (this._endOfTask) return;
    this._endOfTask = true;
    const list = ZeroCopyReplies.#heldReplies;
    list.push(this as ZeroCopyReplies<unknown, unknown, unknown>);
    if (list.length === 1) afterTask(ZeroCopyReplies.#sendHeldReplies);
  }

  /** Connections whose iterator holds replies: one list and one callback per task. */
  static #heldReplies: ZeroCopyReplies<unknown, unknown, unknown>[] = [];
  static #sendHeldReplies = (): void => {
    const list = ZeroCopyReplies.#heldReplies;
    ZeroCopyReplies.#heldReplies = [];
    for (const conn of list) {
      conn._endOfTask = false;
      if (conn._corked && conn._state !== "closed") conn._uncork();
    }
  };

  protected _uncork(): void {
    this._corked = false;
    if (this._run !== undefined) this._flushRun();
    // Replies sent from now on may come after the next read: no spans of this chunk.
    this._forgetChunk();
    this._socket.uncork?.();
  }

  /** Forgets the chunk read and the frame handled (the decoder no longer holds its chunk). */
  protected _forgetChunk(): void {
    this._rxBuf = this._rxChunk = this._fresh = undefined;
    (this._decoder as FrameWireSource)[FRAME_WIRE]?.(null);
  }

  /** Resolves at once, or once the queue drains (_outbound.ts). */
  protected abstract _afterWrite(ok: boolean): Promise<void>;
}
