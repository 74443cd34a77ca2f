/**
 * Admission: the concurrency limiter, the bounded FIFO queue of accepted connections
 * waiting for a handler slot, and per-client limits (count and a token-bucket rate).
 * Runtime-free and socket-free: the server feeds it keys and callbacks, so it is
 * testable on its own.
 *
 * ```
 * accept ──> per-client count? ──> per-client rate? ──> free slot? ──> run
 *               │ over: "per-client"    │ empty: "rate"     │ no
 *               v                       v                   v
 *            reject                  reject          queue < backlog? ──> wait (FIFO, timeouts.queue)
 *                                                           │ no             │ too long: "queue-timeout"
 *                                                           v                v
 *                                                    reject "capacity"    reject
 * ```
 * @module
 */

import type { RejectReason } from "../errors.ts";

/**
 * Per-client limits, keyed on the client address: IPv4 and IPv4-mapped IPv6 count as the
 * same IPv4 client, and IPv6 is keyed on its /64 (see `clientKey()`).
 *
 * @example At most 20 connections per client, 50 new ones per 10 s
 * ```ts
 * import type { PerClientOptions } from "@tcpkit/tcpkit";
 * const perClient: PerClientOptions = {
 *   maxConnections: 20,
 *   rate: { connections: 50, perSeconds: 10 },
 * };
 * ```
 */
export interface PerClientOptions {
  /** Connections one client may have at once (running and queued). Default: no limit. */
  maxConnections?: number;
  /** A token bucket: at most `connections` new connections per `perSeconds` seconds. */
  rate?: { connections: number; perSeconds: number };
}

/**
 * Options of {@linkcode Admission}.
 *
 * @example A hundred at once, fifty waiting
 * ```ts
 * import { Admission, type AdmissionOptions } from "@tcpkit/tcpkit";
 * const options: AdmissionOptions = { maxConnections: 100, backlog: 50 };
 * const admission = new Admission(options);
 * ```
 */
export interface AdmissionOptions {
  /** Handlers running at once. Default 10 000. */
  maxConnections?: number;
  /** Accepted connections that may wait for a slot. Default 1024. 0 = none wait. */
  backlog?: number;
  /** Per-client limits. */
  perClient?: PerClientOptions;
  /** The clock, in ms (for tests). Default `Date.now`. */
  now?: () => number;
}

/**
 * One connection asking {@linkcode Admission} for a slot.
 *
 * @example A ticket that runs at once
 * ```ts
 * import { Admission, type RejectReason, type Ticket } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * let started = 0;
 * const turnedAway: RejectReason[] = [];
 * const ticket: Ticket = {
 *   key: "192.0.2.7",
 *   run: () => void started++,
 *   reject: (reason) => void turnedAway.push(reason),
 * };
 * const admission = new Admission({ maxConnections: 1 });
 * assert.equal(admission.offer(ticket), "run");
 * assert.equal(started, 1);
 * admission.release(ticket);
 * assert.deepEqual(turnedAway, []);
 * ```
 */
export interface Ticket {
  /** The per-client key (see `clientKey()`), or `""` for none (Unix sockets). */
  readonly key: string;
  /** Called when the connection gets a slot (at once, or later from the queue). */
  run(): void;
  /** Called when the connection is turned away after having been queued. */
  reject(reason: RejectReason): void;
  /** @internal */ queuedAt?: number;
  /** @internal */ state?: "queued" | "running" | "done";
}

interface Bucket {
  tokens: number;
  at: number;
}

const MAX_BUCKETS = 100_000;

/**
 * The limiter that `serve()` uses, usable on its own: `offer()` decides at once (run,
 * queue, or reject with a reason), `release()` frees a slot (exactly once per ticket,
 * however often it is called) and starts the next queued ticket in FIFO order. It knows
 * nothing of sockets: keys and callbacks go in, so it is testable with a fake clock.
 *
 * @example Two slots, one place in the queue
 * ```ts
 * import { Admission, type Ticket } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const admission = new Admission({ maxConnections: 2, backlog: 1 });
 * const log: string[] = [];
 * const ticket = (name: string): Ticket => ({
 *   key: "",
 *   run: () => void log.push(`${name} runs`),
 *   reject: (reason) => void log.push(`${name}: ${reason}`),
 * });
 * const [a, b, c] = [ticket("a"), ticket("b"), ticket("c")];
 * assert.equal(admission.offer(a), "run");
 * assert.equal(admission.offer(b), "run");
 * assert.equal(admission.offer(c), "queued");
 * assert.equal(admission.offer(ticket("d")), "capacity");
 * admission.release(a);
 * assert.deepEqual(log, ["a runs", "b runs", "c runs"]);
 * ```
 */
