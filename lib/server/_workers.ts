/**
 * The primary of `serve({ workers })`: it never binds the public port; it starts this
 * same script as N worker processes (which bind it with `reusePort`, so the kernel spreads
 * connections), listens on a control socket for their reports, restarts a crashed worker
 * with backoff, gives up on a crash loop, drains every worker on `shutdown()`, and sums
 * their stats. Runtime-free: the processes come from `adapters/mod.ts`. The worker's end
 * is `_worker_link.ts`.
 * @internal
 * @module
 */

import { privateDir, spawnSelf, type WorkerProcess } from "../adapters/mod.ts";
import type { Connection } from "../connection/connection.ts";
import { lines } from "../framers/lines.ts";
import type { AdapterName } from "../transport.ts";
import type { Addr } from "../types.ts";
import type { ServeOptions, ServerStats, ShutdownOptions } from "./options.ts";
import { formatMetricsOf, type MetricLabels } from "./_metrics.ts";
import { newCounters } from "./_stats.ts";
import { MAX_CONTROL_LINE, type PrimaryMessage, type WorkerMessage } from "./_worker_link.ts";

/** The first restart delay, doubled after each crash up to {@linkcode MAX_BACKOFF}. */
const FIRST_BACKOFF = 100;
const MAX_BACKOFF = 5_000;
/** A worker that ran this long before crashing starts again from the first delay. */
const STABLE_AFTER = 30_000;
/** This many crashes of one worker within {@linkcode LOOP_WINDOW} ms is a crash loop. */
const LOOP_CRASHES = 5;
const LOOP_WINDOW = 60_000;
/** After the drain deadline, the time a worker has to exit before it is killed. */
const KILL_GRACE = 5_000;

type Control = Connection<string, string, unknown>;
type ControlOptions = ServeOptions<string, string, unknown>;

/** The control server: a tcpkit server on a Unix socket (made by `server.ts`). */
export interface ControlServer {
  readonly ready: Promise<unknown>;
  shutdown(options?: ShutdownOptions): Promise<void>;
}

