// The start of a connection (`_start()`, which serve() calls once a connection has its
// slot): what the socket delivered before it, bytes or the peer's end, is handed over
// then; with nothing delivered it only starts reading.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Connection } from "../lib/connection/connection.ts";
import type { RawSocket, RawSocketHandler } from "../lib/transport.ts";
import { lines } from "../mod.ts";

/** A socket driven by the test: it records what the connection asks of it. */
class ScriptedSocket implements RawSocket {
  readonly localAddr = { transport: "unix", path: "" } as const;
  readonly remoteAddr = { transport: "unix", path: "" } as const;
  bufferedAmount = 0;
  handler!: RawSocketHandler;
  calls: string[] = [];
  written: string[] = [];
  start(handler: RawSocketHandler): void {
    this.handler = handler;
  }
  write(chunk: Uint8Array): boolean {
    this.written.push(new TextDecoder().decode(chunk));
    return true;
  }
  pause(): void {
    this.calls.push("pause");
  }
  resume(): void {
    this.calls.push("resume");
  }
  end(): void {
    this.calls.push("end");
  }
  close(): void {
    this.calls.push("close");
  }
  abort(): void {
    this.calls.push("abort");
  }
  setNoDelay(): void {}
  setKeepAlive(): void {}
  /** The peer sends `text`. */
  send(text: string): void {
    this.handler.data(new TextEncoder().encode(text));
  }
}

function connection(socket: ScriptedSocket): Connection<string> {
  return new Connection<string>({ socket, framer: lines(), id: 1 });
}

test("_start() with nothing read: the socket resumes once, nothing is delivered until bytes come", () => {
  const socket = new ScriptedSocket();
  const conn = connection(socket);
  const got: string[] = [];
  conn._start({ message: (_c, m) => void got.push(m) });
  assert.deepEqual(socket.calls, ["resume"]);
  assert.deepEqual(got, []);
  socket.send("one\ntwo\n");
  assert.deepEqual(got, ["one", "two"]);
});

test("_start() hands over the lines read before it (hooks), then reads on", () => {
  const socket = new ScriptedSocket();
  const conn = connection(socket);
  const got: string[] = [];
  socket.send("early\nhalf");
  assert.equal(conn.bytesIn, 10);
  conn._start({ message: (_c, m) => void got.push(m) });
  assert.deepEqual(got, ["early"]);
  assert.deepEqual(socket.calls, ["resume"]);
  socket.send("-done\n");
  assert.deepEqual(got, ["early", "half-done"]);
});

test("_start() with the peer's end and no bytes before it: the end hook runs", () => {
  const socket = new ScriptedSocket();
  const conn = connection(socket);
  let ended = 0;
  socket.handler.end();
  conn._start({ end: () => void ended++ });
  assert.equal(ended, 1);
  assert.equal(conn.state, "half-closed-by-peer");
});

test("_start() with the peer's end and no bytes, iterating: the loop ends", async () => {
  const socket = new ScriptedSocket();
  const conn = connection(socket);
  socket.handler.end();
  conn._start();
  assert.equal(await conn.next(), undefined);
});

test("_start() with a line and the end before it, iterating: the line, then the end", async () => {
  const socket = new ScriptedSocket();
  const conn = connection(socket);
  socket.send("last\n");
  socket.handler.end();
  conn._start();
  assert.equal(await conn.next(), "last");
  assert.equal(await conn.next(), undefined);
});