export class Admission {
  #max: number;
  #backlog: number;
  #perClientMax: number;
  #rate: { capacity: number; perMs: number } | undefined;
  #now: () => number;
  #running = 0;
  /** FIFO; tickets released while queued stay in place and are skipped at the head. */
  #queue: Ticket[] = [];
  #qHead = 0;
  #waiting = 0; // tickets in #queue whose state is "queued"

  #perClient = new Map<string, number>();
  #buckets = new Map<string, Bucket>();

  /**
   * Creates the limiter.
   * @param options The limits.
   * @throws {TypeError} When a limit is not a number.
   * @throws {RangeError} When a limit is not a whole number in range.
   */
  constructor(options: AdmissionOptions = {}) {
    this.#max = checkCount("maxConnections", options.maxConnections ?? 10_000, 1);
    this.#backlog = checkCount("backlog", options.backlog ?? 1024, 0);
    const pc = options.perClient ?? {};
    this.#perClientMax = checkCount("perClient.maxConnections", pc.maxConnections ?? Infinity, 1);
    if (pc.rate) {
      const { connections, perSeconds } = pc.rate;
      checkCount("perClient.rate.connections", connections, 1);
      if (typeof perSeconds !== "number" || !(perSeconds > 0)) {
        const error = typeof perSeconds === "number" ? RangeError : TypeError;
        throw new error(`perClient.rate.perSeconds must be a number > 0, got ${perSeconds}`);
      }
      this.#rate = { capacity: connections, perMs: connections / (perSeconds * 1000) };
    }
    this.#now = options.now ?? Date.now;
  }

  /** Handlers running now. */
  get running(): number {
    return this.#running;
  }
  /** Connections waiting for a slot. */
  get queued(): number {
    return this.#waiting;
  }
  /**
   * Connections (running and queued) the client with this key holds now.
   * @param key A key from `clientKey()`.
   * @returns The count; 0 for an unknown key.
   */
  clientCount(key: string): number {
    return this.#perClient.get(key) ?? 0;
  }
  /** The current `maxConnections`. */
  get maxConnections(): number {
    return this.#max;
  }

