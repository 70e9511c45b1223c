#!/usr/bin/env bash
# kind end-to-end: build the gateway and runner images and a FROM-scratch image of the NATS and
# S3 (versitygw) servers (static Go binaries from scripts/services/, the versions the integration
# harness runs), create a kind cluster, load the images (nothing is pulled but kind's node image,
# pinned by digest in kind itself), start NATS (JetStream) and S3 from test/e2e/kind/, create the
# bucket, install the chart with one tenant namespace, check from inside a runner pod that its
# NetworkPolicy keeps it from an address outside the allowed set, and run the end-to-end suites
# (`npm run test:e2e`) against the gateway Service through a port-forward, as that tenant's
# ServiceAccount. Every namespace involved enforces PodSecurity "restricted"; kind's CNI
# (kindnet) enforces the chart's runner NetworkPolicy, which test/e2e/cluster-isolation checks.
#
# Needs docker, kind, kubectl, helm, curl, and Go (to build the two servers once; cached under
# ~/.cache/mcp-v8/bin). Without a Docker engine or kind it says so in one line and exits 0 (the
# development machines), unless E2E_KIND_REQUIRED=1 (CI), where that is a failure.
#
# Env: KIND_CLUSTER, E2E_NAMESPACE (release), E2E_IMAGE_TAG, E2E_PORT (gateway), E2E_S3_PORT,
# E2E_KEEP_CLUSTER=1 (keep the cluster for debugging), E2E_HELM_ARGS (extra helm flags).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

CLUSTER="${KIND_CLUSTER:-mcp-v8-e2e}"
NAMESPACE="${E2E_NAMESPACE:-mcp-v8-system}"
TAG="${E2E_IMAGE_TAG:-e2e}"
GATEWAY_IMAGE=mcp-v8-gateway RUNNER_IMAGE=mcp-v8-runner
# Must match the image test/e2e/kind/nats.yaml and s3.yaml run (imagePullPolicy: Never).
SERVICES_IMAGE=mcp-v8-e2e-services:e2e
LOCAL_PORT="${E2E_PORT:-18080}"
S3_LOCAL_PORT="${E2E_S3_PORT:-18090}"
# NATS and S3 live here; the manifests in test/e2e/kind/ name each other by Service name.
DEPS_NAMESPACE=mcp-v8-e2e-deps
# The tenant the suite acts as: its ServiceAccount's token is the MCP bearer token.
TENANT_NAMESPACE=e2e-tenant TENANT_SA=agent
# Must match test/e2e/kind/s3.yaml.
S3_SECRET=mcp-v8-e2e-s3 BUCKET=mcp-v8-heaps
MANIFESTS="$root/test/e2e/kind"

missing=''
if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then missing='a running Docker engine'; fi
if ! command -v kind >/dev/null 2>&1; then missing="${missing:+$missing and }kind"; fi
if [ -n "$missing" ]; then
  if [ "${E2E_KIND_REQUIRED:-}" = 1 ]; then
    echo "e2e-kind: needs $missing (E2E_KIND_REQUIRED=1)" >&2
    exit 1
  fi
  echo "e2e-kind: skipped (needs $missing; none here)"
  exit 0
fi
for tool in kubectl helm curl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "e2e-kind: $tool not found" >&2; exit 1; }
done

log() { printf '[e2e-kind] %s\n' "$*" >&2; }
# `kubectl apply` of a generated object, so reruns against a kept cluster are idempotent.
apply_generated() { kubectl "$@" --dry-run=client -o yaml | kubectl apply -f - >/dev/null; }
# PodSecurity "restricted": enforced (a violating pod is refused), and warned and audited too.
restrict_namespace() {
  kubectl label --overwrite namespace "$1" \
    pod-security.kubernetes.io/enforce=restricted \
    pod-security.kubernetes.io/warn=restricted \
    pod-security.kubernetes.io/audit=restricted >/dev/null
}
# The last KEY=value line an install script prints.
script_output() { grep "^$2=" <<<"$1" | tail -1 | cut -d= -f2-; }

