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

import type { Framer } from "../framers/framer.ts";
import { cidrMatcher, unmapIp } from "../ip.ts";
import type { HandlerOrFactory } from "./handler.ts";
import {
  checkKeys,
  checkObject,
  delay,
  describe,
  framer,
  integer,
  type Keys,
  type Schema,
} from "../_options.ts";

/**
 * What a route can match on. Every matcher given must match; an empty object matches
 * every connection.
 *
 * @example Admins from inside, and TLS by its first byte
 * ```ts
 * import type { RouteMatch } from "@tcpkit/tcpkit";
 * const internalAdmin: RouteMatch = { listener: "admin", remote: ["10.0.0.0/8", "::1"] };
 * const tlsHello: RouteMatch = { sniff: (head) => head[0] === 0x16 };
 * ```
 */
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

/**
 * Options of one route.
 *
 * @example A route with its own framer
 * ```ts
 * import { lines, router } from "@tcpkit/tcpkit";
 * const r = router().on({ listener: "text" }, (conn) => conn.close(), { framer: lines() });
 * ```
 */
export interface RouteOptions<In = unknown, Out = unknown> {
  /** A framer for connections on this route, instead of the server's. */
  framer?: Framer<In, Out>;
}

/**
 * What the router knows of a connection when it decides: what {@linkcode Router.match}
 * takes, so routes can be tested without sockets.
 *
 * @example Deciding a route without a connection
 * ```ts
 * import { router, type RouteInfo } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const info: RouteInfo = { listener: "default", remote: "10.1.2.3", localPort: 7000 };
 * assert.equal(router().on({ remote: "10.0.0.0/8" }, () => {}).match(info).kind, "match");
 * ```
 */
export interface RouteInfo {
  /** The listener's name. */
  listener: string;
  /** The client IP address (canonical; `""` for Unix and memory sockets). */
  remote: string;
  /** The local port (0 for Unix sockets). */
  localPort: number;
}

const MATCH = {
  listener: true,
  remote: true,
  local: true,
  sniff: true,
} as const satisfies Keys<RouteMatch>;
const ROUTE = { framer } as const satisfies Schema<RouteOptions>;
const ROUTER = {
  sniffBytes: integer(1),
  sniffTimeout: delay(0, true),
} as const satisfies Schema<{ sniffBytes?: number; sniffTimeout?: number }>;

/** Checks a route's handler and options, once when the route is added. */
function checkRoute(fn: string, handler: unknown, options: RouteOptions): void {
  if (typeof handler !== "function" && (typeof handler !== "object" || handler === null)) {
    throw new TypeError(
      `${fn}: handler must be a function, an object of hooks or a perConnection() factory, got ${
        describe(handler)
      }`,
    );
  }
  checkObject(fn, options, ROUTE);
}

interface Route {
  listeners?: Set<string>;
  remote?: (ip: string) => boolean;
  local?: Set<number>;
  sniff?: (head: Uint8Array) => boolean | undefined;
  handler: HandlerOrFactory;
  options: RouteOptions;
}

/**
 * The result of {@linkcode Router.match}: a match (with the handler and the route's
 * options), `"more"` (a sniffing route needs more bytes), or `"none"`.
 *
 * @example No route, no fallback
 * ```ts
 * import { router, type RouteResult } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const r: RouteResult = router().match({ listener: "x", remote: "", localPort: 0 });
 * assert.equal(r.kind, "none");
 * ```
 */
export type RouteResult =
  | { kind: "match"; handler: HandlerOrFactory; options: RouteOptions }
  | { kind: "more" }
  | { kind: "none" };

