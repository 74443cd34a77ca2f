// Decode throughput of the built-in framers, in process, with a hand-written native
// control for each case (the same job without tcpkit: indexOf + subarray, or a header
// read + subarray), so the framework's own cost shows.
//
//   deno run -A bench/framers.ts      bun run bench/framers.ts      node bench/framers.ts
//
// Options: --time=<ms per case, default 2000>  --rounds=<best of, default 5>
//          --only=<substring of case names>
//
// "each frame copied" cases `.slice()` every frame: the cost the decoders would pay if
// they copied frames by default instead of handing out views (they copy only frames
// that span chunks).
//
// A benchmark, not a test: it asserts nothing about speed.
import type { Decoder, Framer } from "../lib/framers/framer.ts";
import { lengthPrefixed } from "../lib/framers/length_prefixed.ts";
import { lines } from "../lib/framers/lines.ts";

const arg = (name: string, fallback: string) =>
  (globalThis as { process?: { argv: string[] } }).process?.argv
    .concat((globalThis as { Deno?: { args: string[] } }).Deno?.args ?? [])
    .find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const TIME_MS = Number(arg("time", "2000"));
const ROUNDS = Number(arg("rounds", "5"));
const ONLY = arg("only", "");

const CHUNK = 64 * 1024;

/** Cuts a byte stream into read-sized chunks, starting `shift` bytes short so frames straddle chunks. */
function chunked(total: Uint8Array, shift: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0, n = CHUNK - shift; at < total.length; at += n, n = CHUNK) {
    out.push(total.slice(at, at + n));
  }
  return out;
}

function lineStream(count: number): Uint8Array {
  const line = new TextEncoder().encode("GET /index.html key=0123456789\n"); // 32 bytes with \n
  const out = new Uint8Array(line.length * count);
  for (let i = 0; i < count; i++) out.set(line, i * line.length);
  return out;
}

function lengthStream(payload: number, count: number): Uint8Array {
  const frame = new Uint8Array(4 + payload);
  new DataView(frame.buffer).setUint32(0, payload);
  frame.fill(0x61, 4);
  const out = new Uint8Array(frame.length * count);
  for (let i = 0; i < count; i++) out.set(frame, i * frame.length);
  return out;
}

interface Case {
  name: string;
  chunks: Uint8Array[];
  /** Decodes every chunk once; returns frames decoded. */
  run(): number;
}

let sink = 0; // keeps results alive

/** Decodes with a framer; with `copy`, every frame is `.slice()`d, as if frames were copies. */
function framerCase<T>(
  name: string,
  framer: Framer<T, unknown>,
  chunks: Uint8Array[],
  copy = false,
): Case {
  return {
    name,
    chunks,
    run() {
      const d: Decoder<T> = framer.decoder();
      let frames = 0;
      for (let i = 0; i < chunks.length; i++) {
        d.push(chunks[i]);
        for (let f = d.next(); f !== undefined; f = d.next()) {
          frames++;
          sink += copy ? (f as Uint8Array).slice().length : (f as { length: number }).length;
        }
      }
      return frames;
    },
  };
}

/** Native control for lines: indexOf + subarray, a copy for a line across chunks. */
function nativeLines(name: string, chunks: Uint8Array[]): Case {
  return {
    name,
    chunks,
    run() {
      let frames = 0;
      let carry: Uint8Array | null = null;
      for (const c of chunks) {
        let start = 0;
        for (let p = c.indexOf(10); p >= 0; p = c.indexOf(10, start)) {
          let line = c.subarray(start, p);
          if (carry) {
            const joined: Uint8Array = new Uint8Array(carry.length + line.length);
            joined.set(carry);
            joined.set(line, carry.length);
            line = joined;
            carry = null;
          }
          sink += line.length;
          frames++;
          start = p + 1;
        }
        if (start < c.length) carry = c.slice(start);
      }
      return frames;
    },
  };
}

/**
 * Native control for a 4-byte BE length prefix, the fastest way by hand: header read +
 * subarray; a frame across chunks is allocated from its header and filled as bytes come.
 */
