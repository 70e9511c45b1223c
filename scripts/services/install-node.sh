#!/usr/bin/env bash
# Installs what a real Kubernetes node needs besides the kubelet (built by install-kube.sh):
# containerd and runc (its CRI runs the pods), and the CNI bridge, host-local and loopback
# plugins (pod networking), all from Debian's packages. Idempotent: a machine that has them
# answers at once. Needs root (apt-get).
#
# stdout ends with CONTAINERD=..., CTR=..., RUNC=..., CNI_BIN_DIR=... (absolute paths).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

PACKAGES=(containerd runc containernetworking-plugins iproute2)
CNI_BIN_DIR=/usr/lib/cni

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { log "installing ${missing[*]} needs root"; exit 1; }
  log "installing ${missing[*]} from Debian's packages"
  # Only after the package lists are older than a day (or absent): an update costs ~10 s.
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n1)" ]; then
    apt-get update -qq >&2
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
# The package enables a system containerd; the harness runs its own, with its own sockets and
# state, and nothing may stay running after the tests.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet containerd 2>/dev/null; then
  systemctl disable --now containerd >&2 || true
fi
pkill -x containerd 2>/dev/null || true

for plugin in bridge host-local loopback; do
  [ -x "$CNI_BIN_DIR/$plugin" ] || { log "CNI plugin $plugin missing in $CNI_BIN_DIR"; exit 1; }
done

echo "CONTAINERD=$(command -v containerd)"
echo "CTR=$(command -v ctr)"
echo "RUNC=$(command -v runc)"
echo "CNI_BIN_DIR=$CNI_BIN_DIR"
