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

/** Base class of every error tcpkit raises on its own account. */
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

/** Bytes on the wire do not form valid frames. */
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
 * @example Catching it
 * ```ts
 * import { FrameTooLongError } from "@tcpkit/tcpkit";
 * const err = new FrameTooLongError(70_000, 65_536);
 * console.log(err instanceof FrameTooLongError, err.length, err.maxLength);
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

/** A frame header that cannot be valid: a bad varint, a negative adjusted length, and the like. */
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

/** The stream ended inside a frame and the framer's `eof` policy is `"error"`. */
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

/** The socket failed. `code` is the runtime's error code where it has one. */
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

/** The peer reset the connection (or it broke in some other abrupt way). */
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

/** `connect()` failed. `reason` says how; `cause` holds the runtime's own error. */
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

/** `send()` or `next()` was called on a connection that can no longer do it. */
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

/** The peer does not read and the bytes queued for it passed the connection's bound. */
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

/** One of tcpkit's timeouts fired. */
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

/** Admission turned the connection away. */
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

/** The server is shutting down; this is the reason `conn.signal` is aborted with. */
export class ShutdownError extends TcpkitError {
  /** Creates the error. */
  constructor() {
    super("server is shutting down");
    this.name = "ShutdownError";
  }
}

/** The TLS handshake or certificate check failed. */
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

/** A PROXY protocol header is missing, not allowed, or malformed. */
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

/** This runtime cannot do what was asked. */
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