function nativeLength(name: string, chunks: Uint8Array[]): Case {
  const u32 = (b: Uint8Array, at: number) =>
    ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
  return {
    name,
    chunks,
    run() {
      let frames = 0;
      let frame: Uint8Array | null = null; // a frame being filled across chunks
      let filled = 0;
      const header = new Uint8Array(4);
      let headerHave = 0;
      for (const c of chunks) {
        let at = 0;
        while (at < c.length) {
          if (frame) {
            const k = Math.min(frame.length - filled, c.length - at);
            frame.set(c.subarray(at, at + k), filled);
            filled += k;
            at += k;
            if (filled === frame.length) {
              sink += frame.length;
              frames++;
              frame = null;
            }
            continue;
          }
          let n: number;
          if (headerHave !== 0 || c.length - at < 4) {
            while (headerHave < 4 && at < c.length) header[headerHave++] = c[at++];
            if (headerHave < 4) break;
            headerHave = 0;
            n = u32(header, 0);
          } else {
            n = u32(c, at);
            at += 4;
          }
          if (c.length - at >= n) {
            sink += c.subarray(at, at + n).length;
            frames++;
            at += n;
          } else {
            frame = new Uint8Array(n);
            filled = 0;
          }
        }
      }
      return frames;
    },
  };
}

// CPU time of this process (user + system) where the runtime has process.cpuUsage()
// (Deno, Bun and Node all do): on a shared machine it drifts far less than wall time.
const proc = (globalThis as { process?: { cpuUsage?: () => { user: number; system: number } } })
  .process;
const clock = proc?.cpuUsage
  ? () => {
    const u = proc.cpuUsage!();
    return (u.user + u.system) / 1000;
  }
  : () => performance.now();
const clockName = proc?.cpuUsage ? "CPU time" : "wall time";

function measure(c: Case): { fps: number; mbps: number } {
  let bytes = 0;
  for (const ch of c.chunks) bytes += ch.length;
  for (let i = 0; i < 3; i++) c.run(); // warm up
  let best = { fps: 0, mbps: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    let frames = 0;
    let runs = 0;
    const t0 = clock();
    let t = t0;
    while (t - t0 < TIME_MS / ROUNDS) {
      frames += c.run();
      runs++;
      t = clock();
    }
    const s = (t - t0) / 1000;
    const r = { fps: frames / s, mbps: (bytes * runs) / s / 1e6 };
    if (r.fps > best.fps) best = r;
  }
  return best;
}

const runtime = typeof navigator !== "undefined" ? navigator.userAgent : "unknown";
const lineChunks = chunked(lineStream(200_000), 5); // 6.4 MB
const kibChunks = chunked(lengthStream(1024, 6_000), 5); // 6.2 MB
const mibChunks = chunked(lengthStream(1024 * 1024, 16), 5); // 16.8 MB

const cases: [Case, Case | undefined][] = [];
const native = {
  lines: nativeLines("lines 32 B, native control", lineChunks),
  kib: nativeLength("lengthPrefixed 1 KiB, native control", kibChunks),
  mib: nativeLength("lengthPrefixed 1 MiB, native control", mibChunks),
};
cases.push(
  [
    framerCase("lines 32 B, bytes (encoding: null)", lines({ encoding: null }), lineChunks),
    native.lines,
  ],
  [
    framerCase("lines 32 B, bytes, each frame copied", lines({ encoding: null }), lineChunks, true),
    native.lines,
  ],
  [framerCase("lines 32 B, strings", lines(), lineChunks), native.lines],
  [native.lines, undefined],
  [framerCase("lengthPrefixed 1 KiB", lengthPrefixed(), kibChunks), native.kib],
  [
    framerCase("lengthPrefixed 1 KiB, each frame copied", lengthPrefixed(), kibChunks, true),
    native.kib,
  ],
  [native.kib, undefined],
  [framerCase("lengthPrefixed 1 MiB", lengthPrefixed(), mibChunks), native.mib],
  [native.mib, undefined],
);

console.log(
  `framers decode, ${runtime}, 64 KiB chunks, best of ${ROUNDS} x ${
    TIME_MS / ROUNDS
  } ms ${clockName}`,
);
const results = new Map<Case, { fps: number; mbps: number }>();
for (const [c] of cases) if (!ONLY || c.name.includes(ONLY)) results.set(c, measure(c));
for (const [c, control] of cases) {
  const r = results.get(c);
  if (!r) continue;
  const n = control && results.get(control);
  const fps = r.fps >= 1e6 ? `${(r.fps / 1e6).toFixed(2)} M` : `${(r.fps / 1e3).toFixed(2)} k`;
  const ratio = n ? `  ${(r.fps / n.fps).toFixed(2)} x native` : "";
  console.log(
    `${c.name.padEnd(38)} ${fps.padStart(9)} frames/s ${
      r.mbps.toFixed(0).padStart(6)
    } MB/s${ratio}`,
  );
}
if (sink === 42) console.log("");
