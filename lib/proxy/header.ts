/**
 * What a PROXY protocol header says: the types the v1 and v2 codecs produce and
 * `protocol.ts` hands out (re-exported there).
 *
 * @module
 */

import type { TcpAddr, UnixAddr } from "../types.ts";

/** One TLV of a v2 header: its type and its raw value. */
export interface ProxyTlv {
  /** The type byte (see `PROXY_TLV`). */
  readonly type: number;
  /** The value bytes. */
  readonly value: Uint8Array;
}

/** What the SSL TLV (0x20) says, best effort. */
export interface ProxySslInfo {
  /** The client bit field: 0x01 SSL used, 0x02 cert on this connection, 0x04 cert in the session. */
  readonly client: number;
  /** The verify result; 0 means the client certificate was verified. */
  readonly verify: number;
  /** `verify === 0`. */
  readonly verified: boolean;
  /** The TLS version (`"TLSv1.3"`), from sub-TLV 0x21. */
  readonly version?: string;
  /** The client certificate's common name, from sub-TLV 0x22. */
  readonly commonName?: string;
  /** The cipher, from sub-TLV 0x23. */
  readonly cipher?: string;
  /** The certificate's signature algorithm, from sub-TLV 0x24. */
  readonly signatureAlgorithm?: string;
  /** The certificate's key algorithm, from sub-TLV 0x25. */
  readonly keyAlgorithm?: string;
}

/**
 * A parsed PROXY header. Addresses are in canonical form. For UDP (`transport:
 * "dgram"`) the addresses are still `TcpAddr` values: the type has no UDP variant.
 */
export interface ProxyHeader {
  /** 1 (text) or 2 (binary). */
  readonly version: 1 | 2;
  /** `"local"`: the proxy speaks for itself (health check): use the socket's addresses. */
  readonly command: "local" | "proxy";
  /** The address family; `"unspec"` for LOCAL, UNSPEC and v1 UNKNOWN. */
  readonly family: "unspec" | "inet" | "inet6" | "unix";
  /** The transport; `"stream"` is TCP (v1 is always `"stream"` or `"unspec"`). */
  readonly transport: "unspec" | "stream" | "dgram";
  /** The real client; absent when `family` is `"unspec"`. */
  readonly source?: TcpAddr | UnixAddr;
  /** The address the client connected to; absent when `family` is `"unspec"`. */
  readonly destination?: TcpAddr | UnixAddr;
  /** Every TLV in order, known or not (v2 only; always empty for v1, LOCAL and UNSPEC). */
  readonly tlvs: readonly ProxyTlv[];
  /** ALPN TLV (0x01): the protocol the client negotiated with the proxy. */
  readonly alpn?: string;
  /** AUTHORITY TLV (0x02): the host name the client asked for (SNI). */
  readonly authority?: string;
  /** CRC32C TLV (0x03), already verified. */
  readonly crc32c?: number;
  /** UNIQUE_ID TLV (0x05): up to 128 opaque bytes. */
  readonly uniqueId?: Uint8Array;
  /** SSL TLV (0x20). */
  readonly ssl?: ProxySslInfo;
  /** NETNS TLV (0x30): the network namespace name. */
  readonly netns?: string;
  /** How many bytes the header took on the wire. */
  readonly byteLength: number;
}
