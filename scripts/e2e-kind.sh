#!/usr/bin/env bash
# kind end-to-end: build both images, create a kind cluster, load the images, install the chart
# and run the MCP end-to-end suite (`npm run test:e2e`) against the gateway Service through a
# port-forward. Needs docker, kind, kubectl and helm; without a Docker engine or kind it says
# so in one line and exits 0 (this is the case on the development machines).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

CLUSTER="${KIND_CLUSTER:-mcp-v8-e2e}"
NAMESPACE="${E2E_NAMESPACE:-mcp-v8-system}"
TAG="${E2E_IMAGE_TAG:-e2e}"
GATEWAY_IMAGE=mcp-v8-gateway RUNNER_IMAGE=mcp-v8-runner
LOCAL_PORT="${E2E_PORT:-18080}"

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1 || ! command -v kind >/dev/null 2>&1; then
  echo "e2e-kind: skipped (needs a running Docker engine and kind; none here)"
  exit 0
fi
for tool in kubectl helm; do
  command -v "$tool" >/dev/null 2>&1 || { echo "e2e-kind: $tool not found" >&2; exit 1; }
done

log() { printf '[e2e-kind] %s\n' "$*" >&2; }

log "building images"
docker build -f Dockerfile.gateway -t "$GATEWAY_IMAGE:$TAG" .
docker build -f Dockerfile.runner -t "$RUNNER_IMAGE:$TAG" .

if ! kind get clusters | grep -qx "$CLUSTER"; then
  log "creating kind cluster $CLUSTER"
  kind create cluster --name "$CLUSTER" --wait 120s
fi
# Delete the cluster on exit unless asked to keep it for debugging.
[ "${E2E_KEEP_CLUSTER:-}" = 1 ] || trap 'kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true' EXIT

log "loading images"
kind load docker-image --name "$CLUSTER" "$GATEWAY_IMAGE:$TAG" "$RUNNER_IMAGE:$TAG"

# NATS and S3 are the cluster's own to provide; E2E_HELM_ARGS passes their addresses, e.g.
#   --set nats.url=nats://nats.nats:4222 --set s3.endpoint=http://minio.minio:9000
log "installing the chart"
# shellcheck disable=SC2086
helm upgrade --install mcp-v8 charts/mcp-v8 --namespace "$NAMESPACE" --create-namespace --wait \
  --timeout 5m \
  --set image.gateway.repository="$GATEWAY_IMAGE" --set image.gateway.tag="$TAG" \
  --set image.runner.repository="$RUNNER_IMAGE" --set image.runner.tag="$TAG" \
  --set image.pullPolicy=Never ${E2E_HELM_ARGS:-}

log "port-forwarding the gateway Service to 127.0.0.1:$LOCAL_PORT"
kubectl -n "$NAMESPACE" port-forward svc/mcp-v8-gateway "$LOCAL_PORT:3000" >/dev/null &
pf=$!
trap 'kill "$pf" 2>/dev/null || true; [ "${E2E_KEEP_CLUSTER:-}" = 1 ] || kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$LOCAL_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done

log "running the MCP end-to-end suite"
MCP_V8_E2E_URL="http://127.0.0.1:$LOCAL_PORT" npm run test:e2e
