// deno-lint-ignore-file no-explicit-any -- routes hold handlers of any message type; the router never touches messages
/**
 * `router()`: picks the handler for each accepted connection. Routes are tried in
 * order; a route matches when every matcher it names matches:
 *
 * - `listener`: the listener's name (or one of several);
 * - `remote`: the client address is in a CIDR (or one of a list), IPv4 or IPv6;
 * - `local`: the local port (or one of several);
 * - `sniff(head)`: a predicate over the first bytes, returning `true`, `false`, or
 *   `undefined` for "need more bytes".
 *
 * Sniffing peeks without consuming: the chosen handler sees every byte. It is bounded by
 * `sniffBytes` and `sniffTimeout`; at either bound (or at end of stream) a predicate that
 * still wants more bytes counts as `false`.
 *
 * The matching itself ({@linkcode Router.match}) needs no sockets, so it is testable alone.
 * @module
 */

import type { Framer } from "./framer.ts";
import { cidrMatcher, unmapIp } from "./ip.ts";
import type { Handler } from "./server.ts";

/** What a route can match on. Every matcher given must match. */
export interface RouteMatch {
  /** Listener name, or names. */
  listener?: string | readonly string[];
  /** CIDR, or CIDRs, the client address must be in (`"10.0.0.0/8"`, `"::1"`, ...). */
  remote?: string | readonly string[];
  /** Local port, or ports. */
  local?: number | readonly number[];
  /** Predicate over the first bytes: `true` match, `false` no match, `undefined` need more bytes. */
  sniff?: (head: Uint8Array) => boolean | undefined;
}

/** Options of one route. */
export interface RouteOptions<In = unknown, Out = unknown> {
  /** A framer for connections on this route, instead of the server's. */
  framer?: Framer<In, Out>;
}

/** What the router knows of a connection when it decides. */
export interface RouteInfo {
  /** The listener's name. */
  listener: string;
  /** The client IP address (canonical; `""` for Unix and memory sockets). */
  remote: string;
  /** The local port (0 for Unix sockets). */
  localPort: number;
}

/** A handler, or a factory of handlers that makes one per connection (fresh state each). */
export type HandlerOrFactory = Handler<any, any, any> | HandlerFactory;

/** Makes a fresh handler for each connection. Made by {@linkcode perConnection}. */
export interface HandlerFactory {
  /** @internal */
  readonly [FACTORY]: () => Handler<any, any, any>;
}

const FACTORY: unique symbol = Symbol("tcpkit.handlerFactory");

/**
 * Marks a function as a handler factory: it is called once per connection and returns
 * that connection's handler (hooks with their own state, say).
 *
 * @example
 * ```ts
 * import { perConnection, router } from "@tcpkit/tcpkit";
 * let made = 0;
 * const r = router().otherwise(perConnection(() => {
 *   made++;
 *   let count = 0;
 *   return { message(conn, msg) { conn.send(msg); count++; } };
 * }));
 * ```
 */
export function perConnection(make: () => Handler<any, any, any>): HandlerFactory {
  return { [FACTORY]: make };
}

/** @internal Resolves a handler or factory to a handler. */
export function resolveHandler(h: HandlerOrFactory): Handler<any, any, any> {
  return typeof h === "object" && h !== null && FACTORY in h
    ? (h as HandlerFactory)[FACTORY]()
    : h as Handler;
}

interface Route {
  listeners?: Set<string>;
  remote?: (ip: string) => boolean;
  local?: Set<number>;
  sniff?: (head: Uint8Array) => boolean | undefined;
  handler: HandlerOrFactory;
  options: RouteOptions;
}

/** The result of {@linkcode Router.match}. */
export type RouteResult =
  | { kind: "match"; handler: HandlerOrFactory; options: RouteOptions }
  | { kind: "more" }
  | { kind: "none" };

/** A router. Made by {@linkcode router}; pass it as `serve({ handler })`. */
export class Router {
  #routes: Route[] = [];
  #fallback: { handler: HandlerOrFactory; options: RouteOptions } | undefined;
  /** Bytes sniffing may wait for. */
  readonly sniffBytes: number;
  /** Milliseconds sniffing may wait. */
  readonly sniffTimeout: number;

