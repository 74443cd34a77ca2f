/**
 * What the primary of `serve({ workers })` keeps for each worker index: its processes
 * (one, or two during a rolling restart), their last reports, the counts of the ended
 * ones, and its crash history; and the sums of stats across them. Apart from the
 * supervisor (`_workers.ts`) so that what is kept, and how it adds up, reads on its own.
 * @internal
 * @module
 */

import type { WorkerProcess } from "../adapters/mod.ts";
import type { Connection } from "../connection/connection.ts";
import type { ServerStats } from "./options.ts";
import { newCounters } from "./_stats.ts";

/** A worker's end of the control channel, as the primary holds it. */
export type Control = Connection<string, string, unknown>;

/** A worker process and what it said. */
export interface Proc {
  readonly id: number;
  readonly proc: WorkerProcess;
  readonly startedAt: number;
  link: Control | undefined;
  bye: boolean;
  /** Its last report. */
  last: { stats: ServerStats; connections: number } | undefined;
  /** Resolves with true once it is bound, with false if it ends first. */
  readonly bound: Promise<boolean>;
  resolveBound(ok: boolean): void;
}

/** One worker index: its processes (one, or two during a rolling restart), and the totals of its ended ones. */
export interface Slot {
  readonly index: number;
  /** The process that is restarted when it crashes. */
  current: Proc | undefined;
  /** Every live process of this index: the current one, and one starting or draining in a rolling restart. */
  procs: Proc[];
  /** A process of this index has been bound once. */
  bound: boolean;
  /** Its current process ended by itself, saying bye: it is not restarted. */
  ended: boolean;
  /** The counters of the ended processes of this index (so totals never go down). */
  base: ServerStats;
  crashes: number[];
  backoff: number;
  looped: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** Sockets held by the processes of `s`, as they last reported. */
export const held = (s: Slot) => s.procs.reduce((n, p) => n + (p.last?.connections ?? 0), 0);

/** A worker index with no process yet. */
export function newSlot(index: number, backoff: number): Slot {
  return {
    index,
    current: undefined,
    procs: [],
    bound: false,
    ended: false,
    base: zeroStats(),
    crashes: [],
    backoff,
    looped: false,
    timer: undefined,
  };
}

/** The stats of a worker index: its ended processes' counts and its live ones' last reports. */
export function slotStats(s: Slot): ServerStats {
  const sum = addInto(zeroStats(), s.base);
  for (const p of s.procs) if (p.last) addInto(sum, p.last.stats);
  return sum;
}

/** Every counter and gauge at zero. */
export function zeroStats(): ServerStats {
  return { ...newCounters(), active: 0, queued: 0, acceptErrors: { aborted: 0, exhausted: 0 } };
}

/** Adds `b` to `a`, number by number (records of counts key by key). */
export function addInto(a: ServerStats, b: ServerStats): ServerStats {
  const t = a as unknown as Record<string, number | Record<string, number>>;
  for (const [k, v] of Object.entries(b)) {
    if (typeof v === "number") t[k] = ((t[k] as number) ?? 0) + v;
    else {
      const rec = ((t[k] as Record<string, number>) ??= {});
      for (const [kk, n] of Object.entries(v as Record<string, number>)) {
        rec[kk] = (rec[kk] ?? 0) + n;
      }
    }
  }
  return a;
}
