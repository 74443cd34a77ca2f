"""PROXY header abuse against the three listeners of tests/stress/server.ts --scenario proxy.

    python3 proxy_abuse.py TRUSTED UNTRUSTED PLAIN [--silent 20] [--long-lines 20]

TRUSTED requires a header from 127.0.0.1 (timeout 3 s, headers up to 65 551 bytes);
UNTRUSTED trusts only 10.0.0.0/8; PLAIN has no PROXY protocol. Every listener answers a
line with "<remote address> <line>".

1. --silent connections to TRUSTED send a v2 header that declares 65 535 bytes of
   addresses, then nothing: each must be cut, and not before the header timeout.
2. One connection to TRUSTED sends "PROXY " and 100 bytes without CRLF (106 bytes): it
   must still be open after 300 ms; one more byte (the 107th) must get it closed. Then
   --long-lines connections send a whole 10 KB v1 line without CRLF at once.
3. Headers that claim the client is 203.0.113.9, to UNTRUSTED (v1, v2, and v1 one byte
   at a time) and to PLAIN (v1): never honoured: UNTRUSTED refuses the connection,
   PLAIN treats the line as data and answers with the real address. A client without a
   header is served on UNTRUSTED, and a header on TRUSTED is honoured (the control).
Prints one JSON object with the figures of each part.
"""
import select
import socket
import struct
import sys
import threading
import time

from _common import HOST, arg, now, result

trusted, untrusted, plain = (int(x) for x in sys.argv[1:4])
silent_n = arg("silent", 20, int)
long_n = arg("long-lines", 20, int)
SPOOF = "203.0.113.9"
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_header(payload_len, body=b""):
    # version 2, PROXY command; AF_INET, STREAM
    return V2_SIG + b"\x21\x11" + struct.pack(">H", payload_len) + body


def v2_inet(src, dst, sport, dport):
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(">HH", sport, dport)
    return v2_header(len(body), body)


def v1(port):
    return b"PROXY TCP4 %s 127.0.0.1 40000 %d\r\n" % (SPOOF.encode(), port)


def connect(port):
    s = socket.create_connection((HOST, port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def wait_end(s, limit):
    """Seconds until the peer ends s (EOF or reset), or None if it did not within limit.
    Returns (seconds, bytes read meanwhile)."""
    t0 = now()
    got = b""
    while now() - t0 < limit:
        r, _, _ = select.select([s], [], [], max(0.0, limit - (now() - t0)))
        if not r:
            break
        try:
            part = s.recv(65536)
        except OSError:
            return now() - t0, got
        if not part:
            return now() - t0, got
        got += part
    return None, got


def still_open(s, wait):
    r, _, _ = select.select([s], [], [], wait)
    if not r:
        return True
    try:
        return bool(s.recv(1, socket.MSG_PEEK))
    except OSError:
        return False


out = {}

# 1. v2 headers that declare 65 535 bytes, then silence (in threads, at once).
silent_times = []


def silent_one():
    s = connect(trusted)
    s.sendall(v2_header(65535, b"\x7f\x00\x00\x01"))
    t, _ = wait_end(s, 3.0 + 5.0)
    silent_times.append(t)
    s.close()


threads = [threading.Thread(target=silent_one) for _ in range(silent_n)]
for t in threads:
    t.start()

# 2. A v1 line with no CRLF: byte-exact, then whole 10 KB lines.
s = connect(trusted)
s.sendall(b"PROXY " + b"A" * 100)
open_at_106 = still_open(s, 0.3)
t0 = now()
try:
    s.sendall(b"A")
    closed_after, _ = wait_end(s, 2.0)
except OSError:
    closed_after = now() - t0
try:  # the rest of the 10 KB: the server has stopped reading
    s.sendall(b"A" * (10 * 1024 - 107))
except OSError:
    pass
s.close()
out["v1_open_at_106"] = open_at_106
out["v1_closed_after_107th_s"] = closed_after

long_times = []
for _ in range(long_n):
    s = connect(trusted)
    t0 = now()
    try:
        s.sendall(b"PROXY " + b"B" * (10 * 1024 - 6))
        t, _ = wait_end(s, 2.5)
    except OSError:
        t = now() - t0
    long_times.append(t)
    s.close()
out["v1_long_lines"] = long_n
out["v1_long_closed"] = sum(1 for t in long_times if t is not None)
out["v1_long_max_s"] = max((t for t in long_times if t is not None), default=None)

# 3. Headers from an untrusted source are never honoured.
honoured = []
untrusted_cases = {}


def try_untrusted(name, chunks, port):
    s = connect(port)
    try:
        for c in chunks:
            s.sendall(c)
            if len(chunks) > 1:
                time.sleep(0.002)
        t, got = wait_end(s, 2.0)
    except OSError:
        t, got = 0.0, b""
    s.close()
    untrusted_cases[name] = {"closed": t is not None, "reply": got.decode(errors="replace")}
    if SPOOF.encode() in got.split(b" ", 1)[0]:
        honoured.append(name)


hello = b"hello\n"
try_untrusted("untrusted_v1", [v1(untrusted) + hello], untrusted)
try_untrusted("untrusted_v2", [v2_inet(SPOOF, "127.0.0.1", 40000, untrusted) + hello], untrusted)
bytewise = v1(untrusted) + hello
try_untrusted("untrusted_v1_bytewise", [bytewise[i:i + 1] for i in range(len(bytewise))],
              untrusted)
# PLAIN: the header is a line like any other; the server must answer it and stay open.
s = connect(plain)
s.sendall(v1(plain).replace(b"\r\n", b"\n"))
reply = s.makefile("rb").readline().decode(errors="replace").strip()
s.close()
untrusted_cases["plain_v1"] = {"reply": reply}
if reply.startswith(SPOOF):
    honoured.append("plain_v1")
s = connect(untrusted)
s.sendall(hello)
untrusted_cases["untrusted_no_header"] = {"reply": s.makefile("rb").readline().decode().strip()}
s.close()
s = connect(trusted)
s.sendall(v1(trusted) + hello)
untrusted_cases["trusted_v1"] = {"reply": s.makefile("rb").readline().decode().strip()}
s.close()

for t in threads:
    t.join()
out["silent"] = silent_n
out["silent_cut"] = sum(1 for t in silent_times if t is not None)
cut = [t for t in silent_times if t is not None]
out["silent_min_s"] = min(cut) if cut else None
out["silent_max_s"] = max(cut) if cut else None
out["cases"] = untrusted_cases
out["honoured"] = honoured
result(out)
