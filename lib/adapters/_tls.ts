/**
 * TLS helpers shared by the runtime adapters: option checks, the handshake deadline,
 * error mapping and the ALPN wire format. Runtime-free; internal.
 *
 * Every adapter hands a TLS socket to the server only once its handshake is done, so
 * `conn.tls` is known when the handler (or the router) runs. A handshake that fails or
 * takes longer than `handshakeTimeout` closes that socket and is reported through
 * `TransportListenOptions.onError`; the listener keeps accepting.
 *
 * @module
 */

import type { Addr, TlsClientOptions, TlsServerOptions } from "../types.ts";
import { formatAddr } from "../types.ts";
import { ConnectError, TimeoutError, TlsError } from "../errors.ts";
import { errorCode } from "./_util.ts";

/** The default of `TlsServerOptions.handshakeTimeout`, ms. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;

/**
 * Checks a listener's TLS options.
 * @returns The handshake timeout in ms.
 * @throws {TypeError} When `cert` or `key` is missing.
 * @throws {RangeError} When `handshakeTimeout` is not a number of ms > 0.
 */
export function checkTlsServerOptions(tls: TlsServerOptions): number {
  if (typeof tls !== "object" || tls === null) {
    throw new TypeError("tls must be an object: { cert, key, ca?, alpnProtocols?, ... }");
  }
  if (typeof tls.cert !== "string" || typeof tls.key !== "string") {
    throw new TypeError("tls needs `cert` and `key`, PEM text");
  }
  const ms = tls.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
  if (typeof ms !== "number" || !(ms > 0) || ms === Infinity) {
    throw new RangeError(`tls.handshakeTimeout must be a number of ms > 0, got ${ms}`);
  }
  if (tls.requestClientCert && tls.ca === undefined) {
    throw new TypeError(
      "tls.requestClientCert needs `ca`: the CAs client certificates must chain to",
    );
  }
  return ms;
}

/** The CA list of a listener as an array. */
export function caList(ca: string | string[] | undefined): string[] | undefined {
  return ca === undefined ? undefined : Array.isArray(ca) ? ca : [ca];
}

/**
 * Arms a handshake deadline: `onTimeout` runs after `ms` unless the returned function
 * is called first (it returns false when the deadline had already passed).
 */
export function handshakeDeadline(ms: number, onTimeout: (e: TimeoutError) => void): () => boolean {
  let fired = false;
  const timer = setTimeout(() => {
    fired = true;
    onTimeout(new TimeoutError("handshake", ms));
  }, ms);
  return () => {
    clearTimeout(timer);
    return !fired;
  };
}

/** Wraps a handshake failure of an accepted socket in a {@linkcode TlsError}. */
export function serverTlsError(err: unknown, remote: Addr | undefined): TlsError {
  if (err instanceof TlsError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const from = remote ? ` from ${formatAddr(remote)}` : "";
  return new TlsError(`TLS handshake${from} failed: ${message}`, { cause: err });
}

const CONNECT_CODES = new Set([
  "ECONNREFUSED",
  "ENOENT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);
const CONNECT_NAMES = new Set(["ConnectionRefused", "NotFound", "TimedOut"]);

/**
 * True when a client-side failure happened before TLS started (refused, DNS, ...):
 * that stays a `ConnectError`; anything else during a TLS connect is a handshake failure.
 */
export function isTransportFailure(err: unknown): boolean {
  if (err instanceof ConnectError) return true;
  const name = (err as { name?: unknown } | null)?.name;
  return CONNECT_CODES.has(errorCode(err)) || CONNECT_NAMES.has(String(name));
}

/** Wraps a client-side handshake failure (bad certificate, wrong name, ...) in a {@linkcode TlsError}. */
export function clientTlsError(err: unknown, target: string): TlsError {
  if (err instanceof TlsError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = errorCode(err);
  return new TlsError(
    `TLS handshake with ${target} failed: ${message}${code ? ` (${code})` : ""}`,
    { cause: err },
  );
}

/** ALPN protocol names in the wire format (`len name len name ...`), for Bun. */
export function alpnWire(protocols: readonly string[]): Uint8Array {
  const enc = new TextEncoder();
  const parts = protocols.map((p) => {
    const b = enc.encode(p);
    if (b.length === 0 || b.length > 255) {
      throw new RangeError(`ALPN protocol names are 1-255 bytes, got ${JSON.stringify(p)}`);
    }
    return b;
  });
  const out = new Uint8Array(parts.reduce((n, b) => n + 1 + b.length, 0));
  let o = 0;
  for (const b of parts) {
    out[o++] = b.length;
    out.set(b, o);
    o += b.length;
  }
  return out;
}

/** The SNI name and verification name a client uses: `serverName`, else the hostname. */
export function clientServerName(o: { hostname?: string; tls?: TlsClientOptions }): string {
  return o.tls?.serverName ?? o.hostname ?? "127.0.0.1";
}

/** An ALPN result as tcpkit reports it: the name, or `null` when none was agreed. */
export function alpnOf(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}
