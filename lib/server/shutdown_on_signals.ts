/**
 * `shutdownOnSignals()`: SIGINT and SIGTERM stop a server cleanly, on Deno, Bun and Node.
 * The runtime part lives in `adapters/signals.ts`.
 * @module
 */

import { addSignalListener, type SignalName } from "../adapters/signals.ts";

export type { SignalName } from "../adapters/signals.ts";

/** Options of {@linkcode shutdownOnSignals}. */
export interface ShutdownOnSignalsOptions {
  /** The signals to listen for. Default `["SIGINT", "SIGTERM"]`. */
  signals?: readonly SignalName[];
  /** Milliseconds the graceful shutdown may take before connections are forced closed. Default 10 000. */
  timeout?: number;
  /** Called on each signal, before acting on it (to log it); `count` is 1 for the first. */
  onSignal?(signal: SignalName, count: number): void;
}

/** What {@linkcode shutdownOnSignals} needs of a server. */
export interface ShutdownTarget {
  /** Graceful shutdown; a second call forces. */
  shutdown(options?: { timeout?: number }): Promise<void>;
  /** Resolves once the server has shut down. */
  readonly finished: Promise<void>;
}

/** Removes the signal listeners; also a `Disposable`, for `using`. */
export type SignalsDisposer = (() => void) & Disposable;

/**
 * Shuts `server` down on a signal: the first signal starts a graceful shutdown (stop
 * accepting, abort `conn.signal`, wait up to `timeout`, then force), a second one forces
 * at once. Once the server has finished, the listeners are removed, so a later signal
 * has its default effect again and nothing keeps the process alive: it exits by itself
 * (with code 0) when nothing else is pending.
 *
 * @param server The server (anything with `shutdown()` and `finished`).
 * @param options Signals, deadline, and a hook to log them.
 * @returns A function that removes the listeners at once (idempotent, also `Disposable`).
 *
 * @example Stop cleanly on Ctrl-C or `kill`
 * ```ts
 * import { serve, shutdownOnSignals } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const server = serve({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   async handler(conn) {
 *     for await (const chunk of conn) await conn.send(chunk);
 *   },
 * });
 * const heard: string[] = [];
 * const stop = shutdownOnSignals(server, {
 *   timeout: 5_000,
 *   onSignal: (signal, n) => void heard.push(`${signal}: ${n === 1 ? "draining" : "forcing"}`),
 * });
 * stop(); // not needed in a real program: here, the example ends at once
 * await server.shutdown();
 * assert.deepEqual(heard, []); // no signal came
 * ```
 */
export function shutdownOnSignals(
  server: ShutdownTarget,
  options: ShutdownOnSignalsOptions = {},
): SignalsDisposer {
  const signals = options.signals ?? ["SIGINT", "SIGTERM"];
  const timeout = options.timeout ?? 10_000;
  if (!Array.isArray(signals) || signals.length === 0) {
    throw new TypeError("shutdownOnSignals() needs at least one signal name");
  }
  if (!(timeout >= 0)) throw new RangeError(`timeout must be a number of ms >= 0, got ${timeout}`);
  let count = 0;
  const onSignal = (signal: SignalName) => {
    count++;
    try {
      options.onSignal?.(signal, count);
    } catch { /* a logging hook must not stop the shutdown */ }
    // The first call drains; any later call forces the connections closed at once.
    server.shutdown(count === 1 ? { timeout } : undefined).catch(() => {});
  };
  const removers = [...new Set(signals)].map((s) => addSignalListener(s, () => onSignal(s)));
  let disposed = false;
  const dispose = () => {
    if (disposed) return;
    disposed = true;
    for (const remove of removers) remove();
  };
  server.finished.then(dispose, dispose);
  return Object.assign(dispose, { [Symbol.dispose]: dispose });
}
