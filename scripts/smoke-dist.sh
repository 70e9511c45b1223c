#!/usr/bin/env bash
# Starts the built entry point once (`dist/cli/main.js`, what the images run) in embedded mode
# over HTTP, runs one cell through the REST API and stops it: a build that cannot start fails
# here, before any image is made from it.
set -euo pipefail
cd "$(dirname "$0")/.."
port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
data="$(mktemp -d)"
MCPV8_TEST_SERVICE=smoke-dist node --no-node-snapshot dist/cli/main.js --http-port "$port" --data-dir "$data" \
  >"$data/server.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 300); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$data/server.log" >&2; echo "dist/cli/main.js exited during start-up" >&2; exit 1; }
  sleep 0.1
done
answer="$(curl -fsS -X POST "http://127.0.0.1:$port/api/exec?wait=30" -H 'content-type: text/plain' --data-binary '6 * 7')"
case "$answer" in
  *'"result":"42"'*) echo "dist/cli/main.js served a cell: $answer" ;;
  *) cat "$data/server.log" >&2; echo "unexpected answer from dist/cli/main.js: $answer" >&2; exit 1 ;;
esac
