/**
 * Turning a connection away: count it, tell `onReject`, write the `rejectMessage` if
 * there is one, and close without losing that message. Apart from the accept path
 * because it runs from several places (admission, the PROXY stage, routing, shutdown)
 * and because lingering is a small protocol of its own.
 * @internal
 * @module
 */

import type { RejectReason } from "../errors.ts";
import { raw } from "../framers/raw.ts";
import type { RejectInfo } from "./options.ts";
import { type Conn, report, type ServerState } from "./_state.ts";

const noop = () => {};
const encoder = new TextEncoder();

/** How long a rejected connection may linger after its `rejectMessage` (ms). */
const LINGER_MS = 1_000;
/** How many bytes a rejected connection may still send while it lingers. */
const LINGER_BYTES = 16 * 1024;
/** Rejected connections that may linger at once; beyond, they are closed at once (a flood). */
const MAX_LINGERING = 1024;

/** Turns `conn` away for `reason`: counted, `onReject`, then `rejectMessage` or a close. */
export function reject(s: ServerState, conn: Conn, listener: string, reason: RejectReason): void {
  s.counters.rejected[reason]++;
  if (reason === "queue-timeout") s.counters.timeouts.queue++;
  const info: RejectInfo = { listener, remoteAddr: conn.remoteAddr, localAddr: conn.localAddr };
  try {
    s.opts.onReject?.(info, reason);
  } catch (e) {
    report(s, e, conn);
  }
  let msg = s.opts.rejectMessage;
  try {
    if (typeof msg === "function") msg = msg(info, reason);
  } catch (e) {
    report(s, e, conn);
    msg = undefined;
  }
  if (msg === undefined || msg.length === 0 || s.lingering >= MAX_LINGERING) {
    conn.close();
    return;
  }
  conn.write(typeof msg === "string" ? encoder.encode(msg) : msg).catch(noop);
  linger(s, conn);
}

/**
 * Ends a turned-away connection without losing the message written to it: closing a
 * socket whose peer's bytes were never read sends a reset, which can discard the
 * message before the client reads it. So: half-close after the message, read and
 * drop what the client still sends, and close once it closes too, or after
 * {@linkcode LINGER_MS} or {@linkcode LINGER_BYTES}, whichever comes first.
 */
function linger(s: ServerState, conn: Conn): void {
  s.lingering++;
  conn.end();
  const plain = conn.setFramer(raw());
  let dropped = 0;
  const timer = setTimeout(() => conn.abort(), LINGER_MS);
  conn.closed.then(() => {
    clearTimeout(timer);
    s.lingering--;
  });
  plain._start({
    message(c, chunk) {
      dropped += chunk.length;
      if (dropped > LINGER_BYTES) c.abort();
    },
  });
}
