// deno-lint-ignore-file no-explicit-any -- the sweeper reads only counters, whatever the message types
/**
 * Connection timeouts, measured by tcpkit itself: one sweep timer per server looks at
 * every live connection's counters, so no timer is created or reset per message and no
 * runtime's coarse socket timer is relied on. Precision: a tenth of the shortest timeout
 * (at least 5 ms, at most 1 s).
 * @internal
 * @module
 */

import type { Connection } from "./connection.ts";
import { TimeoutError, type TimeoutKind } from "../errors.ts";

/**
 * Timeouts of a server, in milliseconds; 0 turns one off. Each ends its connection with
 * a `TimeoutError` whose `kind` names it.
 *
 * @example For a service that faces the internet
 * ```ts
 * import type { Timeouts } from "@tcpkit/tcpkit";
 * const timeouts: Timeouts = { firstMessage: 10_000, idle: 60_000, writeStall: 30_000, queue: 5_000 };
 * ```
 */
export interface Timeouts {
  /**
   * An absolute deadline for the first complete message, counted from the moment the
   * connection gets its handler slot (time spent queued is bounded by `queue`). Stops
   * slowloris clients that trickle bytes, which `idle` cannot: every byte resets it.
   * Default 0 (off): turn it on for services that face the internet and whose clients
   * speak first.
   */
  firstMessage?: number;
  /**
   * No byte moved in either direction: none read, and none taken by the kernel. Raw TCP
   * has no timeout at all by default; tcpkit does. Default 300 000 (5 minutes).
   */
  idle?: number;
  /**
   * Outbound bytes are waiting and the kernel has taken none of them for this long: the
   * peer does not read (its window and our socket buffer are full). Default 60 000.
   */
  writeStall?: number;
  /** A connection waited in the admission queue for a slot; it is rejected with `"queue-timeout"`. Default 10 000. */
  queue?: number;
}

/** The defaults of {@linkcode Timeouts}. */
export const DEFAULT_TIMEOUTS: Required<Timeouts> = {
  firstMessage: 0,
  idle: 300_000,
  writeStall: 60_000,
  queue: 10_000,
};

/**
 * What the sweeper keeps of one watched connection. The server's own record of a
 * connection has these fields itself, so watching one allocates nothing: no map entry,
 * no object.
 */
export class Watch {
  /** The connection (set by the owner before {@linkcode Sweeper.add}). */
  conn: Connection<any, any, any>;
  startedAt = 0;
  /** Bytes read plus bytes the kernel took, at the last change. */
  moved = 0;
  movedAt = 0;
  /** Since when bytes wait and the kernel takes none of them; 0 when not stalled. */
  stallSince = 0;
  /** Bytes the kernel had taken when the stall began. */
  flushed = 0;
  /** Where it is in the sweeper's list; -1 when not watched. */
  slot = -1;

  constructor(conn?: Connection<any, any, any>) {
    this.conn = conn!;
  }
}

/** Watches connections and aborts them with a `TimeoutError` when one of their timeouts passes. */
export class Sweeper {
  #t: Required<Timeouts>;
  /** Watched connections, unordered: removal moves the last one into the gap. */
  #list: Watch[] = [];
  /** Some timeout applies per connection (firstMessage, idle, writeStall); else none is watched. */
  #perConn: boolean;
  #timer: ReturnType<typeof setInterval> | undefined;
  #onTimeout: (conn: Connection<any, any, any>, kind: TimeoutKind) => void;
  #extra: (now: number) => void;
  /** Milliseconds between sweeps. */
  readonly interval: number;

  /**
   * @param timeouts The limits (merged with the defaults).
   * @param onTimeout Counts the timeout; the sweeper aborts the connection itself.
   * @param extra Called on each sweep (the admission queue's expiry).
   */
  constructor(
    timeouts: Timeouts,
    onTimeout: (conn: Connection<any, any, any>, kind: TimeoutKind) => void,
    extra: (now: number) => void,
  ) {
    const t = { ...DEFAULT_TIMEOUTS, ...timeouts };
    for (const [k, v] of Object.entries(t)) {
      if (typeof v !== "number" || !(v >= 0)) {
        const error = typeof v === "number" ? RangeError : TypeError;
        const got = typeof v === "string" ? JSON.stringify(v) : v;
        throw new error(`timeouts.${k} must be a number of ms >= 0, got ${got}`);
      }
    }
    this.#t = t;
    this.#perConn = t.firstMessage > 0 || t.idle > 0 || t.writeStall > 0;
    this.#onTimeout = onTimeout;
    this.#extra = extra;
    const enabled = Object.values(t).filter((v) => v > 0);
    const shortest = enabled.length ? Math.min(...enabled) : 1000;
    this.interval = Math.max(5, Math.min(1000, Math.floor(shortest / 10)));
  }

  /** The effective timeouts. */
  get timeouts(): Readonly<Required<Timeouts>> {
    return this.#t;
  }

  /** Connections watched now. */
  get size(): number {
    return this.#list.length;
  }

  /** Starts the timer. */
  start(): void {
    this.#timer ??= setInterval(() => this.sweep(Date.now()), this.interval);
  }

  /** Stops the timer. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Watches `w.conn` from now on (nothing to do when no per-connection timeout is on). */
  add(w: Watch, now?: number): void {
    if (!this.#perConn || w.slot >= 0) return;
    now ??= Date.now(); // not read when nothing is watched
    w.startedAt = now;
    w.moved = 0;
    w.movedAt = now;
    w.stallSince = 0;
    w.flushed = 0;
    w.slot = this.#list.length;
    this.#list.push(w);
  }

  /** Stops watching (does nothing for one not watched). */
  delete(w: Watch): void {
    const i = w.slot;
    if (i < 0) return;
    w.slot = -1;
    const list = this.#list;
    const last = list.pop()!;
    if (last !== w) {
      list[i] = last;
      last.slot = i;
    }
  }

  /** One pass over every connection. */
  sweep(now: number): void {
    const { firstMessage, idle, writeStall } = this.#t;
    const list = this.#list;
    // Backwards: a removal (here or from a callback) fills its gap with a later entry,
    // which has been looked at already.
    for (let i = list.length - 1; i >= 0; i--) {
      const tr = list[i];
      if (tr === undefined) continue; // callbacks removed several
      const c = tr.conn;
      const buffered = c.bufferedAmount;
      const flushed = c.bytesOut - buffered; // taken by the kernel
      const moved = c.bytesIn + flushed;
      if (moved !== tr.moved) {
        tr.moved = moved;
        tr.movedAt = now;
      }
      // Any byte the adapter still holds means the kernel's buffer is full; a partial
      // write can leave less than the high-water mark held, so the amount does not matter.
      if (writeStall > 0 && buffered > 0) {
        if (tr.stallSince === 0 || flushed !== tr.flushed) {
          tr.stallSince = now;
          tr.flushed = flushed;
        }
      } else tr.stallSince = 0;
      let kind: TimeoutKind | undefined;
      if (firstMessage > 0 && c.messagesIn === 0 && now - tr.startedAt >= firstMessage) {
        kind = "firstMessage";
      } else if (idle > 0 && now - tr.movedAt >= idle) kind = "idle";
      else if (tr.stallSince !== 0 && now - tr.stallSince >= writeStall) kind = "writeStall";
      if (kind) {
        this.delete(tr);
        this.#onTimeout(c, kind);
        c.abort(new TimeoutError(kind, this.#t[kind as keyof Timeouts]));
      }
    }
    this.#extra(now);
  }
}
