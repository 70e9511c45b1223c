#!/usr/bin/env bash
# Builds a real Kubernetes control plane for integration tests, from the Go module proxy only:
# kube-apiserver, kube-controller-manager and the kubelet of a current release, plus an etcd
# server. (containerd, runc and the CNI plugins the kubelet drives come from install-node.sh.)
# Binaries are cached per machine in $MCPV8_BIN_DIR; a warm run only checks the cache.
#
# Versions: pinned below (reproducible); override with MCPV8_KUBE_VERSION / MCPV8_ETCD_VERSION,
# or set either to "latest" to pick the newest stable patch from the module proxy
# (Kubernetes 1.34-1.37, etcd of the minor that Kubernetes release pins).
#
# stdout ends with KUBE_APISERVER=..., KUBE_CONTROLLER_MANAGER=..., KUBELET=..., ETCD=... (absolute paths);
# everything else goes to stderr.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

KUBE_VERSION="${MCPV8_KUBE_VERSION:-v1.37.2}"
ETCD_VERSION="${MCPV8_ETCD_VERSION:-v3.7.3}"

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi

# One build at a time per cache (parallel CI jobs on one machine share it).
exec 9>"$MCPV8_BUILD_DIR/.install-kube.lock"
flock 9

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# latest_version MODULE REGEX: newest version of MODULE on the proxy matching REGEX.
latest_version() {
  GOFLAGS=-mod=mod go list -m -versions "$1" | tr ' ' '\n' | grep -E "$2" | sort -V | tail -n1
}

# json_field FIELD: the string FIELD of the `go mod download -json` object on stdin.
json_field() { sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}\$/\1/p"; }

# --- kube-apiserver / kube-controller-manager / kubelet ------------------------------------
KUBE_BINARIES=(kube-apiserver kube-controller-manager kubelet)
build_kube() {
  local ver="$1" missing='' name
  for name in "${KUBE_BINARIES[@]}"; do have_bin "$name-$ver" || missing=1; done
  if [ -z "$missing" ]; then log "${KUBE_BINARIES[*]} $ver cached"; return 0; fi
  command -v go >/dev/null || { log "go is required to build Kubernetes"; return 1; }

  local minor patch rest
  rest="${ver#v1.}"; minor="${rest%%.*}"; patch="${rest#*.}"
  local staging_ver="v0.$minor.$patch"

  local w="$MCPV8_BUILD_DIR/kube-$ver"
  rm -rf "$w"; mkdir -p "$w"
  log "fetching k8s.io/kubernetes@$ver from the module proxy"
  local dl gomod info build_date
  dl="$(cd "$w" && go mod download -json "k8s.io/kubernetes@$ver")" || { log "cannot fetch k8s.io/kubernetes@$ver: $dl"; return 1; }
  gomod="$(json_field GoMod <<<"$dl")"
  info="$(json_field Info <<<"$dl")"
  build_date="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$info")"
  [ -n "$build_date" ] || build_date="1970-01-01T00:00:00Z"

  # Throwaway wrapper module: k8s.io/kubernetes replaces its k8s.io/* staging modules with
  # ./staging/... paths, which are ignored (and absent) in a dependency, so point each one at
  # the published staging module v0.<minor>.<patch> instead.
  {
    echo "module mcpv8.local/kubebuild"
    echo
    grep -E '^go [0-9]' "$gomod"
    grep -E '^godebug ' "$gomod" || true
    echo
    echo "require k8s.io/kubernetes $ver"
    echo
    echo "replace ("
    awk -v v="$staging_ver" '$2 == "=>" && $3 ~ /^\.\/staging\// { print "\t" $1 " => " $1 " " v }' "$gomod"
    echo ")"
  } >"$w/go.mod"
  if ! grep -q '=> k8s.io/apiserver ' "$w/go.mod"; then
    log "unexpected go.mod layout in k8s.io/kubernetes@$ver (no staging replaces found)"; return 1
  fi

  # What hack/lib/version.sh passes, so --version and the apiserver's binary/emulation version
  # are right (the default gitVersion v0.0.0-master breaks version-dependent defaults).
  local ldflags="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $p.gitVersion=$ver -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=$build_date"
  done

  local pkg t0
  for name in "${KUBE_BINARIES[@]}"; do
    have_bin "$name-$ver" && { log "$name-$ver cached"; continue; }
    pkg="k8s.io/kubernetes/cmd/$name"
    log "building $pkg@$ver (cached afterwards as $name-$ver); several minutes when cold"
    t0="$(now)"
    (cd "$w" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$w/$name" "$pkg")
    log "built $name-$ver in $(elapsed "$t0") s"
    p="$("$w/$name" --version 2>&1)"
    [ "$p" = "Kubernetes $ver" ] || { log "$name --version does not report $ver: $p"; return 1; }
    mv -f "$w/$name" "$MCPV8_BIN_DIR/$name-$ver"
  done
  rm -rf "$w"
}

