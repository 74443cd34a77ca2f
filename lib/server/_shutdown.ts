/**
 * Stopping a server: close the listeners, refuse what is queued or still sending its
 * PROXY header, abort every `conn.signal`, wait for the connections to finish, and force
 * what is left at the deadline. Apart from the rest because it is the one job that
 * touches every other part of the server, in an order that matters.
 * @internal
 * @module
 */

import { ShutdownError, TimeoutError } from "../errors.ts";
import type { ShutdownOptions } from "./options.ts";
import { closeListeners } from "./_listeners.ts";
import type { ServerState } from "./_state.ts";

/** See `Server.shutdown()`; a second call forces at once. */
export async function shutdown(s: ServerState, options: ShutdownOptions): Promise<void> {
  if (s.shutdownStarted) {
    forceClose(s, new ShutdownError());
    return s.finished;
  }
  s.shutdownStarted = true;
  const timeout = options.timeout ?? 10_000;
  const allClosed = new Promise<void>((r) => (s.resolveAllClosed = r));
  const closing = closeListeners(s);
  for (const stage of s.proxies?.values() ?? []) stage.abortAll();
  s.admission.rejectQueued("shutdown");
  s.shutdown.abort(new ShutdownError());
  if (s.live.length === 0) s.resolveAllClosed?.();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"timeout">((
    r,
  ) => (timer = setTimeout(() => r("timeout"), timeout)));
  const outcome = await Promise.race([allClosed, deadline]);
  clearTimeout(timer);
  if (outcome === "timeout") forceClose(s, new TimeoutError("shutdown", timeout));
  await allClosed;
  await closing;
  s.sweeper.stop();
  s.resolveFinished();
}

/** Aborts every connection the server holds with `reason`. */
function forceClose(s: ServerState, reason: Error): void {
  for (const { conn } of s.live.slice()) conn.abort(reason);
}
