/**
 * The checks of the options a `Connection` takes, shared by `serve()` and `connect()`
 * (see `lib/_options.ts`). Internal.
 *
 * @module
 */

import type { ConnectionHooks, ConnectionLimits } from "./connection.ts";
import {
  boolean,
  type Check,
  delay,
  either,
  fail,
  func,
  integer,
  type Schema,
} from "../_options.ts";

/** The checks of {@linkcode ConnectionLimits}, shared with `connect()`. */
export const LIMITS = {
  highWaterMark: integer(1),
  maxOutbound: integer(1, Number.MAX_SAFE_INTEGER, true),
  messageBudget: integer(1, Number.MAX_SAFE_INTEGER, true),
  lentMessages: boolean,
} as const satisfies Schema<ConnectionLimits>;

/** The `keepAlive` option, a boolean or the initial delay in ms; shared with `connect()`. */
export const keepAlive: Check = either("a boolean or a delay in ms", boolean, delay(0));

const HOOKS = {
  open: func,
  message: func,
  messages: func,
  end: func,
  drain: func,
  error: func,
  close: func,
} as const satisfies Schema<ConnectionHooks<unknown, unknown, unknown>>;

/** Checks the hooks an object has (it may have other members too). */
export const hooks: Check = (fn, path, value) => {
  if (typeof value !== "object" || value === null) fail(fn, path, "an object of hooks", value);
  for (const k of Object.keys(HOOKS) as (keyof typeof HOOKS)[]) {
    const hook = (value as Record<string, unknown>)[k];
    if (hook !== undefined) HOOKS[k](fn, `${path}.${k}`, hook);
  }
};
