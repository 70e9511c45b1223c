#!/usr/bin/env bash
# Builds the project's images without a Docker engine or a registry: Dockerfile.runner and
# Dockerfile.gateway with buildah on a locally made Node base, and a tiny pause image for
# containerd's sandbox_image. Each image is exported as an OCI archive under
# ~/.cache/mcp-v8/images, named and tagged by a hash of everything it is built from, so a run with
# unchanged inputs answers in seconds. Prints on stdout, for `ctr -n k8s.io images import`:
#   RUNNER_IMAGE=… RUNNER_IMAGE_ARCHIVE=… GATEWAY_IMAGE=… GATEWAY_IMAGE_ARCHIVE=…
#   PAUSE_IMAGE=… PAUSE_IMAGE_ARCHIVE=…
# Needs root (apt-get, debootstrap, overlay mounts). Logs go to stderr.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"
keep_archives=3 # per image: the newest ones stay, older ones are deleted
max_storage_mb="${MCPV8_BUILDAH_MAX_MB:-6144}"
# The host's CA bundle, given to `npm ci` in the build for networks that intercept TLS.
ca_bundle="${MCPV8_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

bash "$here/install-tools.sh"
exec 8>"$MCPV8_BUILDAH_DIR/.lock-build"
flock 8
base="$(bash "$here/base.sh" | sed -n 's/^NODE_BASE_IMAGE=//p')"
[ -n "$base" ] || { log "base.sh did not name a base image"; exit 1; }
recipe="$(cat "$here/build.sh" "$here/lib.sh" | sha256sum | cut -c1-64)"

# The build context, copied once so that what is hashed is exactly what is built even while the
# work tree changes; .dockerignore keeps the same list for builds run from the work tree.
context="$(mktemp -d "$MCPV8_BUILDAH_DIR/context.XXXXXX")"
trap 'rm -rf "$context"' EXIT
(cd "$MCPV8_REPO_DIR" && cp -a --parents .dockerignore Dockerfile.runner Dockerfile.gateway \
  package.json package-lock.json tsconfig.json tsconfig.build.json src "$context/")
context_hash="$(cd "$context" && find . -type f -not -name 'Dockerfile.*' -print0 | LC_ALL=C sort -z \
  | xargs -0 sha256sum | sha256sum | cut -c1-64)"

# export_archive NAME ARCHIVE: writes the image as an OCI archive whose reference is NAME.
export_archive() {
  buildah push --quiet "$1" "oci-archive:$2.partial:$1" >/dev/null
  mv "$2.partial" "$2"
  # Older archives and tags of the same image go; the layer cache stays (see prune_storage).
  local repo="${1%:*}"
  ls -1t "$MCPV8_IMAGES_DIR/${repo##*/}"-*.oci.tar | tail -n +$((keep_archives + 1)) | xargs -r rm -f
  untag_others "$1"
}

# prune_storage: drops buildah's layer cache when its storage outgrows its bound; the next build
# after that is a cold one.
prune_storage() {
  local used
  used="$(du -sm "$MCPV8_BUILDAH_DIR/storage" | cut -f1)"
  if [ "$used" -gt "$max_storage_mb" ]; then
    log "buildah storage holds $used MiB (bound $max_storage_mb MiB): dropping the layer cache"
    buildah rmi --prune >/dev/null
  fi
}

# report PREFIX NAME ARCHIVE
report() { printf '%s_IMAGE=%s\n%s_IMAGE_ARCHIVE=%s\n' "$1" "$2" "$1" "$3"; }

# build_app runner|gateway PREFIX: builds Dockerfile.<role>, checks the image runs, exports it.
build_app() {
  local role="$1" prefix="$2" key name archive start=$SECONDS
  key="$(printf '%s\n' "$context_hash" "$(sha256sum <"$context/Dockerfile.$role")" "$base" "$recipe" \
    | sha256sum | cut -c1-12)"
  name="localhost/mcp-v8-$role:$key"
  archive="$MCPV8_IMAGES_DIR/mcp-v8-$role-$key.oci.tar"
  if [ ! -s "$archive" ]; then
    log "building $name from Dockerfile.$role"
    local secret=()
    [ -r "$ca_bundle" ] && secret=(--secret "id=ca-bundle,src=$ca_bundle")
    buildah build --quiet --layers --pull=never --network host -f "$context/Dockerfile.$role" \
      --build-arg "NODE_IMAGE=$base" "${secret[@]}" -t "$name" "$context" >&2
    # As the pods run it: uid 1000, read-only root. The entry point answers, and a cell runs.
    bash "$here/smoke.sh" "$name" --help >/dev/null
    bash "$here/smoke.sh" --command "$name" node --no-node-snapshot -e \
      "const ivm = require('isolated-vm'); const i = new ivm.Isolate({ memoryLimit: 16 });
       if (i.createContextSync().evalSync('6 * 7') !== 42) process.exit(1)"
    export_archive "$name" "$archive"
    built=1
    log "built $name in $((SECONDS - start)) s ($(du -m "$archive" | cut -f1) MiB archive)"
  fi
  report "$prefix" "$name" "$archive"
}

# build_pause: a static pause process in an image FROM scratch.
build_pause() {
  local key name archive ctr
  key="$(cat "$here/pause.c" "$here/build.sh" | sha256sum | cut -c1-12)"
  name="localhost/mcp-v8-pause:$key"
  archive="$MCPV8_IMAGES_DIR/mcp-v8-pause-$key.oci.tar"
  if [ ! -s "$archive" ]; then
    log "building $name"
    gcc -static -Os -s -Wall -Wextra -Werror -o "$context/pause" "$here/pause.c"
    ctr="$(buildah from --quiet scratch)"
    buildah copy --quiet --chmod 0755 "$ctr" "$context/pause" /pause >/dev/null
    buildah config --entrypoint '["/pause"]' --cmd '' --user 65535:65535 "$ctr"
    buildah commit --quiet --rm "$ctr" "$name" >/dev/null
    export_archive "$name" "$archive"
    built=1
  fi
  report PAUSE "$name" "$archive"
}

built=0
build_app runner RUNNER
build_app gateway GATEWAY
build_pause
[ "$built" = 0 ] || prune_storage