/** One worker index: its present process, and the totals of its ended ones. */
interface Slot {
  readonly index: number;
  proc: WorkerProcess | undefined;
  link: Control | undefined;
  bye: boolean;
  /** A process of this index has been bound once. */
  bound: boolean;
  /** The present process's last report. */
  last: { stats: ServerStats; connections: number } | undefined;
  /** The counters of the ended processes of this index (so totals never go down). */
  base: ServerStats;
  startedAt: number;
  crashes: number[];
  backoff: number;
  looped: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** Every counter and gauge at zero. */
function zeroStats(): ServerStats {
  return { ...newCounters(), active: 0, queued: 0, acceptErrors: { aborted: 0, exhausted: 0 } };
}

/** Adds `b` to `a`, number by number (records of counts key by key). */
function addInto(a: ServerStats, b: ServerStats): ServerStats {
  const t = a as unknown as Record<string, number | Record<string, number>>;
  for (const [k, v] of Object.entries(b)) {
    if (typeof v === "number") t[k] = ((t[k] as number) ?? 0) + v;
    else {
      const rec = ((t[k] as Record<string, number>) ??= {});
      for (const [kk, n] of Object.entries(v as Record<string, number>)) {
        rec[kk] = (rec[kk] ?? 0) + n;
      }
    }
  }
  return a;
}

/** The supervisor of `workers` processes; `Server` forwards its methods here in the primary. */
export class Primary {
  readonly ready: Promise<void>;
  readonly finished: Promise<void>;
  addrs: { name: string; addr: Addr }[] = [];
  /** The workers' adapter (`undefined`: the runtime's own). */
  readonly adapter: AdapterName | undefined;
  #slots: Slot[];
  #dir = privateDir();
  #control: ControlServer;
  #opts: ServeOptions<unknown, unknown, unknown>;
  #ports: number[] = [];
  #stopping = false;
  #drainTimeout = 10_000;
  #max: number | undefined;
  #resolveReady!: () => void;
  #rejectReady!: (e: Error) => void;
  #resolveFinished!: () => void;
  #killTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    role: { workers: number; adapter: AdapterName | undefined },
    opts: ServeOptions<unknown, unknown, unknown>,
    serveControl: (o: ControlOptions) => ControlServer,
  ) {
    const workers = role.workers;
    this.adapter = role.adapter;
    this.#opts = opts;
    this.ready = new Promise((res, rej) => {
      this.#resolveReady = res;
      this.#rejectReady = rej;
    });
    this.finished = new Promise((r) => (this.#resolveFinished = r));
    this.#slots = Array.from({ length: workers }, (_, index) => ({
      index,
      proc: undefined,
      link: undefined,
      bye: false,
      bound: false,
      last: undefined,
      base: zeroStats(),
      startedAt: 0,
      crashes: [],
      backoff: FIRST_BACKOFF,
      looped: false,
      timer: undefined,
    }));
    const path = `${this.#dir.path}/control.sock`;
    this.#control = serveControl({
      path,
      framer: lines({ maxLength: MAX_CONTROL_LINE }),
      handler: async (conn) => {
        for await (const line of conn) this.#onMessage(conn, JSON.parse(line) as WorkerMessage);
      },
      onError: () => {}, // a worker that breaks its link is seen by its exit
    });
    this.#control.ready.then(
      () => this.#start(this.#slots[0]), // the others once it is bound: see #onMessage
      (e) => this.#fail(e),
    );
  }

  /** The first listener's address, once a worker has bound it (until then, as asked). */
  get addr(): Addr {
    const o = this.#opts.listen?.[0] ?? this.#opts;
    return this.addrs[0]?.addr ??
      { transport: "tcp", hostname: o.hostname ?? "0.0.0.0", port: o.port ?? 0, family: "IPv4" };
  }

  /** The sum of every worker's last report and of the ended workers' totals. */
  stats(): ServerStats {
    return this.#slots.reduce((sum, s) => addInto(sum, this.#slotStats(s)), zeroStats());
  }

  /** Sockets held by the workers, as they last reported. */
  get connections(): number {
    return this.#slots.reduce((n, s) => n + (s.last?.connections ?? 0), 0);
  }

  /** One sample per worker and metric, labelled `worker="<index>"`. */
  metrics(labels?: MetricLabels): string {
    return formatMetricsOf(this.#slots.map((s) => ({
      input: { stats: this.#slotStats(s), connections: s.last?.connections ?? 0 },
      labels: { ...labels, worker: String(s.index) },
    })));
  }

  /** Sends every worker its new `maxConnections` (and tells the workers started later). */
  setMaxConnections(n: number): void {
    if (!(n === Infinity || (Number.isInteger(n) && n >= 1))) {
      throw new RangeError(`maxConnections must be an integer >= 1 or Infinity, got ${n}`);
    }
    this.#max = n;
    this.#broadcast({ t: "max", n: n === Infinity ? null : n });
  }

  /** Asks every worker to stop accepting. */
  closeListeners(): Promise<void> {
    this.#broadcast({ t: "close" });
    return Promise.resolve();
  }

  /** Drains every worker with the deadline; a second call forces them. */
  shutdown(options: ShutdownOptions = {}): Promise<void> {
    if (this.#stopping) {
      this.#broadcast({ t: "force" });
      return this.finished;
    }
    this.#stopping = true;
    const timeout = this.#drainTimeout = options.timeout ?? 10_000;
    for (const s of this.#slots) {
      clearTimeout(s.timer);
      if (s.link) this.#send(s.link, { t: "drain", timeout });
      else s.proc?.kill("SIGTERM"); // not linked yet: its own signal handling decides
    }
    this.#killTimer = setTimeout(() => {
      for (const s of this.#slots) s.proc?.kill("SIGKILL");
    }, timeout + KILL_GRACE);
    this.#maybeDone();
    return this.finished;
  }

  #slotStats(s: Slot): ServerStats {
    const sum = addInto(zeroStats(), s.base);
    return s.last ? addInto(sum, s.last.stats) : sum;
  }

  #start(s: Slot): void {
    s.timer = undefined;
    if (this.#stopping) return;
    s.bye = false;
    s.startedAt = Date.now();
    const proc = spawnSelf({ index: s.index, control: this.#controlPath(), ports: this.#ports });
    s.proc = proc;
    proc.exited.then((end) => this.#onExit(s, proc, end));
  }

  #controlPath(): string {
    return `${this.#dir.path}/control.sock`;
  }

  #onMessage(conn: Control, m: WorkerMessage): void {
    const s = this.#slots[m.index];
    if (!s) return;
    if (m.t === "ready") {
      s.link = conn;
      if (this.#max !== undefined) {
        this.#send(conn, { t: "max", n: this.#max === Infinity ? null : this.#max });
      }
      if (this.#stopping) this.#send(conn, { t: "drain", timeout: this.#drainTimeout });
      s.bound = true;
      if (this.addrs.length === 0) {
        this.addrs = m.addrs;
        this.#ports = m.addrs.map(({ addr }) => (addr.transport === "tcp" ? addr.port : 0));
        for (const other of this.#slots) if (other !== s && !other.proc) this.#start(other);
      }
      this.#checkReady();
      return;
    }
    s.last = { stats: m.stats, connections: m.connections };
    if (m.t === "bye") s.bye = true;
  }

  #onExit(s: Slot, proc: WorkerProcess, end: { code: number | null; signal: string | null }) {
    if (s.proc !== proc) return;
    if (s.last) addInto(s.base, { ...s.last.stats, active: 0, queued: 0 });
    s.last = undefined;
    s.link = undefined;
    s.proc = undefined;
    if (this.#stopping || s.bye) return this.#maybeDone();
    const now = Date.now();
    if (now - s.startedAt >= STABLE_AFTER) s.backoff = FIRST_BACKOFF;
    s.crashes = s.crashes.filter((t) => now - t < LOOP_WINDOW);
    s.crashes.push(now);
    const how = end.signal ? `signal ${end.signal}` : `code ${end.code}`;
    if (s.crashes.length >= LOOP_CRASHES) {
      s.looped = true;
      this.#report(
        new Error(
          `tcpkit: worker ${s.index} crashed ${LOOP_CRASHES} times in ${
            LOOP_WINDOW / 1000
          } s (last: ${how}); it is not restarted`,
        ),
      );
      // Without a bound worker the port cannot be known: every other index fails with it.
      if (this.#slots.every((o) => o.looped || (!o.proc && this.addrs.length === 0))) {
        this.#fail(new Error(`tcpkit: every worker is in a crash loop (last: ${how})`));
      }
      this.#checkReady();
      return this.#maybeDone();
    }
    console.error(
      `tcpkit: worker ${s.index} exited with ${how} without being asked; restarting in ${s.backoff} ms`,
    );
    s.timer = setTimeout(() => this.#start(s), s.backoff);
    s.backoff = Math.min(s.backoff * 2, MAX_BACKOFF);
  }

  /** `ready` resolves once every worker has been bound (or given up on), one at least. */
  #checkReady(): void {
    if (this.#slots.some((s) => s.bound) && this.#slots.every((s) => s.bound || s.looped)) {
      this.#resolveReady();
    }
  }

  #report(e: Error): void {
    const onError = this.#opts.onError;
    if (onError) {
      try {
        return onError(e);
      } catch (thrown) {
        e = thrown as Error;
      }
    }
    console.error(e);
  }

  /** Gives up: no worker can serve. `ready` rejects (if it has not resolved). */
  #fail(e: Error): void {
    this.#rejectReady(e);
    this.#stopping = true;
    for (const s of this.#slots) {
      clearTimeout(s.timer);
      s.proc?.kill("SIGTERM");
    }
    this.#maybeDone();
  }

  /** Once every worker process has ended while stopping: closes the control socket. */
  #maybeDone(): void {
    const running = this.#slots.some((s) => s.proc || s.timer);
    if (running || !(this.#stopping || this.#slots.every((s) => s.bye || s.looped))) return;
    clearTimeout(this.#killTimer);
    this.#stopping = true;
    this.#control.shutdown({ timeout: 0 }).catch(() => {}).finally(() => {
      this.#dir.remove();
      this.#resolveFinished();
    });
  }

  #broadcast(m: PrimaryMessage): void {
    for (const s of this.#slots) if (s.link) this.#send(s.link, m);
  }

  #send(conn: Control, m: PrimaryMessage): void {
    conn.send(JSON.stringify(m)).catch(() => {});
  }
}
