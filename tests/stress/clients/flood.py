"""Flood: N connections opened at once, each sending one line.

    python3 flood.py PORT N [--timeout 15]

Each connection sends "flood <i>\\n" as soon as it is connected, then reads until a whole
line or the end. Outcomes: "echo" (its own line came back), "rejected" (a line starting
with "ERR busy" came back), "closed" (the end, or a reset, with no line), "hang"
(nothing decided within --timeout s of the start), "connect_failed".
Prints {"n", "echo", "rejected", "closed", "hang", "connect_failed", "other",
"reject_lines", "max_s"}.
"""
import errno
import selectors
import socket
import sys

from _common import HOST, arg, now, result

port = int(sys.argv[1])
n = int(sys.argv[2])
timeout = arg("timeout", 15.0, float)

sel = selectors.DefaultSelector()
state = {}  # socket -> [index, buffer, connected]
outcome = {"echo": 0, "rejected": 0, "closed": 0, "hang": 0, "connect_failed": 0, "other": 0}
reject_lines = {}
times = []
start = now()


def done(s, what, line=None):
    outcome[what] += 1
    if what == "rejected":
        reject_lines[line] = reject_lines.get(line, 0) + 1
    times.append(now() - start)
    sel.unregister(s)
    s.close()
    del state[s]


for i in range(n):
    s = socket.socket()
    s.setblocking(False)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    err = s.connect_ex((HOST, port))
    if err not in (0, errno.EINPROGRESS):
        outcome["connect_failed"] += 1
        s.close()
        continue
    state[s] = [i, b"", False]
    sel.register(s, selectors.EVENT_WRITE)

while state and now() - start < timeout:
    for key, ev in sel.select(0.2):
        s = key.fileobj
        st = state.get(s)
        if st is None:
            continue
        if not st[2]:
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                done(s, "connect_failed")
                continue
            st[2] = True
            try:
                s.send(b"flood %d\n" % st[0])
            except OSError:
                done(s, "closed")
                continue
            sel.modify(s, selectors.EVENT_READ)
            continue
        try:
            data = s.recv(4096)
        except BlockingIOError:
            continue
        except OSError:
            done(s, "closed")
            continue
        if not data:
            done(s, "closed" if not st[1] else "other")
            continue
        st[1] += data
        if b"\n" in st[1]:
            line = st[1].split(b"\n", 1)[0]
            if line == b"flood %d" % st[0]:
                done(s, "echo")
            elif line.startswith(b"ERR busy"):
                done(s, "rejected", line.decode())
            else:
                done(s, "other", line.decode(errors="replace"))

outcome["hang"] += len(state)
for s in list(state):
    s.close()
result({"n": n, **outcome, "reject_lines": reject_lines, "max_s": max(times) if times else None})
