/**
 * `server.metrics()`: a server's counters as Prometheus text (exposition format 0.0.4),
 * one `# HELP`, one `# TYPE` and the samples of each metric family. Apart from the
 * server so that the format, its escaping and the names an operator's dashboards
 * depend on are in one place; it only reads a {@linkcode ServerStats} snapshot, so the
 * same text can be made of stats summed across processes.
 * @internal
 * @module
 */

import type { ServerStats } from "./options.ts";

/** Labels added to every sample, such as `{ worker: "1" }`. */
export type MetricLabels = Readonly<Record<string, string>>;

/** What `metrics()` formats: a stats snapshot and the sockets the server holds. */
export interface MetricsInput {
  stats: ServerStats;
  /** `server.connections`: running, queued and lingering sockets. */
  connections: number;
}

/** The label names the metric families use themselves; a caller's label may not take them. */
const OWN_LABELS = new Set(["reason", "kind"]);
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A label value or HELP text in the format's escapes (`\\`, `\n`, and `\"` in values). */
function escapeValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === "\\" ? "\\\\" : c === "\n" ? "\\n" : '\\"'));
}

/**
 * The `name="value",...` text of `labels`, checked.
 * @throws {TypeError} A name that is not `[a-zA-Z_][a-zA-Z0-9_]*`, starts with `__`
 *   (reserved by Prometheus), or is `reason` or `kind`; a value that is not a string.
 */
function labelText(labels: MetricLabels | undefined): string {
  if (labels === undefined) return "";
  if (typeof labels !== "object" || labels === null) {
    throw new TypeError('metrics() labels must be an object of strings, like { worker: "1" }');
  }
  const parts: string[] = [];
  for (const [name, value] of Object.entries(labels)) {
    if (!LABEL_NAME.test(name) || name.startsWith("__") || OWN_LABELS.has(name)) {
      throw new TypeError(
        `metrics() label name "${name}" is not allowed: use [a-zA-Z_][a-zA-Z0-9_]*, ` +
          `not starting with "__", and not "reason" or "kind"`,
      );
    }
    if (typeof value !== "string") {
      throw new TypeError(`metrics() label "${name}" must be a string, got ${typeof value}`);
    }
    parts.push(`${name}="${escapeValue(value)}"`);
  }
  return parts.join(",");
}

/** HELP text in the format's escapes (`\\` and `\n`). */
function escapeHelp(t: string): string {
  return t.replace(/[\\\n]/g, (c) => (c === "\\" ? "\\\\" : "\\n"));
}

/** A sample's value: one number, or `[label name, label value, value]` for each key. */
type Samples = number | [string, string, number][];

/** One metric family: its HELP, TYPE and the samples of each labelled source, in order. */
function family(
  out: string[],
  name: string,
  type: "counter" | "gauge",
  help: string,
  rows: [base: string, samples: Samples][],
): void {
  out.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
  for (const [base, samples] of rows) {
    if (typeof samples === "number") {
      out.push(`${name}${base ? `{${base}}` : ""} ${samples}`);
      continue;
    }
    const pre = base ? `${base},` : "";
    for (const [label, value, n] of samples) {
      out.push(`${name}{${pre}${label}="${escapeValue(value)}"} ${n}`);
    }
  }
}

/** `[label, key, value]` for every key of a record of counts, in its order. */
const byKey = (label: string, counts: Record<string, number>): [string, string, number][] =>
  Object.entries(counts).map(([k, n]) => [label, k, n]);

/**
 * The Prometheus text (version 0.0.4) of a stats snapshot. Counters end in `_total`;
 * gauges are the connections active, queued and held. Every sample carries `labels`.
 *
 * @param input The snapshot and `server.connections`.
 * @param labels Labels for every sample.
 * @returns The text, each line ended by `\n`.
 * @throws {TypeError} A label name or value the format does not allow.
 */
export function formatMetrics(input: MetricsInput, labels?: MetricLabels): string {
  return formatMetricsOf([{ input, labels }]);
}

/**
 * The Prometheus text of several snapshots (one per worker, say), each with its own
 * labels: every family once, with the samples of each source in turn, so the families
 * stay contiguous as the format requires.
 *
 * @param sources The snapshots and their labels.
 * @returns The text, each line ended by `\n`.
 * @throws {TypeError} A label name or value the format does not allow.
 */
export function formatMetricsOf(
  sources: readonly { input: MetricsInput; labels?: MetricLabels }[],
): string {
  const rows = sources.map(({ input, labels }) => ({
    base: labelText(labels),
    s: input.stats,
    input,
  }));
  const out: string[] = [];
  const of = (f: (r: (typeof rows)[number]) => Samples) =>
    rows.map((r): [string, Samples] => [r.base, f(r)]);
  const counter = (name: string, help: string, f: (r: (typeof rows)[number]) => Samples) =>
    family(out, `tcpkit_${name}`, "counter", help, of(f));
  const gauge = (name: string, help: string, f: (r: (typeof rows)[number]) => number) =>
    family(out, `tcpkit_${name}`, "gauge", help, of(f));
  counter(
    "connections_accepted_total",
    "Connections accepted, rejected ones included (stats().accepted).",
    (r) => r.s.accepted,
  );
  counter(
    "rejected_total",
    "Connections turned away, by reason (stats().rejected).",
    (r) => byKey("reason", r.s.rejected),
  );
  counter(
    "timeouts_total",
    "Timeouts, by kind (stats().timeouts).",
    (r) => byKey("kind", r.s.timeouts),
  );
  counter(
    "accept_errors_total",
    "Accepts that failed, by kind (stats().acceptErrors).",
    (r) => byKey("kind", r.s.acceptErrors),
  );
  counter(
    "received_bytes_total",
    "Bytes read, all connections (stats().bytesIn).",
    (r) => r.s.bytesIn,
  );
  counter(
    "sent_bytes_total",
    "Bytes written, all connections (stats().bytesOut).",
    (r) => r.s.bytesOut,
  );
  counter(
    "received_messages_total",
    "Messages decoded (stats().messagesIn).",
    (r) => r.s.messagesIn,
  );
  counter("sent_messages_total", "Messages sent (stats().messagesOut).", (r) => r.s.messagesOut);
  counter("errors_total", "Errors reported through onError (stats().errors).", (r) => r.s.errors);
  gauge(
    "connections_active",
    "Connections whose handler runs (stats().active).",
    (r) => r.s.active,
  );
  gauge(
    "connections_queued",
    "Connections waiting for a slot (stats().queued).",
    (r) => r.s.queued,
  );
  gauge(
    "connections_held",
    "Sockets the server holds: running, queued and lingering (server.connections).",
    (r) => r.input.connections,
  );
  return out.join("\n") + "\n";
}
