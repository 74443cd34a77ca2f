/**
 * The `node:net` adapter. It is the native adapter on Node and also works when chosen
 * explicitly on Deno and Bun, whose `node:net` is a compatibility layer (slower there:
 * see design.md section 4).
 *
 * - Servers use `allowHalfOpen` (half-close is `end()`), `pauseOnConnect` (sockets start
 *   paused) and `noDelay`.
 * - `write()` hands the chunk to Node, which buffers it; it returns false once
 *   `writableLength` reaches the high-water mark, and `drain` fires when Node's buffer
 *   is empty again.
 * - `close()` is `end()` and then `destroy()` once everything is flushed (`finish`).
 * - `abort()` is `resetAndDestroy()` (an RST) on TCP, `destroy()` on Unix sockets.
 * - `listen()` binds asynchronously: `addr` throws until `ready` resolves.
 *
 * @module
 */

import * as net from "node:net";
import * as tls from "node:tls";
import process from "node:process";
import type { Addr, TlsInfo } from "../../types.ts";
import type {
  RawSocket,
  Transport,
  TransportConnectOptions,
  TransportListener,
  TransportListenOptions,
} from "../../transport.ts";
import { acceptFailure, arrivedDead, deadOnArrival } from "../_accept.ts";
import { createNodeTlsServer, nodeClientError, nodeClientOptions, nodeTlsInfo } from "./tls.ts";
import {
  abortedConnect,
  describeTarget,
  dialled,
  isWildcard,
  type KnownAddrs,
  tcpAddr,
  toConnectError,
  toListenError,
  unixAddr,
} from "../_util.ts";
import { NodeSocket } from "./socket.ts";

/**
 * Node itself turns Nagle off as it accepts, with the server's `noDelay: true`; the
 * `node:net` of Deno and Bun may not, and there the adapter asks for it on each socket.
 */
const NO_DELAY_ON_ACCEPT = process.versions.bun === undefined &&
  process.versions.deno === undefined;

/** The `node:net` transport. */
export const nodeTransport: Transport = {
  name: "node",
  serverTlsAfterRead: true,

  listen(options: TransportListenOptions, onSocket: (s: RawSocket) => void): TransportListener {
    const hwm = options.writeHighWaterMark;
    const path = options.path;
    /** Shared by every accepted socket; `local` is set once bound, when it is the same for all. */
    const known: KnownAddrs = { unix: path !== undefined };
    const accept = (s: net.Socket, info?: TlsInfo) => {
      const socket = new NodeSocket(s, hwm, known);
      if (arrivedDead(socket.remoteAddr)) {
        s.destroy();
        return options.onAcceptError?.("aborted", deadOnArrival());
      }
      if (path === undefined && !NO_DELAY_ON_ACCEPT) s.setNoDelay(true);
      if (info) socket.tls = info;
      onSocket(socket);
    };
    const server = options.tls ? createNodeTlsServer(options, accept) : net.createServer(
      { allowHalfOpen: true, pauseOnConnect: true, noDelay: true, highWaterMark: hwm },
      (s) => accept(s),
    );
    const target = describeTarget(options);
    let addr: Addr | undefined;
    let closed = false;
    const ready = new Promise<void>((resolve, reject) => {
      server.once("listening", () => {
        const a = server.address();
        addr = typeof a === "object" && a ? tcpAddr(a.address, a.port) : unixAddr(path);
        if (addr.transport !== "tcp" || !isWildcard(addr.hostname)) known.local = addr;
        resolve();
      });
      server.once("error", (err) => reject(toListenError(err, target)));
    });
    ready.catch(() => {}); // a bind error is reported through `ready` only
    // Errors after binding (EMFILE on accept: libuv backs off by itself) must not crash
    // the process; they are reported, not thrown.
    server.on("error", (err) => {
      if (server.listening) options.onAcceptError?.(acceptFailure(err), err);
    });
    server.listen(
      path !== undefined ? { path, backlog: options.backlog } : {
        host: options.hostname,
        port: options.port ?? 0,
        backlog: options.backlog,
        ...(options.reusePort ? { reusePort: true } : {}),
      },
    );
    return {
      get addr(): Addr {
        if (!addr) {
          throw new Error(
            `listener address is not known yet: node:net binds asynchronously; await ready first (${target})`,
          );
        }
        return addr;
      },
      ready,
      close(): Promise<void> {
        if (closed || !server.listening) {
          closed = true;
          return Promise.resolve();
        }
        closed = true;
        // server.close()'s callback waits for every connection to end; the listening
        // socket itself is closed at once, so resolve on the next turn instead.
        server.close();
        return new Promise((resolve) => setTimeout(resolve, 0));
      },
    };
  },

  connect(options: TransportConnectOptions): Promise<RawSocket> {
    const target = describeTarget(options);
    const { signal, path } = options;
    if (signal?.aborted) return Promise.reject(abortedConnect(signal, target));
    return new Promise((resolve, reject) => {
      const common = { allowHalfOpen: true, highWaterMark: options.writeHighWaterMark };
      const where = path !== undefined
        ? { path }
        : { host: options.hostname ?? "127.0.0.1", port: options.port! };
      const secure = options.tls;
      const s = secure
        ? tls.connect({ ...common, ...where, ...nodeClientOptions(secure, options.hostname) })
        : net.connect({ ...common, ...where });
      const connected = secure ? "secureConnect" : "connect";
      if (!secure) s.pause(); // a TLS socket must read to finish its handshake
      const cleanup = () => {
        s.off(connected, onConnect);
        s.off("error", onError);
        signal?.removeEventListener("abort", onAbort);
      };
      const onConnect = () => {
        cleanup();
        if (path === undefined) s.setNoDelay(true);
        const socket = new NodeSocket(s, options.writeHighWaterMark, dialled(options));
        if (secure) socket.tls = nodeTlsInfo(s as tls.TLSSocket, false);
        resolve(socket);
      };
      const onError = (err: Error) => {
        cleanup();
        s.destroy();
        reject(secure ? nodeClientError(err, target) : toConnectError(err, target));
      };
      const onAbort = () => {
        cleanup();
        s.on("error", () => {});
        s.destroy();
        reject(abortedConnect(signal!, target));
      };
      s.once(connected, onConnect);
      s.once("error", onError);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  },
};
