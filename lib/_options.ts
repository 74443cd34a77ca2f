/**
 * Strict option checks shared by `serve()`, `connect()`, the framers and the rest: an
 * unknown key is a `TypeError` that names it and suggests the closest known key; a value
 * of the wrong type is a `TypeError`, one out of range a `RangeError`, and both say what
 * is allowed. They run once per call of a factory, never per message. Internal.
 * @module
 */

/**
 * Every key of `T`, each `true`. An object literal that `satisfies Keys<XOptions>` must
 * list every field of the interface and nothing else, so the list cannot drift from it.
 */
export type Keys<T> = { readonly [K in keyof T]-?: true };

/** Checks one value that is present (not `undefined`); `path` names it in messages. */
export type Check = (fn: string, path: string, value: unknown) => void;

/** A check for every key of `T`: the known keys and their checks, in one object. */
export type Schema<T> = { readonly [K in keyof T]-?: Check };

/** The longest a `setTimeout` delay can be; a longer one fires at once. */
export const MAX_DELAY = 2 ** 31 - 1;

/** A value for messages: strings quoted, objects by their kind. */
export function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return "an array";
  if (value === null || typeof value !== "object") return String(value);
  return Object.prototype.toString.call(value);
}

/**
 * Throws a `TypeError` for the first own key of `options` that `known` does not list,
 * with the closest known key as a suggestion when one is close.
 */
export function checkKeys(
  fn: string,
  options: object,
  known: Readonly<Record<string, unknown>>,
  path = "",
): void {
  for (const key of Object.keys(options)) {
    if (Object.hasOwn(known, key)) continue;
    const near = closest(key, Object.keys(known));
    const hint = near === undefined
      ? `known options: ${Object.keys(known).join(", ")}`
      : `did you mean "${path}${near}"?`;
    throw new TypeError(`${fn}: unknown option "${path}${key}" (${hint})`);
  }
}

/**
 * Checks an options object: it is an object (or `undefined`), every key is known, and
 * every value present passes its check.
 */
export function checkObject<T>(
  fn: string,
  options: T | undefined,
  schema: Schema<T>,
  path = "",
): void {
  if (options === undefined) return;
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    const what = path ? `${path.slice(0, -1)} must be an object` : "options must be an object";
    throw new TypeError(`${fn}: ${what}, got ${describe(options)}`);
  }
  checkKeys(fn, options, schema, path);
  const checks = schema as Readonly<Record<string, Check>>;
  const values = options as Record<string, unknown>;
  for (const key of Object.keys(values)) {
    if (values[key] !== undefined) checks[key](fn, path + key, values[key]);
  }
}

/** A nested options object, checked by its own schema. */
export function object<T>(schema: Schema<T>): Check {
  return (fn, path, value) => checkObject(fn, value as T, schema, `${path}.`);
}

/** A list whose every item passes `item`. */
export function arrayOf(item: Check, what: string): Check {
  return (fn, path, value) => {
    if (!Array.isArray(value)) fail(fn, path, what, value);
    value.forEach((v, i) => item(fn, `${path}[${i}]`, v));
  };
}

/** Anything: the value is checked where it is used. */
export const checkedLater: Check = () => {};

/** A string. */
export const string: Check = (fn, path, value) => {
  if (typeof value !== "string") fail(fn, path, "a string", value);
};
/** A boolean. */
export const boolean: Check = (fn, path, value) => {
  if (typeof value !== "boolean") fail(fn, path, "a boolean", value);
};
/** A function. */
export const func: Check = (fn, path, value) => {
  if (typeof value !== "function") fail(fn, path, "a function", value);
};

