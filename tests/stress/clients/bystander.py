"""A well-behaved client beside an attack: N request/replies on one connection.

    python3 bystander.py PORT N [--interval-ms 10] [--timeout 5] [--tls CAFILE]

Sends "bystander <i>" lines one at a time, every --interval-ms, and waits for each echo.
A reply that differs, a timeout or a broken connection is an error (then it reconnects).
Prints {"n", "ok", "errors", "p50_ms", "p99_ms", "max_ms"}; latencies are from the send
to the whole reply.
"""
import ssl
import sys
import time

from _common import LineClient, arg, pct, result

port = int(sys.argv[1])
n = int(sys.argv[2])
interval = arg("interval-ms", 10.0, float) / 1000.0
timeout = arg("timeout", 5.0, float)
cafile = arg("tls")

wrap = None
if cafile:
    ctx = ssl.create_default_context(cafile=cafile)
    wrap = lambda s: ctx.wrap_socket(s, server_hostname="localhost")

lat = []
errors = []
client = None
start = time.monotonic()
for i in range(n):
    time.sleep(max(0.0, start + i * interval - time.monotonic()))
    line = b"bystander %d" % i
    try:
        if client is None:
            client = LineClient(port, timeout, wrap)
        t0 = time.perf_counter()
        got = client.request(line)
        ms = (time.perf_counter() - t0) * 1000
        if got.endswith(line):
            lat.append(ms)
        else:
            errors.append("request %d: got %r" % (i, got[:80]))
    except Exception as e:  # noqa: BLE001 - any failure is the client's error count
        errors.append("request %d: %r" % (i, e))
        if client:
            client.close()
        client = None
if client:
    client.close()
result({
    "n": n,
    "ok": len(lat),
    "errors": errors[:10],
    "error_count": len(errors),
    "p50_ms": pct(lat, 50),
    "p99_ms": pct(lat, 99),
    "max_ms": max(lat) if lat else None,
})
