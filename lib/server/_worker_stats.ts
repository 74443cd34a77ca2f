/**
 * Stats summed across processes: what the primary of `serve({ workers })` adds up from
 * its workers' reports. Apart from the supervisor so that the sum is one small function
 * over {@linkcode ServerStats}, whatever fields it gains.
 * @internal
 * @module
 */

import type { ServerStats } from "./options.ts";
import { newCounters } from "./_stats.ts";

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
