"""Fuzz over sockets: valid frames, garbage, truncated and over-long frames, sent in random
chunks down to 1 byte, to an echo server; each reply checked against a model decoder.

    python3 fuzz.py PORT --framer lines|length|varint [--inputs 10000] [--seed 1]
                    [--concurrency 32] [--max-s 120]

The server's framer (tests/stress/server.ts --scenario fuzz) is lines({ encoding: null,
maxLength: 4096 }), or lengthPrefixed({ size: 4 | "varint", maxLength: 65536 }).

Each case is one connection: a stream of pieces (valid frames; in about a quarter of the
cases also one bad piece followed by more frames), sent in chunks with TCP_NODELAY,
interleaved over --concurrency connections: a fifth of the cases (those up to 2 KiB)
byte by byte, two fifths (up to 32 KiB) in pieces of 1 to 64 bytes, the rest in pieces
of 1 byte to 16 KiB (a third of them 1 byte);
then the client half-closes and reads until the server ends the connection.

The model (below) decodes the same stream as the framer documents it and says what must
come back (the frames, re-encoded) and how the connection must end: "clean", or the
framer's typed error. A clean case must get exactly its frames back, then the end of
the stream. A case with an error must get a prefix of the frames before the error (the
replies queued when the server aborts may be dropped, never altered) and then be closed.
An input is one piece; cases are made until --inputs pieces have been sent.
Prints {"inputs", "cases", "expect" (ends by kind, for the server's onClose tally),
"ok", "failed", "failures" (a few), "hang", "bytes_out", "bytes_in", "chunks"}.
"""
import errno
import random
import selectors
import socket
import sys

from _common import HOST, arg, now, result

port = int(sys.argv[1])
framer = arg("framer", "lines")
target = arg("inputs", 10000, int)
seed = arg("seed", 1, int)
concurrency = arg("concurrency", 32, int)
max_s = arg("max-s", 120.0, float)
rng = random.Random(seed)

LINE_MAX = 4096
LEN_MAX = 65536
MAX = LINE_MAX if framer == "lines" else LEN_MAX


# ------------------------------------------------------------------ the model decoders


def model_lines(data):
    """lines({ encoding: null, maxLength: 4096 }), eof "emit"; the echo re-encodes."""
    out = []
    i = 0
    while True:
        nl = data.find(b"\n", i)
        if nl < 0:
            rest = data[i:]
            if not rest:
                return out, "clean"
            if len(rest) > LINE_MAX:
                return out, "FrameTooLongError"
            if rest.endswith(b"\r"):
                return out, "TypeError"  # the encoder refuses it; never generated
            out.append(rest + b"\n")
            return out, "clean"
        line = data[i:nl]
        if line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > LINE_MAX:
            return out, "FrameTooLongError"
        if line.endswith(b"\r"):
            return out, "TypeError"  # never generated
        out.append(line + b"\n")
        i = nl + 1


def model_length(data, varint):
    """lengthPrefixed({ size: 4 or "varint", maxLength: 65536 }), eof "error"."""
    out = []
    i = 0
    n = len(data)
    while True:
        if i >= n:
            return out, "clean"
        if varint:
            val = 0
            j = 0
            while True:
                if i + j >= n:
                    return out, "CorruptFrameError"  # the stream ended inside the varint
                b = data[i + j]
                if j == 7 and b > 0x0F:
                    return out, "CorruptFrameError"  # over 2^53 - 1
                val += (b & 0x7F) << (7 * j)
                if b < 0x80:
                    if b == 0 and j > 0:
                        return out, "CorruptFrameError"  # non-minimal
                    break
                j += 1
            hl = j + 1
        else:
            if i + 4 > n:
                return out, "IncompleteFrameError"
            val = int.from_bytes(data[i:i + 4], "big")
            hl = 4
        if val > LEN_MAX:
            return out, "FrameTooLongError"
        if i + hl + val > n:
            return out, "IncompleteFrameError"
        out.append(data[i:i + hl + val])
        i += hl + val


def model(data):
    if framer == "lines":
        return model_lines(data)
    return model_length(data, framer == "varint")


# ------------------------------------------------------------------ the generators


def size():
    r = rng.random()
    if r < 0.40:
        return rng.randint(0, 16)
    if r < 0.70:
        return rng.randint(17, 200)
    if r < 0.90:
        return rng.randint(201, 2000)
    if r < 0.98:
        return rng.randint(2001, MAX - 1)
    return MAX  # the boundary: the longest frame allowed


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def header(n):
    return varint(n) if framer == "varint" else n.to_bytes(4, "big")


def no_lf(n):
    b = bytearray(rng.randbytes(n))
    for k in range(n):
        if b[k] == 10:
            b[k] = 11
    return bytes(b)


def valid_frame():
    n = size()
    if framer == "lines":
        content = no_lf(n)
        if content.endswith(b"\r"):
            content = content[:-1] + b"x"
        return content + (b"\r\n" if rng.random() < 0.2 else b"\n")
    return header(n) + rng.randbytes(n)


