/**
 * Binding Unix socket listeners, the same way on every adapter: an existing path gives
 * an error that says what to do, and `removeStale` removes a socket file that nothing
 * listens on (a process that crashed left it) before binding. Internal.
 *
 * Whether anything listens is probed by connecting: refused means stale. Only a socket
 * file is ever removed. Deno, Bun and Node all remove the file when the listener
 * closes, so a clean shutdown leaves nothing behind.
 *
 * @module
 */

import type {
  RawSocket,
  Transport,
  TransportListener,
  TransportListenOptions,
} from "../transport.ts";
import { unixAddr } from "./_util.ts";
import { ConnectError, ConnectionError } from "../errors.ts";
import type { Addr } from "../types.ts";

/** How long the probe of an existing socket file may take, ms. */
const PROBE_TIMEOUT = 1_000;

function inUse(e: unknown): boolean {
  return e instanceof ConnectionError && e.code === "EADDRINUSE";
}

function inUseError(path: string, cause: unknown): ConnectionError {
  return new ConnectionError(
    `listen on unix:${path} failed: the path exists. Either a server listens there, or it ` +
      `is a stale socket file left by a process that did not shut down cleanly: remove it ` +
      `(rm ${path}), or listen with removeStale: true, which removes it only when nothing ` +
      `answers on it`,
    "EADDRINUSE",
    { cause },
  );
}

/** True when something accepts connections on `path`. */
async function listening(t: Transport, path: string): Promise<boolean> {
  let socket: RawSocket;
  try {
    socket = await t.connect({
      path,
      writeHighWaterMark: 1024,
      signal: AbortSignal.timeout(PROBE_TIMEOUT),
    });
  } catch (e) {
    if (e instanceof ConnectError && e.reason === "refused") return false;
    throw e;
  }
  socket.start({ data() {}, end() {}, drain() {}, close() {} });
  socket.abort();
  return true;
}

/** Removes `path` if nothing listens on it and it is a socket file; throws otherwise. */
async function removeStale(t: Transport, path: string, cause: unknown): Promise<void> {
  if (await listening(t, path)) {
    throw new ConnectionError(
      `listen on unix:${path} failed: a server is listening there; not removed`,
      "EADDRINUSE",
      { cause },
    );
  }
  const fs = await import("node:fs/promises");
  const stat = await fs.lstat(path).catch(() => undefined);
  if (stat && !stat.isSocket()) {
    throw new ConnectionError(
      `listen on unix:${path} failed: the path exists and is not a socket; not removed`,
      "EEXIST",
      { cause },
    );
  }
  if (stat) await fs.unlink(path).catch(() => {});
}

/** A Unix listener that may still be binding (after removing a stale file). */
class UnixListener implements TransportListener {
  readonly addr: Addr;
  readonly ready: Promise<void>;
  #inner: TransportListener | undefined;
  #closed = false;

  constructor(path: string, bind: () => Promise<TransportListener>) {
    this.addr = unixAddr(path);
    this.ready = bind().then(async (inner) => {
      this.#inner = inner;
      if (this.#closed) await inner.close();
    });
    this.ready.catch(() => {});
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#inner?.close();
  }
}

/**
 * Binds a listener with `t`; Unix socket paths get the treatment described above.
 * Where binding is synchronous (Deno, Bun) an existing path without `removeStale`
 * still throws at once; with `removeStale` the listener is bound once `ready` resolves.
 */
export function listenOn(
  t: Transport,
  o: TransportListenOptions,
  onSocket: (socket: RawSocket) => void,
): TransportListener {
  const path = o.path;
  if (path === undefined) return t.listen(o, onSocket);
  const rebind = async (cause: unknown): Promise<TransportListener> => {
    if (!o.removeStale) throw inUseError(path, cause);
    await removeStale(t, path, cause);
    const listener = t.listen(o, onSocket);
    await listener.ready;
    return listener;
  };
  let first: TransportListener;
  try {
    first = t.listen(o, onSocket);
  } catch (e) {
    if (!inUse(e)) throw e;
    if (!o.removeStale) throw inUseError(path, e);
    return new UnixListener(path, () => rebind(e));
  }
  // node:net reports the bind error through `ready`.
  return new UnixListener(
    path,
    () => first.ready.then(() => first, (e) => inUse(e) ? rebind(e) : Promise.reject(e)),
  );
}
