/**
 * Picks the transport for the runtime tcpkit runs on, or the one asked for.
 * Every adapter is imported statically so that `serve()` can stay synchronous; each
 * touches its runtime's globals only when used.
 *
 * @module
 */

import type { AdapterName, Transport } from "../transport.ts";
import { UnsupportedError } from "../errors.ts";
import { bunTransport } from "./bun/transport.ts";
import { denoTransport } from "./deno/transport.ts";
import { memoryTransport } from "./memory.ts";
import { nodeTransport } from "./node/transport.ts";

export type { AdapterName, Transport } from "../transport.ts";
export { memoryPair, memoryTransport } from "./memory.ts";
export { listenOn } from "./_unix.ts";
export {
  cpuCount,
  privateDir,
  reusePortSupport,
  spawnSelf,
  tcpMigrateReq,
  type WorkerEnv,
  workerEnv,
  type WorkerProcess,
} from "./_process.ts";

interface RuntimeGlobals {
  Deno?: { version?: { deno?: string } };
  Bun?: unknown;
}

/**
 * Says which runtime this is: `"deno"`, `"bun"`, or `"node"` for anything else.
 *
 * @returns The name of the native adapter.
 *
 * @example
 * ```ts
 * import { detectRuntime } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(["deno", "bun", "node"].includes(detectRuntime())); // "deno" under deno run
 * ```
 */
export function detectRuntime(): AdapterName {
  const g = globalThis as RuntimeGlobals;
  if (typeof g.Deno?.version?.deno === "string") return "deno";
  if (g.Bun !== undefined) return "bun";
  return "node";
}

/**
 * Returns the transport of the named adapter, or of the runtime's native one.
 * `"node"` (node:net) and `"memory"` work everywhere; `"deno"` and `"bun"` only on
 * their own runtime.
 *
 * @param name The adapter; detected when omitted.
 * @returns The transport.
 * @throws {UnsupportedError} When the named adapter's runtime is not this one.
 * @throws {TypeError} When the name is not an adapter's.
 *
 * @example
 * ```ts
 * import { getTransport } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const transport = getTransport(); // deno, bun or node
 * assert.notEqual(transport.name, "memory");
 * assert.equal(getTransport("memory").name, "memory");
 * ```
 */
export function getTransport(name: AdapterName = detectRuntime()): Transport {
  switch (name) {
    case "memory":
      return memoryTransport;
    case "node":
      return nodeTransport;
    case "deno":
    case "bun": {
      const here = detectRuntime();
      if (here !== name) {
        throw new UnsupportedError(
          here,
          `the "${name}" adapter (it needs the ${name} runtime; use "${here}", "node" or "memory")`,
        );
      }
      return name === "deno" ? denoTransport : bunTransport;
    }
    default:
      throw new TypeError(
        `unknown adapter ${JSON.stringify(name)}: expected "deno", "bun", "node" or "memory"`,
      );
  }
}
