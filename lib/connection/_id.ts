/**
 * Connection ids: one counter for the whole process, so a server's and a client's
 * connections never share one. Internal.
 *
 * @module
 */

let nextId = 1;

/** The next process-wide connection id. */
export function nextConnectionId(): number {
  return nextId++;
}
