/**
 * The error hierarchy of tcpkit. Every error tcpkit raises on its own account is a
 * {@linkcode TcpkitError}; bad arguments are plain `TypeError` or `RangeError`.
 *
 * ```
 * TcpkitError
 * ├── FramingError             bytes on the wire do not form valid frames
 * │   ├── FrameTooLongError    a frame is over the framer's maxLength
 * │   ├── CorruptFrameError    a header that cannot be valid (bad varint, negative length, ...)
 * │   └── IncompleteFrameError the stream ended inside a frame (eof: "error")
 * ├── ConnectionError          the socket itself failed
 * │   ├── ConnectionResetError the peer reset the connection
 * │   ├── ConnectError         connect() failed: refused, timeout, dns, unreachable
 * │   ├── AcceptError          a listener could not accept: the peer was gone, or fds ran out
 * │   └── ConnectionClosedError send()/next() on a connection that is gone
 * ├── OutboundOverflowError    the peer does not read and the outbound bound was hit
 * ├── TimeoutError             one of tcpkit's timeouts fired; `kind` says which
 * ├── RejectedError            admission turned the connection away; `reason` says why
 * ├── ShutdownError            the server is shutting down
 * ├── TlsError                 the TLS handshake or certificate check failed
 * ├── ProxyProtocolError       a PROXY protocol header is missing or malformed
 * └── UnsupportedError         this runtime cannot do what was asked
 * ```
 *
 * @module
 */

/**
 * Base class of every error tcpkit raises on its own account.
 *
 * @example Telling tcpkit's errors from others
 * ```ts
 * import { FrameTooLongError, lines, TcpkitError } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const decoder = lines({ maxLength: 4 }).decoder();
 * decoder.push(new TextEncoder().encode("too long\n"));
 * assert.throws(() => decoder.next(), TcpkitError);
 * assert.throws(() => decoder.next(), { name: "FrameTooLongError" }); // the same error again
 * assert.ok(new FrameTooLongError(5, 4) instanceof TcpkitError);
 * ```
 */
