"""Drain loses nothing: C clients send numbered requests and record every acknowledgement.

    python3 drain.py PORT ACKED_FILE [--clients 50] [--window 4] [--max-s 60]

Each client (a thread) keeps up to --window requests "REQ <client>-<seq>" in flight on
one connection and reads "ACK <client>-<seq>" lines. When its connection ends (the
server drains), it tries to connect again; a refused connection ends the client. Prints
"running" once every client has had an acknowledgement, and at the end writes the
acknowledged ids to ACKED_FILE (one a line) and prints {"clients", "sent", "acked",
"errors", "ended_by"}. An acknowledgement for an id that was not sent, or sent but
acknowledged out of order, is an error.
"""
import socket
import sys
import threading

from _common import HOST, arg, now, result, say

port = int(sys.argv[1])
acked_file = sys.argv[2]
clients = arg("clients", 50, int)
window = arg("window", 4, int)
max_s = arg("max-s", 60.0, float)

lock = threading.Lock()
acked = []
errors = []
sent_total = [0]
ended_by = {}
first_ack = threading.Barrier(clients + 1)
deadline = now() + max_s


def client(c):
    seq = 0
    announced = False
    while now() < deadline:
        try:
            s = socket.create_connection((HOST, port), timeout=5)
        except OSError as e:
            with lock:
                ended_by[type(e).__name__] = ended_by.get(type(e).__name__, 0) + 1
            break
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(max(0.1, deadline - now()))
        inflight = []
        buf = b""
        try:
            while now() < deadline:
                while len(inflight) < window:
                    seq += 1
                    rid = "%d-%d" % (c, seq)
                    s.sendall(b"REQ %s\n" % rid.encode())
                    inflight.append(rid)
                    with lock:
                        sent_total[0] += 1
                part = s.recv(65536)
                if not part:
                    raise ConnectionError("end of stream")
                buf += part
                while b"\n" in buf:
                    line, _, buf = buf.partition(b"\n")
                    rid = line.decode(errors="replace")[4:]
                    if not line.startswith(b"ACK ") or not inflight or inflight[0] != rid:
                        with lock:
                            errors.append("client %d: %r, expected %r" % (
                                c, line[:60], inflight[:1]))
                        continue
                    inflight.pop(0)
                    with lock:
                        acked.append(rid)
                    if not announced:
                        announced = True
                        threading.Thread(target=first_ack.wait, daemon=True).start()
        except OSError as e:  # the drain: end of stream, or a reset
            with lock:
                name = type(e).__name__
                ended_by[name] = ended_by.get(name, 0) + 1
        finally:
            s.close()
    if not announced:
        threading.Thread(target=first_ack.wait, daemon=True).start()


threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
for t in threads:
    t.start()
try:
    first_ack.wait(timeout=max_s)
    say("running")
except threading.BrokenBarrierError:
    say("running (not every client had an acknowledgement)")
for t in threads:
    t.join()
with open(acked_file, "w") as f:
    f.write("".join(rid + "\n" for rid in acked))
result({
    "clients": clients,
    "sent": sent_total[0],
    "acked": len(acked),
    "errors": errors[:10],
    "error_count": len(errors),
    "ended_by": ended_by,
})
