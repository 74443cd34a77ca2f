/**
 * A newly accepted socket, from the listener to admission, and the server's record of
 * it until it is gone: the PROXY header phase on listeners that turn it on, socket
 * options, the {@linkcode ServerEntry} a `Connection` is built on, the admission
 * verdict, and the bookkeeping when it closes. Every connection takes this path, so
 * it makes one record and one `Connection` per socket and no closure.
 * @internal
 * @module
 */

import type { RawSocket } from "../transport.ts";
import type { Ticket } from "../admission/admission.ts";
import type { ProxiedSocket } from "../admission/_proxied_socket.ts";
import type { ProxyStage } from "../admission/_proxy_stage.ts";
import { Connection, type ConnectionInit, type ResolvedLimits } from "../connection/connection.ts";
import { nextConnectionId } from "../connection/_id.ts";
import type { Watch } from "../connection/_timeouts.ts";
import { SocketEvents } from "../connection/_lifecycle.ts";
import { type RejectReason, TimeoutError } from "../errors.ts";
import type { Framer } from "../framers/framer.ts";
import { clientKey } from "../ip.ts";
import { reject } from "./_reject.ts";
import { begin } from "./_route.ts";
import { addTraffic } from "./_stats.ts";
import { type Conn, type Entry, report, type ServerState } from "./_state.ts";

/** The per-client key of an address; the address itself if it does not parse (a zone id, say). */
function keyOf(hostname: string): string {
  try {
    return clientKey(hostname);
  } catch {
    return hostname;
  }
}

/**
 * The server's record of one connection, one object per connection with its methods
 * on the prototype (no closure per connection): its admission ticket, the callbacks
 * its `Connection` reports to, what the sweeper watches of it, and the router of its
 * socket's events to the connection (the base class).
 */
class ServerEntry extends SocketEvents implements Entry, Watch, Ticket {
  server: ServerState;
  listener: string;
  /** Read once by the `Connection` constructor. */
  socket: RawSocket | undefined;
  readonly id: number;
  key = "";
  state: Ticket["state"] = undefined;
  queuedAt = 0;
  /** It got a slot and `onConnection`; only such connections get `onClose`. */
  begun = false;
  /** Its place in the server's list of live connections. */
  live = -1;
  // What the sweeper keeps (see `Watch`): the fields themselves, not a base class, so
  // that a new entry is one plain construction.
  startedAt = 0;
  moved = 0;
  movedAt = 0;
  stallSince = 0;
  flushed = 0;
  slot = -1;

  constructor(server: ServerState, listener: string, socket: RawSocket) {
    super();
    this.server = server;
    this.listener = listener;
    this.socket = socket;
    this.id = nextConnectionId();
  }
  /** The connection (it sets `c` as it is made). */
  get conn(): Conn {
    return this.c as unknown as Conn;
  }
  /** The entry itself routes its socket's events: no router object per connection. */
  get events(): this {
    return this;
  }
  get framer(): Framer<unknown, unknown> {
    return this.server.framer;
  }
  get parentSignal(): AbortSignal {
    return this.server.shutdown.signal;
  }
  get limits(): ResolvedLimits {
    return this.server.limits;
  }
  run(): void {
    begin(this.server, this);
  }
  reject(reason: RejectReason): void {
    reject(this.server, this.conn, this.listener, reason);
  }
  report(error: unknown, conn: Conn): void {
    report(this.server, error, conn);
  }
  onClosed(_conn: Conn, error?: Error): void {
    closed(this.server, this, error);
  }
}

/**
 * A new connection. `staged` is set when it comes out of the PROXY stage (then it was
 * counted already), with `refuse` when the stage turned it away.
 */
