# Shared by the install-*.sh scripts: where per-machine caches live and how a Go-built
# service binary is named. Sourced, never run.
set -euo pipefail
MCPV8_CACHE_DIR="${MCPV8_CACHE_DIR:-$HOME/.cache/mcp-v8}"
MCPV8_BIN_DIR="$MCPV8_CACHE_DIR/bin"
MCPV8_BUILD_DIR="$MCPV8_CACHE_DIR/build"
mkdir -p "$MCPV8_BIN_DIR" "$MCPV8_BUILD_DIR"

# Go may be installed outside PATH (the machine image puts it in /usr/local/go/bin).
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then PATH="/usr/local/go/bin:$PATH"; fi

log() { printf '[services] %s\n' "$*" >&2; }

# have_bin NAME: true when a cached binary of that exact name already exists.
have_bin() { [ -x "$MCPV8_BIN_DIR/$1" ]; }

# go_install_bin PKG@VERSION NAME: `go install` into a private GOBIN and keep the binary as
# $MCPV8_BIN_DIR/NAME; a no-op when it is already cached.
go_install_bin() {
  local pkg="$1" name="$2" gobin
  if have_bin "$name"; then log "$name cached"; return 0; fi
  command -v go >/dev/null 2>&1 || { log "go not found: it is needed to build $name"; return 1; }
  # Two concurrent installs of one binary would share the private GOBIN: serialise them.
  exec 9>"$MCPV8_BUILD_DIR/.lock-$name"
  flock 9
  if have_bin "$name"; then log "$name cached"; exec 9>&-; return 0; fi
  local start=$SECONDS
  gobin="$MCPV8_BUILD_DIR/gobin-$name"
  rm -rf "$gobin"; mkdir -p "$gobin"
  log "building $pkg (cached afterwards as $name)"
  CGO_ENABLED=0 GOBIN="$gobin" GOFLAGS="-buildvcs=false" go install -trimpath "$pkg"
  mv "$gobin"/* "$MCPV8_BIN_DIR/$name"
  rm -rf "$gobin"
  exec 9>&-
  log "built $name in $((SECONDS - start)) s"
}
