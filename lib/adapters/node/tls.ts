/**
 * TLS for the `node:net` adapter, with `node:tls`: listeners (`tls.createServer`),
 * clients (`tls.connect`) and STARTTLS in both roles (`new tls.TLSSocket(socket)` /
 * `tls.connect({ socket })`). node:tls has everything: ALPN, SNI, peer certificates,
 * client certificates. Internal.
 *
 * - A listener hands a socket over on `secureConnection`, after its handshake.
 *   Handshake failures and timeouts come from `tlsClientError`.
 * - `caCerts` are added to Node's root certificates (Node's own `ca` replaces them).
 * - STARTTLS puts the bytes already read back with `unshift()`: the TLS socket reads
 *   what is buffered in the plain one first.
 *
 * @module
 */

import * as net from "node:net";
import * as tls from "node:tls";
import type { TlsClientOptions, TlsInfo, TlsServerOptions } from "../../types.ts";
import type { StartTlsOptions, TransportListenOptions } from "../../transport.ts";
import {
  caList,
  checkTlsServerOptions,
  clientTlsError,
  handshakeDeadline,
  isTransportFailure,
  serverTlsError,
} from "../_tls.ts";
import { TimeoutError } from "../../errors.ts";
import { peerGone } from "../_accept.ts";
import { tcpAddr, toConnectError } from "../_util.ts";

/** Options of `tls.createServer` for a listener. */
export function nodeServerOptions(o: TlsServerOptions, hwm: number): tls.TlsOptions {
  const handshakeTimeout = checkTlsServerOptions(o);
  return {
    cert: o.cert,
    key: o.key,
    ca: caList(o.ca),
    requestCert: o.requestClientCert ?? false,
    rejectUnauthorized: o.requestClientCert ?? false,
    ALPNProtocols: o.alpnProtocols,
    handshakeTimeout,
    allowHalfOpen: true,
    noDelay: true,
    highWaterMark: hwm,
  } as tls.TlsOptions;
}

/**
 * A `tls.Server` for a listener: `accept` gets each socket after its handshake; failed
 * and timed-out handshakes go to `o.onError`.
 */
export function createNodeTlsServer(
  o: TransportListenOptions,
  accept: (s: tls.TLSSocket, info: TlsInfo) => void,
): tls.Server {
  const options = nodeServerOptions(o.tls!, o.writeHighWaterMark);
  // Sockets in their handshake: node:tls leaves them open when the listener closes.
  // (keyed by the peer's address and port, which the TLS socket shares).
  const handshaking = new Map<string, net.Socket>();
  const key = (s: net.Socket) => `${s.remoteAddress}|${s.remotePort}`;
  const server = tls.createServer(options, (s) => {
    handshaking.delete(key(s));
    accept(s, nodeTlsInfo(s, true));
  });
  server.on("connection", (s: net.Socket) => {
    const k = key(s);
    handshaking.set(k, s);
    s.once("close", () => handshaking.get(k) === s && handshaking.delete(k));
  });
  const close = server.close.bind(server);
  server.close = (callback?: (err?: Error) => void) => {
    for (const s of handshaking.values()) s.destroy();
    handshaking.clear();
    return close(callback);
  };
  server.on("tlsClientError", (err, s) => {
    s.destroy();
    if (peerGone(err)) return o.onAcceptError?.("aborted", err);
    const e = nodeHandshakeError(err, s, options.handshakeTimeout!);
    const remote = s.remoteAddress ? tcpAddr(s.remoteAddress, s.remotePort ?? 0) : undefined;
    o.onError?.(e, remote);
  });
  return server;
}

/** What a TLS socket's handshake settled, as tcpkit reports it. */
export function nodeTlsInfo(s: tls.TLSSocket, isServer: boolean): TlsInfo {
  const servername = (s as { servername?: string | false }).servername;
  let peer: Uint8Array | undefined;
  try {
    const raw = s.getPeerCertificate()?.raw;
    if (raw?.length) peer = new Uint8Array(raw.buffer, raw.byteOffset, raw.length);
  } catch { /* no certificate */ }
  return {
    alpnProtocol: typeof s.alpnProtocol === "string" ? s.alpnProtocol : null,
    serverName: isServer && typeof servername === "string" ? servername : undefined,
    peerCertificate: peer,
    protocol: s.getProtocol() ?? undefined,
  };
}

