// Strict options: every factory rejects an unknown key with a TypeError that names the
// key and the function and suggests the closest known key, and a value of the wrong
// type or range with a TypeError or RangeError that says what is allowed.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  connect,
  decoderStream,
  delimited,
  encoderStream,
  fixed,
  lengthPrefixed,
  lines,
  raw,
  reconnecting,
  request,
  router,
  serve,
  type ServeOptions,
} from "../mod.ts";
import { closest, editDistance } from "../lib/_options.ts";
import { portOf } from "./_helpers.ts";

const h = () => {};
const adapter = "memory";

/** Asserts that `fn` throws a `type` whose message is `message` (a string: exactly). */
function throwsWith(fn: () => unknown, type: typeof Error, message: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof type, `expected ${type.name}, got ${e}`);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

async function rejectsWith(
  p: Promise<unknown>,
  type: typeof Error,
  message: string | RegExp,
): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof type, `expected ${type.name}, got ${e}`);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

/** serve() with `extra` on top of a valid call; the options are not type-checked. */
const serveWith = (extra: Record<string, unknown>) => () =>
  serve({ adapter, port: 0, handler: h, ...extra } as ServeOptions);

test("serve() rejects host with a TypeError that suggests hostname", () => {
  throwsWith(
    serveWith({ host: "127.0.0.1" }),
    TypeError,
    'serve(): unknown option "host" (did you mean "hostname"?)',
  );
});

test("serve() names the known options when no key is close", () => {
  throwsWith(
    serveWith({ zzzzzz: 1 }),
    TypeError,
    /^serve\(\): unknown option "zzzzzz" \(known options: .*hostname.*onError\)$/,
  );
});

test("serve() rejects unknown keys in listen entries, perClient, timeouts, tls and proxyProtocol", () => {
  const cases: [Record<string, unknown>, string, string][] = [
    [{ listen: [{ port: 0 }, { hostnme: "x" }] }, "listen[1].hostnme", "listen[1].hostname"],
    [{ perClient: { maxConnection: 2 } }, "perClient.maxConnection", "perClient.maxConnections"],
    [
      { perClient: { rate: { connections: 1, perSecond: 1 } } },
      "perClient.rate.perSecond",
      "perClient.rate.perSeconds",
    ],
    [{ timeouts: { idel: 5 } }, "timeouts.idel", "timeouts.idle"],
    [{ tls: { cert: "c", key: "k", alpn: ["h2"] } }, "tls.alpn", "tls.alpnProtocols"],
    [{ proxyProtocol: { trust: "10.0.0.0/8" } }, "proxyProtocol.trust", "proxyProtocol.trusted"],
    [
      { listen: [{ tls: { cert: "c", key: "k", CA: "x" } }] },
      "listen[0].tls.CA",
      "listen[0].tls.ca",
    ],
  ];
  for (const [extra, key, near] of cases) {
    throwsWith(
      serveWith(extra),
      TypeError,
      `serve(): unknown option "${key}" (did you mean "${near}"?)`,
    );
  }
});

test("serve() rejects values of the wrong type or range, saying what is allowed", () => {
  const cases: [Record<string, unknown>, typeof Error, RegExp][] = [
    [
      { port: 70000 },
      RangeError,
      /^serve\(\): port must be an integer from 0 to 65535, got 70000$/,
    ],
    [{ port: "7000" }, TypeError, /^serve\(\): port must be an integer .*, got "7000"$/],
    [{ hostname: 127 }, TypeError, /^serve\(\): hostname must be a string, got 127$/],
    [{ maxConnections: -1 }, RangeError, /maxConnections must be an integer >= 1 .*got -1/],
    [{ maxConnections: "10" }, TypeError, /maxConnections must be an integer >= 1 .*got "10"/],
    [{ backlog: -1 }, RangeError, /backlog must be an integer >= 0/],
    [{ onError: 5 }, TypeError, /^serve\(\): onError must be a function, got 5$/],
    [{ onListen: "log" }, TypeError, /^serve\(\): onListen must be a function/],
    [{ handler: { message: "x" } }, TypeError, /^serve\(\): handler\.message must be a function/],
    [
      { handler: 5 },
      TypeError,
      /^serve\(\): handler must be an async function, an object of hooks/,
    ],
    [{ framer: lines }, TypeError, /^serve\(\): framer must be a framer .*lines\(\), not lines/],
    [{ data: { count: 0 } }, TypeError, /^serve\(\): data must be a function/],
    [
      { shutdownTimeout: Infinity },
      RangeError,
      /^serve\(\): shutdownTimeout must be a number >= 0/,
    ],
    [{ keepAlive: "yes" }, TypeError, /^serve\(\): keepAlive must be a boolean or a delay in ms/],
    [{ keepAlive: -1 }, RangeError, /^serve\(\): keepAlive must be a number >= 0/],
    [{ rejectMessage: 5 }, TypeError, /^serve\(\): rejectMessage must be a string, a Uint8Array/],
    [{ signal: {} }, TypeError, /^serve\(\): signal must be an AbortSignal/],
    [{ highWaterMark: 0 }, RangeError, /^serve\(\): highWaterMark must be an integer from 1/],
    [{ noDelay: 1 }, TypeError, /^serve\(\): noDelay must be a boolean, got 1$/],
    [{ listen: { port: 0 } }, TypeError, /^serve\(\): listen must be a list of listener options/],
    [
      { listen: [{ backlog: -1 }] },
      RangeError,
      /^serve\(\): listen\[0\]\.backlog must be an integer/,
    ],
    [{ perClient: 3 }, TypeError, /^serve\(\): perClient must be an object, got 3$/],
    [{ timeouts: { idle: "5" } }, TypeError, /timeouts\.idle must be a number of ms >= 0, got "5"/],
    [{ timeouts: { idle: -5 } }, RangeError, /timeouts\.idle must be a number of ms >= 0/],
    [
      { tls: { cert: "c", key: "k", requestClientCert: "yes" } },
      TypeError,
      /tls\.requestClientCert must be a boolean/,
    ],
  ];
  for (const [extra, type, message] of cases) throwsWith(serveWith(extra), type, message);
});

