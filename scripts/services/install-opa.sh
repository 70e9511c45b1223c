#!/usr/bin/env bash
# Builds (once per machine) the real OPA 1.x. Last stdout line: OPA=<path>.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"
OPA_VERSION="${OPA_VERSION:-v1.22.2}"
go_install_bin "github.com/open-policy-agent/opa@$OPA_VERSION" "opa-$OPA_VERSION"
echo "OPA=$MCPV8_BIN_DIR/opa-$OPA_VERSION"