def bad_piece():
    """Garbage, an over-long frame, or a truncated one (then nothing more is sent)."""
    r = rng.random()
    if framer == "lines":
        if r < 0.8:  # over-long: no LF within the limit
            return no_lf(rng.randint(LINE_MAX + 2, 2 * LINE_MAX)) + b"\n", True
        content = no_lf(rng.randint(1, 100)).rstrip(b"\r") or b"x"
        return content, False  # an unterminated last line: emitted at the end (valid)
    if r < 0.3:  # garbage
        return rng.randbytes(rng.randint(1, 300)), True
    if r < 0.55:  # over-long
        n = rng.randint(LEN_MAX + 1, 0xFFFFFFFF if framer == "length" else 1 << 40)
        return header(n) + rng.randbytes(rng.randint(0, 100)), True
    if r < 0.8:  # truncated payload
        n = rng.randint(1, 3000)
        return header(n) + rng.randbytes(rng.randint(0, n - 1)), False
    if framer == "varint":
        return rng.choice([
            b"\x80",  # truncated varint
            b"\x80\x00",  # non-minimal
            b"\xff" * 7 + b"\x7f",  # over 2^53 - 1
            b"\x81\x80\x80",  # truncated, longer
        ]), rng.random() < 0.5
    return rng.randbytes(rng.randint(1, 3)), False  # truncated header


def make_case():
    pieces = [valid_frame() for _ in range(rng.randint(0, 30))]
    if rng.random() < 0.25:
        bad, more = bad_piece()
        pieces.append(bad)
        if more:
            pieces += [valid_frame() for _ in range(rng.randint(0, 5))]
    data = b"".join(pieces)
    frames, end = model(data)
    return len(pieces), data, b"".join(frames), end


def chunking(length):
    """How a case is cut: byte by byte (short cases), small pieces, or anything."""
    r = rng.random()
    if r < 0.2 and length <= 2048:
        return lambda: 1
    if r < 0.6 and length <= 32768:
        return lambda: rng.randint(1, 64)

    def mixed():
        r = rng.random()
        if r < 0.35:
            return 1
        if r < 0.65:
            return rng.randint(2, 16)
        if r < 0.90:
            return rng.randint(17, 1024)
        return rng.randint(1025, 16384)

    return mixed


# ------------------------------------------------------------------ the run

sel = selectors.DefaultSelector()
inputs = 0
cases = 0
expect = {}
ok = 0
failures = []
failed = 0
hang = 0
bytes_out = 0
bytes_in = 0
chunks = 0
start = now()


class Case:
    def __init__(self):
        global inputs, cases
        n, self.data, self.echo, self.end = make_case()
        inputs += n
        cases += 1
        expect[self.end] = expect.get(self.end, 0) + 1
        self.chunk = chunking(len(self.data))
        self.at = 0
        self.got = bytearray()
        self.connected = False
        self.sending = True
        self.started = now()
        s = socket.socket()
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = s.connect_ex((HOST, port))
        if err not in (0, errno.EINPROGRESS):
            raise OSError(err, "connect")
        self.sock = s
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, self)

    def on_write(self):
        global bytes_out, chunks
        if not self.connected:
            err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                return self.finish("connect failed: %s" % errno.errorcode.get(err, err))
            self.connected = True
        n = self.chunk()
        try:
            sent = self.sock.send(self.data[self.at:self.at + n])
        except BlockingIOError:
            return
        except OSError:
            sent = None
        if sent is None or self.at + sent >= len(self.data):
            if sent is not None:
                self.at += sent
                bytes_out += sent
                chunks += 1
            self.sending = False
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            sel.modify(self.sock, selectors.EVENT_READ, self)
            return
        self.at += sent
        bytes_out += sent
        chunks += 1

    def on_read(self):
        global bytes_in
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as e:
            return self.finish(None, reset=e)
        if not data:
            return self.finish(None)
        bytes_in += len(data)
        self.got += data
        if not self.echo.startswith(self.got):
            self.finish("bytes that were not sent back as they should be")

    def finish(self, problem, reset=None):
        global ok, failed
        sel.unregister(self.sock)
        self.sock.close()
        got = bytes(self.got)
        if problem is None:
            if self.end == "clean":
                if reset is not None:
                    problem = "reset (%r) instead of a clean end" % reset
                elif got != self.echo:
                    problem = "clean case: got %d of %d bytes back" % (len(got), len(self.echo))
            elif not self.echo.startswith(got):
                problem = "bytes after the frames before the error"
            elif self.sending:
                pass  # closed while we were still sending: the server stopped reading
        if problem is None:
            ok += 1
        else:
            failed += 1
            if len(failures) < 5:
                failures.append({
                    "problem": problem,
                    "end": self.end,
                    "sent": self.at,
                    "of": len(self.data),
                    "got": len(got),
                    "want": len(self.echo),
                    "head": self.data[:64].hex(),
                })
        open_cases.discard(self)


open_cases = set()
deadline = start + max_s
while (inputs < target or open_cases) and now() < deadline:
    while inputs < target and len(open_cases) < concurrency:
        open_cases.add(Case())
    for key, ev in sel.select(0.5):
        case = key.data
        if case not in open_cases:
            continue
        if ev & selectors.EVENT_READ:
            case.on_read()
        if case in open_cases and case.sending and ev & selectors.EVENT_WRITE:
            case.on_write()
    for case in list(open_cases):
        if now() - case.started > 30:
            case.finish("no end within 30 s")

hang = len(open_cases)
for case in list(open_cases):
    case.sock.close()
result({
    "framer": framer,
    "inputs": inputs,
    "cases": cases,
    "expect": expect,
    "ok": ok,
    "failed": failed,
    "hang": hang,
    "failures": failures,
    "bytes_out": bytes_out,
    "bytes_in": bytes_in,
    "chunks": chunks,
    "seconds": now() - start,
})
