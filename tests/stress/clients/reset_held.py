"""A reset storm on accepted connections: N connections, in batches, each sends half a
line and is reset (SO_LINGER 0) once the server has had time to accept it and read.

    python3 reset_held.py PORT N [--batch 200] [--hold-ms 50]

tests/fixtures/reset_storm.py resets each connection at once, so most die in the
kernel's accept queue (the server counts them as aborted accepts). Here each batch is
connected, sends 2 bytes of a line ("\\x16\\x03", no LF: half a frame), waits --hold-ms
(the server accepts it, admits it and buffers the half frame), and is then reset, so
the reset reaches live connections. Prints {"n", "connected", "failed", "seconds"}.
"""
import socket
import sys
import time

from _common import HOST, LINGER_0, arg, now, result

port = int(sys.argv[1])
n = int(sys.argv[2])
batch = arg("batch", 200, int)
hold = arg("hold-ms", 50.0, float) / 1000.0

connected = 0
failed = 0
start = now()
left = n
while left > 0:
    socks = []
    for _ in range(min(batch, left)):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_0)
        s.settimeout(5)
        try:
            s.connect((HOST, port))
            s.send(b"\x16\x03")
            socks.append(s)
            connected += 1
        except OSError:
            failed += 1
            s.close()
    left -= batch
    time.sleep(hold)
    for s in socks:
        s.close()
result({"n": n, "connected": connected, "failed": failed, "seconds": now() - start})
