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
import { TimeoutError, type TimeoutKind } from "./errors.ts";

/** Timeouts of a server, in milliseconds; 0 turns one off. */
export interface Timeouts {
  /**
   * An absolute deadline for the first complete message, counted from accept. Stops
   * slowloris clients that trickle bytes. Default 0 (off): turn it on for services that
   * face the internet and whose clients speak first.
   */
  firstMessage?: number;
  /** No bytes moved in either direction. Default 300 000 (5 minutes). */
  idle?: number;
  /** The outbound queue is at its high-water mark and has not moved. Default 60 000. */
  writeStall?: number;
  /** A connection waited in the admission queue for a slot. Default 10 000. */
  queue?: number;
}

/** The defaults of {@linkcode Timeouts}. */
export const DEFAULT_TIMEOUTS: Required<Timeouts> = {
  firstMessage: 0,
  idle: 300_000,
  writeStall: 60_000,
  queue: 10_000,
};

interface Track {
  conn: Connection<any, any, any>;
  startedAt: number;
  moved: number;
  movedAt: number;
  stallSince: number;
  stallBuffered: number;
}

/** Watches connections and aborts them with a `TimeoutError` when one of their timeouts passes. */
export class Sweeper {
  #t: Required<Timeouts>;
  #hwm: number;
  #tracks = new Map<Connection<any, any, any>, Track>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #onTimeout: (conn: Connection<any, any, any>, kind: TimeoutKind) => void;
  #extra: (now: number) => void;
  readonly interval: number;

  /**
   * @param timeouts The limits (merged with the defaults).
   * @param hwm The connections' write high-water mark.
   * @param onTimeout Counts the timeout; the sweeper aborts the connection itself.
   * @param extra Called on each sweep (the admission queue's expiry).
   */
  constructor(
    timeouts: Timeouts,
    hwm: number,
    onTimeout: (conn: Connection<any, any, any>, kind: TimeoutKind) => void,
    extra: (now: number) => void,
  ) {
    const t = { ...DEFAULT_TIMEOUTS, ...timeouts };
    for (const [k, v] of Object.entries(t)) {
      if (typeof v !== "number" || !(v >= 0)) {
        throw new RangeError(`timeouts.${k} must be a number of ms >= 0, got ${v}`);
      }
    }
    this.#t = t;
    this.#hwm = hwm;
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

  /** Starts the timer. */
  start(): void {
    this.#timer ??= setInterval(() => this.sweep(Date.now()), this.interval);
  }

  /** Stops the timer. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Watches a connection from now on. */
  add(conn: Connection<any, any, any>, now = Date.now()): void {
    this.#tracks.set(conn, {
      conn,
      startedAt: now,
      moved: 0,
      movedAt: now,
      stallSince: 0,
      stallBuffered: 0,
    });
  }

  /** Stops watching a connection. */
  delete(conn: Connection<any, any, any>): void {
    this.#tracks.delete(conn);
  }

  /** One pass over every connection. */
  sweep(now: number): void {
    const { firstMessage, idle, writeStall } = this.#t;
    for (const tr of this.#tracks.values()) {
      const c = tr.conn;
      let kind: TimeoutKind | undefined;
      const buffered = c.bufferedAmount;
      const moved = c.bytesIn + c.bytesOut - buffered;
      if (moved !== tr.moved) {
        tr.moved = moved;
        tr.movedAt = now;
      }
      if (firstMessage > 0 && c.messagesIn === 0 && now - tr.startedAt >= firstMessage) {
        kind = "firstMessage";
      } else if (idle > 0 && now - tr.movedAt >= idle) kind = "idle";
      else if (writeStall > 0 && buffered >= this.#hwm) {
        if (tr.stallSince === 0 || buffered < tr.stallBuffered) {
          tr.stallSince = now;
          tr.stallBuffered = buffered;
        } else if (now - tr.stallSince >= writeStall) kind = "writeStall";
      } else tr.stallSince = 0;
      if (kind) {
        this.#tracks.delete(c);
        this.#onTimeout(c, kind);
        c.abort(new TimeoutError(kind, this.#t[kind as keyof Timeouts]));
      }
    }
    this.#extra(now);
  }
}
