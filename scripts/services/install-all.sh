#!/usr/bin/env bash
# Builds every integration-test service once per machine (cached under ~/.cache/mcp-v8/bin) and
# prints the KEY=path lines of each. Safe to re-run: a warm cache answers in seconds.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
set -euo pipefail
for svc in nats opa s3 kube helm node; do
  start=$(date +%s)
  bash "$here/install-$svc.sh"
  echo "[services] $svc ready in $(( $(date +%s) - start ))s" >&2
done
