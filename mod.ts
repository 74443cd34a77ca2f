/**
 * tcpkit: TCP services in TypeScript that run the same code on Deno, Bun and Node.
 *
 * - {@linkcode serve} starts a server: listeners, a handler per connection, limits, a clean stop.
 * - {@linkcode connect} opens a client connection of the same {@linkcode Connection} type.
 * - Framers turn the byte stream into messages: {@linkcode raw}, {@linkcode lines},
 *   {@linkcode delimited}, {@linkcode lengthPrefixed}, {@linkcode fixed}, or your own
 *   {@linkcode Framer}.
 *
 * @example A line echo server
 * ```ts
 * import { lines, serve } from "@tcpkit/tcpkit";
 *
 * const server = serve({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   framer: lines(),
 *   async handler(conn) {
 *     for await (const line of conn) await conn.send(line);
 *   },
 * });
 * await server.ready;
 * await server.shutdown();
 * ```
 *
 * @module
 */

export * from "./lib/errors.ts";
export type * from "./lib/framers/framer.ts";
export type * from "./lib/types.ts";
export { formatAddr } from "./lib/types.ts";
export * from "./lib/framers/mod.ts";
export {
  Connection,
  type ConnectionHooks,
  type ConnectionLimits,
  type ConnectionState,
  type MessageBatch,
  type StartTlsOptions,
} from "./lib/connection/connection.ts";
export {
  type Handler,
  type HandlerFactory,
  type HandlerFunction,
  type HandlerOrFactory,
  perConnection,
} from "./lib/router/handler.ts";
export {
  type ListenerOptions,
  type ProxyProtocolOptions,
  type RejectInfo,
  serve,
  type ServeOptions,
  Server,
  type ServerStats,
  type ShutdownOptions,
  type Timeouts,
} from "./lib/server/server.ts";
export { connect, type ConnectOptions } from "./lib/client/client.ts";
export type { AdapterName } from "./lib/transport.ts";
export {
  type RouteInfo,
  type RouteMatch,
  type RouteOptions,
  Router,
  router,
  type RouteResult,
} from "./lib/router/router.ts";
export {
  Admission,
  type AdmissionOptions,
  type PerClientOptions,
  type Ticket,
} from "./lib/admission/admission.ts";
export {
  shutdownOnSignals,
  type ShutdownOnSignalsOptions,
  type ShutdownTarget,
  type SignalName,
  type SignalsDisposer,
} from "./lib/server/shutdown_on_signals.ts";
export * from "./lib/ip.ts";
export * from "./lib/proxy/protocol.ts";
export { request, type RequestOptions } from "./lib/client/request.ts";
export {
  type BackoffOptions,
  reconnecting,
  ReconnectingClient,
  type ReconnectingEvents,
  type ReconnectingOptions,
} from "./lib/client/reconnecting.ts";
export {
  type ConnectionPair,
  connectionPair,
  type ConnectionPairOptions,
} from "./lib/server/testing.ts";
