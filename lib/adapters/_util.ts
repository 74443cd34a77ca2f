/**
 * Helpers shared by the runtime adapters: canonical addresses, error mapping and
 * write-queue coalescing. Internal: not exported from `mod.ts`.
 *
 * @module
 */

import type { Addr, TcpAddr, UnixAddr } from "../types.ts";
import { canonicalIp } from "../ip.ts";
import {
  ConnectError,
  type ConnectFailure,
  ConnectionError,
  ConnectionResetError,
} from "../errors.ts";

/**
 * Builds a {@linkcode TcpAddr} from what a runtime reports: brackets stripped, IPv6 in
 * canonical form (RFC 5952; an IPv4-mapped address stays `::ffff:a.b.c.d`), the family
 * derived from the address itself.
 */
export function tcpAddr(hostname: string, port: number): TcpAddr {
  let host = hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
  const v6 = host.includes(":");
  if (v6) host = canonicalV6(host);
  return { transport: "tcp", hostname: host, port, family: v6 ? "IPv6" : "IPv4" };
}

/** Canonical IPv6 text; with a zone id (`fe80::1%eth0`), or unparsable, only lower-cased. */
function canonicalV6(host: string): string {
  if (host.includes("%")) return host.toLowerCase();
  try {
    return canonicalIp(host);
  } catch {
    return host.toLowerCase();
  }
}

/** Builds a {@linkcode UnixAddr}; `""` for an unnamed socket. */
export function unixAddr(path: string | undefined | null): UnixAddr {
  return { transport: "unix", path: path ?? "" };
}

/**
 * What an adapter knows of a socket's addresses without asking it: whether it is a
 * Unix socket, the listener's address shared by every accepted socket (a Unix listener
 * or one bound to a single IP), and for a client the address it dialled (used only if
 * the peer is gone before the socket could be asked).
 */
export interface KnownAddrs {
  /** A Unix socket. */
  unix: boolean;
  /** The local address, when it is known up front. */
  local?: Addr;
  /** The remote address, or the fallback for it. */
  remote?: Addr;
}

/** The local and remote address of a socket, from what the runtime reports and `known`. */
export function socketAddrs(
  known: KnownAddrs,
  local: { address?: string; port?: number },
  remote: { address?: string; port?: number },
): [Addr, Addr] {
  return [
    localAddrOf(known, local.address, local.port),
    remoteAddrOf(known, remote.address, remote.port),
  ];
}

/** A socket's local address: `known.local`, else what the runtime reports. */
export function localAddrOf(known: KnownAddrs, address?: string, port?: number): Addr {
  if (known.local) return known.local;
  return known.unix ? unixAddr("") : tcpAddr(address ?? "", port ?? 0);
}

/** A socket's remote address: what the runtime reports, else `known.remote`. */
export function remoteAddrOf(known: KnownAddrs, address?: string, port?: number): Addr {
  if (known.unix) return known.remote ?? unixAddr("");
  return address ? tcpAddr(address, port ?? 0) : known.remote ?? tcpAddr("", 0);
}

/** What a client knows of its addresses: the path or host and port it dialled. */
export function dialled(o: { hostname?: string; port?: number; path?: string }): KnownAddrs {
  return o.path !== undefined
    ? { unix: true, remote: unixAddr(o.path) }
    : { unix: false, remote: tcpAddr(o.hostname ?? "127.0.0.1", o.port ?? 0) };
}

/** A wildcard bind: accepted sockets then differ in their local IP. */
export function isWildcard(hostname: string): boolean {
  return hostname === "0.0.0.0" || hostname === "::" || hostname === "";
}

