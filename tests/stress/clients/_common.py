"""What the stress clients share (Python 3 stdlib only). Every client talks to 127.0.0.1
only, is bounded in count and time, and prints its result as one JSON line at the end
(progress lines before it, when the runner waits for one, start with a word)."""
import json
import socket
import struct
import sys
import time

HOST = "127.0.0.1"
LINGER_0 = struct.pack("ii", 1, 0)
# tcpi_state values (include/net/tcp_states.h)
TCP_ESTABLISHED = 1


def arg(name, default=None, cast=str):
    """The value after --name on the command line, or default."""
    argv = sys.argv
    if "--" + name in argv:
        return cast(argv[argv.index("--" + name) + 1])
    return default


def say(line):
    """A progress line for the runner."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def result(obj):
    """The client's result: one JSON line."""
    say(json.dumps(obj))


def pct(values, p):
    """The p-th percentile (nearest rank) of values, or None."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def tcp_state(sock):
    """The kernel's TCP state of sock (1 = established), without reading from it."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
        return info[0]
    except OSError:
        return -1


def now():
    return time.monotonic()


class LineClient:
    """A blocking line client: request(line) sends it and waits for the reply line."""

    def __init__(self, port, timeout=5.0, wrap=None):
        s = socket.create_connection((HOST, port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if wrap:
            s = wrap(s)
        self.sock = s
        self.buf = b""
        self.sent = 0
        self.received = 0

    def send(self, data):
        self.sock.sendall(data)
        self.sent += len(data)

    def read_line(self):
        while b"\n" not in self.buf:
            part = self.sock.recv(65536)
            if not part:
                raise ConnectionError("closed by the server (%d bytes pending)" % len(self.buf))
            self.received += len(part)
            self.buf += part
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def request(self, line):
        self.send(line + b"\n")
        return self.read_line()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
