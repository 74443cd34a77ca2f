/**
 * TLS for the Deno adapter: `Deno.listenTls`, and for clients `Deno.connect` followed
 * by `Deno.startTls` (so that TCP_NODELAY can be set: a `Deno.TlsConn` has no
 * `setNoDelay`). Internal.
 *
 * What Deno cannot do, and tcpkit therefore refuses with `UnsupportedError`:
 * - ask for client certificates (`requestClientCert`): `Deno.listenTls` has no option
 *   (a client can present one: `Deno.connectTls` takes `cert` and `key`);
 * - TLS on Unix socket listeners or clients;
 * - server-side STARTTLS: `Deno.startTls` is client-only;
 * - client-side STARTTLS while a read is pending: Deno cannot cancel a read, and
 *   `Deno.startTls` fails with "Busy" while one runs.
 *
 * What Deno does not expose: the SNI name a client asked for (denoland/deno#23233) and
 * the negotiated protocol version. The server's certificate is read on the client
 * through Deno's internal `getPeerCertificate` symbol, where it exists.
 *
 * @module
 */

import type { TlsClientOptions, TlsInfo } from "../../types.ts";
import { formatAddr } from "../../types.ts";
import type {
  RawSocket,
  StartTlsOptions,
  TransportConnectOptions,
  TransportListener,
  TransportListenOptions,
} from "../../transport.ts";
import { TimeoutError, TlsError, UnsupportedError } from "../../errors.ts";
import { acceptLoop, peerGone } from "../_accept.ts";
import {
  alpnOf,
  checkTlsServerOptions,
  clientServerName,
  clientTlsError,
  handshakeDeadline,
  isTransportFailure,
  serverTlsError,
} from "../_tls.ts";
import {
  abortedConnect,
  describeTarget,
  raceAbort,
  tcpAddr,
  toConnectError,
  toListenError,
} from "../_util.ts";

/** How long a client-side STARTTLS handshake may take, ms. */
const CLIENT_HANDSHAKE_TIMEOUT = 30_000;

/** Wraps an established connection (after its handshake) in the adapter's socket. */
export type WrapDenoConn = (conn: Deno.Conn, tls: TlsInfo) => RawSocket;

/** The server's certificate (DER), through Deno's internal symbol; `undefined` where absent. */
function peerCertificate(conn: Deno.TlsConn): Uint8Array | undefined {
  try {
    const d = Deno as unknown as Record<symbol | string, unknown>;
    const internal = d[d.internal as symbol] as { getPeerCertificate?: symbol } | undefined;
    const sym = internal?.getPeerCertificate;
    if (!sym) return undefined;
    const get = (conn as unknown as Record<symbol, (detailed: boolean) => unknown>)[sym];
    const raw = (get?.call(conn, false) as { raw?: Uint8Array } | null)?.raw;
    return raw?.length ? new Uint8Array(raw) : undefined;
  } catch {
    return undefined;
  }
}

