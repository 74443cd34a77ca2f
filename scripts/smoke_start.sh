#!/usr/bin/env bash
# Starts `npm start` (the echo example on Deno), talks to it from a non-JS client
# (python3's socket module), and stops it by its process group. Exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
setsid npm start -- --port 0 >"$log" 2>&1 &
pid=$!
cleanup() { kill -TERM -- "-$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"; }
trap cleanup EXIT
port=""
for _ in $(seq 1 100); do
  port=$(grep -oE 'on 127\.0\.0\.1:[0-9]+' "$log" | head -n 1 | cut -d: -f2 || true)
  [ -n "$port" ] && break
  sleep 0.2
done
if [ -z "$port" ]; then echo "echo example did not start:"; cat "$log"; exit 1; fi
echo "echo example listening on port $port"
python3 - "$port" <<'PY'
import socket, sys
port = int(sys.argv[1])
with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
    s.sendall(b"Hello, server!")
    got = b""
    while len(got) < 14:
        chunk = s.recv(1024)
        if not chunk:
            break
        got += chunk
    assert got == b"Hello, server!", got
    print("python3 client got:", got.decode())
PY
