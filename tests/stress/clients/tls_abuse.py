"""TLS abuse against the TLS listener of tests/stress/server.ts --scenario tls.

    python3 tls_abuse.py PORT CAFILE [--silent 50] [--random 100] [--flood 500]
                         [--handshake-timeout 2.0]

At once:
- --silent connections connect and never send a ClientHello: how long until the server
  cuts each (it must, after its handshake timeout, where the runtime can). Each waits
  up to the timeout + 5 s, then gives up.
- --random connections send 512 random bytes instead of a ClientHello (the first byte is
  never 0x16, a handshake record): each must be closed.
- --flood clients (threads released together) do a whole TLS handshake, send a line and
  read its echo: a handshake flood.
Prints {"silent", "silent_cut", "silent_min_s", "silent_max_s", "random", "random_closed",
"random_max_s", "flood", "flood_ok", "flood_failed" (a few reasons), "flood_s"}.
"""
import random
import select
import socket
import ssl
import sys
import threading

from _common import HOST, arg, now, result, say

port = int(sys.argv[1])
cafile = sys.argv[2]
silent_n = arg("silent", 50, int)
random_n = arg("random", 100, int)
flood_n = arg("flood", 500, int)
hs_timeout = arg("handshake-timeout", 2.0, float)
rng = random.Random(7)


def wait_end(s, limit):
    t0 = now()
    while now() - t0 < limit:
        r, _, _ = select.select([s], [], [], max(0.0, limit - (now() - t0)))
        if not r:
            break
        try:
            if not s.recv(65536):
                return now() - t0
        except OSError:
            return now() - t0
    return None


lock = threading.Lock()
silent_times = []
random_times = []
flood_ok = [0]
flood_failed = []


def silent_one():
    try:
        s = socket.create_connection((HOST, port), timeout=5)
    except OSError as e:
        with lock:
            silent_times.append(("connect", repr(e)))
        return
    t = wait_end(s, hs_timeout + 5)
    s.close()
    with lock:
        silent_times.append(t)


def random_one(data):
    try:
        s = socket.create_connection((HOST, port), timeout=5)
        s.sendall(data)
        t = wait_end(s, hs_timeout + 5)
    except OSError:
        t = 0.0
    s.close()
    with lock:
        random_times.append(t)


ctx = ssl.create_default_context(cafile=cafile)
go = threading.Event()


def flood_one(i):
    go.wait()
    try:
        raw = socket.create_connection((HOST, port), timeout=30)
        raw.settimeout(30)
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        line = b"handshake %d\n" % i
        s.sendall(line)
        got = b""
        while not got.endswith(b"\n"):
            part = s.recv(4096)
            if not part:
                break
            got += part
        s.close()
        if got == line:
            with lock:
                flood_ok[0] += 1
        else:
            with lock:
                flood_failed.append("got %r" % got[:40])
    except Exception as e:  # noqa: BLE001 - each failure is reported
        with lock:
            flood_failed.append(repr(e)[:120])


threads = [threading.Thread(target=silent_one) for _ in range(silent_n)]
for _ in range(random_n):
    data = bytearray(rng.randbytes(512))
    while data[0] == 0x16:
        data[0] = rng.randrange(256)
    threads.append(threading.Thread(target=random_one, args=(bytes(data),)))
flood = [threading.Thread(target=flood_one, args=(i,)) for i in range(flood_n)]
for t in threads + flood:
    t.start()
say("attacking")
t0 = now()
go.set()
for t in flood:
    t.join()
flood_s = now() - t0
for t in threads:
    t.join()
cut = [t for t in silent_times if isinstance(t, float)]
closed = [t for t in random_times if t is not None]
result({
    "silent": silent_n,
    "silent_cut": len(cut),
    "silent_min_s": min(cut) if cut else None,
    "silent_max_s": max(cut) if cut else None,
    "silent_connect_failed": sum(1 for t in silent_times if isinstance(t, tuple)),
    "random": random_n,
    "random_closed": len(closed),
    "random_max_s": max(closed) if closed else None,
    "flood": flood_n,
    "flood_ok": flood_ok[0],
    "flood_failed": flood_failed[:5],
    "flood_failed_count": len(flood_failed),
    "flood_s": flood_s,
})
