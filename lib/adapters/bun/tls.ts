/**
 * TLS for the Bun adapter: `Bun.listen({ tls })`, `Bun.connect({ tls })` and
 * `socket.upgradeTLS()` (STARTTLS, both roles). Internal.
 *
 * Bun fires `open` before the TLS handshake, and a socket paused in `open` never
 * finishes its handshake. So a TLS socket reads until Bun's `handshake` event, is
 * paused there, and only then handed over (a listener) or returned (a client).
 * `ALPNProtocols` takes the wire format. After `upgradeTLS()` the plain socket's
 * handlers still see the ciphertext: the plain `BunRawSocket` is silenced first.
 *
 * @module
 */

import type { TlsClientOptions, TlsInfo, TlsServerOptions } from "../../types.ts";
import type { BunSocket, BunSocketHandler } from "./_types.ts";
import {
  alpnOf,
  alpnWire,
  caList,
  checkTlsServerOptions,
  clientTlsError,
  handshakeDeadline,
  serverTlsError,
} from "../_tls.ts";
import { tcpAddr } from "../_util.ts";

/** The TLS methods of a Bun socket the adapter reads. */
interface BunTlsSocket {
  readonly alpnProtocol?: string | false | null;
  getServername?(): string | undefined;
  getTLSVersion?(): string | null;
  getPeerCertificate?(): { raw?: Uint8Array } | undefined;
  upgradeTLS?<D>(options: {
    data?: D;
    tls: object;
    socket: BunSocketHandler<D>;
  }): [BunSocket<D>, BunSocket<D>];
}

/** Bun's `tls` option for a listener or a server-side upgrade. */
export function bunServerTls(o: TlsServerOptions): object {
  checkTlsServerOptions(o);
  return {
    cert: o.cert,
    key: o.key,
    ca: caList(o.ca),
    requestCert: o.requestClientCert ?? false,
    rejectUnauthorized: o.requestClientCert ?? false,
    ...(o.alpnProtocols?.length ? { ALPNProtocols: alpnWire(o.alpnProtocols) } : {}),
  };
}

let roots: string[] | undefined;

/** Bun's `tls` option for a client: `caCerts` are added to the root certificates. */
export async function bunClientTls(o: TlsClientOptions, hostname: string | undefined) {
  if (o.caCerts?.length && !roots) {
    roots = [...(await import("node:tls")).rootCertificates];
  }
  return {
    rejectUnauthorized: true,
    serverName: o.serverName ?? hostname,
    ...(o.caCerts?.length ? { ca: [...roots!, ...o.caCerts] } : {}),
    ...(o.cert ? { cert: o.cert, key: o.key } : {}),
    ...(o.alpnProtocols?.length ? { ALPNProtocols: alpnWire(o.alpnProtocols) } : {}),
  };
}

/** What a Bun TLS socket's handshake settled. */
export function bunTlsInfo(s: BunSocket<unknown>, isServer: boolean): TlsInfo {
  const t = s as unknown as BunTlsSocket;
  const raw = t.getPeerCertificate?.()?.raw;
  return {
    alpnProtocol: alpnOf(t.alpnProtocol),
    serverName: isServer ? t.getServername?.() || undefined : undefined,
    peerCertificate: raw?.length ? new Uint8Array(raw) : undefined,
    protocol: t.getTLSVersion?.() ?? undefined,
  };
}

/** Calls `upgradeTLS` on a Bun socket (STARTTLS). */
export function bunUpgradeTls<D>(
  s: BunSocket<D>,
  tls: object,
  socket: BunSocketHandler<D>,
): BunSocket<D> {
  const t = s as unknown as BunTlsSocket;
  if (typeof t.upgradeTLS !== "function") throw new TypeError("this Bun has no upgradeTLS()");
  return t.upgradeTLS<D>({ data: undefined, tls, socket })[1];
}

/** How {@linkcode handshakeHandler} treats one socket's handshake. */
export interface HandshakeOptions<D> {
  /** The deadline, ms. */
  ms: number;
  /** An authorization error (a peer certificate that did not verify) fails the handshake. */
  verifyPeer: boolean;
  /** Wraps a failure in the error reported. */
  wrap(error: unknown, s: BunSocket<D>): Error;
  /** The handshake is done; the socket is paused. */
  ok(s: BunSocket<D>): void;
  /** It failed, timed out, or the socket closed first; the socket is closed. */
  fail(s: BunSocket<D>, error: Error): void;
}

/**
 * Wraps a socket handler for TLS: the socket reads until the handshake (for at most
 * `ms`), is paused, and `ok` runs; a failure, a timeout or an early close runs `fail`
 * once. `pending` holds the sockets still in their handshake.
 */
export function handshakeHandler<D>(
  base: BunSocketHandler<D>,
  o: HandshakeOptions<D>,
): { handler: BunSocketHandler<D>; pending: Set<BunSocket<D>> } {
  const pending = new Set<BunSocket<D>>();
  const deadlines = new WeakMap<BunSocket<D>, () => boolean>();
  const settle = (s: BunSocket<D>): boolean => {
    if (!pending.delete(s)) return false;
    deadlines.get(s)?.(); // stops the deadline (if it is not what fired)
    return true;
  };
  const failed = (s: BunSocket<D>, error: Error) => {
    if (!settle(s)) return;
    s.terminate();
    o.fail(s, error);
  };
  const handler: BunSocketHandler<D> = {
    ...base,
    open(s) {
      base.open?.(s); // builds the BunRawSocket
      if (s.data === undefined) return; // closed already: its peer was gone before it opened
      s.resume(); // the handshake needs to read
      pending.add(s);
      deadlines.set(s, handshakeDeadline(o.ms, (e) => failed(s, e)));
    },
    handshake(s, success, error) {
      if (!pending.has(s)) return;
      // Bun reports "unable to get issuer certificate" when no client certificate was asked for.
      if (!success || (error && o.verifyPeer)) {
        return failed(s, o.wrap(error ?? new Error("handshake failed"), s));
      }
      settle(s);
      s.pause();
      o.ok(s);
    },
    close(s, error) {
      if (pending.has(s)) {
        const eof = Object.assign(new Error("closed during the TLS handshake"), { code: "EOF" });
        failed(s, o.wrap(error ?? eof, s));
      }
      base.close?.(s, error);
    },
  };
  return { handler, pending };
}

/** The error of a failed handshake on an accepted socket. */
export function bunServerError(error: unknown, s: BunSocket<unknown>): Error {
  const remote = s.remoteAddress ? tcpAddr(s.remoteAddress, s.remotePort ?? 0) : undefined;
  return serverTlsError(error, remote);
}

export { clientTlsError };
