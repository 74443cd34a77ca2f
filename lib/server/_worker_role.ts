/**
 * What `serve({ workers })` is in this process: the primary, a worker (its options made
 * to share the port), or a server alone where ports cannot be shared. Apart from the
 * supervisor (`_workers.ts`) because every process, primary or worker, decides it first,
 * from the options and the environment alone.
 * @internal
 * @module
 */

import { cpuCount, reusePortSupport, workerEnv } from "../adapters/mod.ts";
import type { AdapterName } from "../transport.ts";
import type { ServeOptions } from "./options.ts";

/** What `serve()` is in this process when its options ask for workers. */
export type WorkerRole =
  | { role: "primary"; workers: number; adapter: AdapterName | undefined }
  | {
    role: "worker";
    index: number;
    id: number;
    control: string;
    options: ServeOptions<unknown, unknown, unknown>;
  }
  | { role: "single" };

/**
 * Decides what `serve({ workers })` does in this process: supervise (the primary), serve
 * as a worker (bound with `reusePort`, on the port worker 0 got when 0 was asked for), or
 * serve alone where ports cannot be shared (with a warning).
 * @throws {TypeError} `workers` is not a positive integer or `"auto"`, or a listener is
 *   a Unix socket (which cannot be shared).
 */
export function workerRole(options: ServeOptions<unknown, unknown, unknown>): WorkerRole {
  const w = options.workers;
  if (!(w === "auto" || (Number.isInteger(w) && (w as number) >= 1 && (w as number) <= 1024))) {
    throw new TypeError(`serve(): workers must be an integer from 1 to 1024 or "auto", got ${w}`);
  }
  const specs = options.listen?.length ? options.listen : [options];
  if (specs.some((l) => l.path !== undefined)) {
    throw new TypeError(
      "serve(): workers share TCP ports; a Unix socket listener cannot be shared",
    );
  }
  const support = reusePortSupport(options.adapter);
  const env = workerEnv();
  if (env) {
    const port = (l: { port?: number }, i: number) => (l.port || env.ports[i]) ?? 0;
    const adapter = support.adapter ?? options.adapter;
    const listen = options.listen?.length
      ? options.listen.map((l, i) => ({ ...l, reusePort: true, port: port(l, i) }))
      : undefined;
    const worker = { ...options, adapter, listen, reusePort: true, port: port(options, 0) };
    return { role: "worker", index: env.index, id: env.id, control: env.control, options: worker };
  }
  if (!support.ok) {
    console.warn("tcpkit: reusePort is not available here: serving with one process, no workers");
    return { role: "single" };
  }
  if (support.note) console.warn(`tcpkit: ${support.note}`);
  const workers = w === "auto" ? cpuCount() : w as number;
  return { role: "primary", workers, adapter: support.adapter ?? options.adapter };
}