/** `host:port`, `[v6]:port` or `unix:path`, for messages. */
export function describeTarget(o: { hostname?: string; port?: number; path?: string }): string {
  if (o.path !== undefined) return `unix:${o.path}`;
  const host = o.hostname ?? "127.0.0.1";
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${o.port}` : `${host}:${o.port}`;
}

/** The runtime's error code (`ECONNRESET`, ...), or `""`. */
export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "";
}

function errorName(err: unknown): string {
  const name = (err as { name?: unknown } | null)?.name;
  return typeof name === "string" ? name : "";
}

const RESET_CODES = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED"]);
// Deno.errors class names for the same conditions.
const RESET_NAMES = new Set(["ConnectionReset", "BrokenPipe", "ConnectionAborted"]);

/**
 * Maps an error of an established socket to tcpkit's hierarchy: resets and broken
 * pipes become {@linkcode ConnectionResetError}, the rest a {@linkcode ConnectionError}.
 */
export function toSocketError(err: unknown): ConnectionError {
  if (err instanceof ConnectionError) return err;
  const code = errorCode(err);
  if (RESET_CODES.has(code) || RESET_NAMES.has(errorName(err))) {
    return new ConnectionResetError({ cause: err }, code || "ECONNRESET");
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ConnectionError(message || "socket error", code, { cause: err });
}

const DNS_CODES = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_NONAME", "EAI_FAIL", "EAI_NODATA"]);
const UNREACHABLE_CODES = new Set(["ENETUNREACH", "EHOSTUNREACH", "EADDRNOTAVAIL", "ENETDOWN"]);

/** Says why a connect failed, from the runtime's error. */
export function connectFailure(err: unknown): ConnectFailure {
  const code = errorCode(err);
  const name = errorName(err);
  // ENOENT: a Unix socket path with nothing behind it, which is "nobody listens there".
  if (code === "ECONNREFUSED" || code === "ENOENT" || name === "ConnectionRefused") {
    return "refused";
  }
  if (DNS_CODES.has(code)) return "dns";
  if (code === "ETIMEDOUT" || name === "TimedOut") return "timeout";
  if (UNREACHABLE_CODES.has(code)) return "unreachable";
  // Deno reports resolver failures as a plain Error without a code.
  const message = err instanceof Error ? err.message : "";
  if (/lookup address|getaddrinfo|name or service not known|name resolution/i.test(message)) {
    return "dns";
  }
  return "other";
}

/** Wraps a runtime's connect failure in a {@linkcode ConnectError}. */
export function toConnectError(err: unknown, target: string): ConnectError {
  if (err instanceof ConnectError) return err;
  return new ConnectError(connectFailure(err), target, { cause: err }, errorCode(err));
}

/**
 * The error a connect attempt abandoned through its signal rejects with: `"timeout"`
 * when the signal's reason is a `TimeoutError` (as from `AbortSignal.timeout()`),
 * `"aborted"` otherwise.
 */
export function abortedConnect(signal: AbortSignal, target: string): ConnectError {
  const reason: unknown = signal.reason;
  const timeout = errorName(reason) === "TimeoutError";
  return new ConnectError(timeout ? "timeout" : "aborted", target, { cause: reason });
}

/**
 * Races a connect step `p` with `signal`: rejects with {@linkcode abortedConnect} when the
 * signal aborts first, and hands a result that comes after the abort to `late` (which
 * closes it), so an abandoned connection never stays open. Every adapter's connect
 * goes through it.
 */
export async function raceAbort<T>(
  p: Promise<T>,
  signal: AbortSignal | undefined,
  target: string,
  late: (value: T) => void,
): Promise<T> {
  if (!signal) return await p;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortedConnect(signal, target));
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([p, aborted]);
  } catch (err) {
    if (signal.aborted) p.then(late, () => {});
    throw err;
  } finally {
    signal.removeEventListener("abort", onAbort!);
  }
}

/** Wraps a bind failure (EADDRINUSE, EACCES, ...) so every adapter throws the same type. */
export function toListenError(err: unknown, target: string): ConnectionError {
  if (err instanceof ConnectionError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ConnectionError(`listen on ${target} failed: ${message}`, errorCode(err), {
    cause: err,
  });
}

/** Chunks at least this big are written on their own, never copied into a batch. */
const COALESCE_ALONE = 16 * 1024;
/** The most bytes one coalesced write gathers. */
const COALESCE_MAX = 64 * 1024;

/**
 * Removes the next write from the front of `queue`: the first chunk alone when it is big
 * or alone in the queue, else as many small chunks as fit in 64 KiB copied into one
 * buffer, so several queued small writes cost one system call.
 */
export function takeBatch(queue: Uint8Array[]): Uint8Array {
  if (queue.length === 1) return queue.pop()!; // the common case: one write or one run
  const first = queue[0];
  if (first.length >= COALESCE_ALONE) return queue.shift()!;
  let count = 0;
  let total = 0;
  while (count < queue.length && total + queue[count].length <= COALESCE_MAX) {
    total += queue[count].length;
    count++;
  }
  if (count <= 1) return queue.shift()!;
  const out = new Uint8Array(total);
  let offset = 0;
  for (let i = 0; i < count; i++) {
    out.set(queue[i], offset);
    offset += queue[i].length;
  }
  // All of them, the common case: emptied with pop() (splice() and `length = 0` cost more).
  if (count === queue.length) { while (queue.length > 0) queue.pop(); }
  else queue.splice(0, count);
  return out;
}
