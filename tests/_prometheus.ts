// A parser of the Prometheus text exposition format (0.0.4) for the tests: it fails on
// any line that is not valid syntax (HELP, TYPE, samples, label escapes), on a family
// whose lines are not together, and on a series given twice. Not a test file.
import assert from "node:assert/strict";

/** One parsed sample. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A parsed exposition: samples, and each family's type and help. */
export interface Exposition {
  samples: Sample[];
  types: Map<string, string>;
  helps: Map<string, string>;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

/** Reads `"..."` at `i` with the escapes \\, \" and \n; returns the value and the index after it. */
function quoted(line: string, i: number): [string, number] {
  assert.equal(line[i], '"', `a label value starts with " in: ${line}`);
  let v = "";
  for (i++; i < line.length; i++) {
    const c = line[i];
    if (c === '"') return [v, i + 1];
    if (c === "\n") assert.fail(`raw newline in a label value: ${line}`);
    if (c === "\\") {
      const e = line[++i];
      if (e === "\\") v += "\\";
      else if (e === '"') v += '"';
      else if (e === "n") v += "\n";
      else assert.fail(`bad escape \\${e} in: ${line}`);
    } else v += c;
  }
  return assert.fail(`unterminated label value: ${line}`);
}

/** A value as the format allows: a Go float, NaN or ±Inf. */
function value(text: string, line: string): number {
  if (text === "NaN") return NaN;
  if (text === "+Inf" || text === "Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  assert.match(text, /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/, `a number in: ${line}`);
  return Number(text);
}

/** Parses the text, failing on any line that is not valid exposition syntax. */
export function parse(text: string): Exposition {
  assert.ok(text.endsWith("\n"), "the text ends with a newline");
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const helps = new Map<string, string>();
  const done = new Set<string>(); // families whose lines are over: no more may come
  const series = new Set<string>();
  let current = "";
  const enter = (family: string, line: string) => {
    if (family === current) return;
    assert.ok(!done.has(family), `family ${family} is not contiguous: ${line}`);
    if (current) done.add(current);
    current = family;
  };
  for (const line of text.slice(0, -1).split("\n")) {
    if (line === "") continue;
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) continue; // a comment
      const [, kind, name, rest] = m;
      assert.match(name, METRIC_NAME, `a metric name in: ${line}`);
      enter(name, line);
      if (kind === "TYPE") {
        assert.ok(TYPES.has(rest), `a type in: ${line}`);
        assert.ok(!types.has(name), `one TYPE for ${name}`);
        assert.ok(!samples.some((s) => s.name === name), `TYPE before the samples: ${line}`);
        types.set(name, rest);
      } else {
        assert.ok(!helps.has(name), `one HELP for ${name}`);
        assert.doesNotMatch(rest.replaceAll("\\\\", ""), /\\[^n]/, `HELP escapes: ${line}`);
        helps.set(name, rest.replace(/\\(\\|n)/g, (_, e) => (e === "n" ? "\n" : "\\")));
      }
      continue;
    }
    const nameEnd = line.search(/[{ ]/);
    assert.ok(nameEnd > 0, `a sample in: ${line}`);
    const name = line.slice(0, nameEnd);
    assert.match(name, METRIC_NAME, `a metric name in: ${line}`);
    enter(name, line);
    const labels: Record<string, string> = {};
    let i = nameEnd;
    if (line[i] === "{") {
      i++;
      while (line[i] !== "}") {
        const eq = line.indexOf("=", i);
        assert.ok(eq > i, `label=value in: ${line}`);
        const label = line.slice(i, eq);
        assert.match(label, LABEL_NAME, `a label name in: ${line}`);
        assert.ok(!(label in labels), `label ${label} once in: ${line}`);
        let v: string;
        [v, i] = quoted(line, eq + 1);
        labels[label] = v;
        if (line[i] === ",") i++;
        else assert.equal(line[i], "}", `, or } after a label in: ${line}`);
      }
      i++;
    }
    assert.equal(line[i], " ", `a space before the value in: ${line}`);
    const parts = line.slice(i + 1).split(" ");
    assert.ok(parts.length === 1 || (parts.length === 2 && /^-?\d+$/.test(parts[1])), line);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    assert.ok(!series.has(key), `one sample per series: ${line}`);
    series.add(key);
    samples.push({ name, labels, value: value(parts[0], line) });
  }
  return { samples, types, helps };
}

/** The value of the one series of `name` with exactly these labels. */
export function get(e: Exposition, name: string, labels: Record<string, string> = {}): number {
  const want = JSON.stringify(Object.entries(labels).sort());
  const found = e.samples.filter((s) => s.name === name).filter((s) =>
    JSON.stringify(Object.entries(s.labels).sort()) === want
  );
  assert.equal(found.length, 1, `one sample ${name}${want}`);
  return found[0].value;
}
