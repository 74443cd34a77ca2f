/**
 * `reconnecting()`: a long-lived client that reconnects with exponential backoff and
 * jitter, and keeps a bounded buffer of outbound messages while it is disconnected.
 * It reports what happens through events; it does not hide failures.
 * @module
 */

import { CONNECT, connect, type ConnectOptions } from "./client.ts";
import { checkObject, delay, integer, number, object, type Schema } from "../_options.ts";
import type { Connection } from "../connection/connection.ts";
import { ConnectionClosedError, OutboundOverflowError } from "../errors.ts";
import type { Framer } from "../framers/framer.ts";
import { raw } from "../framers/raw.ts";

/** Backoff between attempts: `initial * factor^n`, capped at `max`, with ± `jitter` × delay randomness. */
export interface BackoffOptions {
  /** First delay in ms. Default 100. */
  initial?: number;
  /** Largest delay in ms. Default 30 000. */
  max?: number;
  /** Growth per failed attempt. Default 2. */
  factor?: number;
  /** Randomness, 0..1, as a fraction of the delay. Default 0.5. */
  jitter?: number;
}

/** Options of {@linkcode reconnecting}. */
export interface ReconnectingOptions<In, Out> extends Omit<ConnectOptions<In, Out>, "hooks"> {
  /** Backoff between attempts. */
  backoff?: BackoffOptions;
  /** Bytes of encoded messages kept while disconnected; beyond it `send()` rejects. Default 1 MiB. */
  maxBuffered?: number;
  /** Attempts after a failure before giving up (`"closed"` fires). Default: no limit. */
  maxRetries?: number;
}

const { hooks: _hooks, ...DIAL } = CONNECT;
const RECONNECTING = {
  ...DIAL,
  backoff: object(
    {
      initial: delay(0),
      max: delay(0),
      factor: number(1, Number.MAX_SAFE_INTEGER),
      jitter: number(0, 1),
    } satisfies Schema<BackoffOptions>,
  ),
  maxBuffered: integer(0),
  maxRetries: integer(0, Number.MAX_SAFE_INTEGER, true),
} as const satisfies Schema<ReconnectingOptions<unknown, unknown>>;
const CLOSE = { timeout: delay(0) } as const satisfies Schema<{ timeout?: number }>;

/** The events of a {@linkcode ReconnectingClient} and their payloads. */
export interface ReconnectingEvents<In, Out> {
  /** Connected; buffered messages are being flushed. */
  open: Connection<In, Out>;
  /** A message arrived. */
  message: In;
  /**
   * The connection was lost (with the error, if it broke). Not fired when the connection
   * ends cleanly after `close()`.
   */
  disconnect: Error | undefined;
  /** The next attempt is scheduled: its number and delay. */
  reconnecting: { attempt: number; delay: number };
  /** An attempt failed. */
  error: Error;
  /** Given up (`maxRetries`), or `close()` has finished. No more events follow. */
  closed: undefined;
}

type Listener<T> = (value: T) => void;

/**
 * A client that reconnects. Made by {@linkcode reconnecting}.
 *
 * @example Giving up once the server is gone
 * ```ts
 * import { reconnecting, serve } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const server = serve({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   async handler(conn) {
 *     for await (const chunk of conn) await conn.send(chunk);
 *   },
 * });
 * await server.ready;
 * const port = server.addr.transport === "tcp" ? server.addr.port : 0;
 * const client = reconnecting({ hostname: "127.0.0.1", port, maxRetries: 0 });
 * const events: string[] = [];
 * const opened = Promise.withResolvers<void>();
 * const closed = Promise.withResolvers<void>();
 * client.on("open", () => opened.resolve());
 * client.on("disconnect", () => events.push("disconnect"));
 * client.on("closed", () => closed.resolve());
 * await opened.promise;
 * assert.ok(client.connection);
 * await server.shutdown({ timeout: 0 }); // connections are cut at once
 * await closed.promise; // maxRetries: 0, so no attempt is made
 * assert.deepEqual(events, ["disconnect"]);
 * assert.equal(client.connection, undefined);
 * ```
 */