/** Binds a TLS listener; each connection is handed over once its handshake is done. */
export function listenDenoTls(
  o: TransportListenOptions,
  onSocket: (s: RawSocket) => void,
  wrap: WrapDenoConn,
): TransportListener {
  const tls = o.tls!;
  const ms = checkTlsServerOptions(tls);
  if (o.path !== undefined) throw new UnsupportedError("deno", "TLS on a Unix socket listener");
  if (tls.requestClientCert) {
    throw new UnsupportedError("deno", "TLS client certificates (requestClientCert)");
  }
  const target = describeTarget(o);
  let listener: Deno.TlsListener;
  try {
    listener = Deno.listenTls({
      hostname: o.hostname ?? "0.0.0.0",
      port: o.port ?? 0,
      cert: tls.cert,
      key: tls.key,
      alpnProtocols: tls.alpnProtocols,
      ...(o.reusePort ? { reusePort: true } : {}),
      ...({ tcpBacklog: o.backlog } as object),
    });
  } catch (err) {
    throw toListenError(err, target);
  }
  const handshaking = new Set<Deno.TlsConn>();
  let closed = false;
  const handshake = async (conn: Deno.TlsConn) => {
    handshaking.add(conn);
    const remote = conn.remoteAddr as Deno.NetAddr;
    const addr = tcpAddr(remote.hostname, remote.port);
    let timedOut: Error | undefined;
    const done = handshakeDeadline(ms, (e) => {
      timedOut = e;
      closeQuietly(conn);
    });
    try {
      const info = await conn.handshake();
      if (!done() || closed) throw timedOut ?? new Error("listener closed");
      handshaking.delete(conn);
      onSocket(wrap(conn, { alpnProtocol: alpnOf(info.alpnProtocol) }));
    } catch (err) {
      done();
      handshaking.delete(conn);
      closeQuietly(conn);
      if (closed) return;
      if (!timedOut && peerGone(err)) o.onAcceptError?.("aborted", err);
      else o.onError?.(timedOut ?? serverTlsError(err, addr), addr);
    }
  };
  const loop = acceptLoop({
    accept: () => listener.accept(),
    closed: () => closed,
    connection(conn) {
      if (closed) conn.close();
      else handshake(conn); // one handshake never holds up the next accept
    },
    failed: o.onAcceptError,
  });
  const addr = listener.addr as Deno.NetAddr;
  return {
    addr: tcpAddr(addr.hostname, addr.port),
    ready: Promise.resolve(),
    async close() {
      if (closed) return;
      closed = true;
      try {
        listener.close();
      } catch { /* already closed */ }
      for (const conn of handshaking) closeQuietly(conn);
      handshaking.clear();
      await loop;
    },
  };
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

/** Upgrades a TCP connection, client side, and waits for the handshake. */
async function handshakeClient(
  tcp: Deno.TcpConn,
  o: TlsClientOptions,
  hostname: string,
  signal: AbortSignal | undefined,
  target: string,
): Promise<{ conn: Deno.TlsConn; info: TlsInfo }> {
  let conn: Deno.TlsConn;
  try {
    conn = await Deno.startTls(tcp, {
      hostname: clientServerName({ hostname, tls: o }),
      caCerts: o.caCerts,
      alpnProtocols: o.alpnProtocols,
    });
  } catch (err) {
    closeQuietly(tcp);
    throw clientTlsError(err, target);
  }
  return { conn, info: await finishHandshake(conn, signal, target) };
}

/** Waits for a client handshake; on failure the connection is closed. */
async function finishHandshake(
  conn: Deno.TlsConn,
  signal: AbortSignal | undefined,
  target: string,
): Promise<TlsInfo> {
  try {
    const hs = await raceAbort(conn.handshake(), signal, target, () => {});
    return { alpnProtocol: alpnOf(hs.alpnProtocol), peerCertificate: peerCertificate(conn) };
  } catch (err) {
    closeQuietly(conn);
    if (signal?.aborted) throw abortedConnect(signal, target);
    throw clientTlsError(err, target);
  }
}

/** Opens a TLS client connection: TCP (with TCP_NODELAY), then the handshake. */
export async function connectDenoTls(
  o: TransportConnectOptions,
  wrap: WrapDenoConn,
): Promise<RawSocket> {
  const tls = o.tls!;
  const target = describeTarget(o);
  if (o.path !== undefined) throw new UnsupportedError("deno", "TLS over a Unix socket");
  const { signal } = o;
  if (signal?.aborted) throw abortedConnect(signal, target);
  const hostname = o.hostname ?? "127.0.0.1";
  if (tls.cert !== undefined || tls.key !== undefined) {
    return wrap(...await connectWithCertificate(o, hostname, target));
  }
  let tcp: Deno.TcpConn;
  try {
    tcp = await raceAbort(
      Deno.connect({ hostname, port: o.port!, signal }),
      signal,
      target,
      closeQuietly,
    );
  } catch (err) {
    if (signal?.aborted) throw abortedConnect(signal, target);
    throw isTransportFailure(err) ? toConnectError(err, target) : err;
  }
  tcp.setNoDelay(true);
  const { conn, info } = await handshakeClient(tcp, tls, hostname, signal, target);
  return wrap(conn, info);
}

/**
 * A client with a certificate: `Deno.connectTls` (`Deno.startTls` takes none). The name
 * to verify goes through Deno's internal `unstableServerName` symbol when it differs
 * from the hostname. Nagle stays on: a `Deno.TlsConn` has no `setNoDelay`.
 */
async function connectWithCertificate(
  o: TransportConnectOptions,
  hostname: string,
  target: string,
): Promise<[Deno.TlsConn, TlsInfo]> {
  const tls = o.tls!;
  const { signal } = o;
  const serverName = tls.serverName;
  let conn: Deno.TlsConn;
  try {
    conn = await raceAbort(
      Deno.connectTls({
        hostname,
        port: o.port!,
        caCerts: tls.caCerts,
        alpnProtocols: tls.alpnProtocols,
        cert: tls.cert,
        key: tls.key,
        ...(serverName && serverName !== hostname
          ? { [Symbol.for("unstableServerName")]: serverName }
          : {}),
      } as Deno.ConnectTlsOptions),
      signal,
      target,
      closeQuietly,
    );
  } catch (err) {
    if (signal?.aborted) throw abortedConnect(signal, target);
    throw isTransportFailure(err) ? toConnectError(err, target) : clientTlsError(err, target);
  }
  return [conn, await finishHandshake(conn, signal, target)];
}

/**
 * Throws when STARTTLS cannot run on this connection: the server side (`Deno.startTls`
 * is client-only), a Unix socket, a read pending, or bytes read ahead.
 */
export function checkDenoStartTls(
  conn: Deno.Conn,
  options: StartTlsOptions,
  state: { reading: boolean; readAhead: boolean },
): void {
  if (options.server) {
    throw new UnsupportedError("deno", "server-side STARTTLS (Deno.startTls is client-only)");
  }
  if (conn.remoteAddr.transport !== "tcp") {
    throw new UnsupportedError("deno", "TLS over a Unix socket");
  }
  if (state.reading) {
    throw new UnsupportedError(
      "deno",
      "startTls() while a read is pending (Deno cannot cancel a read): call it from a message hook",
    );
  }
  if (state.readAhead || options.head?.some((c) => c.length > 0)) {
    throw new TlsError(
      "STARTTLS: bytes arrived before the handshake and Deno cannot hand them to TLS",
    );
  }
}

/** STARTTLS, client side, once {@linkcode checkDenoStartTls} passed. The TCP connection is consumed. */
export function upgradeDenoClient(
  conn: Deno.Conn,
  client: TlsClientOptions & { hostname?: string },
): Promise<{ conn: Deno.TlsConn; info: TlsInfo }> {
  const remote = conn.remoteAddr as Deno.NetAddr;
  const target = formatAddr(tcpAddr(remote.hostname, remote.port));
  const host = client.hostname ?? remote.hostname;
  const deadline = AbortSignal.timeout(CLIENT_HANDSHAKE_TIMEOUT);
  return handshakeClient(conn as Deno.TcpConn, client, host, deadline, target).catch((e) => {
    throw deadline.aborted ? new TimeoutError("handshake", CLIENT_HANDSHAKE_TIMEOUT) : e;
  });
}
