/**
 * A connection that got its slot: watched for timeouts, told to `onConnection`, routed
 * (at once, or once a `router()` has sniffed enough of its first bytes) and handed to
 * its handler. Apart from the accept path because it runs later, when admission says
 * so, and because sniffing is the only part of the server that waits on a connection's
 * bytes.
 * @internal
 * @module
 */

import { RejectedError } from "../errors.ts";
import type { Framer } from "../framers/framer.ts";
import { canonicalIp } from "../ip.ts";
import { type RouteInfo, Router } from "../router/router.ts";
import {
  type Handler,
  type HandlerOrFactory,
  resolveHandler,
  runHandler,
} from "../router/handler.ts";
import { reject } from "./_reject.ts";
import { type Conn, type Entry, report, type ServerState } from "./_state.ts";

/** The connection has a slot: watch its timeouts, route it, run its handler. */
export function begin(s: ServerState, entry: Entry): void {
  const conn = entry.conn as Conn;
  const listener = entry.listener;
  if (conn.state === "closed") return;
  entry.begun = true;
  s.sweeper.add(entry);
  try {
    s.opts.onConnection?.(conn);
  } catch (e) {
    report(s, e, conn);
  }
  const h = s.opts.handler;
  if (!(h instanceof Router)) return run(s, conn, resolveHandler(h as HandlerOrFactory));
  const remote = conn.remoteAddr;
  const info: RouteInfo = {
    listener,
    remote: remote.transport === "tcp" ? canonicalIp(remote.hostname) : "",
    localPort: conn.localAddr.transport === "unix" ? 0 : conn.localAddr.port,
  };
  const decide = (head?: Uint8Array, final = false): boolean => {
    const r = h.match(info, head, final);
    if (r.kind === "more") return false;
    clearTimeout(timer);
    if (r.kind === "none") {
      report(s, new RejectedError("no-route"), conn);
      reject(s, conn, listener, "no-route");
      return true;
    }
    if (r.options.framer) conn.setFramer(r.options.framer as Framer<unknown, unknown>);
    run(s, conn, resolveHandler(r.handler));
    return true;
  };
  let timer: ReturnType<typeof setTimeout> | undefined = undefined;
  if (decide()) return;
  let done = false;
  let seen: Uint8Array = new Uint8Array(0); // the head so far: at the timeout the predicates judge it
  timer = setTimeout(() => {
    if (!done && conn.state !== "closed") done = decide(seen, true);
  }, h.sniffTimeout);
  conn.closed.then(() => clearTimeout(timer));
  conn._peek(h.sniffBytes, (head, final) => {
    seen = head;
    if (!done) done = decide(head, final);
  });
}

function run(s: ServerState, conn: Conn, handler: Handler<unknown, unknown, unknown>): void {
  runHandler(conn, handler, s.opts.data, s.reportFor);
}
