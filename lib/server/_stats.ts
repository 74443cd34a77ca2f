/**
 * A server's counters: the totals kept as connections come and go, and the snapshot
 * `stats()` makes of them with what the live connections have moved so far. Apart
 * from the rest of the server so that what is counted, and when, is in one place.
 * @internal
 * @module
 */

import type { ServerStats } from "./options.ts";
import type { Conn, Counters, ServerState } from "./_state.ts";

/** Every counter at zero. */
export function newCounters(): Counters {
  return {
    accepted: 0,
    rejected: {
      capacity: 0,
      "per-client": 0,
      rate: 0,
      "queue-timeout": 0,
      shutdown: 0,
      "no-route": 0,
      proxy: 0,
    },
    timeouts: { firstMessage: 0, idle: 0, writeStall: 0, queue: 0, handshake: 0, proxyHeader: 0 },
    bytesIn: 0,
    bytesOut: 0,
    messagesIn: 0,
    messagesOut: 0,
    errors: 0,
  };
}

/** Adds what a closed connection moved to the totals. */
export function addTraffic(c: Counters, conn: Conn): void {
  c.bytesIn += conn.bytesIn;
  c.bytesOut += conn.bytesOut;
  c.messagesIn += conn.messagesIn;
  c.messagesOut += conn.messagesOut;
}

/** A plain snapshot: the totals plus what every live connection has moved so far. */
export function snapshot(s: ServerState): ServerStats {
  const c = s.counters;
  let { bytesIn, bytesOut, messagesIn, messagesOut } = c;
  for (const { conn } of s.live) {
    bytesIn += conn.bytesIn;
    bytesOut += conn.bytesOut;
    messagesIn += conn.messagesIn;
    messagesOut += conn.messagesOut;
  }
  return {
    active: s.admission.running,
    queued: s.admission.queued,
    accepted: c.accepted,
    rejected: { ...c.rejected },
    timeouts: { ...c.timeouts },
    bytesIn,
    bytesOut,
    messagesIn,
    messagesOut,
    errors: c.errors,
    acceptErrors: { ...s.acceptErrors.counts },
  };
}
