/**
 * What a running server holds, as one plain object, and where its errors go.
 *
 * The server's jobs are module functions beside this file that take this state:
 * `_listeners.ts` binds, `_entry.ts` takes a new connection in and keeps its record,
 * `_reject.ts` turns one away, `_route.ts` routes and runs it, `_stats.ts` counts,
 * `_shutdown.ts` stops. The `Server` class holds one state and calls them, so each job
 * reads on its own, and a connection costs no closure: its record points at the state.
 * @internal
 * @module
 */

import type { Transport, TransportListener } from "../transport.ts";
import type { Admission, Ticket } from "../admission/admission.ts";
import type { ProxyStage } from "../admission/_proxy_stage.ts";
import type { AcceptErrors } from "../admission/_accept_errors.ts";
import type { Connection, ResolvedLimits } from "../connection/connection.ts";
import type { Sweeper, Watch } from "../connection/_timeouts.ts";
import type { Framer } from "../framers/framer.ts";
import type { ServeOptions, ServerStats } from "./options.ts";

/** A connection as the server's jobs see it (the types a caller chose are the `Server`'s). */
export type Conn = Connection<unknown, unknown, unknown>;

/** The counters `stats()` reports, but those read live (active, queued, failed accepts). */
export type Counters = Omit<ServerStats, "active" | "queued" | "acceptErrors">;

/** The server's record of a connection (made in `_entry.ts`). */
export interface Entry extends Watch, Ticket {
  readonly listener: string;
  key: string;
  /** It got a slot and `onConnection`; only such connections get `onClose`. */
  begun: boolean;
  /** Its place in {@linkcode ServerState.live}, or -1 once it is gone. */
  live: number;
}

/** Everything one server holds. */
export interface ServerState {
  readonly opts: ServeOptions<unknown, unknown, unknown>;
  /** The connection limits with their defaults, shared by every connection. */
  readonly limits: ResolvedLimits;
  readonly transport: Transport;
  readonly framer: Framer<unknown, unknown>;
  /** Whether per-client limits are on (only then is a client's key worth parsing). */
  readonly perClient: boolean;
  readonly listeners: { name: string; listener: TransportListener }[];
  /** The PROXY protocol stage of each listener that turns it on. */
  proxies: Map<string, ProxyStage> | undefined;
  /** Every socket the server holds (running, queued, lingering), unordered. */
  readonly live: Entry[];
  /** Rejected connections still lingering after their `rejectMessage`. */
  lingering: number;
  readonly admission: Admission;
  readonly sweeper: Sweeper;
  readonly counters: Counters;
  readonly acceptErrors: AcceptErrors;
  /** Aborted at shutdown: every connection's `conn.signal` follows it. */
  readonly shutdown: AbortController;
  shutdownStarted: boolean;
  /** Set while shutting down: called once the last connection is gone. */
  resolveAllClosed: (() => void) | undefined;
  readonly finished: Promise<void>;
  readonly resolveFinished: () => void;
  /** {@linkcode report} as a function, made once per server: where a failed handler goes. */
  readonly reportFor: (error: unknown, conn: Conn) => void;
}

/** Counts an error and hands it to `onError` (or the console when there is none, or it throws). */
export function report(s: ServerState, error: unknown, conn?: Conn): void {
  s.counters.errors++;
  const onError = s.opts.onError;
  if (onError) {
    try {
      onError(error, conn);
      return;
    } catch (e) {
      error = e;
    }
  }
  console.error(`tcpkit: connection ${conn?.id ?? "-"}:`, error);
}
