"""Slowloris: N connections that trickle 1 byte every --interval-ms and never end a line.

    python3 slowloris.py PORT N [--interval-ms 100] [--max-s 10]

Opens the N connections at once (non-blocking), prints "opened <n>", then sends one
byte ("a") on each every interval. A connection is cut when the server closes or resets
it (seen by poll, or by a send that fails). Stops when all are cut, or after --max-s.
Prints {"n", "connected", "connect_failed", "cut", "never_cut", "got_bytes", "max_cut_s",
"p50_cut_s", "min_cut_s"}: cut times run from each connection's own connect.
"""
import errno
import selectors
import socket
import sys

from _common import HOST, arg, now, pct, result, say

port = int(sys.argv[1])
n = int(sys.argv[2])
interval = arg("interval-ms", 100.0, float) / 1000.0
max_s = arg("max-s", 10.0, float)

sel = selectors.DefaultSelector()
pending = {}  # connecting sockets -> start
alive = {}  # socket -> connect time
cut = []
connect_failed = 0
got_bytes = 0

for _ in range(n):
    s = socket.socket()
    s.setblocking(False)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    err = s.connect_ex((HOST, port))
    if err not in (0, errno.EINPROGRESS):
        connect_failed += 1
        s.close()
        continue
    pending[s] = now()
    sel.register(s, selectors.EVENT_WRITE)

deadline = now() + max_s
while pending and now() < deadline:
    for key, _ in sel.select(0.5):
        s = key.fileobj
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        del pending[s]
        if err:
            connect_failed += 1
            sel.unregister(s)
            s.close()
            continue
        alive[s] = now()
        sel.modify(s, selectors.EVENT_READ)
for s in list(pending):
    connect_failed += 1
    sel.unregister(s)
    s.close()
say("opened %d" % len(alive))


def gone(s):
    cut.append(now() - alive.pop(s))
    sel.unregister(s)
    s.close()


connected = len(alive)
next_tick = now()
while alive and now() < deadline:
    if now() >= next_tick:
        for s in list(alive):
            try:
                s.send(b"a")
            except BlockingIOError:
                pass
            except OSError:
                gone(s)
        next_tick += interval
    for key, _ in sel.select(max(0.0, next_tick - now())):
        s = key.fileobj
        if s not in alive:
            continue
        try:
            data = s.recv(4096)
        except BlockingIOError:
            continue
        except OSError:
            gone(s)
            continue
        if data:
            got_bytes += len(data)
        else:
            gone(s)

never_cut = len(alive)
for s in list(alive):
    s.close()
result({
    "n": n,
    "connected": connected,
    "connect_failed": connect_failed,
    "cut": len(cut),
    "never_cut": never_cut,
    "got_bytes": got_bytes,
    "max_cut_s": max(cut) if cut else None,
    "p50_cut_s": pct(cut, 50),
    "min_cut_s": min(cut) if cut else None,
})
