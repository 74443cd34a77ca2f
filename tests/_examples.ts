// Helpers for the example tests: run an example as a real child process of the same
// runtime the tests run under, and run non-JS clients (python3, redis-cli). Not a test file.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url));

/** The runtime the tests run under. */
export function runtime(): "deno" | "bun" | "node" {
  const g = globalThis as { Deno?: { version?: { deno?: string } }; Bun?: unknown };
  if (g.Deno?.version?.deno) return "deno";
  if (g.Bun) return "bun";
  return "node";
}

/** The command that runs a .ts file on this runtime: `[binary, ...args]`. */
export function runCommand(): [string, ...string[]] {
  const rt = runtime();
  const bin = `${ROOT}node_modules/.bin/${rt}`;
  return rt === "deno" ? [bin, "run", "-A"] : rt === "bun" ? [bin, "run"] : [bin];
}

/** A running example. */
export interface Example {
  child: ChildProcess;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
  /** The first `host:port` printed after " on ". */
  port: number;
  /** Stops it by PID (SIGTERM, then SIGKILL after 3 s) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Children still running; killed when the test process exits (a test that timed out). */
const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of live) if (c.exitCode === null) c.kill("SIGKILL");
});

/**
 * Starts `examples/<file>` with `args` and waits (up to 30 s) until it printed `lines`
 * lines that match `/ on \S+/`.
 */
export async function startExample(file: string, args: string[] = [], lines = 1): Promise<Example> {
  const [cmd, ...pre] = runCommand();
  const child = spawn(cmd, [...pre, `${ROOT}examples/${file}`, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  live.add(child);
  let out = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  exited.then(() => live.delete(child));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid!, "SIGTERM");
      const timer = setTimeout(
        () => child.exitCode === null && process.kill(child.pid!, "SIGKILL"),
        3000,
      );
      await exited;
      clearTimeout(timer);
    }
    child.stdout!.destroy();
    child.stderr!.destroy();
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${file} did not start in 30 s:\n${out}`)),
        30_000,
      );
      const onData = (b: Uint8Array) => {
        out += new TextDecoder().decode(b);
        const found = [...out.matchAll(/ on (\S+)/g)];
        if (found.length >= lines) {
          clearTimeout(timer);
          resolve(Number(/:(\d+)\b/.exec(found[0][1])?.[1] ?? 0));
        }
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`${file} exited with ${code} before it was ready:\n${out}`));
      });
    });
    return { child, output: () => out, port, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Result of {@linkcode run}. */
export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (killed after `timeout` ms) and collects its output. */
export function run(
  cmd: string,
  args: string[],
  timeout = 30_000,
  input?: string,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: ROOT,
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "", stderr = "";
    child.stdout!.on("data", (b: Uint8Array) => (stdout += new TextDecoder().decode(b)));
    child.stderr!.on("data", (b: Uint8Array) => (stderr += new TextDecoder().decode(b)));
    if (input !== undefined) child.stdin!.end(input);
    const timer = setTimeout(() => child.kill("SIGKILL"), timeout);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs a tcpkit example's client (a .ts file in examples/) on this runtime. */
export function runExample(file: string, args: string[], timeout = 60_000): Promise<RunResult> {
  const [cmd, ...pre] = runCommand();
  return run(cmd, [...pre, `${ROOT}examples/${file}`, ...args], timeout);
}

/** Runs a python3 script given as text; `args` become `sys.argv[1:]`. */
export function python(script: string, args: string[], timeout = 30_000): Promise<RunResult> {
  return run("python3", ["-c", script, ...args], timeout);
}

/** Why a binary cannot be used, or `undefined` when it runs. */
export function missing(binary: string): string | undefined {
  const r = spawnSync(binary, ["--version"], { stdio: "ignore" });
  return r.error
    ? `${binary} is not installed (apt-get install redis-tools, or see .ci/run)`
    : undefined;
}
