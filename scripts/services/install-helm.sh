#!/usr/bin/env bash
# Builds (once per machine) Helm v3 from the Go module proxy, for the chart tests
# (`helm template` / `helm lint`). Last stdout line: HELM=<path>.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
go_install_bin "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" "helm-$HELM_VERSION"
echo "HELM=$MCPV8_BIN_DIR/helm-$HELM_VERSION"