  /**
   * Creates a router.
   * @param options `sniffBytes` (default 512) and `sniffTimeout` in ms (default 5 000).
   */
  constructor(options: { sniffBytes?: number; sniffTimeout?: number } = {}) {
    this.sniffBytes = options.sniffBytes ?? 512;
    this.sniffTimeout = options.sniffTimeout ?? 5_000;
    if (!Number.isInteger(this.sniffBytes) || this.sniffBytes < 1) {
      throw new RangeError(`sniffBytes must be an integer >= 1, got ${this.sniffBytes}`);
    }
    if (!(this.sniffTimeout > 0)) {
      throw new RangeError(`sniffTimeout must be > 0, got ${this.sniffTimeout}`);
    }
  }

  /** Adds a route, tried after the ones before it. */
  on(match: RouteMatch, handler: HandlerOrFactory, options: RouteOptions<any, any> = {}): this {
    if (!match || typeof match !== "object") {
      throw new TypeError("router().on() needs a match object");
    }
    const known = ["listener", "remote", "local", "sniff"];
    for (const k of Object.keys(match)) {
      if (!known.includes(k)) {
        throw new TypeError(`unknown route matcher "${k}"; use ${known.join(", ")}`);
      }
    }
    const list = <T>(v: T | readonly T[] | undefined) =>
      v === undefined ? undefined : Array.isArray(v) ? v : [v as T];
    const ports = list(match.local);
    for (const p of ports ?? []) {
      if (!Number.isInteger(p) || p < 0 || p > 65535) {
        throw new RangeError(`local port must be 0..65535, got ${p}`);
      }
    }
    if (match.sniff !== undefined && typeof match.sniff !== "function") {
      throw new TypeError("sniff must be a function (head: Uint8Array) => boolean | undefined");
    }
    this.#routes.push({
      listeners: match.listener === undefined ? undefined : new Set(list(match.listener)),
      remote: match.remote === undefined
        ? undefined
        : cidrMatcher(match.remote as string | string[]),
      local: ports ? new Set(ports) : undefined,
      sniff: match.sniff,
      handler,
      options,
    });
    return this;
  }

  /** The handler for connections no route matches. */
  otherwise(handler: HandlerOrFactory, options: RouteOptions<any, any> = {}): this {
    this.#fallback = { handler, options };
    return this;
  }

  /** True when some route sniffs: the server then peeks before routing. */
  get sniffs(): boolean {
    return this.#routes.some((r) => r.sniff);
  }

  /**
   * Decides for one connection. `head` is the bytes peeked so far (`undefined` before
   * any peeking); `final` says no more bytes will come (limit, timeout or end of stream).
   */
  match(info: RouteInfo, head?: Uint8Array, final = false): RouteResult {
    const remote = info.remote ? unmapIp(info.remote) : "";
    for (const r of this.#routes) {
      if (r.listeners && !r.listeners.has(info.listener)) continue;
      if (r.local && !r.local.has(info.localPort)) continue;
      if (r.remote && !(remote && r.remote(remote))) continue;
      if (r.sniff) {
        if (!head || (head.length === 0 && !final)) return { kind: "more" };
        const verdict = r.sniff(head);
        if (verdict === undefined) {
          if (!final) return { kind: "more" };
          continue;
        }
        if (!verdict) continue;
      }
      return { kind: "match", handler: r.handler, options: r.options };
    }
    return this.#fallback ? { kind: "match", ...this.#fallback } : { kind: "none" };
  }
}

/**
 * Makes a {@linkcode Router}.
 *
 * @example
 * ```ts
 * import { router, serve } from "@tcpkit/tcpkit";
 * const handler = router()
 *   .on({ listener: "admin" }, (conn) => conn.close())
 *   .on({ remote: "10.0.0.0/8" }, async (conn) => { for await (const m of conn) await conn.send(m); })
 *   .on({ sniff: (head) => head[0] === 0x16 }, (conn) => conn.close())
 *   .otherwise(async (conn) => { for await (const m of conn) await conn.send(m); });
 * ```
 */
export function router(options?: { sniffBytes?: number; sniffTimeout?: number }): Router {
  return new Router(options);
}