/**
 * A router. Made by {@linkcode router}; pass it as `serve({ handler })`. Routes may be
 * added while the server runs; each connection is matched once, when it gets its slot.
 *
 * @example Matching without sockets
 * ```ts
 * import { router } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const admin = () => {};
 * const r = router().on({ listener: "admin" }, admin).on({ sniff: (h) => h[0] === 0x16 }, () => {});
 * const info = { listener: "admin", remote: "127.0.0.1", localPort: 7001 };
 * const m = r.match(info);
 * assert.ok(m.kind === "match" && m.handler === admin);
 * assert.equal(r.match({ ...info, listener: "text" }).kind, "more"); // the sniff needs bytes
 * assert.equal(r.match({ ...info, listener: "text" }, Uint8Array.of(0x16)).kind, "match");
 * ```
 */
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
   * @throws {TypeError} For an unknown option, or a bound that is not a number.
   * @throws {RangeError} When a bound is not positive.
   */
  constructor(options: { sniffBytes?: number; sniffTimeout?: number } = {}) {
    checkObject("router()", options, ROUTER);
    this.sniffBytes = options.sniffBytes ?? 512;
    this.sniffTimeout = options.sniffTimeout ?? 5_000;
  }

  /**
   * Adds a route, tried after the ones before it.
   * @param match The matchers; every one given must match.
   * @param handler A handler, or a {@linkcode perConnection} factory.
   * @param options The route's own framer, if any.
   * @returns This router, to chain.
   * @throws {TypeError} For an unknown matcher or option, a bad CIDR, a sniff or a handler
   *   that is not a function, or a route framer that is not a framer.
   * @throws {RangeError} For a port outside 0-65535.
   */
  on(match: RouteMatch, handler: HandlerOrFactory, options: RouteOptions<any, any> = {}): this {
    if (!match || typeof match !== "object") {
      throw new TypeError("router().on() needs a match object");
    }
    checkKeys("router().on()", match, MATCH);
    checkRoute("router().on()", handler, options);
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

  /**
   * The handler for connections no route matches. Without one, such a connection is
   * rejected with `"no-route"` (and reported through `onError`).
   * @param handler A handler, or a {@linkcode perConnection} factory.
   * @param options The fallback's own framer, if any.
   * @returns This router, to chain.
   */
  otherwise(handler: HandlerOrFactory, options: RouteOptions<any, any> = {}): this {
    checkRoute("router().otherwise()", handler, options);
    this.#fallback = { handler, options };
    return this;
  }

  /** True when some route sniffs: the server then peeks before routing. */
  get sniffs(): boolean {
    return this.#routes.some((r) => r.sniff);
  }

  /**
   * Decides for one connection. Routes are tried in order; a sniffing route that needs
   * more bytes stops the search with `"more"` unless `final` is set, when it counts as no.
   * @param info The listener, the client address and the local port.
   * @param head The bytes peeked so far (`undefined` before any peeking).
   * @param final No more bytes will come (the sniff limit, its timeout, or end of stream).
   * @returns The match, `"more"`, or `"none"`.
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
 * @param options `sniffBytes` (default 512) and `sniffTimeout` in ms (default 5 000):
 *   how many bytes and how long a `sniff` route may wait for.
 * @returns An empty router; add routes with `on()` and a fallback with `otherwise()`.
 *
 * @example Routes by listener, client address and first bytes
 * ```ts
 * import { type Connection, router } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const echo = async (conn: Connection) => {
 *   for await (const chunk of conn) await conn.send(chunk);
 * };
 * const routes = router()
 *   .on({ listener: "admin" }, (conn) => conn.close())
 *   .on({ remote: "10.0.0.0/8" }, echo)
 *   .on({ sniff: (head) => head[0] === 0x16 }, (conn) => conn.close()) // a TLS ClientHello
 *   .otherwise(echo); // pass `routes` as serve({ handler })
 * const m = routes.match({ listener: "default", remote: "10.1.2.3", localPort: 7000 });
 * assert.ok(m.kind === "match" && m.handler === echo);
 * ```
 */
export function router(options?: { sniffBytes?: number; sniffTimeout?: number }): Router {
  return new Router(options);
}
