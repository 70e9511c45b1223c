#!/usr/bin/env bash
# Installs (once per machine, as root) the Debian packages that build the images without a Docker
# engine: buildah with an OCI runtime (runc) for its RUN steps and the smoke test, debootstrap for
# the local base image, and a C compiler with static glibc for the pause process.
# Quiet and quick when they are already there; waits for a concurrent apt-get to finish.
set -euo pipefail
packages=(buildah runc debootstrap gcc libc6-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
echo "[images] installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt_install() { apt-get install -o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
# The package lists may be absent or stale on a fresh machine: refresh them only then.
if ! apt-cache show "${missing[@]}" >/dev/null 2>&1 || ! apt_install; then
  apt-get update -o DPkg::Lock::Timeout=600 -qq >/dev/null
  apt_install
fi
