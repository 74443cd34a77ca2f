/**
 * The Deno adapter: `Deno.listen` / `Deno.connect` (TCP and Unix), read with
 * `conn.read(buffer)`. Never `conn.readable`, which closes the whole connection at EOF
 * and so breaks half-close.
 *
 * - Reads go into adaptive buffers (see {@linkcode ReadBuffer}): an idle connection
 *   waits on a 128-byte probe; the data buffer grows from 1 KiB to 64 KiB while data
 *   streams and shrinks back when it stops.
 * - `conn.write()` may take part of the bytes, so writes loop; several queued small
 *   chunks go out as one write.
 * - `TCP_NODELAY` is set on every TCP connection (Deno leaves Nagle on).
 * - Half-close is `conn.closeWrite()`.
 * - `abort()` is `conn.close()`: Deno has no way to send an RST, so the peer sees a
 *   normal end of stream (a reset only if it then writes, or if bytes were left unread).
 * - `backlog` is passed as `tcpBacklog`.
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
import { UnsupportedError } from "../../errors.ts";
import { acceptLoop } from "../_accept.ts";
import { connectDenoTls, listenDenoTls, type WrapDenoConn } from "./tls.ts";
import {
  abortedConnect,
  describeTarget,
  raceAbort,
  toConnectError,
  toListenError,
} from "../_util.ts";
import { DEFAULT_SIZES, type ReadBufferSizes } from "./_read_buffer.ts";

export type { ReadBufferSizes };
import { DenoSocket, toAddr } from "./socket.ts";

export interface DenoTransportOptions {
  /** Read buffer sizes (for benchmarks and tuning). */
  readBuffer?: ReadBufferSizes;
}

/**
 * Makes a Deno transport. {@linkcode denoTransport} is the default one.
 * @param options Tuning.
 * @returns The transport.
 */
export function createDenoTransport(options: DenoTransportOptions = {}): Transport {
  const sizes = options.readBuffer ?? DEFAULT_SIZES;
  const wrap = (hwm: number): WrapDenoConn => (conn, tls) => {
    const socket = new DenoSocket(conn, hwm, sizes);
    socket.tls = tls;
    return socket;
  };
  return {
    name: "deno",
    serverTlsAfterRead: false, // Deno.startTls is client-only

    listen(o: TransportListenOptions, onSocket: (s: RawSocket) => void): TransportListener {
      // Without --unstable-net, Deno.listen({ reusePort }) exits the process; the flag
      // also exposes Deno.listenDatagram, which is how it is detected.
      const unstableNet =
        typeof (Deno as { listenDatagram?: unknown }).listenDatagram === "function";
      if (o.reusePort && !unstableNet) {
        throw new UnsupportedError("deno", "reusePort without --unstable-net");
      }
      if (o.tls) return listenDenoTls(o, onSocket, wrap(o.writeHighWaterMark));
      const target = describeTarget(o);
      let listener: Deno.Listener;
      try {
        listener = o.path !== undefined
          ? Deno.listen({ transport: "unix", path: o.path })
          : Deno.listen({
            hostname: o.hostname ?? "0.0.0.0",
            port: o.port ?? 0,
            tcpBacklog: o.backlog,
            ...(o.reusePort ? { reusePort: true } : {}),
          });
      } catch (err) {
        throw toListenError(err, target);
      }
      let closed = false;
      const loop = acceptLoop({
        accept: () => listener.accept(),
        closed: () => closed,
        connection(conn) {
          if (closed) conn.close();
          else onSocket(new DenoSocket(conn, o.writeHighWaterMark, sizes));
        },
        failed: o.onAcceptError,
      });
      return {
        addr: toAddr(listener.addr),
        ready: Promise.resolve(),
        async close() {
          if (closed) return;
          closed = true;
          try {
            listener.close();
          } catch { /* already closed */ }
          await loop;
        },
      };
    },

    async connect(o: TransportConnectOptions): Promise<RawSocket> {
      if (o.tls) return connectDenoTls(o, wrap(o.writeHighWaterMark));
      const target = describeTarget(o);
      const { signal } = o;
      if (signal?.aborted) throw abortedConnect(signal, target);
      const attempt = o.path !== undefined
        ? Deno.connect({ transport: "unix", path: o.path })
        : Deno.connect({ hostname: o.hostname ?? "127.0.0.1", port: o.port!, signal });
      try {
        const conn = await raceAbort<Deno.Conn>(attempt, signal, target, (c) => c.close());
        return new DenoSocket(conn, o.writeHighWaterMark, sizes);
      } catch (err) {
        if (signal?.aborted) throw abortedConnect(signal, target);
        throw toConnectError(err, target);
      }
    },
  };
}

/** The Deno transport with default tuning. */
export const denoTransport: Transport = createDenoTransport();
