// deno-lint-ignore-file no-explicit-any -- test helpers accept servers of any message type
// Shared helpers for tests. Not a test file.
import type { AdapterName, Addr, Server } from "../mod.ts";

/** The port of a server's first listener, after it is bound. */
export async function portOf(
  server: Server<never, never, never> | Server<any, any, any>,
): Promise<number> {
  await server.ready;
  return portOfAddr(server.addr);
}

/** The port of a TCP or memory address. */
export function portOfAddr(addr: Addr): number {
  if (addr.transport === "unix") throw new TypeError("unix address has no port");
  return addr.port;
}

/** Rejects when `p` takes longer than `ms`; the message names `what`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 5 ms until it is true or `ms` passes (then rejects). */
export async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for: ${what}`);
    await sleep(5);
  }
}

/** Deterministic pseudo-random bytes (xorshift32) so failures reproduce. */
export function randomBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Concatenates chunks. */
export function concat(chunks: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** The native adapter of the runtime the test runs on. */
export function nativeAdapter(): AdapterName {
  const g = globalThis as { Deno?: { version?: { deno?: string } }; Bun?: unknown };
  if (g.Deno?.version?.deno) return "deno";
  if (g.Bun) return "bun";
  return "node";
}

/** Whether process `pid` still exists (signal 0 only checks). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Deterministic integers for seeded random tests (xorshift32 from `state`, not 0): the
 * function returns one in `[0, n)` per call, so a failure reproduces.
 */
export function xorshift(state: number): (n: number) => number {
  let x = state >>> 0;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}
