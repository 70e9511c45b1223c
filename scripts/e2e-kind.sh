#!/usr/bin/env bash
# kind end-to-end: build both images, create a kind cluster, load the images, start NATS
# (JetStream) and MinIO in it from test/e2e/kind/, install the chart with one tenant namespace,
# and run the MCP end-to-end suite (`npm run test:e2e`) against the gateway Service through a
# port-forward, as that tenant's ServiceAccount. Needs docker, kind, kubectl and helm; without a
# Docker engine or kind it says so in one line and exits 0 (this is the case on the development
# machines).
#
# Env: KIND_CLUSTER, E2E_NAMESPACE (release), E2E_IMAGE_TAG, E2E_PORT, E2E_KEEP_CLUSTER=1 (keep
# the cluster for debugging), E2E_HELM_ARGS (extra helm flags).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

CLUSTER="${KIND_CLUSTER:-mcp-v8-e2e}"
NAMESPACE="${E2E_NAMESPACE:-mcp-v8-system}"
TAG="${E2E_IMAGE_TAG:-e2e}"
GATEWAY_IMAGE=mcp-v8-gateway RUNNER_IMAGE=mcp-v8-runner
LOCAL_PORT="${E2E_PORT:-18080}"
# NATS and MinIO live here; the manifests in test/e2e/kind/ name each other by Service name.
DEPS_NAMESPACE=mcp-v8-e2e-deps
# The tenant the suite acts as: its ServiceAccount's token is the MCP bearer token.
TENANT_NAMESPACE=e2e-tenant TENANT_SA=agent
# Must match test/e2e/kind/minio.yaml and minio-bucket.yaml.
S3_SECRET=mcp-v8-e2e-s3 BUCKET=mcp-v8-heaps
MANIFESTS="$root/test/e2e/kind"

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1 || ! command -v kind >/dev/null 2>&1; then
  echo "e2e-kind: skipped (needs a running Docker engine and kind; none here)"
  exit 0
fi
for tool in kubectl helm curl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "e2e-kind: $tool not found" >&2; exit 1; }
done

log() { printf '[e2e-kind] %s\n' "$*" >&2; }
# `kubectl apply` of a generated object, so reruns against a kept cluster are idempotent.
apply_generated() { kubectl "$@" --dry-run=client -o yaml | kubectl apply -f - >/dev/null; }