/** An integer from `min` to `max`, or also `Infinity` when `infinite`. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER, infinite = false): Check {
  const what = `an integer from ${min} to ${max}${infinite ? " or Infinity" : ""}`;
  return (fn, path, value) => {
    if (typeof value !== "number") fail(fn, path, what, value);
    if (value === Infinity && infinite) return;
    if (!Number.isInteger(value) || value < min || value > max) {
      fail(fn, path, what, value, RangeError);
    }
  };
}

/** A number from `min` to `max` (`min` itself excluded when `above`). */
export function number(min: number, max: number, above = false): Check {
  const what = `a number ${above ? ">" : ">="} ${min} and <= ${max}`;
  return (fn, path, value) => {
    if (typeof value !== "number") fail(fn, path, what, value);
    if (!(above ? value > min : value >= min) || !(value <= max)) {
      fail(fn, path, what, value, RangeError);
    }
  };
}

/** A delay in ms that `setTimeout` can wait: from `min` to {@linkcode MAX_DELAY}. */
export function delay(min: number, above = false): Check {
  return number(min, MAX_DELAY, above);
}

/** A port number: an integer from 0 to 65535. */
export const port: Check = integer(0, 65535);

/** Passes when any of `checks` passes; else a `TypeError` that says `what` is allowed. */
export function either(what: string, ...checks: Check[]): Check {
  return (fn, path, value) => {
    let range: RangeError | undefined;
    for (const check of checks) {
      try {
        return check(fn, path, value);
      } catch (e) {
        if (e instanceof RangeError) range ??= e;
      }
    }
    // A value of an allowed type but out of range keeps its RangeError.
    if (range) throw range;
    fail(fn, path, what, value);
  };
}

/** An `AbortSignal` (duck-typed: it is checked at the boundary of several realms). */
export const abortSignal: Check = (fn, path, value) => {
  const s = value as { aborted?: unknown; addEventListener?: unknown } | null;
  if (
    typeof s !== "object" || s === null || typeof s.aborted !== "boolean" ||
    typeof s.addEventListener !== "function"
  ) fail(fn, path, "an AbortSignal", value);
};

/** A framer: an object with `decoder()` and `encode()`. */
export const framer: Check = (fn, path, value) => {
  const f = value as { decoder?: unknown; encode?: unknown } | null;
  if (typeof f === "object" && f !== null && typeof f.decoder === "function") {
    if (typeof f.encode === "function") return;
  }
  const hint = typeof value === "function" ? " (call the factory: lines(), not lines)" : "";
  fail(fn, path, `a framer such as lines() or raw()${hint}`, value);
};

/** Throws "`fn`: `path` must be `what`, got `value`" as a `TypeError` (or `type`). */
export function fail(
  fn: string,
  path: string,
  what: string,
  value: unknown,
  type: ErrorConstructor = TypeError,
): never {
  throw new type(`${fn}: ${path} must be ${what}, got ${describe(value)}`);
}

/**
 * The known key closest to `key`, ignoring case: the nearest by edit distance (an
 * adjacent swap counts as one edit) when at most a third of `key` differs, else the
 * shortest one that contains the other (`host` -> `hostname`, `lengthSize` -> `size`).
 */
export function closest(key: string, known: readonly string[]): string | undefined {
  const k = key.toLowerCase();
  const lower = known.map((c) => c.toLowerCase());
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(k.length / 3)) + 1;
  for (let i = 0; i < known.length; i++) {
    const d = editDistance(k, lower[i]);
    if (d < bestDistance) {
      bestDistance = d;
      best = known[i];
    }
  }
  if (best !== undefined || k.length < 3) return best;
  for (let i = 0; i < known.length; i++) {
    const c = lower[i];
    if (c.length >= 3 && (c.includes(k) || k.includes(c))) {
      if (best === undefined || c.length < best.length) best = known[i];
    }
  }
  return best;
}

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps. */
export function editDistance(a: string, b: string): number {
  // Three rows of the table: two back (for swaps), the last, and the one being filled.
  let twoBack: number[] = [];
  let last = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(last[j] + 1, row[j - 1] + 1, last[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, twoBack[j - 2] + 1);
      }
      row.push(d);
    }
    twoBack = last;
    last = row;
  }
  return last[b.length];
}