export function accept(
  s: ServerState,
  socket: RawSocket,
  listener: string,
  staged?: { refuse?: RejectReason; error?: unknown },
): void {
  if (staged === undefined) {
    s.counters.accepted++;
    const stage = s.proxies?.get(listener);
    if (stage) return void proxied(s, stage, socket, listener);
  }
  const opts = s.opts;
  // The adapters turn Nagle off on every accepted TCP socket.
  const tcp = socket.remoteAddr.transport === "tcp";
  if (tcp && opts.noDelay === false) socket.setNoDelay(false);
  if (tcp && opts.keepAlive) {
    socket.setKeepAlive(true, typeof opts.keepAlive === "number" ? opts.keepAlive : undefined);
  }
  const entry = new ServerEntry(s, listener, socket);
  const conn = new Connection(entry as ConnectionInit<unknown, unknown>) as Conn;
  entry.socket = undefined; // the connection holds it (and its successor after STARTTLS)
  entry.live = s.live.length;
  s.live.push(entry);
  if (staged?.refuse) {
    if (staged.error) report(s, staged.error, conn);
    return reject(s, conn, listener, staged.refuse);
  }
  if (s.shutdownStarted) return reject(s, conn, listener, "shutdown");
  // The per-client key is only worth parsing the address for when per-client limits exist.
  if (s.perClient && tcp) entry.key = keyOf(socket.remoteAddr.hostname);
  const verdict = s.admission.offer(entry);
  if (verdict !== "run" && verdict !== "queued") reject(s, conn, listener, verdict);
}

/** The PROXY header phase of one connection, before admission. */
async function proxied(
  s: ServerState,
  stage: ProxyStage,
  raw: RawSocket,
  listener: string,
): Promise<void> {
  if (!stage.trusts(raw.remoteAddr)) {
    // A TLS handshake refuses a header by itself; a plain connection is watched.
    if (stage.tls) return startTls(s, raw, listener, stage);
    const socket: ProxiedSocket = stage.guard(raw, (e) => {
      s.counters.rejected.proxy++;
      const info = { listener, remoteAddr: socket.remoteAddr, localAddr: socket.localAddr };
      try {
        s.opts.onReject?.(info, "proxy");
      } catch (x) {
        report(s, x);
      }
      report(s, e);
      socket.fail(e);
    });
    return accept(s, socket, listener, {});
  }
  const { socket, header } = stage.read(raw);
  try {
    await header;
  } catch (error) {
    if (error instanceof TimeoutError) s.counters.timeouts.proxyHeader++;
    const refuse = s.shutdownStarted ? "shutdown" : "proxy";
    return accept(s, socket, listener, {
      refuse,
      error: s.shutdownStarted ? undefined : error,
    });
  }
  if (stage.tls) return startTls(s, socket, listener, stage);
  accept(s, socket, listener, {});
}

/** TLS on a PROXY listener, after the header. */
async function startTls(
  s: ServerState,
  socket: RawSocket,
  listener: string,
  stage: ProxyStage,
): Promise<void> {
  let secure: RawSocket;
  try {
    secure = await stage.startTls(socket);
  } catch (e) {
    socket.abort(); // closed already when the handshake itself failed
    return handshakeFailed(s, e);
  }
  accept(s, secure, listener, {});
}

/** A TLS handshake failed or timed out; the socket is closed already. */
export function handshakeFailed(s: ServerState, e: unknown): void {
  if (e instanceof TimeoutError) s.counters.timeouts.handshake++;
  report(s, e);
}

/** The connection is gone: off the live list, unwatched, its slot freed, `onClose`. */
function closed(s: ServerState, entry: Entry, error?: Error): void {
  const conn = entry.conn as Conn;
  const live = s.live;
  if (entry.live >= 0) {
    const last = live.pop()!;
    if (last !== entry) {
      live[entry.live] = last;
      last.live = entry.live;
    }
    entry.live = -1;
  }
  s.sweeper.delete(entry);
  s.admission.release(entry);
  addTraffic(s.counters, conn);
  if (entry.begun) {
    entry.begun = false;
    try {
      s.opts.onClose?.(conn, error);
    } catch (e) {
      report(s, e, conn);
    }
  }
  if (s.shutdownStarted && live.length === 0) s.resolveAllClosed?.();
}