pf=''
cleanup() {
  local rc=$?
  [ -z "$pf" ] || kill "$pf" 2>/dev/null || true
  if [ "$rc" -ne 0 ] && kubectl cluster-info --context "kind-$CLUSTER" >/dev/null 2>&1; then
    # What a failed CI run needs to be understood without the cluster.
    log "failed (exit $rc); cluster state:"
    kubectl get pods -A -o wide >&2 || true
    kubectl get executions -A >&2 || true
    for d in gateway controller; do
      kubectl -n "$NAMESPACE" logs "deploy/mcp-v8-$d" --tail 200 >&2 || true
    done
  fi
  # Delete the cluster unless asked to keep it for debugging.
  [ "${E2E_KEEP_CLUSTER:-}" = 1 ] || kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT

log "building images"
docker build -f Dockerfile.gateway -t "$GATEWAY_IMAGE:$TAG" .
docker build -f Dockerfile.runner -t "$RUNNER_IMAGE:$TAG" .

if ! kind get clusters | grep -qx "$CLUSTER"; then
  log "creating kind cluster $CLUSTER"
  kind create cluster --name "$CLUSTER" --wait 120s
fi

log "loading images"
kind load docker-image --name "$CLUSTER" "$GATEWAY_IMAGE:$TAG" "$RUNNER_IMAGE:$TAG"

for ns in "$DEPS_NAMESPACE" "$NAMESPACE" "$TENANT_NAMESPACE"; do apply_generated create namespace "$ns"; done

# S3 keys: MinIO's root keys and the chart's credentials Secret are the same pair. A kept
# cluster keeps its keys (MinIO already runs with them).
if kubectl -n "$DEPS_NAMESPACE" get secret "$S3_SECRET" >/dev/null 2>&1; then
  access_key="$(kubectl -n "$DEPS_NAMESPACE" get secret "$S3_SECRET" -o jsonpath='{.data.AWS_ACCESS_KEY_ID}' | base64 -d)"
  secret_key="$(kubectl -n "$DEPS_NAMESPACE" get secret "$S3_SECRET" -o jsonpath='{.data.AWS_SECRET_ACCESS_KEY}' | base64 -d)"
else
  access_key="e2e$(od -An -tx1 -N6 /dev/urandom | tr -d ' \n')"
  secret_key="$(od -An -tx1 -N20 /dev/urandom | tr -d ' \n')"
fi
for ns in "$DEPS_NAMESPACE" "$NAMESPACE"; do
  apply_generated -n "$ns" create secret generic "$S3_SECRET" \
    --from-literal=AWS_ACCESS_KEY_ID="$access_key" --from-literal=AWS_SECRET_ACCESS_KEY="$secret_key"
done

log "starting NATS (JetStream) and MinIO in $DEPS_NAMESPACE"
kubectl -n "$DEPS_NAMESPACE" apply -f "$MANIFESTS/nats.yaml" -f "$MANIFESTS/minio.yaml" >/dev/null
kubectl -n "$DEPS_NAMESPACE" rollout status deployment/nats --timeout 300s
kubectl -n "$DEPS_NAMESPACE" rollout status deployment/minio --timeout 300s
# A Job's pod template is immutable: recreate it on a kept cluster.
kubectl -n "$DEPS_NAMESPACE" delete job minio-bucket --ignore-not-found >/dev/null
kubectl -n "$DEPS_NAMESPACE" apply -f "$MANIFESTS/minio-bucket.yaml" >/dev/null
if ! kubectl -n "$DEPS_NAMESPACE" wait --for=condition=complete job/minio-bucket --timeout 180s; then
  kubectl -n "$DEPS_NAMESPACE" logs job/minio-bucket >&2 || true
  log "creating bucket $BUCKET failed"
  exit 1
fi

# The tenant namespace must exist before the chart binds its RoleBindings there.
apply_generated -n "$TENANT_NAMESPACE" create serviceaccount "$TENANT_SA"

log "installing the chart"
# shellcheck disable=SC2086
helm upgrade --install mcp-v8 charts/mcp-v8 --namespace "$NAMESPACE" --create-namespace --wait \
  --timeout 5m \
  --set image.gateway.repository="$GATEWAY_IMAGE" --set image.gateway.tag="$TAG" \
  --set image.runner.repository="$RUNNER_IMAGE" --set image.runner.tag="$TAG" \
  --set image.pullPolicy=Never \
  --set nats.url="nats://nats.$DEPS_NAMESPACE.svc:4222" \
  --set s3.endpoint="http://minio.$DEPS_NAMESPACE.svc:9000" --set s3.bucket="$BUCKET" \
  --set s3.forcePathStyle=true --set s3.credentialsSecret.name="$S3_SECRET" \
  --set-json "tenants=[{\"namespace\":\"$TENANT_NAMESPACE\",\"serviceAccounts\":[\"$TENANT_SA\"]}]" \
  ${E2E_HELM_ARGS:-}

token="$(kubectl -n "$TENANT_NAMESPACE" create token "$TENANT_SA" --duration 1h)"

log "port-forwarding the gateway Service to 127.0.0.1:$LOCAL_PORT"
kubectl -n "$NAMESPACE" port-forward svc/mcp-v8-gateway "$LOCAL_PORT:3000" >/dev/null &
pf=$!
healthy=''
for _ in $(seq 100); do
  if curl -fsS "http://127.0.0.1:$LOCAL_PORT/healthz" >/dev/null 2>&1; then healthy=1; break; fi
  sleep 0.2
done
[ -n "$healthy" ] || { log "the gateway did not answer /healthz through the port-forward within 20s"; exit 1; }

log "running the MCP end-to-end suite as $TENANT_NAMESPACE/$TENANT_SA"
MCP_V8_E2E_URL="http://127.0.0.1:$LOCAL_PORT" MCP_V8_E2E_TOKEN="$token" npm run test:e2e
