/**
 * The Bun adapter: `Bun.listen` / `Bun.connect` with socket handlers (TCP and Unix).
 *
 * - `socket.write()` returns the bytes the kernel took and never buffers: the rest is
 *   queued here and sent on `drain`.
 * - Half-close is `socket.shutdown()` (write side); listeners and clients use
 *   `allowHalfOpen`. Never `end(data)`, which truncates large data.
 * - `close()` is `socket.end()` once the queue is empty (it closes fully). On TLS it is
 *   `socket.close()`: a TLS socket's `end()` sends close_notify and then keeps the
 *   connection open until the peer answers (forever for a peer that stays open, or a
 *   socket that is paused), and Bun has already let go of it, so that not even
 *   `terminate()` reaches it any more. `close()` sends close_notify and closes at once,
 *   without an RST, as Node's `destroy()` does.
 * - `abort()` is `socket.terminate()`, which sends an RST.
 * - Sockets are paused (`socket.pause()`) until `resume()`; a chunk that still arrives
 *   while paused is held and delivered on resume.
 * - `backlog` is ignored: Bun always uses 512 (oven-sh/bun PR #33786).
 *
 * @module
 */

import type {
  RawSocket,
  Transport,
  TransportConnectOptions,
  TransportListener,
  TransportListenOptions,
} from "../../transport.ts";
import type { BunListener, BunSocket, BunSocketHandler } from "./_types.ts";
import { bunGlobal } from "./_types.ts";
import { TlsError } from "../../errors.ts";
import { peerGone } from "../_accept.ts";
import {
  bunClientTls,
  bunServerError,
  bunServerTls,
  bunTlsInfo,
  clientTlsError,
  handshakeHandler,
} from "./tls.ts";
import { checkTlsServerOptions } from "../_tls.ts";
import {
  abortedConnect,
  describeTarget,
  dialled,
  isWildcard,
  type KnownAddrs,
  raceAbort,
  tcpAddr,
  toConnectError,
  toListenError,
  unixAddr,
} from "../_util.ts";
import { type BunRawSocket, type Slot, socketHandler } from "./socket.ts";

/** The handler of a TLS listener: sockets are handed over after their handshake. */
function tlsListenHandler(
  o: TransportListenOptions,
  known: KnownAddrs,
  onSocket: (s: RawSocket) => void,
): { handler: BunSocketHandler<Slot>; pending: Set<BunSocket<Slot>> } {
  const base = socketHandler(o.writeHighWaterMark, known, () => {}, o.onAcceptError);
  return handshakeHandler<Slot>(base, {
    ms: checkTlsServerOptions(o.tls!),
    verifyPeer: o.tls!.requestClientCert === true,
    wrap: bunServerError,
    ok(s) {
      s.data!.tls = bunTlsInfo(s, true);
      onSocket(s.data!);
    },
    fail(s, e) {
      if (peerGone(e)) o.onAcceptError?.("aborted", e);
      else o.onError?.(e, s.data?.remoteAddr);
    },
  });
}

/** The Bun transport. */
export const bunTransport: Transport = {
  name: "bun",
  serverTlsAfterRead: false, // upgradeTLS cannot be given bytes already read

  listen(o: TransportListenOptions, onSocket: (s: RawSocket) => void): TransportListener {
    const known: KnownAddrs = { unix: o.path !== undefined };
    let socket = socketHandler(
      o.writeHighWaterMark,
      known,
      onSocket,
      o.onAcceptError,
      true, // (a TLS listener's handler replaces it)
    );
    let handshaking: Set<BunSocket<Slot>> | undefined;
    const tls = o.tls ? { tls: bunServerTls(o.tls) } : {};
    if (o.tls) {
      ({ handler: socket, pending: handshaking } = tlsListenHandler(o, known, onSocket));
    }
    let server: BunListener;
    try {
      server = o.path !== undefined
        ? bunGlobal().listen<Slot>({ unix: o.path, allowHalfOpen: true, ...tls, socket })
        : bunGlobal().listen<Slot>({
          hostname: o.hostname ?? "0.0.0.0",
          port: o.port ?? 0,
          allowHalfOpen: true,
          ...(o.reusePort ? { reusePort: true } : {}),
          ...tls,
          socket,
        });
    } catch (err) {
      throw toListenError(err, describeTarget(o));
    }
    const bound: { address?: string; port?: number } = {};
    server.getsockname?.(bound);
    const addr = o.path !== undefined
      ? unixAddr(o.path)
      : tcpAddr(bound.address ?? server.hostname!, bound.port ?? server.port!);
    if (addr.transport !== "tcp" || !isWildcard(addr.hostname)) known.local = addr;
    let closed = false;
    return {
      addr,
      ready: Promise.resolve(),
      close() {
        if (!closed) server.stop(false); // established sockets stay open
        closed = true;
        for (const s of handshaking ?? []) s.terminate(); // not established yet
        handshaking?.clear();
        return Promise.resolve();
      },
    };
  },

  async connect(o: TransportConnectOptions): Promise<RawSocket> {
    const target = describeTarget(o);
    const { signal } = o;
    if (signal?.aborted) throw abortedConnect(signal, target);
    let socket = socketHandler(o.writeHighWaterMark, dialled(o));
    let handshake: Promise<BunRawSocket> | undefined;
    let tls = {};
    if (o.tls) {
      tls = { tls: await bunClientTls(o.tls, o.hostname) };
      handshake = new Promise((resolve, reject) => {
        socket = handshakeHandler<Slot>(socket, {
          ms: 120_000, // connect() has its own timeout and signal
          verifyPeer: true,
          wrap: (e) => clientTlsError(e, target),
          ok(s) {
            s.data!.tls = bunTlsInfo(s, false);
            resolve(s.data!);
          },
          fail: (_s, e) => reject(e),
        }).handler;
      });
      handshake.catch(() => {});
    }
    const attempt = o.path !== undefined
      ? bunGlobal().connect<Slot>({ unix: o.path, allowHalfOpen: true, ...tls, socket })
      : bunGlobal().connect<Slot>({
        hostname: o.hostname ?? "127.0.0.1",
        port: o.port!,
        allowHalfOpen: true,
        ...tls,
        socket,
      });
    try {
      const s = await raceAbort(attempt, signal, target, (late) => late.terminate());
      return handshake ? await raceAbort(handshake, signal, target, () => {}) : s.data!;
    } catch (err) {
      if (signal?.aborted) {
        attempt.then((s) => s.terminate(), () => {}); // mid-handshake too
        throw abortedConnect(signal, target);
      }
      if (err instanceof TlsError) throw err;
      throw toConnectError(err, target);
    }
  },
};
