# shellcheck shell=bash
# Shared by the scripts in scripts/images: per-machine cache folders and buildah's private
# storage. Sourced, never run.
set -euo pipefail
MCPV8_CACHE_DIR="${MCPV8_CACHE_DIR:-$HOME/.cache/mcp-v8}"
MCPV8_IMAGES_DIR="$MCPV8_CACHE_DIR/images"
MCPV8_BUILDAH_DIR="$MCPV8_CACHE_DIR/buildah"
MCPV8_REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
mkdir -p "$MCPV8_IMAGES_DIR" "$MCPV8_BUILDAH_DIR"

log() { printf '[images] %s\n' "$*" >&2; }

# buildah keeps its layers in the project's cache, not in /var/lib/containers: a storage.conf of
# our own, named by CONTAINERS_STORAGE_CONF, which every buildah call reads. The kernel's overlay
# driver works here (no fuse-overlayfs). The run root (mount state) sits beside the layers.
_mcpv8_storage_conf="[storage]
driver = \"overlay\"
graphroot = \"$MCPV8_BUILDAH_DIR/storage\"
runroot = \"$MCPV8_BUILDAH_DIR/run\""
if [ "$(cat "$MCPV8_BUILDAH_DIR/storage.conf" 2>/dev/null)" != "$_mcpv8_storage_conf" ]; then
  printf '%s\n' "$_mcpv8_storage_conf" >"$MCPV8_BUILDAH_DIR/storage.conf"
fi
export CONTAINERS_STORAGE_CONF="$MCPV8_BUILDAH_DIR/storage.conf"
unset _mcpv8_storage_conf

# have_image NAME: true when buildah's storage holds an image of that exact name.
have_image() { buildah images --quiet "$1" >/dev/null 2>&1; }

# untag_others NAME: removes every other tag of NAME's repository from buildah's storage (older
# builds of one image); layers that other images or the build cache use stay.
untag_others() {
  local other
  for other in $(buildah images --format '{{.Name}}:{{.Tag}}' | grep -F "${1%:*}:" || true); do
    [ "$other" = "$1" ] || buildah rmi "$other" >/dev/null 2>&1 || true
  done
}