test("serve() with every option it knows, data included, still serves", async () => {
  const controller = new AbortController();
  await using server = serve({
    adapter,
    name: "main",
    hostname: "127.0.0.1",
    port: 0,
    framer: lines(),
    data: () => ({ n: 1 }),
    handler: {
      message(conn, line) {
        conn.send(`${line} ${conn.data.n}`);
      },
    },
    noDelay: true,
    keepAlive: 1000,
    maxConnections: 10,
    backlog: 5,
    perClient: { maxConnections: 5, rate: { connections: 10, perSeconds: 1 } },
    timeouts: { firstMessage: 0, idle: 60_000, writeStall: 60_000, queue: 1000 },
    rejectMessage: "busy\n",
    signal: controller.signal,
    shutdownTimeout: 1000,
    highWaterMark: 1024,
    maxOutbound: Infinity,
    messageBudget: 16,
    onListen: h,
    onConnection: h,
    onReject: h,
    onClose: h,
    onError: h,
  });
  const port = await portOf(server);
  await using conn = await connect({ adapter, port, framer: lines() });
  await conn.send("hi");
  assert.equal(await conn.next(), "hi 1");
});

test("serve() accepts listen entries with their own options", async () => {
  await using server = serve({
    adapter,
    listen: [{ name: "a", port: 0, backlog: 16, reusePort: false }, { name: "b", port: 0 }],
    handler: (conn) => conn.close(),
  });
  await server.ready;
  assert.deepEqual(server.addrs.map((a) => a.name), ["a", "b"]);
});

test("connect() rejects host with a TypeError that suggests hostname", async () => {
  await rejectsWith(
    connect({ adapter, host: "127.0.0.1", port: 1 } as never),
    TypeError,
    'connect(): unknown option "host" (did you mean "hostname"?)',
  );
  await rejectsWith(
    connect({ adapter, port: 1, tls: { servername: "x" } } as never),
    TypeError,
    'connect(): unknown option "tls.servername" (did you mean "tls.serverName"?)',
  );
});

test("connect() rejects values of the wrong type or range", async () => {
  const cases: [Record<string, unknown>, typeof Error, RegExp][] = [
    [
      { port: 70000 },
      RangeError,
      /^connect\(\): port must be an integer from 0 to 65535, got 70000$/,
    ],
    [{ port: "1" }, TypeError, /^connect\(\): port must be an integer/],
    [{ port: undefined }, TypeError, /^connect\(\) needs a port from 0 to 65535 or a path$/],
    [{ timeout: 0 }, RangeError, /^connect\(\): timeout must be a number > 0/],
    [{ timeout: "5" }, TypeError, /^connect\(\): timeout must be a number/],
    [{ hooks: { message: 1 } }, TypeError, /^connect\(\): hooks\.message must be a function/],
    [{ framer: raw }, TypeError, /^connect\(\): framer must be a framer/],
    [{ data: 1 }, TypeError, /^connect\(\): data must be a function/],
    [{ maxOutbound: -1 }, RangeError, /^connect\(\): maxOutbound must be an integer from 1/],
    [
      { tls: { caCerts: "pem" } },
      TypeError,
      /^connect\(\): tls\.caCerts must be a list of PEM texts/,
    ],
  ];
  for (const [extra, type, message] of cases) {
    await rejectsWith(connect({ adapter, port: 1, ...extra } as never), type, message);
  }
});

