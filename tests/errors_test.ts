import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ConnectError,
  FrameTooLongError,
  FramingError,
  TcpkitError,
  TimeoutError,
} from "../lib/errors.ts";

test("FrameTooLongError is a FramingError with its lengths and name", () => {
  const err = new FrameTooLongError(70_000, 65_536, true);
  assert.ok(err instanceof FramingError);
  assert.ok(err instanceof TcpkitError);
  assert.equal(err.name, "FrameTooLongError");
  assert.equal(err.length, 70_000);
  assert.equal(err.maxLength, 65_536);
  assert.equal(err.recoverable, true);
});

test("ConnectError and TimeoutError say why", () => {
  const c = new ConnectError("refused", "127.0.0.1:1", { cause: new Error("x") });
  assert.equal(c.reason, "refused");
  assert.match(c.message, /127\.0\.0\.1:1.*refused/);
  assert.equal(new TimeoutError("idle", 5).kind, "idle");
});