  /**
   * Decides for one new connection: per-client count, per-client rate, a free slot, a
   * place in the queue, in that order.
   *
   * @param ticket The connection's key and callbacks.
   * @returns `"run"` (`ticket.run()` was called), `"queued"`, or the reason it is
   *   rejected: `"per-client"`, `"rate"` or `"capacity"` (then neither callback is called).
   */
  offer(ticket: Ticket): "run" | "queued" | RejectReason {
    const key = ticket.key;
    if (key) {
      const held = this.#perClient.get(key) ?? 0;
      if (held >= this.#perClientMax) return "per-client";
      if (this.#rate && !this.#take(key)) return "rate";
    }
    if (this.#running < this.#max && this.#waiting === 0) {
      this.#hold(key);
      this.#start(ticket);
      return "run";
    }
    if (this.#waiting >= this.#backlog) return "capacity";
    this.#hold(key);
    ticket.state = "queued";
    ticket.queuedAt = this.#now();
    this.#queue.push(ticket);
    this.#waiting++;
    return "queued";
  }

  /**
   * The ticket's connection is gone. Frees its slot if it ran (starting the next queued
   * ticket), or its place in the queue; calling it again for the same ticket does nothing.
   *
   * @param ticket A ticket given to `offer()`.
   */
  release(ticket: Ticket): void {
    const was = ticket.state;
    if (was === "done" || was === undefined) return;
    ticket.state = "done";
    this.#unhold(ticket.key);
    if (was === "running") {
      this.#running--;
      if (this.#qHead < this.#queue.length) this.#pump(); // else nobody waits
    } else {
      // A queued ticket stays in the array and is skipped when it reaches the head.
      this.#waiting--;
    }
  }

  /**
   * Changes `maxConnections` while running. Raising it starts queued tickets at once;
   * lowering it stops none of the running ones, it only holds new ones back.
   *
   * @param n The new limit: an integer >= 1, or `Infinity`.
   * @throws {RangeError} When `n` is not allowed.
   */
  setMaxConnections(n: number): void {
    this.#max = checkCount("maxConnections", n, 1);
    this.#pump();
  }

  /**
   * Rejects queued tickets that have waited `ms` or longer with `"queue-timeout"`.
   *
   * @param ms The queue timeout in milliseconds (`Infinity`: none).
   */
  expire(ms: number): void {
    const limit = this.#now() - ms;
    const expired: Ticket[] = [];
    for (let i = this.#qHead; i < this.#queue.length; i++) {
      const t = this.#queue[i];
      if (t.state !== "queued") continue;
      if ((t.queuedAt ?? 0) > limit) break; // FIFO: the rest waited less
      expired.push(t);
    }
    // Release all first, then call out: a callback may change the queue.
    for (const t of expired) this.release(t);
    this.#compact();
    for (const t of expired) t.reject("queue-timeout");
  }

  /**
   * Rejects every queued ticket with `reason` (at shutdown); running ones are untouched.
   *
   * @param reason Passed to each ticket's `reject()`.
   */
  rejectQueued(reason: RejectReason): void {
    const waiting = this.#queue.slice(this.#qHead).filter((t) => t.state === "queued");
    for (const t of waiting) this.release(t);
    this.#compact();
    for (const t of waiting) t.reject(reason);
  }

  #start(ticket: Ticket): void {
    ticket.state = "running";
    this.#running++;
    ticket.run();
  }

  #pump(): void {
    while (this.#running < this.#max && this.#qHead < this.#queue.length) {
      const t = this.#queue[this.#qHead];
      this.#queue[this.#qHead++] = undefined as unknown as Ticket;
      if (t.state === "queued") {
        this.#waiting--;
        this.#start(t);
      }
    }
    this.#compact();
  }

  #compact(): void {
    while (this.#qHead < this.#queue.length && this.#queue[this.#qHead].state !== "queued") {
      this.#qHead++;
    }
    if (this.#qHead === this.#queue.length) {
      if (this.#qHead !== 0) { // (an empty queue stays the same array: no garbage per release)
        this.#queue = [];
        this.#qHead = 0;
      }
    } else if (this.#qHead > 1024 && this.#qHead * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#qHead);
      this.#qHead = 0;
    }
  }

  #hold(key: string): void {
    if (key) this.#perClient.set(key, (this.#perClient.get(key) ?? 0) + 1);
  }

  #unhold(key: string): void {
    if (!key) return;
    const n = (this.#perClient.get(key) ?? 1) - 1;
    if (n <= 0) this.#perClient.delete(key);
    else this.#perClient.set(key, n);
  }

  /** Token bucket: refill by elapsed time, then take one token if there is one. */
  #take(key: string): boolean {
    const rate = this.#rate!;
    const now = this.#now();
    let b = this.#buckets.get(key);
    if (!b) {
      if (this.#buckets.size >= MAX_BUCKETS) this.#sweepBuckets(now);
      b = { tokens: rate.capacity, at: now };
      this.#buckets.set(key, b);
    } else {
      b.tokens = Math.min(rate.capacity, b.tokens + (now - b.at) * rate.perMs);
      b.at = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Forgets buckets that have refilled: a full bucket is the same as none. Bounds memory. */
  #sweepBuckets(now: number): void {
    const rate = this.#rate!;
    for (const [k, b] of this.#buckets) {
      if (b.tokens + (now - b.at) * rate.perMs >= rate.capacity) this.#buckets.delete(k);
    }
    // Still full of active clients: drop the oldest half rather than grow without bound.
    if (this.#buckets.size >= MAX_BUCKETS) {
      let n = this.#buckets.size >> 1;
      for (const k of this.#buckets.keys()) {
        if (n-- <= 0) break;
        this.#buckets.delete(k);
      }
    }
  }
}

function checkCount(name: string, n: number, min: number): number {
  if (n === Infinity) return n;
  if (!Number.isInteger(n) || n < min) {
    const error = typeof n === "number" ? RangeError : TypeError;
    const got = typeof n === "string" ? JSON.stringify(n) : n;
    throw new error(`${name} must be an integer >= ${min} (or Infinity), got ${got}`);
  }
  return n;
}