test("connect() with valid options, data included, still connects", async () => {
  await using server = serve({
    adapter,
    port: 0,
    framer: lines(),
    handler: { message: (c, m) => void c.send(m) },
  });
  const port = await portOf(server);
  await using conn = await connect({
    adapter,
    hostname: "127.0.0.1",
    port,
    framer: lines(),
    data: () => ({ sent: 0 }),
    timeout: 5000,
    noDelay: true,
    keepAlive: false,
    highWaterMark: 1024,
  });
  conn.data.sent++;
  await conn.send("x");
  assert.equal(await conn.next(), "x");
  assert.equal(conn.data.sent, 1);
});

test("the framers reject unknown options with a suggestion", () => {
  const cases: [() => unknown, string][] = [
    [() => raw({ max: 5 } as never), 'raw(): unknown option "max" (did you mean "maxLength"?)'],
    [
      () => lines({ maxLen: 5 } as never),
      'lines(): unknown option "maxLen" (did you mean "maxLength"?)',
    ],
    [
      () => lines({ delimeter: "\n" } as never),
      'lines(): unknown option "delimeter" (did you mean "delimiter"?)',
    ],
    [
      () => delimited({ delimiter: ";", inclueDelimiter: true } as never),
      'delimited(): unknown option "inclueDelimiter" (did you mean "includeDelimiter"?)',
    ],
    [
      () => lengthPrefixed({ lengthSize: 2 } as never),
      'lengthPrefixed(): unknown option "lengthSize" (did you mean "size"?)',
    ],
    [
      () => fixed(4, { EOF: "emit" } as never),
      'fixed(): unknown option "EOF" (did you mean "eof"?)',
    ],
    [
      () => decoderStream(raw(), { onerror: h } as never),
      'decoderStream(): unknown option "onerror" (did you mean "onError"?)',
    ],
  ];
  for (const [fn, message] of cases) throwsWith(fn, TypeError, message);
});

test("the framers still reject wrong types and ranges, and accept every known option", () => {
  throwsWith(() => raw({ maxLength: 0 }), RangeError, /^raw\(\): maxLength must be from 1/);
  throwsWith(
    () => lines({ maxLength: "5" as never }),
    TypeError,
    /^lines\(\): maxLength must be an integer/,
  );
  throwsWith(() => fixed(4, { eof: "keep" as never }), TypeError, /^fixed\(\): eof must be one of/);
  throwsWith(
    () => decoderStream(raw(), { onError: 5 as never }),
    TypeError,
    /onError must be a function/,
  );
  throwsWith(
    () => decoderStream(lines as never),
    TypeError,
    /^decoderStream\(\): framer must be a framer/,
  );
  throwsWith(
    () => encoderStream({} as never),
    TypeError,
    /^encoderStream\(\): framer must be a framer/,
  );
  assert.equal(raw({ maxLength: 5 }).maxLength, 5);
  assert.equal(
    lines({ maxLength: 5, delimiter: "\r\n", encoding: null, tooLong: "skip", eof: "discard" })
      .maxLength,
    5,
  );
  const d = delimited({
    delimiter: ";",
    maxLength: 5,
    tooLong: "split",
    eof: "error",
    includeDelimiter: true,
  });
  assert.equal(d.maxLength, 5);
  const lp = lengthPrefixed({
    size: 2,
    endian: "little",
    offset: 1,
    adjustment: 0,
    includeHeader: false,
    maxLength: 100,
    tooLong: "skip",
    eof: "emit",
  });
  assert.equal(lp.maxLength, 100);
  assert.equal(fixed(4, { eof: "emit" }).maxLength, 4);
  assert.ok(decoderStream(raw(), { onError: h }) instanceof TransformStream);
});

test("router() and its routes reject unknown keys and bad values", () => {
  throwsWith(
    () => router({ sniffByte: 4 } as never),
    TypeError,
    'router(): unknown option "sniffByte" (did you mean "sniffBytes"?)',
  );
  throwsWith(
    () => router({ sniffTimeout: "5" as never }),
    TypeError,
    /^router\(\): sniffTimeout must be a number > 0/,
  );
  throwsWith(
    () => router({ sniffBytes: 0 }),
    RangeError,
    /^router\(\): sniffBytes must be an integer from 1/,
  );
  throwsWith(
    () => router().on({ remot: "10.0.0.0/8" } as never, h),
    TypeError,
    'router().on(): unknown option "remot" (did you mean "remote"?)',
  );
  throwsWith(
    () => router().on({}, h, { framr: raw() } as never),
    TypeError,
    'router().on(): unknown option "framr" (did you mean "framer"?)',
  );
  throwsWith(
    () => router().on({}, h, { framer: raw as never }),
    TypeError,
    /^router\(\)\.on\(\): framer must be a framer/,
  );
  throwsWith(
    () => router().on({}, 5 as never),
    TypeError,
    /^router\(\)\.on\(\): handler must be a function/,
  );
  throwsWith(
    () => router().otherwise(h, { Framer: raw() } as never),
    TypeError,
    'router().otherwise(): unknown option "Framer" (did you mean "framer"?)',
  );
  const r = router({ sniffBytes: 4, sniffTimeout: 100 }).on({ local: 7 }, h, { framer: raw() })
    .otherwise(h, {});
  assert.equal(r.match({ listener: "x", remote: "", localPort: 7 }).kind, "match");
});

