/**
 * A server's record of failed accepts: counted by kind for `stats()`, and reported
 * through `onError` at most once per kind in each interval, so a storm of resets or a
 * run out of file descriptors is one line a while, not one per connection. Internal.
 *
 * @module
 */

import { AcceptError, type AcceptFailure } from "../errors.ts";

/** Shortest time between two reports of one kind, ms. */
export const ACCEPT_REPORT_INTERVAL_MS = 10_000;

/** Failed accepts by kind, with rate-limited reports. */
export class AcceptErrors {
  /** Every failure since start, by kind. */
  readonly counts: Record<AcceptFailure, number> = { aborted: 0, exhausted: 0 };
  /** Failures not reported yet, by kind. */
  #pending: Record<AcceptFailure, number> = { aborted: 0, exhausted: 0 };
  /** When each kind was last reported. */
  #reported: Record<AcceptFailure, number> = { aborted: -Infinity, exhausted: -Infinity };
  #report: (error: AcceptError) => void;
  #now: () => number;

  /**
   * @param report Gets each report.
   * @param now The clock (tests pass their own).
   */
  constructor(report: (error: AcceptError) => void, now: () => number = Date.now) {
    this.#report = report;
    this.#now = now;
  }

  /** One accept failed; reports it, with those held back before, if the interval allows. */
  add(kind: AcceptFailure, cause: unknown): void {
    this.counts[kind]++;
    this.#pending[kind]++;
    const now = this.#now();
    if (now - this.#reported[kind] < ACCEPT_REPORT_INTERVAL_MS) return;
    this.#reported[kind] = now;
    const count = this.#pending[kind];
    this.#pending[kind] = 0;
    const code = (cause as { code?: unknown } | null)?.code;
    this.#report(new AcceptError(kind, count, typeof code === "string" ? code : "", { cause }));
  }
}