# --- etcd ------------------------------------------------------------------------------------
# The root go.etcd.io/etcd module has replace directives, so `go install` of it fails; a one-line
# main calling the server module's etcdmain.Main is the same program as the upstream binary.
build_etcd() {
  local ver="$1" name="etcd-$1"
  if have_bin "$name"; then log "$name cached"; return 0; fi
  command -v go >/dev/null || { log "go is required to build etcd"; return 1; }
  local w="$MCPV8_BUILD_DIR/etcd-$ver"
  rm -rf "$w"; mkdir -p "$w"
  log "fetching go.etcd.io/etcd/server/v3@$ver from the module proxy"
  local dl gomod
  dl="$(cd "$w" && go mod download -json "go.etcd.io/etcd/server/v3@$ver")" || { log "cannot fetch go.etcd.io/etcd/server/v3@$ver: $dl"; return 1; }
  gomod="$(json_field GoMod <<<"$dl")"
  {
    echo "module mcpv8.local/etcdbuild"
    echo
    grep -E '^go [0-9]' "$gomod"
    echo
    echo "require go.etcd.io/etcd/server/v3 $ver"
  } >"$w/go.mod"
  cat >"$w/main.go" <<'EOF'
// Generated by install-kube.sh: the upstream etcd binary's main.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
  log "building etcd $ver (cached afterwards as $name)"
  local t0; t0="$(now)"
  (cd "$w" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
    -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=module-proxy" -o "$w/etcd" .)
  log "built $name in $(elapsed "$t0") s"
  local out; out="$("$w/etcd" --version 2>&1)"
  case "$out" in *"etcd Version: ${ver#v}"*) ;; *) log "etcd --version does not report $ver: $out"; return 1 ;; esac
  mv -f "$w/etcd" "$MCPV8_BIN_DIR/$name"
  rm -rf "$w"
}

# Fallback: Debian's etcd-server, only if building etcd failed. It is accepted only when at least
# kubeadm's MinExternalEtcdVersion of Kubernetes 1.37 (3.5.24): bookworm's 3.4.23 is older, and
# has the watch-progress bugs the apiserver's feature checker works around (fixed in 3.4.31/3.5.13).
ETCD_MIN_VERSION=3.5.24
version_ok() { [ "$(printf '%s\n%s\n' "$ETCD_MIN_VERSION" "$1" | sort -V | head -n1)" = "$ETCD_MIN_VERSION" ]; }
debian_etcd() {
  local v
  if ! command -v etcd >/dev/null 2>&1; then
    apt-get update >&2
    v="$(apt-cache policy etcd-server | sed -n 's/^ *Candidate: \([0-9.]*\).*/\1/p')"
    version_ok "${v:-0}" || { log "Debian etcd-server ${v:-(none)} is too old (needs >= $ETCD_MIN_VERSION)"; return 1; }
    log "installing Debian etcd-server $v"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends etcd-server >&2
  fi
  v="$(etcd --version | sed -n 's/^etcd Version: //p')"
  version_ok "$v" || { log "etcd $v on PATH is too old (needs >= $ETCD_MIN_VERSION)"; return 1; }
  command -v etcd
}

# --- main ------------------------------------------------------------------------------------
if [ "$KUBE_VERSION" = latest ]; then
  KUBE_VERSION="$(latest_version k8s.io/kubernetes '^v1\.3[4-7]\.[0-9]+$')"
  log "latest Kubernetes on the module proxy: $KUBE_VERSION"
fi
if [ "$ETCD_VERSION" = latest ]; then
  # Same minor as the etcd that this Kubernetes release pins in build/dependencies.yaml.
  kdir="$(cd "$MCPV8_BUILD_DIR" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | json_field Dir)"
  etcd_minor="$(awk '/name: "etcd"/ { f = 1 } f && /version:/ { print $2; exit }' "$kdir/build/dependencies.yaml")"
  etcd_minor="${etcd_minor%.*}"
  ETCD_VERSION="$(latest_version go.etcd.io/etcd/server/v3 "^v${etcd_minor//./\\.}\.[0-9]+\$")"
  log "latest etcd $etcd_minor.x on the module proxy: $ETCD_VERSION"
fi
case "$KUBE_VERSION" in v1.*.*) ;; *) log "bad Kubernetes version '$KUBE_VERSION'"; exit 1 ;; esac

build_kube "$KUBE_VERSION"
# A subshell outside any `if`/`||`, so errexit stays in force inside build_etcd.
set +e; (set -e; build_etcd "$ETCD_VERSION"); etcd_rc=$?; set -e
if [ "$etcd_rc" = 0 ]; then
  etcd_bin="$MCPV8_BIN_DIR/etcd-$ETCD_VERSION"
else
  log "building etcd $ETCD_VERSION failed; trying Debian's etcd-server"
  etcd_bin="$(debian_etcd)"
fi

echo "KUBE_APISERVER=$MCPV8_BIN_DIR/kube-apiserver-$KUBE_VERSION"
echo "KUBE_CONTROLLER_MANAGER=$MCPV8_BIN_DIR/kube-controller-manager-$KUBE_VERSION"
echo "KUBELET=$MCPV8_BIN_DIR/kubelet-$KUBE_VERSION"
echo "ETCD=$etcd_bin"