test("reconnecting() rejects unknown keys and bad values at once", () => {
  throwsWith(
    () => reconnecting({ adapter, port: 1, backof: {} } as never),
    TypeError,
    'reconnecting(): unknown option "backof" (did you mean "backoff"?)',
  );
  throwsWith(
    () => reconnecting({ adapter, host: "x", port: 1 } as never),
    TypeError,
    'reconnecting(): unknown option "host" (did you mean "hostname"?)',
  );
  throwsWith(
    () => reconnecting({ adapter, port: 1, hooks: {} } as never),
    TypeError,
    /^reconnecting\(\): unknown option "hooks"/,
  );
  throwsWith(
    () => reconnecting({ adapter, port: 1, backoff: { jitter: 2 } }),
    RangeError,
    /^reconnecting\(\): backoff\.jitter must be a number >= 0 and <= 1, got 2$/,
  );
  throwsWith(
    () => reconnecting({ adapter, port: 1, maxRetries: -1 }),
    RangeError,
    /maxRetries must be an integer/,
  );
  throwsWith(
    () => reconnecting({ adapter, port: 1, maxBuffered: "1" as never }),
    TypeError,
    /maxBuffered must be an integer/,
  );
  throwsWith(() => reconnecting({ adapter }), TypeError, /^reconnecting\(\) needs a port/);
});

test("reconnecting() with its own options connects (they are not passed to connect())", async () => {
  await using server = serve({
    adapter,
    port: 0,
    framer: lines(),
    handler: { message: (c, m) => void c.send(m) },
  });
  const port = await portOf(server);
  const client = reconnecting({
    adapter,
    port,
    framer: lines(),
    backoff: { initial: 10, max: 100, factor: 2, jitter: 0 },
    maxBuffered: 1024,
    maxRetries: 3,
  });
  const errors: Error[] = [];
  client.on("error", (e) => errors.push(e));
  const reply = Promise.withResolvers<string>();
  client.on("message", (m) => reply.resolve(m));
  await client.send("hello");
  assert.equal(await reply.promise, "hello");
  assert.deepEqual(errors, []);
  client.close();
});

test("request() rejects unknown options and bad timeouts", async () => {
  await using server = serve({
    adapter,
    port: 0,
    framer: lines(),
    handler: { message: (c, m) => void c.send(m) },
  });
  const port = await portOf(server);
  await using conn = await connect({ adapter, port, framer: lines() });
  await rejectsWith(
    request(conn, "x", { timout: 5 } as never),
    TypeError,
    'request(): unknown option "timout" (did you mean "timeout"?)',
  );
  await rejectsWith(
    request(conn, "x", { timeout: -1 }),
    RangeError,
    /^request\(\): timeout must be a number >= 0/,
  );
  await rejectsWith(
    request(conn, "x", { timeout: "5" as never }),
    TypeError,
    /^request\(\): timeout must be a number/,
  );
  await rejectsWith(
    request(conn, "x", { signal: 1 as never }),
    TypeError,
    /^request\(\): signal must be an AbortSignal/,
  );
  // Nothing was sent by the rejected calls: the next reply is this request's.
  assert.equal(await request(conn, "ok", { timeout: 5000 }), "ok");
  assert.equal(await request(conn, "again", { timeout: Infinity }), "again");
});

test("closest() suggests by case, containment and edit distance, and not from afar", () => {
  const keys = ["hostname", "port", "handler", "maxConnections", "timeouts", "size"];
  assert.equal(closest("host", keys), "hostname");
  assert.equal(closest("HostName", keys), "hostname");
  assert.equal(closest("hanlder", keys), "handler"); // a swap is one edit
  assert.equal(closest("maxConection", keys), "maxConnections");
  assert.equal(closest("lengthSize", keys), "size");
  assert.equal(closest("path", keys), undefined); // 3 edits from "port": too far
  assert.equal(closest("zzzz", keys), undefined);
  assert.equal(editDistance("abc", "acb"), 1);
  assert.equal(editDistance("", "abc"), 3);
  assert.equal(editDistance("kitten", "sitting"), 3);
});
