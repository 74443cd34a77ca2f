/**
 * The primary of `serve({ workers })`: it never binds the public port; it starts this
 * same script as N worker processes (which bind it with `reusePort`, so the kernel spreads
 * connections), listens on a control socket for their reports, restarts a crashed worker
 * with backoff, gives up on a crash loop, drains every worker on `shutdown()`, restarts
 * them one by one on SIGHUP, and sums their stats. Runtime-free: the processes come from `adapters/mod.ts`. The worker's end
 * is `_worker_link.ts`.
 * @internal
 * @module
 */

import { privateDir, spawnSelf, tcpMigrateReq } from "../adapters/mod.ts";
import { addSignalListener } from "../adapters/signals.ts";
import { lines } from "../framers/lines.ts";
import type { AdapterName } from "../transport.ts";
import type { Addr } from "../types.ts";
import type { ServeOptions, ServerStats, ShutdownOptions } from "./options.ts";
import { formatMetricsOf, type MetricLabels } from "./_metrics.ts";
import {
  addInto,
  type Control,
  held,
  newSlot,
  type Proc,
  type Slot,
  slotStats,
  zeroStats,
} from "./_worker_slots.ts";
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
/** How long a rolling restart waits for a new worker to be bound. */
const ROLL_WAIT = 10_000;

type ControlOptions = ServeOptions<string, string, unknown>;

/** The control server: a tcpkit server on a Unix socket (made by `server.ts`). */
export interface ControlServer {
  readonly ready: Promise<unknown>;
  shutdown(options?: ShutdownOptions): Promise<void>;
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
  #controlPath = `${this.#dir.path}/control.sock`;
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
  #nextId = 0;
  #rolling = false;
  #done = false;
  #warned = false;
  #offHup: () => void;

  constructor(
    role: { workers: number; adapter: AdapterName | undefined },
    opts: ServeOptions<unknown, unknown, unknown>,
    serveControl: (o: ControlOptions) => ControlServer,
  ) {
    this.adapter = role.adapter;
    this.#opts = opts;
    this.ready = new Promise((res, rej) => {
      this.#resolveReady = res;
      this.#rejectReady = rej;
    });
    this.finished = new Promise((r) => (this.#resolveFinished = r));
    this.#slots = Array.from({ length: role.workers }, (_, i) => newSlot(i, FIRST_BACKOFF));
    this.#control = this.#guard(() =>
      serveControl({
        path: this.#controlPath,
        framer: lines({ maxLength: MAX_CONTROL_LINE }),
        handler: async (conn) => {
          for await (const line of conn) this.#onMessage(conn, JSON.parse(line) as WorkerMessage);
        },
        onError: () => {}, // a worker that breaks its link is seen by its exit
      })
    );
    this.#control.ready.then(
      () => this.#start(this.#slots[0]), // the others once it is bound: see #onMessage
      (e) => this.#fail(e),
    );
    this.#offHup = addSignalListener("SIGHUP", () => void this.restart());
  }

  /** The first listener's address, once a worker has bound it (until then, as asked). */
  get addr(): Addr {
    const o = this.#opts.listen?.[0] ?? this.#opts;
    return this.addrs[0]?.addr ??
      { transport: "tcp", hostname: o.hostname ?? "0.0.0.0", port: o.port ?? 0, family: "IPv4" };
  }

  /** The sum of every worker's last report and of the ended workers' totals. */
  stats(): ServerStats {
    return this.#slots.reduce((sum, s) => addInto(sum, slotStats(s)), zeroStats());
  }

  /** Sockets held by the workers, as they last reported. */
  get connections(): number {
    return this.#slots.reduce((n, s) => n + held(s), 0);
  }

