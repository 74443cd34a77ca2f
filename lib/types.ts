/**
 * Address and TLS option types shared by the server, the client and the adapters.
 * @module
 */

/** A TCP address. `hostname` is an IP address in canonical form. */
export interface TcpAddr {
  /** Always `"tcp"`. */
  readonly transport: "tcp";
  /** The IP address (IPv6 without brackets, canonical form). */
  readonly hostname: string;
  /** The port. */
  readonly port: number;
  /** The address family. */
  readonly family: "IPv4" | "IPv6";
}

/** A Unix domain socket address. */
export interface UnixAddr {
  /** Always `"unix"`. */
  readonly transport: "unix";
  /** The socket file path (may be `""` for an unnamed client socket). */
  readonly path: string;
}

/** An in-process address, used by the memory adapter. */
export interface MemoryAddr {
  /** Always `"memory"`. */
  readonly transport: "memory";
  /** The name the memory listener was given. */
  readonly name: string;
  /** The port, for symmetry with TCP; unique per memory listener or socket. */
  readonly port: number;
}

/** Any address a connection or listener can have. */
export type Addr = TcpAddr | UnixAddr | MemoryAddr;

/** PEM text or DER bytes. */
export type PemOrBytes = string | Uint8Array;

/** TLS options of a listener. */
export interface TlsServerOptions {
  /** The certificate chain, PEM. */
  cert: string;
  /** The private key, PEM. */
  key: string;
  /** CA certificates to verify client certificates against, PEM. */
  ca?: string | string[];
  /** ALPN protocols offered, in order of preference. */
  alpnProtocols?: string[];
  /** Ask the client for a certificate (and verify it against `ca`). */
  requestClientCert?: boolean;
  /** Milliseconds a client has to finish the handshake. Default 10 000. */
  handshakeTimeout?: number;
}

/** TLS options of a client connection. */
export interface TlsClientOptions {
  /** Extra CA certificates to trust, PEM. */
  caCerts?: string[];
  /** The name to send as SNI and to verify the certificate against. Defaults to the hostname. */
  serverName?: string;
  /** ALPN protocols to offer. */
  alpnProtocols?: string[];
  /** A client certificate, PEM. */
  cert?: string;
  /** The client certificate's key, PEM. */
  key?: string;
}

/** What is known of a TLS session. Fields are `undefined` where the runtime does not expose them. */
export interface TlsInfo {
  /** The negotiated ALPN protocol, or `null` when none was agreed. */
  readonly alpnProtocol: string | null;
  /** The SNI server name the client asked for (server side). */
  readonly serverName?: string;
  /** The peer certificate in DER form, where the runtime exposes it. */
  readonly peerCertificate?: Uint8Array;
  /** The protocol version (`"TLSv1.3"`), where the runtime exposes it. */
  readonly protocol?: string;
}

/**
 * Formats an address for messages: `127.0.0.1:7000`, `[::1]:7000`, `unix:/run/app.sock`.
 *
 * @param addr A TCP, Unix or memory address.
 * @returns The address as one string.
 *
 * @example Addresses in log lines
 * ```ts
 * import { formatAddr } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   formatAddr({ transport: "tcp", hostname: "::1", port: 7000, family: "IPv6" }),
 *   "[::1]:7000",
 * );
 * assert.equal(formatAddr({ transport: "unix", path: "/run/app.sock" }), "unix:/run/app.sock");
 * ```
 */
export function formatAddr(addr: Addr): string {
  switch (addr.transport) {
    case "tcp":
      return addr.family === "IPv6"
        ? `[${addr.hostname}]:${addr.port}`
        : `${addr.hostname}:${addr.port}`;
    case "unix":
      return `unix:${addr.path}`;
    case "memory":
      return `memory:${addr.name}:${addr.port}`;
  }
}
