/**
 * What an adapter does when accepting a connection fails, and the one accept loop of the
 * listeners that are pulled (`await listener.accept()`: Deno's TCP, Unix and TLS ones).
 * Internal.
 *
 * A failed accept is one of two things, and they need opposite answers:
 * - **The peer was gone** before its connection was taken from the kernel's queue: it
 *   reset, or the handshake was aborted. Linux reports the error of that one connection
 *   (ECONNABORTED, EPROTO, ENETDOWN, ...; accept(2) says to treat them like EAGAIN), and
 *   Deno's address lookup on the dead socket fails with ENOTCONN. Nothing is wrong with
 *   the listener, so the loop accepts the next connection at once. Pausing here would let
 *   a peer that resets 20 connections a second keep the server from accepting anyone.
 * - **A resource ran out** (EMFILE, ENFILE, ENOBUFS, ENOMEM). Trying again at once would
 *   spin on the same error, so the loop backs off: 5 ms, doubling up to 1 s, and back to
 *   full speed after the first accept that works. An error the loop cannot name is
 *   treated the same way, so a persistent unknown error costs one retry a second, not a
 *   core.
 *
 * On Node and Bun the runtime accepts by itself and hands over the socket even when the
 * peer reset it while it waited; such a socket has no peer address, and
 * {@linkcode arrivedDead} lets those adapters treat it as an aborted accept too.
 *
 * @module
 */

import { type AcceptFailure, ConnectionResetError } from "../errors.ts";
import type { Addr } from "../types.ts";
import { errorCode } from "./_util.ts";

/** Per-connection errors of accept(2) on Linux, and the address lookup of a dead socket. */
const ABORTED_CODES = new Set([
  "ECONNABORTED",
  "ECONNRESET",
  "ENOTCONN",
  "EPROTO",
  "EPERM", // a firewall rule refused this connection
  "ETIMEDOUT",
  "ENETDOWN",
  "ENOPROTOOPT",
  "EHOSTDOWN",
  "ENONET",
  "EHOSTUNREACH",
  "EOPNOTSUPP",
  "ENETUNREACH",
]);
/** Deno's error class names for the same conditions, where an error has no code. */
const ABORTED_NAMES = new Set(["ConnectionAborted", "ConnectionReset", "NotConnected"]);

/** The first pause after an exhausted accept, ms. */
export const FIRST_BACKOFF_MS = 5;
/** The longest pause, ms. */
export const MAX_BACKOFF_MS = 1_000;

/** Says whether a failed accept was the peer's doing (`"aborted"`) or ours (`"exhausted"`). */
export function acceptFailure(err: unknown): AcceptFailure {
  const name = (err as { name?: unknown } | null)?.name;
  if (ABORTED_CODES.has(errorCode(err))) return "aborted";
  return typeof name === "string" && ABORTED_NAMES.has(name) ? "aborted" : "exhausted";
}

/** The pause after an exhausted accept that followed a pause of `previous` ms (0: none). */
export function nextBackoff(previous: number): number {
  return previous <= 0 ? FIRST_BACKOFF_MS : Math.min(previous * 2, MAX_BACKOFF_MS);
}

/**
 * Whether an accepted socket arrived with its peer already gone: a TCP socket whose peer
 * address the runtime could not read (getpeername fails with ENOTCONN once it reset).
 */
export function arrivedDead(remote: Addr): boolean {
  return remote.transport === "tcp" && remote.hostname === "";
}

/** Codes and Deno class names of a TLS handshake the peer walked away from. */
const GONE = new Set([
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ENOTCONN",
  "EOF",
  "ConnectionReset",
  "ConnectionAborted",
  "BrokenPipe",
  "NotConnected",
  "UnexpectedEof",
]);

/**
 * Whether a server-side TLS handshake failed because the peer reset or closed the
 * connection (looked for in the error and its `cause`). Such a connection never arrived:
 * it is an aborted accept, not a TLS error. A health check that connects and closes, or
 * a reset storm, must not print one TLS error per connection.
 */
export function peerGone(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 3; e = (e as Error).cause, depth++) {
    if (GONE.has(errorCode(e)) || GONE.has((e as Error).name)) return true;
  }
  return false;
}

/** The error an adapter reports for a socket that {@linkcode arrivedDead}. */
export function deadOnArrival(): ConnectionResetError {
  return new ConnectionResetError({}, "ENOTCONN");
}

/** What {@linkcode acceptLoop} runs on. */
export interface AcceptLoopOptions<C> {
  /** Takes the next connection; rejects when accepting failed or the listener is closed. */
  accept(): Promise<C>;
  /** True once the listener is closed by its owner: the loop then ends. */
  closed(): boolean;
  /** A connection was accepted (the owner closes it if `closed()` has become true). */
  connection(conn: C): void;
  /** An accept failed and the loop goes on. */
  failed?(kind: AcceptFailure, error: unknown): void;
  /** Waits `ms` before the next try (tests pass their own clock). */
  sleep?(ms: number): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Accepts until the listener is closed. Resolves when the loop ends: after `closed()`
 * turns true, or when the runtime says the listener is gone (`BadResource`).
 */
export async function acceptLoop<C>(o: AcceptLoopOptions<C>): Promise<void> {
  const wait = o.sleep ?? sleep;
  let backoff = 0;
  while (!o.closed()) {
    let conn: C;
    try {
      conn = await o.accept();
    } catch (err) {
      if (o.closed() || (err as Error | null)?.name === "BadResource") return;
      const kind = acceptFailure(err);
      o.failed?.(kind, err);
      if (kind === "exhausted") await wait(backoff = nextBackoff(backoff));
      continue;
    }
    backoff = 0;
    o.connection(conn);
  }
}