  /** One sample per worker and metric, labelled `worker="<index>"`. */
  metrics(labels?: MetricLabels): string {
    return formatMetricsOf(this.#slots.map((s) => ({
      input: { stats: slotStats(s), connections: held(s) },
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

  /**
   * Sends `signal` to every worker process that is bound (has said ready, so its script
   * has run its listeners' setup; one still starting would die of it); returns how many.
   */
  signalWorkers(signal: "SIGUSR1" | "SIGUSR2"): number {
    let n = 0;
    for (const s of this.#slots) {
      for (const p of s.procs) {
        if (!p.link) continue;
        p.proc.kill(signal);
        n++;
      }
    }
    return n;
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
      s.timer = undefined;
      for (const p of s.procs) {
        if (p.link) this.#send(p.link, { t: "drain", timeout });
        else p.proc.kill("SIGTERM"); // not linked yet: its own signal handling decides
      }
    }
    this.#killTimer = setTimeout(() => {
      for (const s of this.#slots) for (const p of s.procs) p.proc.kill("SIGKILL");
    }, timeout + KILL_GRACE);
    this.#maybeDone();
    return this.finished;
  }

  /**
   * A rolling restart (SIGHUP): for each worker index in turn, a new process is started
   * and, once it is bound, the old one drains (with `shutdownTimeout`). A new process that
   * is not bound within 10 s stops the roll, and the old ones keep serving.
   */
  async restart(): Promise<void> {
    if (this.#rolling || this.#stopping) return;
    this.#rolling = true;
    if (!this.#warned && tcpMigrateReq() === "0") {
      this.#warned = true;
      console.warn(
        "tcpkit: net.ipv4.tcp_migrate_req is 0: connections queued on a worker that stops " +
          "may be reset (set it to 1 to move them to another worker)",
      );
    }
    try {
      for (const s of this.#slots) {
        const old = s.current;
        if (this.#stopping || !old?.link) continue;
        const fresh = this.#spawn(s);
        let timer: ReturnType<typeof setTimeout> | undefined;
        const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ROLL_WAIT)));
        const ok = await Promise.race([fresh.bound, late]);
        clearTimeout(timer);
        if (!ok || this.#stopping) {
          if (fresh.link) this.#send(fresh.link, { t: "drain", timeout: 0 });
          else fresh.proc.kill("SIGTERM");
          if (!this.#stopping) {
            this.#report(
              new Error(
                `tcpkit: rolling restart stopped: the new worker ${s.index} was not bound within ` +
                  `${ROLL_WAIT / 1000} s; the other workers keep serving`,
              ),
            );
          }
          return;
        }
        clearTimeout(s.timer); // the old one may have crashed meanwhile
        s.timer = undefined;
        s.current = fresh;
        const timeout = this.#opts.shutdownTimeout ?? 10_000;
        if (old.link) this.#send(old.link, { t: "drain", timeout });
        else old.proc.kill("SIGTERM");
      }
    } finally {
      this.#rolling = false;
    }
  }

  /** Starts the current process of `s` (at first, or after a crash). */
  #start(s: Slot): void {
    s.timer = undefined;
    if (this.#stopping) return;
    s.current = this.#spawn(s);
  }

  #spawn(s: Slot): Proc {
    const id = this.#nextId++;
    const env = { index: s.index, id, control: this.#controlPath, ports: this.#ports };
    let resolveBound!: (ok: boolean) => void;
    const bound = new Promise<boolean>((r) => (resolveBound = r));
    const p: Proc = {
      id,
      proc: spawnSelf(env),
      startedAt: Date.now(),
      link: undefined,
      bye: false,
      last: undefined,
      bound,
      resolveBound,
    };
    s.procs.push(p);
    p.proc.exited.then((end) => this.#onExit(s, p, end));
    return p;
  }

  #onMessage(conn: Control, m: WorkerMessage): void {
    const s = this.#slots[m.index];
    const p = s?.procs.find((p) => p.id === m.id);
    if (!p) return;
    if (m.t === "ready") {
      p.link = conn;
      p.resolveBound(true);
      if (this.#max !== undefined) {
        this.#send(conn, { t: "max", n: this.#max === Infinity ? null : this.#max });
      }
      if (this.#stopping) this.#send(conn, { t: "drain", timeout: this.#drainTimeout });
      s.bound = true;
      if (this.addrs.length === 0) {
        this.addrs = m.addrs;
        this.#ports = m.addrs.map(({ addr }) => (addr.transport === "tcp" ? addr.port : 0));
        for (const other of this.#slots) if (other !== s && !other.current) this.#start(other);
      }
      this.#checkReady();
      return;
    }
    p.last = { stats: m.stats, connections: m.connections };
    if (m.t === "bye") p.bye = true;
  }

  #onExit(s: Slot, p: Proc, end: { code: number | null; signal: string | null }) {
    s.procs.splice(s.procs.indexOf(p), 1);
    if (p.last) addInto(s.base, { ...p.last.stats, active: 0, queued: 0 });
    p.resolveBound(false);
    if (s.current !== p) return this.#maybeDone(); // drained after a rolling restart
    s.current = undefined;
    if (this.#stopping || p.bye) {
      s.ended = p.bye;
      return this.#maybeDone();
    }
    const now = Date.now();
    if (now - p.startedAt >= STABLE_AFTER) s.backoff = FIRST_BACKOFF;
    s.crashes = s.crashes.filter((t) => now - t < LOOP_WINDOW);
    s.crashes.push(now);
    const how = end.signal ? `signal ${end.signal}` : `code ${end.code}`;
    if (s.crashes.length >= LOOP_CRASHES) {
      s.looped = true;
      this.#report(
        new Error(
          `tcpkit: worker ${s.index} crashed ${LOOP_CRASHES} times in ${
            LOOP_WINDOW / 1000
          } s (last: ${how}); it is not restarted${tailOf(p)}`,
        ),
      );
      // Without a bound worker the port cannot be known: every other index fails with it.
      if (this.#slots.every((o) => o.looped || (!o.current && this.addrs.length === 0))) {
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

  /** Runs `f`; if it throws, removes the private directory first. */
  #guard<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      this.#dir.remove();
      throw e;
    }
  }

  #report(e: Error): void {
    try {
      if (this.#opts.onError) return this.#opts.onError(e);
    } catch (thrown) {
      e = thrown as Error;
    }
    console.error(e);
  }

  /** Gives up: no worker can serve. `ready` rejects (if it has not resolved). */
  #fail(e: Error): void {
    this.#rejectReady(e);
    this.#stopping = true;
    for (const s of this.#slots) {
      clearTimeout(s.timer);
      s.timer = undefined;
      for (const p of s.procs) p.proc.kill("SIGTERM");
    }
    this.#maybeDone();
  }

  /** Once every worker process has ended while stopping: closes the control socket. */
  #maybeDone(): void {
    const running = this.#slots.some((s) => s.procs.length || s.timer);
    if (running || !(this.#stopping || this.#slots.every((s) => s.ended || s.looped))) return;
    if (this.#done) return;
    this.#done = this.#stopping = true;
    clearTimeout(this.#killTimer);
    this.#offHup();
    this.#rejectReady(new Error("tcpkit: the server was shut down before its workers were bound"));
    this.#control.shutdown({ timeout: 0 }).catch(() => {}).finally(() => {
      this.#dir.remove();
      this.#resolveFinished();
    });
  }

  #broadcast(m: PrimaryMessage): void {
    for (const s of this.#slots) for (const p of s.procs) if (p.link) this.#send(p.link, m);
  }

  #send(conn: Control, m: PrimaryMessage): void {
    conn.send(JSON.stringify(m)).catch(() => {});
  }
}

/** The last lines a worker wrote to stderr, to end an error message with; "" when none. */
function tailOf(p: Proc): string {
  const tail = p.proc.stderrTail();
  return tail ? `; its last stderr lines:\n${tail}` : "";
}
