#!/usr/bin/env bash
# smoke.sh IMAGE ARG...       runs the image's entry point with ARG... (as a pod's `args`)
# smoke.sh --command IMAGE CMD...  runs CMD... instead of the entry point (as a pod's `command`)
# The way the cluster runs its pods: runc, uid/gid 1000, read-only root, a small tmpfs /tmp, no
# capabilities, no network. Prints the output; fails when the command fails. build.sh runs it on
# every image it builds.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"
entry=1
[ "${1:-}" = --command ] && { entry=0; shift; }
image="$1"; shift
work="$(mktemp -d "${TMPDIR:-/tmp}/mcp-v8-smoke.XXXXXX")"
ctr="$(buildah from --quiet --pull=never "$image")"
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
rootfs="$(buildah mount "$ctr")"
inspect="$(buildah inspect --type image "$image")"
(cd "$work" && runc spec)
ENTRY="$entry" ROOTFS="$rootfs" IMAGE_INSPECT="$inspect" node - "$work/config.json" "$@" <<'JS'
const fs = require('node:fs');
const [file, ...args] = process.argv.slice(2);
const spec = JSON.parse(fs.readFileSync(file, 'utf8'));
const image = JSON.parse(process.env.IMAGE_INSPECT).OCIv1.config;
spec.root = { path: process.env.ROOTFS, readonly: true };
spec.process.terminal = false;
spec.process.user = { uid: 1000, gid: 1000 };
spec.process.args = process.env.ENTRY === '1' ? [...(image.Entrypoint ?? []), ...args] : args;
spec.process.env = image.Env ?? [];
spec.process.cwd = image.WorkingDir || '/';
spec.process.capabilities = { bounding: [], effective: [], permitted: [], ambient: [] };
spec.mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'size=65536k'] });
fs.writeFileSync(file, JSON.stringify(spec));
JS
runc run --bundle "$work" "mcp-v8-smoke-$$" </dev/null
