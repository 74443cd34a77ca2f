"""Soak: C connections of mixed request/reply for S seconds.

    python3 soak.py PORT [--conns 100] [--seconds 600] [--seed 1]

Each connection (a thread) loops: "E <text>" (echoed; 60 %), "B <n>" (n bytes back,
1 to 32 768; 20 %), "S <ms> <text>" (echoed after 0 to 20 ms; 10 %), or 8 "E" requests
pipelined (10 %). Every 50 to 500 requests it closes and connects again (churn). Each
reply is checked; a wrong reply, a timeout (10 s) or a broken connection is an error.
Prints {"conns", "seconds", "requests", "connections", "errors", "bytes_sent",
"bytes_received", "p50_ms", "p99_ms", "max_ms"}: requests are replies received and
checked; the bytes count what went over the sockets, for comparison with the server's
stats().
"""
import random
import sys
import threading

from _common import LineClient, arg, now, pct, result

port = int(sys.argv[1])
conns = arg("conns", 100, int)
seconds = arg("seconds", 600.0, float)
seed = arg("seed", 1, int)

lock = threading.Lock()
totals = {"requests": 0, "connections": 0, "bytes_sent": 0, "bytes_received": 0}
errors = []
lat = []
deadline = now() + seconds


def worker(k):
    rng = random.Random(seed * 1000 + k)
    requests = 0
    local_lat = []
    client = None
    budget = 0
    sent = received = 0

    def drop():
        nonlocal client, sent, received
        if client:
            sent += client.sent
            received += client.received
            client.close()
        client = None

    while now() < deadline:
        try:
            if client is None:
                client = LineClient(port, timeout=10)
                budget = rng.randint(50, 500)
                with lock:
                    totals["connections"] += 1
            r = rng.random()
            t0 = now()
            if r < 0.6:
                text = b"E %d %d" % (k, requests)
                got = client.request(text)
                good = got == text
                n = 1
            elif r < 0.8:
                size = rng.randint(1, 32768)
                got = client.request(b"B %d" % size)
                good = len(got) == size and got.count(b"b") == size
                n = 1
            elif r < 0.9:
                text = b"S %d %d-%d" % (rng.randint(0, 20), k, requests)
                got = client.request(text)
                good = got == text
                n = 1
            else:
                texts = [b"E %d %d.%d" % (k, requests, i) for i in range(8)]
                client.send(b"".join(t + b"\n" for t in texts))
                good = all(client.read_line() == t for t in texts)
                n = 8
            local_lat.append((now() - t0) * 1000)
            if not good:
                with lock:
                    errors.append("conn %d: wrong reply" % k)
            requests += n
            budget -= n
            if budget <= 0:
                drop()
        except Exception as e:  # noqa: BLE001 - every failure is counted
            with lock:
                errors.append("conn %d: %r" % (k, e))
            drop()
    drop()
    with lock:
        totals["requests"] += requests
        totals["bytes_sent"] += sent
        totals["bytes_received"] += received
        lat.extend(local_lat)


threads = [threading.Thread(target=worker, args=(k,)) for k in range(conns)]
for t in threads:
    t.start()
for t in threads:
    t.join()
result({
    "conns": conns,
    "seconds": seconds,
    **totals,
    "errors": errors[:10],
    "error_count": len(errors),
    "p50_ms": pct(lat, 50),
    "p99_ms": pct(lat, 99),
    "max_ms": max(lat) if lat else None,
})
