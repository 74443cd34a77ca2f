/**
 * Process signals on Deno, Bun and Node: the runtime-specific half of
 * `shutdownOnSignals()`. Deno has `Deno.addSignalListener`; Bun and Node have
 * `process.on` (`node:process`).
 *
 * - A listener replaces the runtime's default action (terminate) for that signal until it
 *   is removed; removing the last one restores it.
 * - A listener does not keep the process alive on any of the three runtimes.
 *
 * @module
 */

import process from "node:process";

/** The signals tcpkit can listen for. Windows only delivers `SIGINT` and `SIGBREAK`. */
export type SignalName =
  | "SIGINT"
  | "SIGTERM"
  | "SIGHUP"
  | "SIGQUIT"
  | "SIGUSR1"
  | "SIGUSR2"
  | "SIGBREAK";

interface DenoSignals {
  addSignalListener(signal: SignalName, handler: () => void): void;
  removeSignalListener(signal: SignalName, handler: () => void): void;
}

/**
 * Calls `listener` each time the process gets `signal`, on whichever runtime this is.
 *
 * @param signal The signal's name.
 * @param listener Called once per delivery.
 * @returns A function that removes the listener (calling it again does nothing).
 *
 * @example Reloading on SIGUSR2
 * ```ts ignore
 * import { addSignalListener } from "./signals.ts";
 * let reloads = 0;
 * const remove = addSignalListener("SIGUSR2", () => void reloads++);
 * remove();
 * ```
 */
export function addSignalListener(signal: SignalName, listener: () => void): () => void {
  const deno = (globalThis as { Deno?: DenoSignals }).Deno;
  let removed = false;
  if (typeof deno?.addSignalListener === "function") {
    deno.addSignalListener(signal, listener);
    return () => {
      if (removed) return;
      removed = true;
      deno.removeSignalListener(signal, listener);
    };
  }
  process.on(signal, listener);
  return () => {
    if (removed) return;
    removed = true;
    process.off(signal, listener);
  };
}
