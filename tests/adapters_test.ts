// Runs the transport conformance suite against the native adapter of the runtime this
// runs on, the node:net adapter (which works on all three runtimes) and memory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { detectRuntime, getTransport } from "../lib/adapters/mod.ts";
import { UnsupportedError } from "../lib/errors.ts";
import { runAdapterCases } from "./_adapter_cases.ts";

const native = detectRuntime();
runAdapterCases(native, () => getTransport(native));
if (native !== "node") runAdapterCases("node (on " + native + ")", () => getTransport("node"));
runAdapterCases("memory", () => getTransport("memory"));

test("getTransport() names an absent runtime's adapter: UnsupportedError", () => {
  const absent = native === "deno" ? "bun" : "deno";
  assert.throws(() => getTransport(absent), (e: unknown) => {
    assert.ok(e instanceof UnsupportedError);
    assert.match(e.message, new RegExp(absent));
    return true;
  });
  assert.throws(() => getTransport("nope" as never), TypeError);
  assert.equal(getTransport().name, native);
});