forwards=()
context_dir=''
cleanup() {
  local rc=$?
  for pid in "${forwards[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -z "$context_dir" ] || rm -rf "$context_dir"
  if [ "$rc" -ne 0 ] && kubectl cluster-info --context "kind-$CLUSTER" >/dev/null 2>&1; then
    # What a failed CI run needs to be understood without the cluster.
    log "failed (exit $rc); cluster state:"
    kubectl get pods -A -o wide >&2 || true
    kubectl get executions,runnerpools -A >&2 || true
    kubectl get events -A --sort-by=.lastTimestamp 2>/dev/null | tail -n 60 >&2 || true
    for d in gateway controller; do
      kubectl -n "$NAMESPACE" logs "deploy/mcp-v8-$d" --tail 200 >&2 || true
    done
    for d in nats s3; do kubectl -n "$DEPS_NAMESPACE" logs "deploy/$d" --tail 50 >&2 || true; done
  fi
  # Delete the cluster unless asked to keep it for debugging.
  [ "${E2E_KEEP_CLUSTER:-}" = 1 ] || kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT

# port_forward NAMESPACE SERVICE LOCAL:REMOTE URL: forwards in the background (stopped on exit)
# and waits until URL answers through it.
port_forward() {
  kubectl -n "$1" port-forward "svc/$2" "$3" >/dev/null &
  forwards+=("$!")
  for _ in $(seq 100); do
    if curl -fsS "$4" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  log "$2 in $1 did not answer $4 through the port-forward within 20s"
  return 1
}

log "building the NATS and S3 servers (cached per machine)"
nats_out="$(bash scripts/services/install-nats.sh)"
s3_out="$(bash scripts/services/install-s3.sh)"
[ "$(script_output "$s3_out" S3_SERVER_KIND)" = versitygw ] ||
  { log "test/e2e/kind/s3.yaml runs versitygw; install-s3.sh built another server"; exit 1; }
context_dir="$(mktemp -d)"
cp "$(script_output "$nats_out" NATS_SERVER)" "$context_dir/nats-server"
cp "$(script_output "$s3_out" S3_SERVER)" "$context_dir/versitygw"

log "building images"
docker build -f "$MANIFESTS/Dockerfile.services" -t "$SERVICES_IMAGE" "$context_dir"
docker build -f Dockerfile.gateway -t "$GATEWAY_IMAGE:$TAG" .
docker build -f Dockerfile.runner -t "$RUNNER_IMAGE:$TAG" .

if ! kind get clusters | grep -qx "$CLUSTER"; then
  log "creating kind cluster $CLUSTER"
  kind create cluster --name "$CLUSTER" --wait 120s
fi

log "loading images"
kind load docker-image --name "$CLUSTER" "$GATEWAY_IMAGE:$TAG" "$RUNNER_IMAGE:$TAG" "$SERVICES_IMAGE"

for ns in "$DEPS_NAMESPACE" "$NAMESPACE" "$TENANT_NAMESPACE"; do
  apply_generated create namespace "$ns"
  restrict_namespace "$ns"
done

# S3 keys: the server's root keys and the chart's credentials Secret are the same pair. A kept
# cluster keeps its keys (the server already runs with them).
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

log "starting NATS (JetStream) and S3 in $DEPS_NAMESPACE"
kubectl -n "$DEPS_NAMESPACE" apply -f "$MANIFESTS/nats.yaml" -f "$MANIFESTS/s3.yaml" >/dev/null
kubectl -n "$DEPS_NAMESPACE" rollout status deployment/nats --timeout 300s
kubectl -n "$DEPS_NAMESPACE" rollout status deployment/s3 --timeout 300s

log "creating bucket $BUCKET"
port_forward "$DEPS_NAMESPACE" s3 "$S3_LOCAL_PORT:9000" "http://127.0.0.1:$S3_LOCAL_PORT/_health"
S3_ENDPOINT="http://127.0.0.1:$S3_LOCAL_PORT" S3_BUCKET="$BUCKET" \
  AWS_ACCESS_KEY_ID="$access_key" AWS_SECRET_ACCESS_KEY="$secret_key" \
  node test/e2e/kind/create-bucket.ts

# The tenant namespace must exist before the chart binds its RoleBindings there.
apply_generated -n "$TENANT_NAMESPACE" create serviceaccount "$TENANT_SA"

# The chart's runner NetworkPolicy takes the NATS and S3 namespaces from the URLs below; the pod
# labels narrow it to the two server pods. The suites use no fetch() or module downloads, so no
# external range is opened (networkPolicy.external stays empty).

log "installing the chart"
# shellcheck disable=SC2086
helm upgrade --install mcp-v8 charts/mcp-v8 --namespace "$NAMESPACE" --wait \
  --timeout 5m \
  --set image.gateway.repository="$GATEWAY_IMAGE" --set image.gateway.tag="$TAG" \
  --set image.runner.repository="$RUNNER_IMAGE" --set image.runner.tag="$TAG" \
  --set image.pullPolicy=Never \
  --set nats.url="nats://nats.$DEPS_NAMESPACE.svc:4222" \
  --set s3.endpoint="http://s3.$DEPS_NAMESPACE.svc:9000" --set s3.bucket="$BUCKET" \
  --set s3.forcePathStyle=true --set s3.credentialsSecret.name="$S3_SECRET" \
  --set-json 'networkPolicy.nats.podLabels={"app":"nats"}' \
  --set-json 'networkPolicy.s3.podLabels={"app":"s3"}' \
  --set-json "tenants=[{\"namespace\":\"$TENANT_NAMESPACE\",\"serviceAccounts\":[\"$TENANT_SA\"]}]" \
  ${E2E_HELM_ARGS:-}

token="$(kubectl -n "$TENANT_NAMESPACE" create token "$TENANT_SA" --duration 1h)"

# The first Running pod matching label selector $2 in namespace $1, waited for up to 2 minutes
# (the controller creates the warm runner pods after the install returns).
running_pod() {
  local name
  for _ in $(seq 120); do
    name="$(kubectl -n "$1" get pods -l "$2" --field-selector=status.phase=Running \
      -o jsonpath='{.items[0].metadata.name}' 2>/dev/null || true)"
    if [ -n "$name" ]; then echo "$name"; return 0; fi
    sleep 1
  done
  log "no Running pod $2 in $1 within 2 minutes"
  return 1
}
# tcp_probe POD CONTAINER HOST PORT: a TCP connect from inside the pod (node is in both images);
# prints `connected`, `timeout` or the socket error code. A failed exec fails the script.
tcp_probe() {
  kubectl -n "$NAMESPACE" exec "$1" -c "$2" -- node -e '
    const s = require("node:net").connect({ host: process.argv[1], port: Number(process.argv[2]) });
    const done = (what) => { console.log(what); s.destroy(); process.exit(0); };
    s.setTimeout(3000, () => done("timeout"));
    s.on("connect", () => done("connected"));
    s.on("error", (e) => done(e.code || "error"));' "$3" "$4"
}

# Before the suites, while the warm runner pods sit idle (a per-execution pod is deleted after
# its run). The API server's own address is outside what the NetworkPolicy lets a runner reach
# (DNS, NATS, S3): a runner pod must fail to connect to it, while the gateway pod (no policy
# selects it) connects, and the runner pod does reach NATS — so the failure is the policy's.
log "checking a runner pod reaches NATS but not the Kubernetes API server"
runner_pod="$(running_pod "$NAMESPACE" mcpv8.dev/runner-pool)"
gateway_pod="$(running_pod "$NAMESPACE" app.kubernetes.io/component=gateway)"
api_host="$(kubectl -n default get endpoints kubernetes -o jsonpath='{.subsets[0].addresses[0].ip}')"
api_port="$(kubectl -n default get endpoints kubernetes -o jsonpath='{.subsets[0].ports[0].port}')"
nats_seen="$(tcp_probe "$runner_pod" runner "nats.$DEPS_NAMESPACE.svc" 4222)"
api_from_gateway="$(tcp_probe "$gateway_pod" gateway "$api_host" "$api_port")"
api_from_runner="$(tcp_probe "$runner_pod" runner "$api_host" "$api_port")"
if [ "$nats_seen" != connected ] || [ "$api_from_gateway" != connected ] || [ "$api_from_runner" = connected ]; then
  log "runner egress check failed: runner→NATS $nats_seen, gateway→API $api_from_gateway, runner→API $api_from_runner (want connected, connected, not connected)"
  exit 1
fi
log "runner egress: NATS $nats_seen, API server $api_from_runner (gateway: $api_from_gateway)"

log "port-forwarding the gateway Service to 127.0.0.1:$LOCAL_PORT"
port_forward "$NAMESPACE" mcp-v8-gateway "$LOCAL_PORT:3000" "http://127.0.0.1:$LOCAL_PORT/healthz"

log "running the end-to-end suites as $TENANT_NAMESPACE/$TENANT_SA"
MCP_V8_E2E_URL="http://127.0.0.1:$LOCAL_PORT" MCP_V8_E2E_TOKEN="$token" \
  MCP_V8_E2E_RELEASE_NAMESPACE="$NAMESPACE" MCP_V8_E2E_TENANT_NAMESPACE="$TENANT_NAMESPACE" \
  npm run test:e2e
