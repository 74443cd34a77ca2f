"""A client that asks for replies totalling --bytes and never reads one.

    python3 nonreader.py PORT [--mode flood|pipelined|awaited] [--bytes 1073741824] [--max-s 30]

- flood: one request, "FLOOD <bytes>": the server sends 60 000-byte replies in a loop
  without waiting (it ignores backpressure);
- pipelined: one "BIG" line per 60 000-byte reply, all at once: the server's hook sends
  without waiting (reading pauses while replies wait);
- awaited: the same with "BIGW": the hook returns the send (it waits for the queue).
The client sends as fast as the server takes the requests and never calls recv(). The
end of the connection is read from the kernel (TCP_INFO state), so nothing is read.
Prints {"mode", "requests", "sent_requests", "ended", "ended_after_s", "state"}.
"""
import selectors
import socket
import sys
import time

from _common import HOST, TCP_ESTABLISHED, arg, now, result, say, tcp_state

REPLY = 60000
port = int(sys.argv[1])
mode = arg("mode", "flood")
total = arg("bytes", 1 << 30, int)
max_s = arg("max-s", 30.0, float)

requests = -(-total // REPLY)
if mode == "flood":
    line = b"FLOOD %d\n" % total
    requests = 1
else:
    line = b"BIG\n" if mode == "pipelined" else b"BIGW\n"
payload = memoryview(line * requests)
s = socket.create_connection((HOST, port), timeout=5)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.setblocking(False)
say("connected")
sel = selectors.DefaultSelector()
sel.register(s, selectors.EVENT_WRITE)
start = now()
sent = 0
ended = None
while now() - start < max_s:
    if sent < len(payload):
        if sel.select(0.05):
            try:
                sent += s.send(payload[sent:sent + 65536])
            except BlockingIOError:
                pass
            except OSError:
                ended = now() - start
                break
    else:
        time.sleep(0.05)
    st = tcp_state(s)
    if st != TCP_ESTABLISHED:
        ended = now() - start
        break
state = tcp_state(s)
s.close()
result({
    "mode": mode,
    "requests": requests,
    "sent_requests": sent // len(line),
    "ended": ended is not None,
    "ended_after_s": ended,
    "state": state,
})