/** The error a listener reports for a failed handshake (`tlsClientError`). */
export function nodeHandshakeError(err: Error, s: net.Socket | undefined, ms: number): Error {
  const code = (err as { code?: string }).code;
  // Deno's node:tls has no code for it, only the message.
  if (code === "ERR_TLS_HANDSHAKE_TIMEOUT" || /handshake timeout/i.test(err.message)) {
    return new TimeoutError("handshake", ms);
  }
  const remote = s?.remoteAddress ? tcpAddr(s.remoteAddress, s.remotePort ?? 0) : undefined;
  return serverTlsError(err, remote);
}

/** How long a client-side STARTTLS handshake may take, ms. */
const CLIENT_HANDSHAKE_TIMEOUT = 30_000;

const contexts = new WeakMap<TlsClientOptions, tls.SecureContext>();

/** A client's secure context: the extra CAs added to the roots; cached per options object. */
function clientContext(o: TlsClientOptions): tls.SecureContext {
  let ctx = contexts.get(o);
  if (!ctx) {
    ctx = tls.createSecureContext({
      ca: o.caCerts?.length ? [...tls.rootCertificates, ...o.caCerts] : undefined,
      cert: o.cert,
      key: o.key,
    });
    contexts.set(o, ctx);
  }
  return ctx;
}

/** Options of `tls.connect` for a client (also used to upgrade a plain socket). */
export function nodeClientOptions(
  o: TlsClientOptions,
  hostname: string | undefined,
): tls.ConnectionOptions {
  const name = o.serverName ?? hostname;
  const options: tls.ConnectionOptions = {
    secureContext: clientContext(o),
    ALPNProtocols: o.alpnProtocols,
  };
  // SNI carries host names only (RFC 6066); an IP is still verified against the certificate.
  if (name && net.isIP(name) === 0) options.servername = name;
  if (o.serverName !== undefined && o.serverName !== hostname) {
    const serverName = o.serverName;
    options.checkServerIdentity = (_host, cert) => tls.checkServerIdentity(serverName, cert);
  }
  return options;
}

/** Maps a client-side failure: transport failures stay `ConnectError`s, the rest are `TlsError`s. */
export function nodeClientError(err: unknown, target: string): Error {
  return isTransportFailure(err) ? toConnectError(err, target) : clientTlsError(err, target);
}

/**
 * Upgrades a plain socket in place. `s` must be paused; `head` is put back first.
 * Resolves with the TLS socket once its handshake is done.
 */
export function upgradeNodeSocket(
  s: net.Socket,
  options: StartTlsOptions,
  target: string,
): Promise<tls.TLSSocket> {
  for (const chunk of [...(options.head ?? [])].reverse()) s.unshift(chunk);
  return new Promise((resolve, reject) => {
    let t: tls.TLSSocket;
    let settled = false;
    let cancel = () => true;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      cancel();
      return true;
    };
    const fail = (e: Error) => {
      if (!settle()) return;
      t.destroy();
      reject(e);
    };
    const server = options.server;
    if (server) {
      const ms = checkTlsServerOptions(server);
      t = new tls.TLSSocket(s, {
        isServer: true,
        secureContext: tls.createSecureContext({
          cert: server.cert,
          key: server.key,
          ca: caList(server.ca),
        }),
        requestCert: server.requestClientCert ?? false,
        rejectUnauthorized: server.requestClientCert ?? false,
        ALPNProtocols: server.alpnProtocols,
      });
      cancel = handshakeDeadline(ms, fail);
      t.once("secure", () => settle() && resolve(t));
      t.once("error", (e) => fail(serverTlsError(e, undefined)));
    } else {
      const client = options.client ?? {};
      t = tls.connect({ socket: s, ...nodeClientOptions(client, client.hostname) });
      cancel = handshakeDeadline(CLIENT_HANDSHAKE_TIMEOUT, fail);
      t.once("secureConnect", () => settle() && resolve(t));
      t.once("error", (e) => fail(clientTlsError(e, target)));
    }
    t.once(
      "close",
      () => fail(clientTlsError(new Error("closed during the TLS handshake"), target)),
    );
  });
}
