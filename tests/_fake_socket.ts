// A RawSocket fed by the test, shared by the tests of lent messages and of batches.
import type { RawSocket, RawSocketHandler, StartTlsOptions } from "../lib/transport.ts";
import { concat } from "./_helpers.ts";

/** What a lent buffer holds once the read is over: a byte no test message contains. */
export const GARBAGE = 0xee;

/**
 * A socket fed by the test. It honours pause(): chunks fed meanwhile wait, as the kernel
 * holds them. A lending one (when the connection asks, `lend()`) hands each chunk as a
 * view of one buffer that it scribbles over as soon as `data()` returns; a write made
 * during `data()` is copied at once (as the Deno adapter does), a later one is read only
 * at the end, after the scribbling, as a slow socket would send it.
 */
export class FakeSocket implements RawSocket {
  readonly localAddr = { transport: "unix", path: "" } as const;
  readonly remoteAddr = { transport: "unix", path: "" } as const;
  bufferedAmount = 0;
  handler!: RawSocketHandler;
  paused = true;
  gone = false;
  /** The connection asked to be lent chunks, and it is. */
  lending = false;
  /** Writes made. */
  writes = 0;
  /** `data()` calls made. */
  reads = 0;
  /** `head` of the last `startTls()`, and the socket it resolved with. */
  head: Uint8Array[] | undefined;
  next: FakeSocket | undefined;
  readonly #lends: boolean;
  #pending: (Uint8Array | null)[] = [];
  #inData = false;
  #out: Uint8Array[] = [];
  readonly memory: Uint8Array;
  #at = 0;

  /** @param lends Whether `lend()` says yes. */
  constructor(lends = false) {
    this.#lends = lends;
    this.memory = new Uint8Array(lends ? 512 * 1024 : 0);
  }
  start(handler: RawSocketHandler): void {
    this.handler = handler;
  }
  lend(): boolean {
    return this.lending = this.#lends;
  }
  /** Bytes from the peer, delivered now or once resumed. */
  feed(chunk: Uint8Array): void {
    this.#pending.push(chunk);
    this.#flush();
  }
  /** The peer's FIN, after what was fed. */
  finish(): void {
    this.#pending.push(null);
    this.#flush();
  }
  /** Nothing fed is still waiting. */
  get idle(): boolean {
    return this.#pending.length === 0;
  }
  #flush(): void {
    while (!this.paused && !this.gone && this.#pending.length) {
      const c = this.#pending.shift()!;
      if (c === null) this.handler.end();
      else this.#deliver(c);
    }
  }
  #deliver(chunk: Uint8Array): void {
    this.reads++;
    if (!this.lending) return this.handler.data(chunk.slice());
    // Rotate where chunks lie, so that views of different reads overlap.
    if (this.#at + chunk.length > this.memory.length) this.#at = 0;
    const view = this.memory.subarray(this.#at, this.#at + chunk.length);
    view.set(chunk);
    this.#at = (this.#at + 5 * 1024 + 11) % (this.memory.length / 2);
    this.#inData = true;
    try {
      this.handler.data(view);
    } finally {
      this.#inData = false;
      this.memory.fill(GARBAGE);
    }
  }
  write(chunk: Uint8Array): boolean {
    this.writes++;
    this.#out.push(this.#inData ? chunk.slice() : chunk);
    return true;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
    queueMicrotask(() => this.#flush());
  }
  cork(): void {}
  uncork(): void {}
  end(): void {}
  close(): void {
    this.#gone();
  }
  abort(): void {
    this.#gone();
  }
  #gone(): void {
    if (this.gone) return;
    this.gone = true;
    queueMicrotask(() => this.handler.close());
  }
  setNoDelay(): void {}
  setKeepAlive(): void {}
  startTls(options: StartTlsOptions): Promise<RawSocket> {
    this.head = options.head;
    this.next = new FakeSocket(this.#lends);
    return new Promise((r) => setTimeout(() => r(this.next!), 1));
  }
  /** Everything written, in order. */
  output(): Uint8Array {
    return concat(this.#out);
  }
}
