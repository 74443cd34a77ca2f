/**
 * Tiny argument and environment helpers shared by the examples. They use only the
 * `process` global, which Deno, Bun and Node all have, so the examples run unchanged.
 * @module
 */

declare const process: {
  argv: string[];
  env: Record<string, string | undefined>;
  exitCode?: number;
  pid: number;
  on(signal: "SIGHUP" | "SIGUSR1" | "SIGUSR2", listener: () => void): void;
};

/** Reads an environment variable; `undefined` when it is unset or not permitted (Deno without --allow-env). */
export function env(name: string): string | undefined {
  // On Deno, reading one that is not permitted would prompt in a terminal: not asked.
  const deno = (globalThis as {
    Deno?: { permissions: { querySync(d: { name: "env"; variable: string }): { state: string } } };
  }).Deno;
  if (deno && deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
    return undefined;
  }
  try {
    return process.env[name];
  } catch {
    return undefined;
  }
}

/** The command-line arguments after the script name. */
export function args(): string[] {
  const argv = process.argv;
  // Deno and Node: [runtime, script, ...]; Bun: [bun, script, ...].
  return argv.slice(2);
}

/** Value of `--name value` or `--name=value`, else `undefined`. */
export function flag(name: string): string | undefined {
  const a = args();
  for (let i = 0; i < a.length; i++) {
    if (a[i] === `--${name}`) return a[i + 1];
    if (a[i].startsWith(`--${name}=`)) return a[i].slice(name.length + 3);
  }
  return undefined;
}

/** Whether the switch `--name` was given. */
export function has(name: string): boolean {
  return args().includes(`--${name}`);
}

/**
 * The port: `--port P`, a bare numeric argument (one that does not follow an option's
 * name, as the 3000 of `--lame-duck 3000` does), or PORT; else `fallback`.
 */
export function port(fallback: number): number {
  const bare = args().find((a, i, all) => /^\d+$/.test(a) && !all[i - 1]?.startsWith("--"));
  const text = flag("port") ?? bare ?? env("PORT");
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new RangeError(`bad port "${text}": use 0 to 65535`);
  }
  return n;
}

/** Prints an error and sets a failing exit code; the process ends once its work is done. */
export function fail(message: string): void {
  console.error(message);
  process.exitCode = 1;
}

/** This process's id. */
export function pid(): number {
  return process.pid;
}

/** Calls `listener` on each `signal` (`process.on`, which Deno, Bun and Node all have). */
export function onSignal(signal: "SIGHUP" | "SIGUSR1" | "SIGUSR2", listener: () => void): void {
  process.on(signal, listener);
}