export class ReconnectingClient<In = Uint8Array, Out = In> {
  #opts: ReconnectingOptions<In, Out>;
  /** What each attempt passes to `connect()`: the options without this client's own. */
  #connectOptions: ConnectOptions<In, Out>;
  #framer: Framer<In, Out>;
  #conn: Connection<In, Out> | undefined;
  #buffer: Uint8Array[] = [];
  #buffered = 0;
  #maxBuffered: number;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** `close()` was called, or retries ran out: no more sends, no more attempts. */
  #closed = false;
  /** An attempt is made or about to be (the first is queued by the constructor). */
  #dialing = true;
  /** Abandons the attempt in progress (`close()`'s deadline). */
  #dialAbort: AbortController | undefined;
  /** Settled by `#finish()`; made by the first `close()`. */
  #done: { promise: Promise<void>; resolve: () => void } | undefined;
  #finished = false;
  #deadline: ReturnType<typeof setTimeout> | undefined;
  #deadlineAt = Infinity;
  #listeners = new Map<keyof ReconnectingEvents<In, Out>, Set<Listener<never>>>();

  /** @internal Use {@linkcode reconnecting}. */
  constructor(options: ReconnectingOptions<In, Out>) {
    checkObject("reconnecting()", options, RECONNECTING);
    if (!options || (!options.path && options.port === undefined)) {
      throw new TypeError("reconnecting() needs a port from 0 to 65535 or a path");
    }
    this.#opts = options;
    const { backoff: _b, maxBuffered: _m, maxRetries: _r, ...connectOptions } = options;
    this.#connectOptions = connectOptions;
    this.#framer = (options.framer ?? raw()) as Framer<In, Out>;
    this.#maxBuffered = options.maxBuffered ?? 1024 * 1024;
    queueMicrotask(() => this.#dial());
  }

  /** The live connection, or `undefined` while disconnected. */
  get connection(): Connection<In, Out> | undefined {
    return this.#conn;
  }
  /** Bytes buffered while disconnected. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof ReconnectingEvents<In, Out>>(
    event: K,
    listener: (value: ReconnectingEvents<In, Out>[K]) => void,
  ): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, set = new Set());
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  #emit<K extends keyof ReconnectingEvents<In, Out>>(
    event: K,
    value: ReconnectingEvents<In, Out>[K],
  ): void {
    for (const l of this.#listeners.get(event) ?? []) (l as Listener<typeof value>)(value);
  }

  /**
   * Sends now when connected; else encodes and buffers the message. Rejects with
   * `OutboundOverflowError` when the buffer would pass `maxBuffered`, and with
   * `ConnectionClosedError` after `close()`.
   */
  send(msg: Out): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new ConnectionClosedError("reconnecting client is closed"));
    }
    const conn = this.#conn;
    if (conn && conn.state === "open") return conn.send(msg);
    const encoded = this.#framer.encode(msg);
    const parts = encoded instanceof Uint8Array ? [encoded] : [...encoded];
    let n = 0;
    for (const p of parts) n += p.length;
    if (this.#buffered + n > this.#maxBuffered) {
      return Promise.reject(new OutboundOverflowError(this.#buffered + n, this.#maxBuffered));
    }
    this.#buffer.push(...parts);
    this.#buffered += n;
    return Promise.resolve();
  }

  /**
   * Stops reconnecting and closes gracefully, as `await client.send(request)` followed by
   * `close()` expects: what was sent or buffered still goes out (an attempt in progress,
   * or queued by the constructor, is waited for), then our side is ended, and `message`
   * events go on for the replies until the server closes its side. What is buffered while
   * no attempt is under way (waiting out a backoff) is dropped. Resolves once the
   * connection is gone and `closed` has fired; rejects only on bad options.
   *
   * @param options `timeout`: ms to wait for all that before the connection (or the
   * attempt) is aborted; default 10 000, 0 aborts at once. A later call can only bring
   * the deadline closer.
   */
  close(options: { timeout?: number } = {}): Promise<void> {
    try {
      checkObject("close()", options, CLOSE);
    } catch (e) {
      return Promise.reject(e);
    }
    if (!this.#done) {
      let resolve!: () => void;
      this.#done = { promise: new Promise<void>((r) => (resolve = r)), resolve };
      this.#closed = true;
      clearTimeout(this.#timer);
      if (this.#conn) this.#conn.end(); // replies still arrive; the server's close ends it
      else if (!this.#dialing) this.#finish();
    }
    if (!this.#finished) this.#closeBy(options.timeout ?? 10_000);
    return this.#done.promise;
  }

  /** Sets (or brings closer) the deadline of `close()`. */
  #closeBy(ms: number): void {
    const at = Date.now() + ms;
    if (at >= this.#deadlineAt) return;
    this.#deadlineAt = at;
    clearTimeout(this.#deadline);
    if (ms > 0) this.#deadline = setTimeout(() => this.#force(), ms);
    else this.#force();
  }

  /** The deadline of `close()`: the connection or the attempt is aborted. */
  #force(): void {
    this.#buffer = [];
    this.#buffered = 0;
    this.#dialAbort?.abort(new ConnectionClosedError("reconnecting client is closed"));
    this.#conn?.abort(); // its close hook finishes
  }

  /** The end of `close()`: `closed` fires and its promise resolves. */
  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#deadline);
    this.#buffer = [];
    this.#buffered = 0;
    this.#emit("closed", undefined);
    this.#done?.resolve();
  }

  async #dial(): Promise<void> {
    // close() before the first attempt: an attempt only to send what was buffered.
    if (this.#closed && this.#buffered === 0) {
      this.#dialing = false;
      return this.#finish();
    }
    this.#dialing = true;
    const abort = this.#dialAbort = new AbortController();
    const signal = this.#connectOptions.signal;
    let conn: Connection<In, Out>;
    try {
      conn = await connect<In, Out>({
        ...this.#connectOptions,
        signal: signal ? AbortSignal.any([signal, abort.signal]) : abort.signal,
        framer: this.#framer,
        hooks: {
          message: (_c, m) => this.#emit("message", m),
          end: (c) => c.close(),
          close: (c, err) => this.#lost(c, err),
        },
      });
    } catch (e) {
      this.#dialing = false;
      this.#dialAbort = undefined;
      if (!abort.signal.aborted) this.#emit("error", e as Error);
      return this.#closed ? this.#finish() : this.#schedule();
    }
    this.#dialing = false;
    this.#dialAbort = undefined;
    this.#attempt = 0;
    this.#conn = conn;
    this.#emit("open", conn);
    const pending = this.#buffer;
    this.#buffer = [];
    this.#buffered = 0;
    for (const chunk of pending) conn.write(chunk).catch(() => {});
    if (this.#closed) conn.end(); // close() is waiting: after what was buffered
  }

  #lost(conn: Connection<In, Out>, error?: Error): void {
    if (this.#conn !== conn) return;
    this.#conn = undefined;
    if (!this.#closed || error) this.#emit("disconnect", error);
    if (this.#closed) return this.#finish();
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed) return;
    const max = this.#opts.maxRetries ?? Infinity;
    if (this.#attempt >= max) return void this.close();
    const b = this.#opts.backoff ?? {};
    const base = Math.min(b.max ?? 30_000, (b.initial ?? 100) * (b.factor ?? 2) ** this.#attempt);
    const jitter = b.jitter ?? 0.5;
    const delay = Math.max(0, Math.round(base * (1 - jitter + 2 * jitter * Math.random())));
    this.#attempt++;
    this.#emit("reconnecting", { attempt: this.#attempt, delay });
    this.#timer = setTimeout(() => this.#dial(), delay);
  }
}

/**
 * Makes a client that connects now and reconnects whenever the connection is lost.
 *
 * @example Messages sent before the connection is up
 * ```ts
 * import { lines, reconnecting, serve } from "@tcpkit/tcpkit";
 * import assert from "node:assert/strict";
 *
 * const server = serve({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   framer: lines(),
 *   async handler(conn) {
 *     for await (const line of conn) await conn.send(`echo ${line}`);
 *   },
 * });
 * await server.ready;
 * const port = server.addr.transport === "tcp" ? server.addr.port : 0;
 * const client = reconnecting({
 *   hostname: "127.0.0.1",
 *   port,
 *   framer: lines(),
 *   backoff: { initial: 100, max: 10_000 },
 * });
 * const reply = Promise.withResolvers<string>();
 * client.on("message", (line) => reply.resolve(line));
 * await client.send("hello"); // buffered until connected, then sent
 * assert.equal(client.buffered, "hello\n".length);
 * assert.equal(await reply.promise, "echo hello");
 * client.close();
 * await server.shutdown();
 * ```
 */
export function reconnecting<In = Uint8Array, Out = In>(
  options: ReconnectingOptions<In, Out>,
): ReconnectingClient<In, Out> {
  return new ReconnectingClient(options);
}