export class TcpkitError extends Error {
  /**
   * Creates the error.
   * @param message What went wrong.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TcpkitError";
  }
}

/**
 * Bytes on the wire do not form valid frames.
 *
 * @example Bad input ends the connection, and the close hook says why
 * ```ts
 * import { connectionPair, FramingError, lines } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const closedWith = Promise.withResolvers<Error | undefined>();
 * const { client } = connectionPair(lines({ maxLength: 8 }), {
 *   handler: { close: (_conn, error) => closedWith.resolve(error) },
 * });
 * await client.write(new TextEncoder().encode("a line far over eight bytes\n"));
 * const error = await closedWith.promise;
 * assert.ok(error instanceof FramingError);
 * assert.equal(error.recoverable, false);
 * await client.closed;
 * ```
 */
export class FramingError extends TcpkitError {
  /** The length involved (declared or observed), or -1 when none applies. */
  readonly length: number;
  /**
   * True when the decoder has already moved past the bad input and can go on
   * (the `"skip"` policy); false when the stream cannot be decoded further.
   */
  readonly recoverable: boolean;
  /**
   * Creates the error.
   * @param message What went wrong.
   * @param length The offending length, or -1.
   * @param recoverable Whether decoding can continue.
   */
  constructor(message: string, length = -1, recoverable = false) {
    super(message);
    this.name = "FramingError";
    this.length = length;
    this.recoverable = recoverable;
  }
}

/**
 * A frame is longer than the framer's `maxLength`.
 *
 * @example A long line skipped, and decoding goes on
 * ```ts
 * import { FrameTooLongError, lines } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const decoder = lines({ maxLength: 4, tooLong: "skip" }).decoder();
 * decoder.push(new TextEncoder().encode("too long\nok\n"));
 * assert.throws(
 *   () => decoder.next(),
 *   (e) => e instanceof FrameTooLongError && e.maxLength === 4 && e.recoverable,
 * );
 * assert.equal(decoder.next(), "ok");
 * ```
 */
export class FrameTooLongError extends FramingError {
  /** The limit that was exceeded. */
  readonly maxLength: number;
  /**
   * Creates the error.
   * @param length The frame length seen so far or declared by the peer.
   * @param maxLength The limit.
   * @param recoverable Whether the decoder skips the frame and goes on.
   */
  constructor(length: number, maxLength: number, recoverable = false) {
    super(`frame of ${length} bytes or more exceeds maxLength ${maxLength}`, length, recoverable);
    this.name = "FrameTooLongError";
    this.maxLength = maxLength;
  }
}

/**
 * A frame header that cannot be valid: a bad varint, a negative adjusted length, and the like.
 *
 * @example A varint length written in more bytes than it needs
 * ```ts
 * import { CorruptFrameError, lengthPrefixed } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const decoder = lengthPrefixed({ size: "varint" }).decoder();
 * decoder.push(Uint8Array.of(0x80, 0x00)); // 0, in two bytes instead of one
 * assert.throws(() => decoder.next(), CorruptFrameError);
 * ```
 */
export class CorruptFrameError extends FramingError {
  /**
   * Creates the error.
   * @param message What is wrong with the header.
   * @param length The offending length, or -1.
   */
  constructor(message: string, length = -1) {
    super(message, length, false);
    this.name = "CorruptFrameError";
  }
}

/**
 * The stream ended inside a frame and the framer's `eof` policy is `"error"`.
 *
 * @example Ten bytes announced, two arrived
 * ```ts
 * import { IncompleteFrameError, lengthPrefixed } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const decoder = lengthPrefixed().decoder(); // eof: "error" is its default
 * decoder.push(Uint8Array.of(0, 0, 0, 10, 1, 2));
 * assert.equal(decoder.next(), undefined); // waiting for 8 more bytes
 * assert.throws(() => decoder.finish(), IncompleteFrameError); // the input has ended
 * ```
 */
export class IncompleteFrameError extends FramingError {
  /**
   * Creates the error.
   * @param buffered How many bytes of the partial frame were held.
   */
  constructor(buffered: number) {
    super(`stream ended inside a frame (${buffered} bytes buffered)`, buffered, false);
    this.name = "IncompleteFrameError";
  }
}

/**
 * The socket failed. `code` is the runtime's error code where it has one.
 *
 * @example A reset, with its code
 * ```ts
 * import { ConnectionError, connectionPair, lines } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const { client, server } = connectionPair(lines());
 * server.abort(); // drops the connection without a goodbye
 * await assert.rejects(
 *   client.next(),
 *   (e) => e instanceof ConnectionError && e.code === "ECONNRESET",
 * );
 * ```
 */
export class ConnectionError extends TcpkitError {
  /** The runtime's error code (`ECONNRESET`, ...), or `""`. */
  readonly code: string;
  /**
   * Creates the error.
   * @param message What went wrong.
   * @param code The runtime's error code.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, code = "", options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionError";
    this.code = code;
  }
}

/**
 * The peer reset the connection (or it broke in some other abrupt way).
 *
 * @example A handler that throws resets its connection
 * ```ts
 * import { connectionPair, ConnectionResetError, lines } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const { client, errors } = connectionPair(lines(), {
 *   handler: {
 *     message(_conn, line) {
 *       throw new Error(`cannot handle ${line}`);
 *     },
 *   },
 * });
 * await client.send("this");
 * await assert.rejects(client.next(), ConnectionResetError);
 * assert.equal(String(errors[0]), "Error: cannot handle this");
 * ```
 */
export class ConnectionResetError extends ConnectionError {
  /**
   * Creates the error.
   * @param options Standard error options (`cause`).
   * @param code The runtime's error code.
   */
  constructor(options?: ErrorOptions, code = "ECONNRESET") {
    super("connection reset by peer", code, options);
    this.name = "ConnectionResetError";
  }
}

/** Why {@linkcode ConnectError} was raised. */
export type ConnectFailure = "refused" | "timeout" | "dns" | "unreachable" | "aborted" | "other";

/**
 * `connect()` failed. `reason` says how; `cause` holds the runtime's own error.
 *
 * @example Nobody listens on the port
 * ```ts
 * import { connect, ConnectError, serve } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const server = serve({ hostname: "127.0.0.1", port: 0, handler: (conn) => conn.close() });
 * await server.ready;
 * const port = server.addr.transport === "tcp" ? server.addr.port : 0;
 * await server.shutdown(); // the port is free again
 * await assert.rejects(
 *   connect({ hostname: "127.0.0.1", port }),
 *   (e) => e instanceof ConnectError && e.reason === "refused",
 * );
 * ```
 */
export class ConnectError extends ConnectionError {
  /** How the connect failed. */
  readonly reason: ConnectFailure;
  /**
   * Creates the error.
   * @param reason How the connect failed.
   * @param target The address that was dialled, for the message.
   * @param options Standard error options (`cause`).
   * @param code The runtime's error code.
   */
  constructor(reason: ConnectFailure, target: string, options?: ErrorOptions, code = "") {
    super(`connect to ${target} failed: ${reason}`, code, options);
    this.name = "ConnectError";
    this.reason = reason;
  }
}

/**
 * Why {@linkcode AcceptError} was raised:
 * - `"aborted"`: the peer was gone before the connection was accepted (it reset, or the
 *   handshake was aborted: ECONNABORTED, ECONNRESET, ENOTCONN, EPROTO, ...), or it reset or
 *   closed the connection during its TLS handshake. The listener accepts the next
 *   connection at once.
 * - `"exhausted"`: the process or the system ran out of a resource (EMFILE, ENFILE,
 *   ENOBUFS, ENOMEM), or the runtime gave an error it did not explain. The listener backs
 *   off, 5 ms at first and doubling up to 1 s, until an accept succeeds.
 */
export type AcceptFailure = "aborted" | "exhausted";

/**
 * A listener could not accept a connection. The listener keeps accepting; servers count
 * these in `stats().acceptErrors` and report them through `onError` at most once per kind
 * every 10 s, with `count` the failures of that kind since the previous report.
 *
 * @example Alerting when the process runs out of file descriptors
 * ```ts
 * import { AcceptError, serve } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const alerts: string[] = [];
 * const server = serve({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: (conn) => conn.close(),
 *   onError(error) {
 *     if (error instanceof AcceptError && error.kind === "exhausted") alerts.push(error.code);
 *   },
 * });
 * await server.ready;
 * assert.deepEqual(server.stats().acceptErrors, { aborted: 0, exhausted: 0 });
 * await server.shutdown();
 * assert.deepEqual(alerts, []);
 * ```
 */
export class AcceptError extends ConnectionError {
  /** Whether the peer was gone (`"aborted"`) or a resource ran out (`"exhausted"`). */
  readonly kind: AcceptFailure;
  /** How many accepts of this kind failed since the previous report (this one included). */
  readonly count: number;
  /**
   * Creates the error.
   * @param kind Which kind of failure.
   * @param count Failures of this kind since the previous report.
   * @param code The runtime's error code of the last failure.
   * @param options Standard error options (`cause`: the runtime's error).
   */
  constructor(kind: AcceptFailure, count = 1, code = "", options?: ErrorOptions) {
    const what = kind === "aborted"
      ? "the peer was gone before it was accepted"
      : "out of resources, backing off";
    super(`accept failed ${count} time${count === 1 ? "" : "s"}: ${what}`, code, options);
    this.name = "AcceptError";
    this.kind = kind;
    this.count = count;
  }
}

/**
 * `send()` or `next()` was called on a connection that can no longer do it.
 *
 * @example Sending after close
 * ```ts
 * import { ConnectionClosedError, connectionPair, lines } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * await using pair = connectionPair(lines());
 * pair.client.close();
 * await assert.rejects(pair.client.send("too late"), ConnectionClosedError);
 * ```
 */
export class ConnectionClosedError extends ConnectionError {
  /**
   * Creates the error.
   * @param message What was attempted.
   */
  constructor(message = "connection is closed") {
    super(message, "ERR_CLOSED");
    this.name = "ConnectionClosedError";
  }
}

/**
 * The peer does not read and the bytes queued for it passed the connection's bound.
 *
 * @example A sender that ignores backpressure, to a peer that does not read
 * ```ts
 * import { connectionPair, OutboundOverflowError, raw } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const { client, server } = connectionPair(raw(), { highWaterMark: 1024, maxOutbound: 4096 });
 * client.pause(); // the peer stops reading
 * server.send(new Uint8Array(2048)); // not awaited: it would wait for the peer
 * await assert.rejects(server.send(new Uint8Array(8192)), OutboundOverflowError);
 * assert.ok(server.error instanceof OutboundOverflowError); // the connection is aborted
 * client.close();
 * ```
 */
export class OutboundOverflowError extends TcpkitError {
  /** Bytes that were queued. */
  readonly queued: number;
  /** The bound. */
  readonly limit: number;
  /**
   * Creates the error.
   * @param queued Bytes that were queued.
   * @param limit The bound.
   */
  constructor(queued: number, limit: number) {
    super(`outbound queue of ${queued} bytes exceeds maxOutbound ${limit}; peer is not reading`);
    this.name = "OutboundOverflowError";
    this.queued = queued;
    this.limit = limit;
  }
}

/** Which of tcpkit's timeouts fired. */
export type TimeoutKind =
  | "connect"
  | "firstMessage"
  | "idle"
  | "writeStall"
  | "queue"
  | "handshake"
  | "sniff"
  | "proxyHeader"
  | "request"
  | "shutdown";

/**
 * One of tcpkit's timeouts fired.
 *
 * @example A client that says nothing is closed
 * ```ts
 * import { connect, serve, TimeoutError } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const closedWith = Promise.withResolvers<Error | undefined>();
 * const server = serve({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   timeouts: { idle: 50 },
 *   handler: { close: (_conn, error) => closedWith.resolve(error) },
 * });
 * await server.ready;
 * const port = server.addr.transport === "tcp" ? server.addr.port : 0;
 * const conn = await connect({ hostname: "127.0.0.1", port });
 * const error = await closedWith.promise;
 * assert.ok(error instanceof TimeoutError);
 * assert.equal(error.kind, "idle");
 * assert.equal(await conn.next(), undefined); // the client sees the server close
 * conn.close();
 * await server.shutdown();
 * ```
 */
export class TimeoutError extends TcpkitError {
  /** Which timeout. */
  readonly kind: TimeoutKind;
  /** The limit in milliseconds. */
  readonly ms: number;
  /**
   * Creates the error.
   * @param kind Which timeout.
   * @param ms The limit in milliseconds.
   */
  constructor(kind: TimeoutKind, ms: number) {
    super(`${kind} timeout after ${ms} ms`);
    this.name = "TimeoutError";
    this.kind = kind;
    this.ms = ms;
  }
}

/** Why admission turned a connection away. */
export type RejectReason =
  | "capacity"
  | "per-client"
  | "rate"
  | "queue-timeout"
  | "shutdown"
  | "no-route"
  | "proxy";

/**
 * Admission turned the connection away.
 *
 * @example A connection that no route takes
 * ```ts
 * import { connect, RejectedError, router, serve } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const reported = Promise.withResolvers<unknown>();
 * const server = serve({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: router().on({ listener: "admin" }, (conn) => conn.close()),
 *   onError: (error) => reported.resolve(error),
 * });
 * await server.ready;
 * const port = server.addr.transport === "tcp" ? server.addr.port : 0;
 * const conn = await connect({ hostname: "127.0.0.1", port });
 * const error = await reported.promise;
 * assert.ok(error instanceof RejectedError);
 * assert.equal(error.reason, "no-route");
 * conn.close();
 * await server.shutdown();
 * ```
 */
export class RejectedError extends TcpkitError {
  /** Why. */
  readonly reason: RejectReason;
  /**
   * Creates the error.
   * @param reason Why.
   */
  constructor(reason: RejectReason) {
    super(`connection rejected: ${reason}`);
    this.name = "RejectedError";
    this.reason = reason;
  }
}

/**
 * The server is shutting down; this is the reason `conn.signal` is aborted with.
 *
 * @example A handler that hears of the shutdown
 * ```ts
 * import { connect, serve, ShutdownError } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const reason = Promise.withResolvers<unknown>();
 * const server = serve({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   async handler(conn) {
 *     conn.signal.addEventListener("abort", () => reason.resolve(conn.signal.reason));
 *     for await (const chunk of conn) await conn.send(chunk);
 *   },
 * });
 * await server.ready;
 * const port = server.addr.transport === "tcp" ? server.addr.port : 0;
 * const conn = await connect({ hostname: "127.0.0.1", port });
 * await conn.send(Uint8Array.of(1));
 * await conn.next(); // the echo: the handler runs
 * const stopped = server.shutdown({ timeout: 1_000 });
 * assert.ok((await reason.promise) instanceof ShutdownError);
 * conn.close(); // the handler's loop ends, and the server can finish
 * await stopped;
 * ```
 */
export class ShutdownError extends TcpkitError {
  /** Creates the error. */
  constructor() {
    super("server is shutting down");
    this.name = "ShutdownError";
  }
}

/**
 * The TLS handshake or certificate check failed.
 *
 * @example Telling a certificate failure from a network failure
 * ```ts
 * import { ConnectionError, TlsError } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const describe = (e: unknown) =>
 *   e instanceof TlsError ? "check the certificate" : e instanceof ConnectionError ? "retry" : "bug";
 * assert.equal(describe(new TlsError("certificate has expired")), "check the certificate");
 * assert.equal(describe(new ConnectionError("network is unreachable", "ENETUNREACH")), "retry");
 * assert.equal(new TlsError("certificate has expired").code, "ERR_TLS");
 * ```
 */
export class TlsError extends ConnectionError {
  /**
   * Creates the error.
   * @param message What failed.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, "ERR_TLS", options);
    this.name = "TlsError";
  }
}

/**
 * A PROXY protocol header is missing, not allowed, or malformed.
 *
 * @example A malformed header
 * ```ts
 * import { parseProxyHeader, ProxyProtocolError } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const bytes = new TextEncoder().encode("PROXY TCP9 nowhere\r\n");
 * assert.throws(() => parseProxyHeader(bytes), ProxyProtocolError);
 * ```
 */
export class ProxyProtocolError extends TcpkitError {
  /**
   * Creates the error.
   * @param message What is wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "ProxyProtocolError";
  }
}

/**
 * This runtime cannot do what was asked.
 *
 * @example No STARTTLS over the in-memory link
 * ```ts
 * import { connectionPair, lines, UnsupportedError } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * await using pair = connectionPair(lines());
 * await assert.rejects(pair.client.startTls({ client: {} }), UnsupportedError);
 * assert.equal(pair.client.state, "open"); // the connection stays as it was
 * ```
 */
export class UnsupportedError extends TcpkitError {
  /** The runtime (`deno`, `bun`, `node`, `memory`). */
  readonly runtime: string;
  /** The feature. */
  readonly feature: string;
  /**
   * Creates the error.
   * @param runtime The runtime.
   * @param feature The feature that it lacks.
   */
  constructor(runtime: string, feature: string) {
    super(`${feature} is not supported on ${runtime}`);
    this.name = "UnsupportedError";
    this.runtime = runtime;
    this.feature = feature;
  }
}
